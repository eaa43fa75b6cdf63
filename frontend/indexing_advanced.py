"""numpy's advanced indexing: ``x[i, j]``, ``x[:, i, j]``, ``x[0, :, i]``, ``x[mask]``.

An index with at least one integer array (a numpy array, a list, a traced int array or
``tcomp.Array``) or a numpy boolean mask follows numpy's rules:

- the index arrays (and the plain ints beside them, which count as 0-d arrays) are
  broadcast together to one shape ``B``;
- when the array indices sit next to each other, ``B`` replaces their axes in place;
  when slices, ``None`` or ``...`` separate them (even a ``...`` that stands for no
  axis), ``B`` comes first;
- a numpy boolean mask is its ``nonzero()`` arrays (its shape is static). A traced
  mask is refused: the result's length would depend on the data.

It lowers to ``x[basic part]`` (slices and ``None``, see ``indexing.py``), a transpose
bringing the indexed axes together, a reshape flattening them into one, and one
``take`` by the flat index ``sum(i_k * stride_k)``; the gradient is ``take``'s (a
scatter-add: repeated positions add up). Bounds: numpy arrays and ints are checked
when tracing (an ``IndexError`` naming the axis, as numpy); traced indices follow
``take``: negative ones count from the end, out-of-range ones are clamped to the axis.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tcomp.frontend.dispatch import (
    dtype_of,
    operand,
    shape_of,
    user_error,
)
from tcomp.frontend.trace import Tracer
from tcomp.ir.errors import TcompIndexError
from tcomp.ir.types import is_float


def _is_traced(entry: Any) -> bool:
    from tcomp.frontend.array import Array

    return isinstance(entry, (Tracer, Array))


def _static_array(entry: Any) -> np.ndarray:
    """A list or numpy index as a numpy array of ints or bools, or a clear error."""
    try:
        array = np.asarray(entry)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.dtype == object or array.dtype.kind not in "biu":
        raise user_error(
            TcompIndexError,
            f"index arrays must hold integers or booleans, got {entry!r} "
            f"({array.dtype if array.dtype != object else type(entry).__name__})",
        )
    return array


def _expand(entries: list[Any]) -> list[Any]:
    """Lists become numpy arrays, numpy boolean masks their ``nonzero()`` arrays, traced
    masks an error; other entries stay."""
    out: list[Any] = []
    for entry in entries:
        if _is_traced(entry):
            if dtype_of(entry) == "bool":
                raise user_error(
                    TcompIndexError,
                    "boolean mask indexing with a traced mask gives a data-dependent shape; "
                    "use tcomp.where(mask, x, 0), or a numpy mask known when tracing",
                )
            if is_float(dtype_of(entry)):
                raise user_error(
                    TcompIndexError, f"index arrays must be integers, got {dtype_of(entry)}"
                )
            out.append(entry)
        elif isinstance(entry, (list, tuple, np.ndarray)):
            array = _static_array(entry)
            if array.dtype == bool:
                if array.ndim == 0:
                    raise user_error(
                        TcompIndexError, "a 0-d boolean index is not supported; use None or a mask"
                    )
                out.extend(_MaskAxis.of(part, size) for part, size in zip(np.nonzero(array), array.shape))
            else:
                out.append(array)
        else:
            out.append(entry)
    return out


class _MaskAxis(np.ndarray):
    """One of a boolean mask's ``nonzero()`` arrays, knowing the length of the mask's axis
    it came from: numpy requires that length to be the indexed axis's size."""

    mask_size: int

    @classmethod
    def of(cls, positions: np.ndarray, mask_size: int) -> "_MaskAxis":
        view = positions.view(cls)
        view.mask_size = int(mask_size)
        return view


def _is_advanced(entry: Any) -> bool:
    return _is_traced(entry) or isinstance(entry, np.ndarray) or (
        isinstance(entry, (int, np.integer)) and not isinstance(entry, (bool, np.bool_))
    )


def _checked(entry: Any, axis: int, size: int) -> Any:
    """A static index's values in ``[0, size)`` (numpy's bounds error otherwise), or a
    traced one wrapped and clamped like ``take``'s."""
    from tcomp.frontend import ops

    if _is_traced(entry):
        entry = ops.int32_indices(entry)  # int8 ... int64 indices, as int32
        value = ops.where(ops.less(entry, 0), ops.add(entry, size), entry)
        return ops.astype(ops.clip(value, 0, max(size - 1, 0)), "int32")
    mask_size = getattr(entry, "mask_size", None)
    if mask_size is not None and mask_size != size:
        raise user_error(
            TcompIndexError,
            f"boolean index did not match the indexed array along axis {axis}: the axis has "
            f"{size} elements, the mask's axis {mask_size}",
        )
    array = np.asarray(entry, dtype=np.int64)
    bad = (array < -size) | (array >= size)
    if bad.any():
        raise user_error(
            TcompIndexError,
            f"index {int(array[bad].flat[0])} is out of bounds for axis {axis} with size {size}",
        )
    return np.where(array < 0, array + size, array)


def advanced_getitem(value: Any, entries: list[Any], expand_ellipsis: Any):
    """``value[tuple(entries)]`` where some entry is an index array (see the module
    docstring)."""
    from tcomp.frontend import ops
    from tcomp.frontend.indexing import getitem

    entries = _expand(entries)
    # numpy decides adjacency before expanding `...`: even an empty `...` separates
    given = [i for i, e in enumerate(entries) if _is_advanced(e)]
    adjacent = given == list(range(given[0], given[-1] + 1))
    entries = expand_ellipsis(entries, len(shape_of(value)))
    basic = tuple(slice(None) if _is_advanced(e) else e for e in entries)
    picked = getitem(value, basic)  # slices and None applied; one axis per entry
    shape = shape_of(picked)
    positions = [i for i, e in enumerate(entries) if _is_advanced(e)]
    # the axis of the original array each advanced entry indexes (for error messages)
    source_axis = {p: sum(1 for e in entries[:p] if e is not None) for p in positions}
    if len(positions) == 1 and _is_traced(entries[positions[0]]):
        indices = [entries[positions[0]]]  # take wraps and clamps it the same way
    else:
        indices = [_checked(entries[p], source_axis[p], shape[p]) for p in positions]
    index_shapes = [shape_of(operand(i, "indexing")) for i in indices]
    try:
        index_shape = np.broadcast_shapes(*index_shapes)
    except ValueError:
        shown = " and ".join(str(tuple(s)) for s in index_shapes)
        raise user_error(
            TcompIndexError, f"indexing: index arrays of shapes {shown} cannot be broadcast together"
        ) from None
    rest = [i for i in range(len(shape)) if i not in positions]
    at = positions[0] if adjacent else 0
    perm = rest[:at] + positions + rest[at:]
    if perm != list(range(len(shape))):
        picked = ops.transpose(picked, tuple(perm))
    sizes = [shape[p] for p in positions]
    outer = [shape[i] for i in rest]
    picked = ops.reshape(picked, tuple(outer[:at]) + (math.prod(sizes),) + tuple(outer[at:]))
    flat = _flat_index(indices, sizes, index_shape)
    return ops.take(picked, flat, axis=at)


def _flat_index(indices: list[Any], sizes: list[int], shape: tuple[int, ...]) -> Any:
    """``sum(index_k * stride_k)`` (row-major strides of ``sizes``), broadcast to ``shape``:
    a numpy constant when every index is static, else int32 tcomp ops."""
    from tcomp.frontend import ops

    strides = [math.prod(sizes[k + 1 :]) for k in range(len(sizes))]
    static = [(i, s) for i, s in zip(indices, strides) if isinstance(i, np.ndarray)]
    traced = [(i, s) for i, s in zip(indices, strides) if not isinstance(i, np.ndarray)]
    if math.prod(sizes) > np.iinfo(np.int32).max:
        raise user_error(
            TcompIndexError,
            f"indexing: the indexed axes hold {math.prod(sizes)} elements, more than an "
            "int32 index reaches",
        )
    total: Any = np.zeros(shape, dtype=np.int32)
    for i, s in static:
        total = total + (i * s).astype(np.int32)
    total = np.broadcast_to(total, shape).astype(np.int32)
    for i, s in traced:
        total = ops.add(total, ops.multiply(i, s) if s != 1 else i)
    return ops.broadcast_to(total, shape) if traced else total
