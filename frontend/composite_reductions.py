"""numpy's statistics, products, logical reductions, scans and ``nonzero``,
composed from tcomp's existing ops.

``var std prod any all argmin cumsum cumprod cummax cummin nonzero
argwhere``. They are built from sums, elementwise ops, slices, pads and
concatenations (``tcomp.frontend.ops``), so they work inside ``jit`` and
eagerly on every backend, and autodiff differentiates them through those
ops. Dtypes follow tcomp's ``sum`` (``accumulation_dtype``): bool and int8 count as
int32, uint8 as uint32, int32 stays int32 (numpy widens to int64), and the float functions (``var``, ``std``) give
float32 for integer input (numpy gives float64).
"""

from __future__ import annotations

import builtins
import math
from typing import Any, Callable

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.bitwise_ops import invert, logical_or
from tcomp.frontend.composite_shapes import as_array, move_to_end, slice_along, static_int
from tcomp.frontend.creation import arange, full
from tcomp.frontend.dispatch import (
    accumulation_dtype,
    cast,
    dtype_of,
    normalize_axes,
    normalize_axis,
    shape_of,
    to_float,
    user_error,
)
from tcomp.frontend.math_ops import isnan
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import canonical_dtype, is_float, is_integer

# ---------------------------------------------------------------------------
# Statistics


def _keep_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def var(x: Any, axis: Any = None, ddof: Any = 0, keepdims: bool = False, *, dtype: Any = None):
    """numpy's var: ``sum((x - mean(x)) ** 2) / (N - ddof)`` over ``axis``.

    Two passes (the mean, then the squared deviations), as numpy. Integer and
    bool inputs give float32; ``dtype`` computes in that dtype instead. When
    ``N - ddof <= 0`` the result is inf or NaN, as numpy's (without its warning).
    """
    return _var("var", x, axis, ddof, keepdims, dtype)


def _var(name: str, x: Any, axis: Any, ddof: Any, keepdims: bool, dtype: Any):
    value = as_array(x, name)
    value = cast(value, canonical_dtype(dtype)) if dtype is not None else to_float(value)
    if isinstance(ddof, (bool, np.bool_)) or not isinstance(
        ddof, (int, float, np.integer, np.floating)
    ):
        raise user_error(
            TcompTypeError, f"{name}: ddof must be a number known when tracing, got {ddof!r}"
        )
    shape = shape_of(value)
    axes = normalize_axes(name, axis, len(shape))
    count = math.prod(shape[a] for a in axes)
    centered = ops.subtract(value, ops.mean(value, axis=axes, keepdims=True))
    total = ops.sum(ops.multiply(centered, centered), axis=axes, keepdims=keepdims)
    return ops.divide(total, float(builtins.max(count - ddof, 0)))


def std(x: Any, axis: Any = None, ddof: Any = 0, keepdims: bool = False, *, dtype: Any = None):
    """numpy's std: ``sqrt(var(x, axis, ddof, keepdims))`` (see ``var``)."""
    return ops.sqrt(_var("std", x, axis, ddof, keepdims, dtype))


def prod(x: Any, axis: Any = None, keepdims: bool = False, *, dtype: Any = None):
    """numpy's prod over ``axis``: a pairwise product tree.

    The reduced axes are moved last and flattened to one of length n; then
    ``ceil(log2 n)`` rounds each multiply its first half by its second half
    (an odd length is padded with a 1). O(n) multiplies, log-depth, exact for
    zeros and negative numbers (no ``exp(sum(log))``); its gradient comes from
    those multiplies. bool counts as int32; the product of nothing is 1.
    """
    value = as_array(x, "prod")
    if dtype is not None:
        value = cast(value, canonical_dtype(dtype))
    else:
        value = cast(value, accumulation_dtype(dtype_of(value)))
    shape = shape_of(value)
    axes = normalize_axes("prod", axis, len(shape))
    kept = tuple(d for i, d in enumerate(shape) if i not in axes)
    n = math.prod(shape[a] for a in axes)
    value = ops.reshape(move_to_end(value, axes), kept + (n,))
    last = len(kept)
    if n == 0:
        value, n = ops.pad(value, [(0, 0)] * last + [(0, 1)], constant_values=1), 1
    while n > 1:
        if n % 2:
            value, n = ops.pad(value, [(0, 0)] * last + [(0, 1)], constant_values=1), n + 1
        half = n // 2
        value = ops.multiply(slice_along(value, last, 0, half), slice_along(value, last, half, n))
        n = half
    return ops.reshape(value, _keep_shape(shape, axes) if keepdims else kept)


def _count(name: str, x: Any, axis: Any, keepdims: bool, zeros: bool):
    value = as_array(x, name)
    axes = normalize_axes(name, axis, len(shape_of(value)))
    hits = ops.equal(value, 0) if zeros else ops.not_equal(value, 0)
    return ops.sum(hits, axis=axes, keepdims=keepdims)


def any(x: Any, axis: Any = None, keepdims: bool = False):
    """numpy's any: whether some element along ``axis`` is nonzero (NaN counts); bool.

    A count of the nonzero elements compared with 0, so an empty axis gives False.
    """
    return ops.greater(_count("any", x, axis, keepdims, zeros=False), 0)


def all(x: Any, axis: Any = None, keepdims: bool = False):
    """numpy's all: whether every element along ``axis`` is nonzero; bool (True when empty)."""
    return ops.equal(_count("all", x, axis, keepdims, zeros=True), 0)


def argmin(x: Any, axis: Any = None):
    """numpy's argmin: the index of the first minimum along ``axis`` (flattened when None), int32.

    ``argmax`` of an order-reversing map: ``-x`` for floats (a NaN, like in
    numpy, counts as the extreme and the first one wins), ``-1 - x`` for
    int32 (no overflow at the smallest int), ``not x`` for bool.
    """
    value = as_array(x, "argmin")
    if axis is None:
        value, axis = ops.reshape(value, (-1,)), 0
    axis = normalize_axis("argmin", axis, len(shape_of(value)))
    if shape_of(value)[axis] == 0:
        raise user_error(TcompShapeError, "argmin: the axis is empty")
    dtype = dtype_of(value)
    if dtype == "bool":
        reversed_ = ops.equal(value, False)
    elif is_integer(dtype):
        reversed_ = invert(value)  # ~x = -1 - x reverses the order, never overflows
    else:
        reversed_ = ops.negative(value)
    return ops.argmax(reversed_, axis=axis)


# ---------------------------------------------------------------------------
# Scans


def _scan(
    name: str, x: Any, axis: Any, combine: Callable[[Any, Any], Any], dtype: Any, keep_bool: bool
):
    """Hillis-Steele inclusive scan: for shift = 1, 2, 4 ... < n,
    ``x[i] = combine(x[i - shift], x[i])`` for ``i >= shift`` (one slice pair and
    one concatenation per round): ceil(log2 n) rounds, O(size log n) work."""
    value = as_array(x, name)
    if dtype is not None:
        value = cast(value, canonical_dtype(dtype))
    elif not keep_bool:
        value = cast(value, accumulation_dtype(dtype_of(value)))
    if axis is None:
        value, axis = ops.reshape(value, (-1,)), 0
    axis = normalize_axis(name, axis, len(shape_of(value)))
    n = shape_of(value)[axis]
    shift = 1
    while shift < n:
        head = slice_along(value, axis, 0, shift)
        tail = combine(slice_along(value, axis, 0, n - shift), slice_along(value, axis, shift, n))
        value = ops.concatenate([head, tail], axis)
        shift *= 2
    return value


def cumsum(x: Any, axis: Any = None, *, dtype: Any = None):
    """numpy's cumsum along ``axis`` (of the flattened array when None).

    A log-depth (Hillis-Steele) scan of adds: ceil(log2 n) rounds of
    O(size) work each. bool counts as int32, int32 stays int32.
    """
    return _scan("cumsum", x, axis, ops.add, dtype, keep_bool=False)


def cumprod(x: Any, axis: Any = None, *, dtype: Any = None):
    """numpy's cumprod along ``axis``: the scan of ``cumsum`` with multiplies (exact at zeros)."""
    return _scan("cumprod", x, axis, ops.multiply, dtype, keep_bool=False)


def cummax(x: Any, axis: Any = None, *, return_indices: bool = False):
    """The running maximum along ``axis`` (numpy's ``np.maximum.accumulate``; PyTorch's name).

    The scan of ``cumsum`` with ``maximum``; bool stays bool, NaN propagates.
    Tied values share the gradient (``maximum``'s rule, applied per round).
    ``axis=None`` scans the flattened array.

    ``return_indices=True`` gives ``(values, indices)`` as ``torch.cummax`` does:
    ``indices[i]`` (int32, along the axis) is where ``values[i]`` was found. A tie
    takes the latest position, and from the first NaN on every NaN moves the index
    to itself (``[1, 3, 3, 2, nan, 5, nan]`` -> ``[0, 1, 2, 2, 4, 4, 6]``).
    The indices have no gradient.
    """
    return _extreme_scan("cummax", x, axis, ops.maximum, return_indices)


def cummin(x: Any, axis: Any = None, *, return_indices: bool = False):
    """The running minimum along ``axis`` (``np.minimum.accumulate``); see ``cummax``
    (the same tie and NaN rules for ``return_indices=True``: ``[3, 1, 1, 2]`` ->
    ``[0, 1, 2, 2]``)."""
    return _extreme_scan("cummin", x, axis, ops.minimum, return_indices)


def _extreme_scan(
    name: str, x: Any, axis: Any, combine: Callable[[Any, Any], Any], return_indices: bool
):
    """cummax/cummin, and with ``return_indices`` their positions: position p is
    where the running value was last found at or before i exactly when
    ``x[p] == values[p]`` (or ``x[p]`` is NaN), so the index is a running maximum of
    those positions (0 elsewhere): a second scan, of int32."""
    value = as_array(x, name)
    if axis is None:
        value, axis = ops.reshape(value, (-1,)), 0
    axis = normalize_axis(name, axis, len(shape_of(value)))
    values = _scan(name, value, axis, combine, None, keep_bool=True)
    if not return_indices:
        return values
    shape = shape_of(value)
    positions = ops.reshape(
        arange(shape[axis]), tuple(d if i == axis else 1 for i, d in enumerate(shape))
    )
    found = ops.equal(value, values)
    if is_float(dtype_of(value)):
        found = logical_or(found, isnan(value))
    candidates = ops.where(found, positions, 0)
    return values, _scan(name, candidates, axis, ops.maximum, None, keep_bool=True)


# ---------------------------------------------------------------------------
# Positions of nonzero elements, with a static size


def _fill_values(fill_value: Any, ndim: int) -> tuple[int, ...]:
    fills = fill_value if isinstance(fill_value, (tuple, list)) else (fill_value,) * ndim
    if len(fills) != ndim:
        raise user_error(
            TcompShapeError,
            f"nonzero: fill_value needs one value per axis ({ndim}), got {fill_value!r}",
        )
    return tuple(static_int(f, "nonzero", "fill_value") for f in fills)


def nonzero(x: Any, *, size: Any = None, fill_value: Any = 0) -> tuple:
    """numpy's nonzero with a static ``size`` (as ``jax.numpy.nonzero``): a tuple of
    int32 index arrays, one per axis, each of length ``size``.

    The first ``size`` nonzero positions in row-major order are returned;
    missing ones are ``fill_value`` (an int, or one per axis). ``size`` is
    required: without it the result's length would depend on the data. Built
    without scatter: a ``cumsum`` of the mask (O(n log n)), then for each
    output j a binary search for the first position whose count reaches j + 1
    (ceil(log2(n + 1)) rounds of ``take``: O(size log n)).
    """
    value = as_array(x, "nonzero")
    shape = shape_of(value)
    if size is None:
        raise user_error(
            TcompShapeError,
            "nonzero: give size=N, the number of indices to return: the count of nonzero "
            "elements depends on the data, and tcomp's shapes must be known when tracing "
            "(the first N are returned, padded with fill_value)",
        )
    size = static_int(size, "nonzero", "size")
    if size < 0:
        raise user_error(TcompShapeError, f"nonzero: size must not be negative, got {size}")
    if not shape:
        raise user_error(
            TcompShapeError,
            "nonzero: not defined on 0-d arrays (as in numpy); reshape to (1,) first",
        )
    fills = _fill_values(fill_value, len(shape))
    n = math.prod(shape)
    if size == 0 or n == 0:
        return tuple(full((size,), f, "int32") for f in fills)
    counts = cumsum(ops.not_equal(ops.reshape(value, (-1,)), 0))
    targets = arange(1, size + 1)
    low, high = full((size,), 0, "int32"), full((size,), n, "int32")
    for _ in range(n.bit_length()):  # the answer lies in [0, n]: n + 1 candidates
        middle = ops.floor_divide(ops.add(low, high), 2)
        reached = ops.greater_equal(ops.take(counts, ops.minimum(middle, n - 1)), targets)
        high = ops.where(reached, middle, high)
        low = ops.where(reached, low, ops.minimum(ops.add(middle, 1), high))
    found = ops.less(low, n)
    result, stride = [], n
    for d, fill in zip(shape, fills):
        stride //= d
        index = (
            ops.remainder(ops.floor_divide(low, stride), d) if stride > 1 else ops.remainder(low, d)
        )
        result.append(ops.where(found, index, fill))
    return tuple(result)


def argwhere(x: Any, *, size: Any = None, fill_value: Any = 0):
    """numpy's argwhere with a static ``size``: ``stack(nonzero(x, size=...), axis=1)``,
    shape ``(size, ndim)``, int32 (see ``nonzero``). A 0-d ``x`` gives ``(size, 0)``, as
    numpy's argwhere of a 0-d array has no columns (its ``nonzero`` refuses 0-d)."""
    value = as_array(x, "argwhere")
    if not shape_of(value):
        if size is None:
            nonzero(value, size=size)  # the same error as for any other shape
        rows = static_int(size, "argwhere", "size")
        if rows < 0:
            raise user_error(TcompShapeError, f"argwhere: size must not be negative, got {rows}")
        return full((rows, 0), 0, "int32")
    return ops.stack(list(nonzero(value, size=size, fill_value=fill_value)), axis=1)
