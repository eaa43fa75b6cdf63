"""``tcomp.put_along_axis``: numpy's ``put_along_axis``, functional, with the
reductions of PyTorch's ``scatter_reduce``.

Two paths, both public ops only, so it traces, runs eagerly and differentiates like
user code:

- traced indices along an axis of at most ``DENSE_MAX_AXIS`` (512) elements:
  :mod:`tcomp.frontend.put_along_axis_dense` compares each update with each position of
  its row and reduces (no sort; a few fused kernels);
- otherwise the ``x.at[...]`` updates (:mod:`tcomp.frontend.indexing_update`): the
  positions along ``axis`` become flat positions into ``arr`` (numpy ints when the
  indices are known when tracing: no sort either), and the flat array is updated once;
  ``mean`` and ``include_self=False`` add a count of the updates per element.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.array import Array
from tcomp.frontend.bitwise_ops import logical_and
from tcomp.frontend.creation import arange, ones, zeros, zeros_like
from tcomp.frontend.dispatch import (
    Weak,
    broadcast_shapes,
    cast,
    dtype_of,
    materialize,
    normalize_axis,
    operand,
    shape_of,
    user_error,
)
from tcomp.frontend.indexing_update import update
from tcomp.frontend.ops_gather import int32_indices
from tcomp.frontend.put_along_axis_dense import DENSE_MAX_AXIS, dense_put
from tcomp.frontend.trace import Tracer
from tcomp.ir.errors import TcompArgumentError, TcompIndexError, TcompShapeError, TcompTypeError
from tcomp.ir.types import int_bounds, is_float, numpy_dtype

_NAME = "put_along_axis"
REDUCTIONS = (None, "add", "multiply", "min", "max", "mean")


def put_along_axis(
    arr: Any,
    indices: Any,
    values: Any,
    axis: Any,
    *,
    reduce: str | None = None,
    include_self: bool = True,
):
    """``arr`` with ``values`` written at ``indices`` along ``axis``: numpy's
    ``put_along_axis``, but functional: numpy's changes ``arr`` in place and returns
    None, this one returns the new array and leaves ``arr`` as it was.

    For each position ``j`` of ``indices`` (which has ``arr``'s rank; its other axes
    broadcast against ``arr``'s, as numpy's), the element of ``arr`` at ``j`` with its
    ``axis`` coordinate replaced by ``indices[j]`` receives ``values[j]`` (``values``
    broadcast to that shape and converted to ``arr``'s dtype). ``axis=None`` works on
    the flattened array (1-d ``indices``); the result keeps ``arr``'s shape.

    ``reduce`` says what an element does with what it receives:

    - ``None``: it is replaced. When several positions name one element, the **last**
      in row-major order of ``indices`` wins (deterministic on every backend; numpy's
      assignment does the same, PyTorch's ``scatter`` leaves it unspecified);
    - ``"add"``, ``"multiply"``, ``"min"``, ``"max"``: it is combined with every value
      it receives (``np.add.at`` ...; PyTorch's ``scatter_reduce`` ``"sum"``,
      ``"prod"``, ``"amin"``, ``"amax"``); NaN propagates through min and max;
    - ``"mean"``: it becomes the mean of its own value and those it receives
      (PyTorch's ``"mean"``; integer dtypes divide with floor, as PyTorch does).

    ``include_self=False`` (with a ``reduce``): an element that receives at least one
    value leaves its own value out of the reduction (PyTorch's definition; for
    ``"mean"`` it is not counted either); elements receiving nothing keep their value.

    Negative indices count from the end. Indices known when tracing (numpy arrays,
    lists) must lie in ``[-n, n)``, else ``TcompIndexError``, as numpy's; traced
    indices out of that range are dropped (their updates go nowhere, JAX's default
    for scatters). Gradients follow from the ops: ``None`` passes none to the
    overwritten elements of ``arr`` nor to values that lost to a later one, ``"add"``
    passes the cotangent to both, ``"min"``/``"max"`` share it among tied extremes
    (how, between the two paths, is not specified), and ``include_self=False`` passes
    none to the left-out elements of ``arr``.
    """
    if reduce not in REDUCTIONS:
        raise user_error(
            TcompArgumentError,
            f"{_NAME}: reduce must be one of {', '.join(map(repr, REDUCTIONS))}, got {reduce!r}",
        )
    if not isinstance(include_self, (bool, np.bool_)):
        raise user_error(
            TcompTypeError, f"{_NAME}: include_self must be True or False, got {include_self!r}"
        )
    if reduce is None and not include_self:
        raise user_error(
            TcompArgumentError,
            f"{_NAME}: include_self=False needs a reduce (without one, elements are replaced)",
        )
    x = materialize(operand(arr, _NAME))
    shape, dtype = shape_of(x), dtype_of(x)
    if reduce == "mean" and dtype == "bool":
        raise user_error(TcompTypeError, f"{_NAME}: reduce='mean' is not defined on bool arrays")
    flat_shape = shape
    if axis is None:
        x, flat_shape, axis = ops.reshape(x, (-1,)), (math.prod(shape),), 0
    axis = normalize_axis(_NAME, axis, len(flat_shape))
    index = _index_operand(indices)
    target = _target_shape(flat_shape, shape_of(index), axis)
    value = _broadcast_values(values, target, dtype)
    if math.prod(target) == 0:
        return ops.reshape(x, shape)
    n = flat_shape[axis]
    if not isinstance(index, np.ndarray) and n <= DENSE_MAX_AXIS:
        wrapped = ops.where(ops.less(index, 0), ops.add(index, n), index)
        identity = _identity(reduce, dtype)
        result = dense_put(x, wrapped, value, axis, target, reduce, include_self, identity)
        return ops.reshape(result, shape)
    positions = _flat_positions(index, flat_shape, axis, target)
    flat_value = ops.reshape(value, (-1,))
    result = _apply(ops.reshape(x, (-1,)), positions, flat_value, reduce, include_self, dtype)
    return ops.reshape(result, shape)


def _index_operand(indices: Any):
    """numpy int32 indices when known when tracing, else an int32 tracer or Array."""
    index = operand(indices, _NAME)
    if isinstance(index, (Tracer, Array)):
        if not np.issubdtype(numpy_dtype(dtype_of(index)), np.integer):
            raise user_error(
                TcompTypeError, f"{_NAME}: indices must be integers, got {dtype_of(index)}"
            )
        return int32_indices(index)
    host = np.asarray(indices if isinstance(index, Weak) else index)
    if not np.issubdtype(host.dtype, np.integer):
        raise user_error(TcompTypeError, f"{_NAME}: indices must be integers, got {host.dtype}")
    return host


def _target_shape(shape: tuple[int, ...], ishape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    """The shape the indices select: theirs, broadcast against ``arr``'s other axes."""
    if len(ishape) != len(shape):
        raise user_error(
            TcompShapeError,
            f"{_NAME}: indices must have the array's rank {len(shape)} (array shape {shape}), "
            f"got shape {ishape}",
        )
    others = tuple(1 if i == axis else d for i, d in enumerate(shape))
    try:
        return broadcast_shapes(_NAME, ishape, others)
    except TcompShapeError:
        raise user_error(
            TcompShapeError,
            f"{_NAME}: indices of shape {ishape} do not broadcast against the array's shape "
            f"{shape} on the axes other than {axis}",
        ) from None


def _broadcast_values(values: Any, target: tuple[int, ...], dtype: str):
    value = operand(values, _NAME)
    vshape = shape_of(value)
    try:
        fits = np.broadcast_shapes(vshape, target) == target
    except ValueError:
        fits = False
    if not fits:
        raise user_error(
            TcompShapeError,
            f"{_NAME}: values of shape {vshape} cannot be broadcast to the indices' shape {target}",
        )
    return ops.broadcast_to(materialize(cast(value, dtype)), target)


def _flat_positions(index: Any, shape: tuple[int, ...], axis: int, target: tuple[int, ...]):
    """The flat position in ``arr`` of each selected element, row-major over ``target``:
    numpy ints for host indices (checked), else int32 with ``size`` (one past the end)
    for an out-of-range index."""
    n, size = shape[axis], math.prod(shape)
    strides = [math.prod(shape[d + 1 :]) for d in range(len(shape))]
    if isinstance(index, np.ndarray):
        if index.size and (index.min() < -n or index.max() >= n):
            bad = index[(index < -n) | (index >= n)].flat[0]
            raise user_error(
                TcompIndexError,
                f"{_NAME}: index {bad} is out of bounds for axis {axis} with size {n}",
            )
        along = np.broadcast_to(np.where(index < 0, index + n, index), target).astype(np.int64)
        flat = along * strides[axis]
        for d, extent in enumerate(shape):
            if d != axis:
                grid = np.arange(extent).reshape(
                    [extent if i == d else 1 for i in range(len(shape))]
                )
                flat = flat + np.broadcast_to(grid, target) * strides[d]
        return flat.reshape(-1).astype(np.int32)
    along = ops.broadcast_to(ops.where(ops.less(index, 0), ops.add(index, n), index), target)
    inside = logical_and(ops.greater_equal(along, 0), ops.less(along, n))
    flat = ops.multiply(along, strides[axis])
    for d, extent in enumerate(shape):
        if d != axis:
            grid = ops.reshape(arange(extent), [extent if i == d else 1 for i in range(len(shape))])
            flat = ops.add(flat, ops.multiply(grid, strides[d]))
    return ops.reshape(ops.where(inside, flat, size), (-1,))


def _apply(x: Any, positions: Any, value: Any, reduce: str | None, include_self: bool, dtype: str):
    """The flat update. Traced positions may name ``size`` (dropped): the work is done on
    ``x`` with one spare element at the end, cut off after."""
    size = shape_of(x)[0]
    spare = not isinstance(positions, np.ndarray)
    if spare:
        x = ops.concatenate([x, zeros((1,), dtype)])
    mode = "set" if reduce is None else reduce
    if reduce in (None, "add", "multiply", "min", "max") and include_self:
        result = update(x, positions, value, mode)
    else:
        hit, counts = _counts(positions, shape_of(x)[0])
        if reduce == "mean":
            base = x if include_self else zeros_like(x)
            sums = update(base, positions, value, "add")
            divisor = ops.add(counts, 1) if include_self else ops.maximum(counts, 1)
            divide = ops.divide if is_float(dtype) else ops.floor_divide
            means = cast(divide(sums, cast(divisor, dtype)), dtype)
            result = ops.where(hit, means, x)
        else:
            base = ops.where(hit, _identity(reduce, dtype), x)
            result = update(base, positions, value, mode)
    return result[:size] if spare else result


def _counts(positions: Any, size: int):
    """``(hit, counts)``: whether each flat element receives a value, and how many."""
    if isinstance(positions, np.ndarray):
        counts = np.bincount(positions, minlength=size).astype(np.int32)
        return counts > 0, counts
    counts = update(zeros((size,), "int32"), positions, ones(shape_of(positions), "int32"), "add")
    return ops.greater(counts, 0), counts


def _identity(reduce: str | None, dtype: str) -> Any:
    """The value that leaves ``reduce``'s result unchanged (a Python scalar: it takes
    the array's dtype)."""
    if reduce in ("add", "multiply", "mean"):
        return (reduce == "multiply") if dtype == "bool" else int(reduce == "multiply")
    if dtype == "bool":
        return reduce == "min"
    if is_float(dtype):
        return math.inf if reduce == "min" else -math.inf
    low, high = int_bounds(dtype)
    return high if reduce == "min" else low
