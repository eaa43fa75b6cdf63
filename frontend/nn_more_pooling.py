"""Max pooling with indices, unpooling and adaptive max pooling of ``tcomp.nn`` (issue 15):
``max_pool2d(..., return_indices=True)``, ``max_unpool2d``, ``adaptive_max_pool1d``,
``adaptive_max_pool2d``, with PyTorch's arguments and its flat index convention (an
index is ``h * W + w`` within its ``(n, c)`` plane of the unpadded input).

Values come from ``nn_pooling`` (the ``reduce_window_max`` primitive, gradient to each
window's first maximum); indices are a running comparison over the window's offsets
(one strided slice of the padded input each), without gradient. Unpooling is an
``x.at[...].set`` scatter, whose gradient gathers.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tcomp.frontend import creation, ops
from tcomp.frontend.bitwise_ops import logical_and
from tcomp.frontend.composite_shapes import slice_along
from tcomp.frontend.dispatch import dtype_of, shape_of, user_error
from tcomp.frontend.math_ops import isnan
from tcomp.frontend.nn_common import _array, _spatial, static_hint
from tcomp.frontend.nn_pooling import _max_pool, _pool_setup
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float


def _window_indices(x: Any, attrs: dict, out_hw: tuple[int, int]):
    """int64 ``[N, C, OH, OW]``: the flat index ``h * W + w`` of each window's maximum,
    PyTorch's choice: its loop starts at the window's first element inside the input
    and moves to each later one that is larger or NaN (so the first of equal maxima,
    the last NaN; a window of ``-inf`` points at its first element, never at padding)."""
    n, c, h, w = shape_of(x)
    pads = attrs["padding"][4:]
    strides, dilation, window = (
        attrs["strides"][2:],
        attrs["window_dilation"][2:],
        attrs["window"][2:],
    )
    values = x if is_float(dtype_of(x)) else ops.astype(x, "float64")
    padded = ops.pad(
        values, [(0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])], constant_values=-np.inf
    )
    plane = np.pad(
        np.arange(h * w, dtype=np.int64).reshape(h, w),
        [(pads[0], pads[1]), (pads[2], pads[3])],
        constant_values=-1,
    )
    best = positions = None
    for a, b in itertools.product(range(window[0]), range(window[1])):
        r0, c0 = a * dilation[0], b * dilation[1]
        rows = slice(r0, r0 + (out_hw[0] - 1) * strides[0] + 1, strides[0])
        cols = slice(c0, c0 + (out_hw[1] - 1) * strides[1] + 1, strides[1])
        candidate = slice_along(
            slice_along(padded, 2, rows.start, rows.stop, rows.step),
            3,
            cols.start,
            cols.stop,
            cols.step,
        )
        where_from = plane[rows, cols]
        if best is None:
            best, positions = candidate, ops.broadcast_to(where_from, (n, c) + out_hw)
            continue
        take = ops.greater(candidate, best)
        take = ops.where(isnan(candidate), True, take)
        # the first element inside the input is taken even at -inf (PyTorch starts there)
        first_inside = logical_and(ops.equal(positions, -1), where_from >= 0)
        take = ops.where(first_inside, True, take)
        best = ops.where(take, candidate, best)
        positions = ops.where(take, where_from, positions)
    return ops.astype(ops.stop_gradient(positions), "int64")


def max_pool2d(
    x: Any,
    kernel: Any = None,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    *,
    kernel_size: Any = None,
):
    """Max over windows of an ``[N, C, H, W]`` input, as PyTorch's ``F.max_pool2d``:
    ``kernel`` (or ``kernel_size=``), ``stride`` (default: the kernel), ``padding``
    (``-inf``, at most half the kernel), ``dilation`` and ``ceil_mode``, each an int or one
    per spatial axis. The ``reduce_window_max`` primitive; its gradient goes to each
    window's first maximum. A window of padding only gives ``-inf`` and no gradient.

    ``return_indices=True`` also returns int64 ``[N, C, OH, OW]`` indices, PyTorch's:
    ``h * W + w`` of each window's first maximum in the ``(n, c)`` plane (a NaN counts as
    the maximum), for :func:`max_unpool2d`."""
    if not isinstance(return_indices, bool):
        raise user_error(TcompTypeError, "max_pool2d: return_indices must be True or False")
    values = _max_pool(x, kernel_size, kernel, stride, padding, dilation, ceil_mode, 2)
    if not return_indices:
        return values
    checked, attrs = _pool_setup(
        x, kernel_size, kernel, stride, padding, dilation, ceil_mode, 2, "max_pool2d"
    )
    return values, _window_indices(checked, attrs, tuple(shape_of(values)[2:]))


def max_unpool2d(
    x: Any,
    indices: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
):
    """PyTorch's ``F.max_unpool2d``: the inverse of ``max_pool2d(..., return_indices=True)``.
    ``x`` and ``indices`` ``[N, C, H, W]``; the output ``[N, C, OH, OW]`` is zero except
    at each flat index ``oh * OW + ow``, which gets its value of ``x``. ``OH = (H - 1) *
    stride - 2 * padding + kernel`` unless ``output_size`` (the last two entries count)
    says otherwise. An index that repeats keeps the last value (PyTorch leaves it
    undefined); an out-of-range one is dropped (PyTorch raises). Gradient: the
    output's cotangent gathered at the indices."""
    op = "max_unpool2d"
    x, indices = _array(x, op), _array(indices, op)
    if len(shape_of(x)) != 4 or shape_of(indices) != shape_of(x):
        raise user_error(
            TcompShapeError,
            f"{op}: needs x [N, C, H, W] and indices of the same shape, got {shape_of(x)} and "
            f"{shape_of(indices)}",
        )
    if is_float(dtype_of(indices)) or dtype_of(indices) == "bool":
        raise user_error(TcompTypeError, f"{op}: indices must be integers, got {dtype_of(indices)}")
    kernel = _spatial(kernel_size, 2, f"{op} kernel_size", 1)
    strides = _spatial(stride, 2, f"{op} stride", 1) if stride is not None else kernel
    pads = _spatial(padding, 2, f"{op} padding", 0)
    n, c, h, w = shape_of(x)
    size = tuple((s - 1) * st - 2 * p + k for s, st, p, k in zip((h, w), strides, pads, kernel))
    if output_size is not None:
        given = tuple(output_size)[-2:] if isinstance(output_size, (tuple, list)) else None
        if (
            given is None
            or len(given) != 2
            or not all(isinstance(v, (int, np.integer)) for v in given)
        ):
            raise user_error(
                TcompTypeError,
                f"{op}: output_size must be a tuple of ints (its last two are H and W), got "
                f"{output_size!r}{static_hint(output_size)}",
            )
        size = (int(given[0]), int(given[1]))
    if min(size) < 1:
        raise user_error(TcompShapeError, f"{op}: the output size {size} is empty")
    total = size[0] * size[1]
    flat_idx = ops.reshape(ops.astype(indices, "int32"), (n, c, h * w))
    in_range = logical_and(ops.greater_equal(flat_idx, 0), ops.less(flat_idx, total))
    # out-of-range updates go to a spare slot at the end, cut off afterwards
    target = ops.where(in_range, flat_idx, total)
    batch = ops.reshape(creation.arange(n), (n, 1, 1))
    channel = ops.reshape(creation.arange(c), (1, c, 1))
    out = creation.zeros((n, c, total + 1), dtype_of(x))
    out = out.at[batch, channel, target].set(ops.reshape(x, (n, c, h * w)))
    return ops.reshape(slice_along(out, 2, 0, total), (n, c) + size)


def adaptive_max_pool2d(x: Any, output_size: Any, return_indices: bool = False):
    """PyTorch's ``F.adaptive_max_pool2d``: output cell ``(i, j)`` is the max over input rows
    ``floor(i H / OH) .. ceil((i + 1) H / OH)`` and the same for columns (``output_size``:
    an int or ``(OH, OW)``; ``None`` in it keeps that input size). One
    ``max_pool2d`` when the input divides evenly, else a max over slices per cell; the
    gradient goes to each cell's first maximum. ``return_indices`` as in
    :func:`max_pool2d`."""
    op = "adaptive_max_pool2d"
    x = _array(x, op)
    if len(shape_of(x)) != 4:
        raise user_error(TcompShapeError, f"{op}: needs an input [N, C, H, W], got {shape_of(x)}")
    if not isinstance(return_indices, bool):
        raise user_error(TcompTypeError, f"{op}: return_indices must be True or False")
    sizes = shape_of(x)[2:]
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(s if o is None else o for s, o in zip(sizes, output_size))
    out = _spatial(output_size, 2, f"{op} output_size", 1)
    if all(s % o == 0 for s, o in zip(sizes, out)):
        kernel = tuple(s // o for s, o in zip(sizes, out))
        return max_pool2d(x, kernel, return_indices=return_indices)
    dtype = dtype_of(x)
    values = x if is_float(dtype) else ops.astype(x, "float64")
    spans = [[((i * s) // o, -((-(i + 1) * s) // o)) for i in range(o)] for s, o in zip(sizes, out)]
    cells, where = [], []
    for (r0, r1), (c0, c1) in itertools.product(*spans):
        cell = values[:, :, r0:r1, c0:c1]
        cells.append(ops.max(cell, axis=(2, 3)))
        if return_indices:
            local = ops.argmax(
                ops.reshape(ops.stop_gradient(cell), shape_of(cell)[:2] + (-1,)), axis=-1
            )
            row, col = ops.floor_divide(local, c1 - c0), ops.remainder(local, c1 - c0)
            where.append((row + r0) * sizes[1] + col + c0)
    shape = shape_of(x)[:2] + out
    result = ops.reshape(ops.stack(cells, axis=-1), shape)
    result = result if is_float(dtype) else ops.astype(result, dtype)
    if not return_indices:
        return result
    return result, ops.astype(ops.reshape(ops.stack(where, axis=-1), shape), "int64")


def adaptive_max_pool1d(x: Any, output_size: Any, return_indices: bool = False):
    """PyTorch's ``F.adaptive_max_pool1d``: x ``[N, C, L]``, cells as in
    :func:`adaptive_max_pool2d` along L (indices into L)."""
    op = "adaptive_max_pool1d"
    x = _array(x, op)
    if len(shape_of(x)) != 3:
        raise user_error(TcompShapeError, f"{op}: needs an input [N, C, L], got {shape_of(x)}")
    (size,) = _spatial(output_size, 1, f"{op} output_size", 1)
    result = adaptive_max_pool2d(ops.expand_dims(x, 2), (1, size), return_indices)
    if not return_indices:
        return ops.squeeze(result, 2)
    return ops.squeeze(result[0], 2), ops.squeeze(result[1], 2)


__all__ = [
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "max_pool2d",
    "max_unpool2d",
]
