"""numpy's shape and layout functions, composed from tcomp's existing ops.

``tril triu flip roll tile repeat split array_split moveaxis ravel diagonal
outer``. Each is a few slices, reshapes, broadcasts, concatenations or
``where`` selects (``tcomp.frontend.ops`` and ``indexing``), so it works
inside ``jit``, eagerly, on every backend, and differentiates through the
rules of those ops. Shapes, counts and shifts must be Python ints known when
tracing: a result's shape cannot depend on traced data.
"""

from __future__ import annotations

import builtins
import math
from typing import Any, Sequence

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.array import Array
from tcomp.frontend.creation import arange
from tcomp.frontend.dispatch import (
    dtype_of,
    materialize,
    normalize_axis,
    operand,
    shape_of,
    user_error,
)
from tcomp.frontend.indexing import getitem
from tcomp.frontend.trace import Tracer
from tcomp.ir.bfloat16 import convert_array
from tcomp.ir.errors import TcompShapeError, TcompTypeError

# ---------------------------------------------------------------------------
# Helpers shared with composite_reductions and composite_einsum


def as_array(x: Any, name: str):
    """A tracer (inside a trace) or an Array (eagerly) for ``x``."""
    return materialize(operand(x, name))


def static_int(value: Any, name: str, what: str) -> int:
    """``value`` as a Python int, or a TcompTypeError saying it must be known when tracing."""
    if isinstance(value, (Tracer, Array)):
        raise user_error(
            TcompTypeError,
            f"{name}: {what} must be a Python int known when tracing, not an array "
            "(the result's shape would depend on the data)",
        )
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise user_error(TcompTypeError, f"{name}: {what} must be an int, got {value!r}")
    return int(value)


def slice_along(x: Any, axis: int, start: int, stop: int, step: int = 1):
    """``x[..., start:stop:step, ...]`` on axis ``axis`` (Python slice rules)."""
    index = (slice(None),) * axis + (slice(start, stop, step),)
    return getitem(x, index)


def move_to_end(x: Any, axes: Sequence[int]):
    """``x`` with ``axes`` (in that order) moved after the other axes (kept in order)."""
    ndim = len(shape_of(x))
    perm = tuple(i for i in range(ndim) if i not in axes) + tuple(axes)
    return x if perm == tuple(range(ndim)) else ops.transpose(x, perm)


def _ordered_axes(name: str, axis: Any, ndim: int, what: str = "axis") -> tuple[int, ...]:
    """Normalised axes in the order given; repeats are an error."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    normalized = tuple(normalize_axis(name, a, ndim) for a in axes)
    if len(set(normalized)) != len(normalized):
        raise user_error(TcompShapeError, f"{name}: repeated axis in {what} {axis!r}")
    return normalized


def _zero_of(value: Any) -> np.ndarray:
    """A 0-d zero of ``value``'s dtype (a strong operand: it does not change the dtype)."""
    return convert_array(0, dtype_of(value))


# ---------------------------------------------------------------------------
# Triangles and diagonals


def _triangle(name: str, x: Any, k: Any, lower: bool):
    value = as_array(x, name)
    shape = shape_of(value)
    if not shape:
        raise user_error(TcompShapeError, f"{name}: needs an array of rank >= 1, got a 0-d array")
    k = static_int(k, name, "k")
    rows, cols = shape[-2:] if len(shape) >= 2 else (shape[-1], shape[-1])
    k = builtins.max(-rows - 1, builtins.min(k, cols + 1))  # beyond these, all or nothing
    row = ops.reshape(ops.add(arange(rows), k), (rows, 1))
    col = ops.reshape(arange(cols), (1, cols))
    keep = ops.greater_equal(row, col) if lower else ops.less_equal(row, col)
    return ops.where(keep, value, _zero_of(value))


def tril(x: Any, k: int = 0):
    """numpy's tril: zeros above the ``k``-th diagonal of the last two axes.

    A ``where`` against an index comparison (no mask array in memory). A 1-D
    ``x`` is taken as each row of a square matrix, as numpy does.
    """
    return _triangle("tril", x, k, lower=True)


def triu(x: Any, k: int = 0):
    """numpy's triu: zeros below the ``k``-th diagonal of the last two axes (see ``tril``)."""
    return _triangle("triu", x, k, lower=False)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """numpy's diagonal: the ``offset`` diagonal of axes ``axis1, axis2``, as the last axis.

    The two axes go last and are flattened; the diagonal is then one strided
    slice (step ``cols + 1``): no gather.
    """
    value = as_array(x, "diagonal")
    shape = shape_of(value)
    if len(shape) < 2:
        raise user_error(
            TcompShapeError, f"diagonal: needs an array of rank >= 2, got shape {shape}"
        )
    a1, a2 = (
        normalize_axis("diagonal", axis1, len(shape)),
        normalize_axis("diagonal", axis2, len(shape)),
    )
    if a1 == a2:
        raise user_error(TcompShapeError, f"diagonal: axis1 and axis2 are the same axis ({a1})")
    offset = static_int(offset, "diagonal", "offset")
    rows, cols = shape[a1], shape[a2]
    others = tuple(d for i, d in enumerate(shape) if i not in (a1, a2))
    flat = ops.reshape(move_to_end(value, (a1, a2)), others + (rows * cols,))
    if offset >= 0:
        length, start = builtins.max(0, builtins.min(rows, cols - offset)), offset
    else:
        length, start = builtins.max(0, builtins.min(rows + offset, cols)), -offset * cols
    if length == 0:
        return slice_along(flat, len(others), 0, 0)
    return slice_along(flat, len(others), start, start + (length - 1) * (cols + 1) + 1, cols + 1)


# ---------------------------------------------------------------------------
# Reordering


def flip(x: Any, axis: Any = None):
    """numpy's flip: reverses ``axis`` (an int, a tuple, or None for every axis).

    A negative-step slice, i.e. one ``rev`` node.
    """
    value = as_array(x, "flip")
    ndim = len(shape_of(value))
    axes = tuple(range(ndim)) if axis is None else _ordered_axes("flip", axis, ndim)
    if not axes:
        return value
    index = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(ndim))
    return getitem(value, index)


def roll(x: Any, shift: Any, axis: Any = None):
    """numpy's roll: elements shifted by ``shift`` along ``axis``, wrapping around.

    ``shift`` and ``axis`` may be tuples (broadcast together; shifts of a
    repeated axis add up). With ``axis=None`` the flattened array is rolled.
    Each rolled axis is two slices and one concatenation.
    """
    value = as_array(x, "roll")
    shape = shape_of(value)
    if axis is None:
        return ops.reshape(roll(ops.reshape(value, (-1,)), shift, 0), shape)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if len(shifts) == 1:
        shifts = tuple(shifts) * len(axes)
    elif len(axes) == 1:
        axes = tuple(axes) * len(shifts)
    if len(shifts) != len(axes):
        raise user_error(
            TcompShapeError, f"roll: shift {shift!r} and axis {axis!r} have different lengths"
        )
    total = [0] * len(shape)
    for s, a in zip(shifts, axes):
        total[normalize_axis("roll", a, len(shape))] += static_int(s, "roll", "shift")
    for a, s in enumerate(total):
        n = shape[a]
        if n == 0 or s % n == 0:
            continue
        cut = n - s % n
        value = ops.concatenate([slice_along(value, a, cut, n), slice_along(value, a, 0, cut)], a)
    return value


def moveaxis(x: Any, source: Any, destination: Any):
    """numpy's moveaxis: axes ``source`` moved to positions ``destination``; one transpose."""
    value = as_array(x, "moveaxis")
    ndim = len(shape_of(value))
    src = _ordered_axes("moveaxis", source, ndim, "source")
    dst = _ordered_axes("moveaxis", destination, ndim, "destination")
    if len(src) != len(dst):
        raise user_error(
            TcompShapeError,
            f"moveaxis: source {source!r} and destination {destination!r} need the same number of axes",
        )
    order = [i for i in range(ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return value if order == list(range(ndim)) else ops.transpose(value, order)


def ravel(x: Any):
    """numpy's ravel: the row-major flattening of ``x`` (one reshape)."""
    return ops.reshape(as_array(x, "ravel"), (-1,))


# ---------------------------------------------------------------------------
# Repetition


def tile(x: Any, reps: Any):
    """numpy's tile: ``x`` repeated ``reps`` times per axis (reps an int or a tuple).

    One reshape, one broadcast and one reshape: ``(1, d0, 1, d1 ...)`` is
    broadcast to ``(r0, d0, r1, d1 ...)`` and flattened pairwise.
    """
    value = as_array(x, "tile")
    reps = tuple(reps) if isinstance(reps, (tuple, list)) else (reps,)
    reps = tuple(static_int(r, "tile", "reps") for r in reps)
    if any(r < 0 for r in reps):
        raise user_error(TcompShapeError, f"tile: reps must not be negative, got {reps}")
    shape = shape_of(value)
    ndim = builtins.max(len(shape), len(reps))
    shape = (1,) * (ndim - len(shape)) + shape
    reps = (1,) * (ndim - len(reps)) + reps
    value = ops.reshape(value, shape)
    if all(r == 1 for r in reps):
        return value
    paired = tuple(d for pair in zip((1,) * ndim, shape) for d in pair)
    stretched = tuple(d for pair in zip(reps, shape) for d in pair)
    value = ops.broadcast_to(ops.reshape(value, paired), stretched)
    return ops.reshape(value, tuple(r * d for r, d in zip(reps, shape)))


def repeat(x: Any, repeats: Any, axis: Any = None):
    """numpy's repeat: each element of ``x`` repeated along ``axis`` (flattened when None).

    An int ``repeats`` is a reshape, a broadcast and a reshape. Per-element
    repeats (a list or a numpy array, known when tracing) become a ``take``
    with constant indices. Traced repeats are refused: the result's length
    would depend on the data.
    """
    value = as_array(x, "repeat")
    if axis is None:
        value, axis = ops.reshape(value, (-1,)), 0
    shape = shape_of(value)
    axis = normalize_axis("repeat", axis, len(shape))
    if isinstance(repeats, Tracer):
        raise user_error(
            TcompTypeError,
            "repeat: repeats must be known when tracing (an int, a list or a numpy array): "
            "with traced repeats the result's shape would depend on the data",
        )
    counts = np.asarray(repeats.numpy() if isinstance(repeats, Array) else repeats)
    if counts.size == 0 and isinstance(repeats, (list, tuple)):
        counts = counts.astype(np.int64)  # np.asarray([]) is float64
    if counts.dtype.kind not in "iu" or counts.ndim > 1:
        raise user_error(
            TcompTypeError, f"repeat: repeats must be an int or a 1-D list of ints, got {repeats!r}"
        )
    if (counts < 0).any():
        raise user_error(TcompShapeError, f"repeat: repeats must not be negative, got {repeats!r}")
    n = shape[axis]
    if counts.ndim == 1 and counts.size not in (1, n):
        raise user_error(
            TcompShapeError,
            f"repeat: {counts.size} repeats for an axis of {n} elements (give one, or one per element)",
        )
    if n == 0:
        return value  # nothing to repeat, whatever the counts
    if counts.ndim == 1 and counts.size == n and n != 1:
        indices = np.repeat(np.arange(n, dtype=np.int32), counts)
        return ops.take(value, indices, axis=axis)
    r = int(counts.reshape(-1)[0]) if counts.size else 1
    inserted = shape[: axis + 1] + (1,) + shape[axis + 1 :]
    stretched = shape[: axis + 1] + (r,) + shape[axis + 1 :]
    value = ops.broadcast_to(ops.reshape(value, inserted), stretched)
    return ops.reshape(value, shape[:axis] + (n * r,) + shape[axis + 1 :])


# ---------------------------------------------------------------------------
# Splitting


def _pieces(name: str, x: Any, indices_or_sections: Any, axis: int, equal: bool) -> list:
    value = as_array(x, name)
    shape = shape_of(value)
    if not shape:
        raise user_error(TcompShapeError, f"{name}: cannot split a 0-d array")
    axis = normalize_axis(name, axis, len(shape))
    n = shape[axis]
    if isinstance(indices_or_sections, (tuple, list, np.ndarray)):
        points = [
            static_int(i, name, "split indices")
            for i in np.asarray(indices_or_sections).reshape(-1).tolist()
        ]
        bounds = list(zip([0] + points, points + [n]))
    else:
        sections = static_int(indices_or_sections, name, "the number of sections")
        if sections <= 0:
            raise user_error(
                TcompShapeError, f"{name}: the number of sections must be > 0, got {sections}"
            )
        if equal and n % sections:
            raise user_error(
                TcompShapeError,
                f"{name}: an axis of {n} elements does not split into {sections} equal parts; "
                "use array_split for unequal parts",
            )
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        starts = [0]
        for size in sizes:
            starts.append(starts[-1] + size)
        bounds = list(zip(starts[:-1], starts[1:]))
    return [slice_along(value, axis, start, stop) for start, stop in bounds]


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """numpy's split: a list of slices of ``x`` along ``axis``.

    ``indices_or_sections``: an int N (N equal parts; an error when the axis
    does not divide) or a list of split points (Python slice rules: negative
    points count from the end, points past the end give empty pieces).
    """
    return _pieces("split", x, indices_or_sections, axis, equal=True)


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """numpy's array_split: ``split`` that allows unequal parts (the first ones one longer)."""
    return _pieces("array_split", x, indices_or_sections, axis, equal=False)


# ---------------------------------------------------------------------------
# Products


def outer(a: Any, b: Any):
    """numpy's outer: ``ravel(a)[:, None] * ravel(b)[None, :]`` (dtypes promote as multiply)."""
    left, right = as_array(a, "outer"), as_array(b, "outer")
    size_a, size_b = math.prod(shape_of(left)), math.prod(shape_of(right))
    return ops.multiply(ops.reshape(left, (size_a, 1)), ops.reshape(right, (1, size_b)))
