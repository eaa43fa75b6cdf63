"""Functional indexed updates, JAX's spelling: ``x.at[index].set(v)``, ``.add(v)``,
``.multiply(v)``, ``.min(v)``, ``.max(v)`` and ``.get()``.

Each returns a new array (tcomp arrays are immutable). ``index`` is anything ``x[index]``
accepts (ints, slices, ``None``, ``...``, integer arrays, numpy boolean masks); ``v`` is
converted to ``x``'s dtype and broadcast to ``x[index]``'s shape, as numpy's
``x[index] = v``.

Repeated positions (an integer array naming one element twice):

- ``add``, ``multiply``, ``min``, ``max`` combine every update into the element, in
  index order (``np.add.at``, ``np.multiply.at``, ``np.minimum.at``, ``np.maximum.at``);
- ``set`` keeps the **last** update in index order (what numpy's ``x[index] = v`` does,
  and deterministic on every backend).

Each update is a composition of public ops. Every position an index names is known
when tracing unless an index array is traced: then the flat positions are
``arange(x.size).reshape(x.shape)[index]`` and

- ``add`` is one ``scatter_add``;
- the others order the updates by position with ``argsort`` (a stable sort, so index
  order survives within a position), combine each run of equal positions with a
  log-depth segmented scan, and ``take`` the last of each run (``set``: the last one
  itself). Out-of-range traced indices are clamped, as ``take``'s.

Gradients follow from the ops: ``set`` passes none to the overwritten elements of ``x``
and none to the updates that lost to a later one; ``min``/``max`` split ties as
``tcomp.minimum``/``maximum`` do.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from tcomp.frontend.dispatch import cast, dtype_of, materialize, operand, shape_of, user_error
from tcomp.ir.errors import TcompIndexError, TcompShapeError

_MODES = ("set", "add", "multiply", "min", "max")


class IndexUpdateHelper:
    """``x.at``: index it (``x.at[index]``) to get the update methods."""

    __slots__ = ("_array",)

    def __init__(self, array: Any) -> None:
        self._array = array

    def __getitem__(self, index: Any) -> IndexUpdateRef:
        return IndexUpdateRef(self._array, index)

    def __repr__(self) -> str:
        return f"_IndexUpdateHelper({self._array!r})"


class IndexUpdateRef:
    """``x.at[index]``: ``get()``, and ``set/add/multiply/min/max(values)`` returning the
    updated copy of ``x`` (see the module docstring for repeated positions)."""

    __slots__ = ("_array", "_index")

    def __init__(self, array: Any, index: Any) -> None:
        self._array, self._index = array, index

    def get(self):
        """``x[index]``."""
        from tcomp.frontend.indexing import getitem

        return getitem(self._array, self._index)

    def set(self, values: Any):
        """``x`` with ``x[index]`` replaced by ``values`` (the last update wins a repeat)."""
        return update(self._array, self._index, values, "set")

    def add(self, values: Any):
        """``x`` with ``values`` added at ``index`` (repeats accumulate, ``np.add.at``)."""
        return update(self._array, self._index, values, "add")

    def multiply(self, values: Any):
        """``x`` with ``x[index]`` multiplied by ``values`` (``np.multiply.at``)."""
        return update(self._array, self._index, values, "multiply")

    mul = multiply

    def min(self, values: Any):
        """``x`` with ``x[index] = minimum(x[index], values)`` (``np.minimum.at``)."""
        return update(self._array, self._index, values, "min")

    def max(self, values: Any):
        """``x`` with ``x[index] = maximum(x[index], values)`` (``np.maximum.at``)."""
        return update(self._array, self._index, values, "max")


def _combine(mode: str, dtype: str) -> Callable[[Any, Any], Any]:
    from tcomp.frontend import ops
    from tcomp.frontend.bitwise_ops import logical_and, logical_or

    if dtype == "bool" and mode in ("add", "multiply"):
        return logical_or if mode == "add" else logical_and  # numpy's bool + and *
    return {"add": ops.add, "multiply": ops.multiply, "min": ops.minimum, "max": ops.maximum}[mode]


def _is_traced_index(index: Any) -> bool:
    from tcomp.frontend.array import Array
    from tcomp.frontend.trace import Tracer

    entries = index if isinstance(index, tuple) else (index,)
    return any(isinstance(e, (Tracer, Array)) for e in entries)


def _positions(shape: tuple[int, ...], index: Any) -> Any:
    """The flat position in ``x`` of each element of ``x[index]``: numpy ints when the
    index is known when tracing, else traced int32."""
    from tcomp.frontend import ops
    from tcomp.frontend.creation import arange
    from tcomp.frontend.indexing import getitem

    size = math.prod(shape)
    if _is_traced_index(index):
        return getitem(ops.reshape(arange(size), shape), index)
    flat = np.arange(size, dtype=np.int32).reshape(shape)
    try:
        return np.asarray(flat[index])  # numpy's own indexing rules, on the host
    except (IndexError, TypeError, ValueError) as error:
        raise user_error(TcompIndexError, f"at[]: index {index!r}: {error}") from None


def update(x: Any, index: Any, values: Any, mode: str):
    """``x.at[index].<mode>(values)`` (see the module docstring)."""
    from tcomp.frontend import ops

    if mode not in _MODES:
        raise user_error(TcompIndexError, f"at[]: unknown update {mode!r}")
    x = materialize(operand(x, f"at[].{mode}"))
    shape, dtype = shape_of(x), dtype_of(x)
    positions = _positions(shape, index)
    target = shape_of(positions)
    value = operand(values, f"at[].{mode}")
    vshape = shape_of(value)
    extra = len(vshape) - len(target)
    if extra > 0 and all(d == 1 for d in vshape[:extra]):  # numpy drops leading 1s
        value, vshape = ops.reshape(materialize(value), vshape[extra:]), vshape[extra:]
    try:
        fits = np.broadcast_shapes(vshape, target) == target
    except ValueError:
        fits = False
    if not fits:
        raise user_error(
            TcompShapeError,
            f"at[].{mode}: values of shape {shape_of(operand(values, 'at'))} cannot be "
            f"broadcast to x[index]'s shape {target} (x is {shape})",
        )
    count = math.prod(target)
    if count == 0:
        return x
    value = ops.reshape(ops.broadcast_to(materialize(cast(value, dtype)), target), (count,))
    if isinstance(positions, np.ndarray):
        flat_positions = positions.reshape(count)
    else:
        flat_positions = ops.reshape(positions, (count,))
    size = math.prod(shape)
    if mode == "add" and not isinstance(flat_positions, np.ndarray) and dtype != "bool":
        added = ops.reshape(_scatter_add(value, flat_positions, size), shape)
        return ops.add(x, added)
    winner, reduced = _grouped(value, flat_positions, size, mode, dtype)
    if isinstance(winner, np.ndarray):
        hit, source = (winner > 0).reshape(shape), np.maximum(winner - 1, 0)
    else:
        hit, source = ops.reshape(ops.greater(winner, 0), shape), ops.maximum(winner - 1, 0)
    picked = ops.reshape(ops.take(reduced, source), shape)
    return ops.where(hit, picked if mode == "set" else _combine(mode, dtype)(x, picked), x)


def _scatter_add(values: Any, positions: Any, size: int):
    from tcomp.frontend.dispatch import bind

    return bind("scatter_add", [values, cast(positions, "int32")], axis=0, size=size)


def _grouped(values: Any, positions: Any, size: int, mode: str, dtype: str):
    """``(winner, reduced)``: for each flat position of ``x``, ``winner`` is 1 + the slot
    of ``reduced`` that holds its combined update (0: no update), where ``reduced`` is
    the updates sorted stably by position, each run of equal positions combined up to its
    last element (for ``set``, the updates themselves)."""
    from tcomp.frontend import ops
    from tcomp.frontend.composite_sort import argsort

    count = shape_of(values)[0]
    if isinstance(positions, np.ndarray):
        order = np.argsort(positions, kind="stable").astype(np.int32)
        ordered = positions[order]
        last = np.append(ordered[1:] != ordered[:-1], True)
        winner = np.zeros(size, np.int32)
        winner[ordered[last]] = np.flatnonzero(last) + 1
        runs = np.diff(np.flatnonzero(np.append(True, last)))
        longest = int(runs.max())
        if not (order == np.arange(count)).all():
            values = ops.take(values, order)
    else:
        order = argsort(positions)
        ordered = ops.take(positions, order)
        following = ops.concatenate([ordered[1:], np.full((1,), -1, np.int32)])
        last = ops.not_equal(ordered, following)
        slots = ops.add(np.arange(count, dtype=np.int32), 1)
        winner = _scatter_add(ops.where(last, slots, 0), ordered, size)
        values, longest = ops.take(values, order), count
    if mode == "set":
        return winner, values
    combine = _combine(mode, dtype)
    shift = 1
    while shift < longest:  # Hillis-Steele scan within each run of equal positions
        same = _same_run(ordered, shift)
        earlier = ops.concatenate([values[:shift], combine(values[:-shift], values[shift:])])
        values = ops.where(same, earlier, values)
        shift *= 2
    return winner, values


def _same_run(ordered: Any, shift: int):
    """True at ``i >= shift`` where ``ordered[i - shift] == ordered[i]`` (sorted: the same run)."""
    from tcomp.frontend import ops

    if isinstance(ordered, np.ndarray):
        return np.append(np.zeros(shift, bool), ordered[shift:] == ordered[:-shift])
    head = np.zeros(shift, bool)
    return ops.concatenate([head, ops.equal(ordered[shift:], ordered[:-shift])])
