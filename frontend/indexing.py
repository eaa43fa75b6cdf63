"""``x[index]`` on traced values and Arrays.

Basic indexing works as in numpy: integers (negative count from the end),
slices with any step (negative steps reverse), ``None`` (a new axis) and
``...``. It lowers to ``rev`` (for negative steps), one ``slice`` and one
``reshape``, so its gradient is free. Integer-array indices (several, with
ints, slices and ``None`` beside them) and numpy boolean masks follow numpy's
advanced indexing (``indexing_advanced.py``: one ``take``); a traced boolean
mask is rejected, as its result's shape would depend on the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcomp.frontend.dispatch import bind, materialize, operand, shape_of, user_error
from tcomp.frontend.trace import Tracer
from tcomp.ir.errors import TcompIndexError


def _is_array_index(entry: Any) -> bool:
    from tcomp.frontend.array import Array

    # a tuple inside the index tuple is a sequence of indices, as a list is (numpy's rule)
    return isinstance(entry, (Tracer, Array, np.ndarray, list, tuple))


def getitem(x: Any, index: Any):
    """``x[index]`` (see the module docstring for what is supported)."""
    value = materialize(operand(x, "indexing"))
    shape = shape_of(value)
    entries = list(index) if isinstance(index, tuple) else [index]

    array_positions = [i for i, e in enumerate(entries) if _is_array_index(e)]
    if array_positions:
        return _array_index(value, entries, array_positions)

    entries = _expand_ellipsis(entries, len(shape))
    starts, stops, steps, reversed_axes = [], [], [], []
    out_shape: list[int] = []
    axis = 0
    for entry in entries:
        if entry is None:
            out_shape.append(1)
            continue
        size = shape[axis]
        if isinstance(entry, slice):
            start, stop, step, length = _normalize_slice(entry, size)
            out_shape.append(length)
        elif isinstance(entry, (int, np.integer)) and not isinstance(entry, bool):
            position = int(entry) + size if entry < 0 else int(entry)
            if not 0 <= position < size:
                raise user_error(
                    TcompIndexError,
                    f"index {entry} is out of bounds for axis {axis} with size {size}",
                )
            start, stop, step, length = position, position + 1, 1, 1
        else:
            raise user_error(
                TcompIndexError,
                f"unsupported index {entry!r} ({type(entry).__name__}); use ints, slices, None, "
                "... or integer arrays",
            )
        if step < 0:
            reversed_axes.append(axis)
            start, stop, step = _reversed_bounds(start, step, length, size)
        starts.append(start)
        stops.append(stop)
        steps.append(step)
        axis += 1

    result = value
    if reversed_axes:
        result = bind("rev", [result], axes=tuple(reversed_axes))
    if (tuple(starts), tuple(stops), tuple(steps)) != ((0,) * len(shape), shape, (1,) * len(shape)):
        result = bind("slice", [result], start=tuple(starts), stop=tuple(stops), step=tuple(steps))
    if tuple(out_shape) != shape_of(result):
        result = bind("reshape", [result], shape=tuple(out_shape))
    return result


def _expand_ellipsis(entries: list[Any], ndim: int) -> list[Any]:
    ellipses = [i for i, e in enumerate(entries) if e is Ellipsis]
    if len(ellipses) > 1:
        raise user_error(TcompIndexError, "an index can only have a single ellipsis ('...')")
    used = sum(1 for e in entries if e is not None and e is not Ellipsis)
    if used > ndim:
        raise user_error(
            TcompIndexError, f"too many indices: {used} for an array of rank {ndim}"
        )
    fill = [slice(None)] * (ndim - used)
    if ellipses:
        i = ellipses[0]
        return entries[:i] + fill + entries[i + 1 :]
    return entries + fill


def _normalize_slice(entry: slice, size: int) -> tuple[int, int, int, int]:
    for part in (entry.start, entry.stop, entry.step):
        if part is not None and not isinstance(part, (int, np.integer)):
            raise user_error(
                TcompIndexError, f"slice bounds must be Python ints known when tracing, got {part!r}"
            )
    if entry.step == 0:
        raise user_error(TcompIndexError, "slice step cannot be zero")
    start, stop, step = entry.indices(size)
    length = len(range(start, stop, step))
    if step > 0:
        return start, (start if length == 0 else start + (length - 1) * step + 1), step, length
    return start, stop, step, length


def _reversed_bounds(start: int, step: int, length: int, size: int) -> tuple[int, int, int]:
    """A negative-step slice as a positive-step slice of the reversed axis."""
    if length == 0:
        return 0, 0, 1
    new_start = size - 1 - start
    new_step = -step
    return new_start, new_start + (length - 1) * new_step + 1, new_step


def _array_index(value: Any, entries: list[Any], positions: list[int]):
    from tcomp.frontend.indexing_advanced import advanced_getitem

    return advanced_getitem(value, entries, _expand_ellipsis)
