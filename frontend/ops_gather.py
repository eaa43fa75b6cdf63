"""The gathering functions of the ``tcomp`` namespace: ``take``, ``take_along_axis``,
``one_hot`` and the index conversion they share (``int32_indices``).

They build on the elementwise and movement functions of :mod:`tcomp.frontend.ops`,
which re-exports them (``tcomp.take`` ... and ``ops.take`` in the other frontend
modules). Indices follow numpy's ``take``: negative ones count from the end,
out-of-range ones clamp; any integer dtype is accepted and used as int32.
"""

from __future__ import annotations

import builtins
from typing import Any, Sequence

import numpy as np

from tcomp.frontend.dispatch import (
    Operand,
    bind,
    broadcast,
    broadcast_shapes,
    cast,
    dtype_of,
    normalize_axis,
    operand,
    shape_of,
    user_error,
)
from tcomp.frontend.ops import (
    _array_operand,
    add,
    astype,
    clip,
    equal,
    expand_dims,
    less,
    multiply,
    reshape,
    transpose,
    where,
)
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float


def _indices(indices: Any, op: str) -> Operand:
    value = operand(indices, op)
    if dtype_of(value) != "int32":
        if is_float(dtype_of(value)) or dtype_of(value) == "bool":
            raise user_error(TcompTypeError, f"{op}: indices must be integers, got {dtype_of(value)}")
    return int32_indices(value)


def int32_indices(value: Operand) -> Operand:
    """Integer indices as int32, the gather's index type: int64 and uint32 indices are
    clamped into int32's range first, so an index beyond it still clamps (no extent of an
    indexable axis reaches 2**31) rather than wrapping to another element."""
    if dtype_of(value) == "int64":
        value = clip(value, -(2**31), 2**31 - 1)
    elif dtype_of(value) == "uint32":
        value = clip(value, None, 2**31 - 1)
    return cast(value, "int32")


def take(x: Any, indices: Any, axis: int | None = None):
    """numpy's take: negative indices count from the end; out-of-range indices clamp."""
    value = _array_operand(x, "take")
    if axis is None:
        value = reshape(value, (-1,))
        axis = 0
    axis = normalize_axis("take", axis, len(shape_of(value)))
    return bind("gather", [value, _indices(indices, "take")], axis=axis)


def take_along_axis(x: Any, indices: Any, axis: int):
    """numpy's take_along_axis: picks ``x[..., indices[..., i, ...], ...]`` along ``axis``.

    Indices follow ``take``'s rules (negative from the end, clamped).
    """
    value = _array_operand(x, "take_along_axis")
    idx = _indices(indices, "take_along_axis")
    xs, ishape = shape_of(value), shape_of(idx)
    if len(xs) != len(ishape):
        raise user_error(
            TcompShapeError,
            f"take_along_axis: indices must have the array's rank {len(xs)}, got shape {ishape}",
        )
    axis = normalize_axis("take_along_axis", axis, len(xs))
    n = xs[axis]
    others = broadcast_shapes(
        "take_along_axis",
        tuple(d for i, d in enumerate(xs) if i != axis),
        tuple(d for i, d in enumerate(ishape) if i != axis),
    )
    k = ishape[axis]
    # Move the axis last, broadcast the other axes, and flatten them into rows.
    perm = tuple(i for i in range(len(xs)) if i != axis) + (axis,)
    rows = int(np.prod(others, dtype=np.int64))
    x_rows = reshape(broadcast(transpose(value, perm), others + (n,)), (rows * n,))
    i_rows = reshape(broadcast(transpose(idx, perm), others + (k,)), (rows, k))
    i_rows = clip(where(less(i_rows, 0), add(i_rows, n), i_rows), 0, builtins.max(n - 1, 0))
    from tcomp.frontend.creation import arange  # creation builds on this module

    offsets = multiply(reshape(arange(rows), (rows, 1)), n)
    picked = bind("gather", [x_rows, cast(add(i_rows, offsets), "int32")], axis=0)
    picked = reshape(picked, others + (k,))
    return transpose(picked, _inverse(perm))


def _inverse(perm: Sequence[int]) -> tuple[int, ...]:
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return tuple(inverse)


def one_hot(indices: Any, num_classes: int, dtype: Any = "float32"):
    """``result[..., c] = (indices[...] == c)`` as ``dtype``; out-of-range indices give all zeros."""
    from tcomp.frontend.creation import arange  # creation builds on this module

    idx = _indices(indices, "one_hot")
    classes = arange(int(num_classes))
    hits = equal(expand_dims(idx, -1), classes)
    return astype(hits, dtype)
