"""``nn.interpolate`` (resizing) and ``nn.conv_transpose1d/2d/3d``, PyTorch's definitions.

Both are compositions: ``interpolate`` picks source positions per spatial axis when
tracing (they depend on the shapes only) and reads them with ``take`` (nearest) or two
``take`` and a weighted sum (linear, per axis in turn: bilinear and trilinear are
separable; integer input in fixed point, :func:`_integer_linear_axis`);
``conv_transpose`` is the ``conv`` primitive on the input dilated by the stride
(``lhs_dilation``) with the kernel flipped and its channel axes swapped per group.
Gradients come from those ops (a scatter-add for ``take``, convolutions for ``conv``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.bitwise_ops import right_shift
from tcomp.frontend.dispatch import bind, dtype_of, result_dtype, shape_of, user_error
from tcomp.frontend.nn_common import _array, _float_array, _spatial, is_int
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError
from tcomp.ir.types import is_integer, numpy_dtype

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear")


def _sizes_and_scales(
    size: Any, scale_factor: Any, spatial: tuple[int, ...], recompute: bool
) -> tuple[tuple[int, ...], tuple[float | None, ...]]:
    """The output sizes, and the scale each axis's source positions use (None: in/out)."""
    d = len(spatial)
    if (size is None) == (scale_factor is None):
        raise user_error(
            TcompArgumentError, "interpolate: give exactly one of size and scale_factor"
        )
    if size is not None:
        sizes = _spatial(size, d, "interpolate: size", 1)
        return sizes, (None,) * d
    factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * d
    if len(factors) != d or not all(
        isinstance(f, (int, float, np.integer, np.floating)) and not isinstance(f, bool) and f > 0
        for f in factors
    ):
        raise user_error(
            TcompTypeError,
            f"interpolate: scale_factor must be a positive number or {d} of them, got "
            f"{scale_factor!r}",
        )
    sizes = tuple(int(math.floor(n * float(f))) for n, f in zip(spatial, factors))
    if any(s < 1 for s in sizes):
        raise user_error(
            TcompShapeError,
            f"interpolate: scale_factor {scale_factor!r} gives an empty output for input "
            f"sizes {spatial}",
        )
    return sizes, (None,) * d if recompute else tuple(float(f) for f in factors)


def _nearest_sources(n_in: int, n_out: int, scale: float | None, exact: bool) -> np.ndarray:
    """PyTorch's nearest (``floor(dst * scale)``) and nearest-exact (``floor((dst + 0.5) *
    scale)``) source indices, in float32 arithmetic as PyTorch's CPU kernels."""
    step = np.float32(n_in) / np.float32(n_out) if scale is None else np.float32(1.0 / scale)
    dst = np.arange(n_out, dtype=np.float32) + np.float32(0.5 if exact else 0.0)
    return np.minimum(np.floor(dst * step).astype(np.int64), n_in - 1).astype(np.int32)


def _linear_sources(n_in: int, n_out: int, scale: float | None, align_corners: bool):
    """``(i0, i1, w1)``: each output reads ``(1 - w1) * x[i0] + w1 * x[i1]``
    (PyTorch's ``area_pixel_compute_source_index``)."""
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        step = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = dst * step
    else:
        step = n_in / n_out if scale is None else 1.0 / scale
        src = np.maximum(step * (dst + 0.5) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = np.where(i1 == i0, 0.0, src - i0)  # the last pixel read twice: weight 1 on it
    return i0.astype(np.int32), i1.astype(np.int32), w1


# Integer input (PyTorch's uint8 kernel, which is Pillow's): the weights of each axis are
# fixed point, int(w * 2**bits + 0.5), with the most bits (at most 22) that keep the
# largest weight of the axis, doubled, under 2**15; the weighted sum of integers gets
# 2**(bits - 1) added and is shifted right by bits (rounding half up), then clamped to
# the dtype's range. Axes go from the last to the first, each result rounded and clamped
# before the next axis reads it.
_MAX_BITS = 22


def _fixed_point(weights: np.ndarray) -> tuple[np.ndarray, int]:
    """``weights`` (all of one axis) as fixed-point integers, and their number of bits."""
    largest = float(weights.max())
    bits = 0
    while bits < _MAX_BITS and int(0.5 + largest * (1 << (bits + 1))) < (1 << 15):
        bits += 1
    return np.floor(weights * (1 << bits) + 0.5).astype(np.int64), bits


def _integer_linear_axis(
    x: Any, axis: int, n_out: int, scale: float | None, align: bool, dtype: str
):
    """One axis of linear interpolation of integer values (in their compute dtype: int32
    for 8-bit dtypes, else int64), rounded and clamped to ``dtype``'s range."""
    shape = shape_of(x)
    i0, i1, w1 = _linear_sources(shape[axis], n_out, scale, align)
    if n_out == shape[axis] and np.array_equal(i0, np.arange(n_out)) and not w1.any():
        return x  # each output is its own source
    fixed, bits = _fixed_point(np.stack([1.0 - w1, w1]))
    compute = dtype_of(x)
    weights = (1,) * axis + (n_out,) + (1,) * (len(shape) - 1 - axis)
    q0, q1 = (_constant(q.reshape(weights), compute) for q in fixed)
    total = ops.take(x, i0, axis) * q0 + ops.take(x, i1, axis) * q1
    rounded = right_shift(total + _constant(1 << (bits - 1), compute), _constant(bits, compute))
    if dtype == compute:
        return rounded  # int64: the dtype's range is the sum's
    info = np.iinfo(numpy_dtype(dtype))
    low, high = (_constant(v, compute) for v in (info.min, info.max))
    return ops.minimum(ops.maximum(rounded, low), high)


def _constant(values: Any, dtype: str):
    """Integer ``values`` (within int32's or uint32's range) as a ``dtype`` array (numpy
    integers beyond int32 would become int32 on the way in)."""
    values = np.asarray(values)
    fits = np.iinfo(np.int32).min <= values.min() and values.max() <= np.iinfo(np.int32).max
    return ops.astype(values.astype(np.int32 if fits else np.uint32), dtype)


def interpolate(
    x: Any,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
):
    """PyTorch's ``F.interpolate`` for ``x`` ``[N, C, *spatial]`` (1 to 3 spatial axes).

    ``size`` (an int or one per axis) or ``scale_factor`` (a number or one per axis; the
    output is ``floor(in * scale_factor)``, and the source positions use
    ``1 / scale_factor`` unless ``recompute_scale_factor``). ``mode``: ``"nearest"``
    (source ``floor(dst * in / out)``, PyTorch's legacy rule), ``"nearest-exact"``
    (``floor((dst + 0.5) * in / out)``), ``"linear"`` (3-D input), ``"bilinear"`` (4-D),
    ``"trilinear"`` (5-D), with ``align_corners`` (False by default: pixel centres,
    sources clamped at 0; True: the corner pixels line up).

    Integer input keeps its dtype. The nearest modes copy values (exact). The linear
    modes round to nearest and clamp to the dtype's range, as PyTorch's uint8 kernel
    (Pillow's rule; PyTorch has no other integer dtype): per axis, from the last to the
    first, each result rounded before the next axis reads it, the two weights in fixed
    point (``floor(w * 2**bits + 0.5)``, ``bits`` the most, at most 22, that keep twice
    the axis's largest weight under ``2**15``) and ``(sum + 2**(bits - 1)) >> bits``
    (ties round up). The sum is exact in int32 for int8/uint8 and in int64 for int32 and
    uint32; int64 values beyond ``±2**47`` wrap in it. Bool input gives float32 for the
    linear modes. Integer results have no gradient.
    """
    if mode not in _MODES:
        raise user_error(
            TcompArgumentError,
            f"interpolate: mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}",
        )
    linear = mode in _LINEAR
    x = _array(x, "interpolate")
    dtype = dtype_of(x)
    integer = linear and is_integer(dtype)
    if linear and not integer:
        x = _float_array(x, "interpolate")
    shape = shape_of(x)
    d = len(shape) - 2
    if not 1 <= d <= 3 or (linear and d != _LINEAR[mode]):
        need = f"{_LINEAR[mode] + 2}-D" if linear else "3-D, 4-D or 5-D"
        raise user_error(
            TcompShapeError,
            f"interpolate: mode {mode!r} needs {need} input [N, C, ...], got {shape}",
        )
    if align_corners is not None and not linear:
        raise user_error(
            TcompArgumentError,
            f"interpolate: align_corners can only be set with the linear modes, not {mode!r}",
        )
    align = bool(align_corners)
    sizes, scales = _sizes_and_scales(size, scale_factor, shape[2:], bool(recompute_scale_factor))
    if integer:
        return _interpolate_integer(x, sizes, scales, align, dtype)
    for a in range(d):
        axis, n_in, n_out = 2 + a, shape[2 + a], sizes[a]
        if not linear:
            if n_in != n_out:
                x = ops.take(x, _nearest_sources(n_in, n_out, scales[a], mode != "nearest"), axis)
            continue
        i0, i1, w1 = _linear_sources(n_in, n_out, scales[a], align)
        weights = (1,) * axis + (n_out,) + (1,) * (d - 1 - a)
        w1 = ops.astype(w1.reshape(weights), dtype_of(x))
        low, high = ops.take(x, i0, axis), ops.take(x, i1, axis)
        x = low + (high - low) * w1
    return x


def _interpolate_integer(
    x: Any, sizes: tuple[int, ...], scales: tuple[float | None, ...], align: bool, dtype: str
):
    """The linear modes on integer ``x`` (the rule above :func:`_fixed_point`)."""
    compute = "int32" if numpy_dtype(dtype).itemsize == 1 else "int64"
    x = ops.astype(x, compute)
    for a in reversed(range(len(sizes))):
        x = _integer_linear_axis(x, 2 + a, sizes[a], scales[a], align, dtype)
    return ops.astype(x, dtype)


def _conv_transpose(
    x: Any,
    w: Any,
    bias: Any,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: Any,
    dilation: Any,
    d: int,
):
    op = f"conv_transpose{d}d"
    x, w = _array(x, op), _array(w, op)
    xs, ws = shape_of(x), shape_of(w)
    if len(xs) != d + 2 or len(ws) != d + 2:
        raise user_error(
            TcompShapeError,
            f"{op}: needs x [N, C_in, ...] and w [C_in, C_out/groups, ...] with {d} spatial "
            f"axes, got {xs} and {ws}",
        )
    if not is_int(groups) or groups < 1:
        raise user_error(TcompTypeError, f"{op}: groups must be an int >= 1, got {groups!r}")
    groups = int(groups)
    c_in, per_group = ws[0], ws[1]
    if xs[1] != c_in or c_in % groups:
        raise user_error(
            TcompShapeError,
            f"{op}: w {ws} needs x with {c_in} channels, divisible by groups={groups}; x is {xs}",
        )
    stride = _spatial(stride, d, f"{op} stride", 1)
    dilation = _spatial(dilation, d, f"{op} dilation", 1)
    pads = _spatial(padding, d, f"{op} padding", 0)
    extra = _spatial(output_padding, d, f"{op} output_padding", 0)
    kernel = ws[2:]
    for a in range(d):
        if extra[a] >= max(stride[a], dilation[a]):
            raise user_error(
                TcompShapeError,
                f"{op}: output_padding {extra} must be smaller than stride {stride} or "
                f"dilation {dilation} on each axis",
            )
        if (xs[2 + a] - 1) * stride[a] - 2 * pads[a] + dilation[a] * (kernel[a] - 1) + extra[a] < 0:
            raise user_error(
                TcompShapeError, f"{op}: padding {pads} leaves no output for x {xs} and w {ws}"
            )
    c_out = per_group * groups
    if bias is not None:
        bias = _array(bias, op)
        if shape_of(bias) != (c_out,):
            raise user_error(
                TcompShapeError,
                f"{op}: bias must have shape ({c_out},) for w {ws}, got {shape_of(bias)}",
            )
    dtype = result_dtype(x, w) if bias is None else result_dtype(x, w, bias)
    dtype = "int32" if dtype == "bool" else dtype
    x, w = ops.astype(x, dtype), ops.astype(w, dtype)
    # [C_in, C_out/g, k...] -> [C_out, C_in/g, k...] with each group's blocks swapped, flipped
    w = ops.reshape(w, (groups, c_in // groups, per_group) + kernel)
    w = ops.transpose(w, (0, 2, 1) + tuple(range(3, 3 + d)))
    w = ops.reshape(w, (c_out, c_in // groups) + kernel)
    w = bind("rev", [w], axes=tuple(range(2, 2 + d)))
    low = [dilation[a] * (kernel[a] - 1) - pads[a] for a in range(d)]
    high = [low[a] + extra[a] for a in range(d)]
    out = bind(
        "conv",
        [x, w],
        strides=(1,) * d,
        padding=tuple(v for a in range(d) for v in (max(low[a], 0), max(high[a], 0))),
        lhs_dilation=stride,
        rhs_dilation=dilation,
        groups=groups,
    )
    if any(v < 0 for v in low + high):  # padding beyond the kernel's reach crops the output
        index = (slice(None),) * 2 + tuple(
            slice(max(-low[a], 0), shape_of(out)[2 + a] - max(-high[a], 0)) for a in range(d)
        )
        out = out[index]
    if bias is not None:
        out = out + ops.reshape(ops.astype(bias, dtype), (1, c_out) + (1,) * d)
    return out


def conv_transpose1d(
    x: Any,
    w: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
):
    """PyTorch's ``F.conv_transpose1d``: x ``[N, C_in, L]``, w ``[C_in, C_out/groups, K]``
    (arguments as :func:`conv_transpose2d`)."""
    return _conv_transpose(x, w, bias, stride, padding, output_padding, groups, dilation, 1)


def conv_transpose2d(
    x: Any,
    w: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
):
    """PyTorch's ``F.conv_transpose2d`` (the gradient of ``conv2d`` with respect to its
    input): x ``[N, C_in, H, W]``, w ``[C_in, C_out/groups, KH, KW]``, bias ``[C_out]``.

    Output size per axis: ``(H - 1) * stride - 2 * padding + dilation * (K - 1) +
    output_padding + 1``. ``stride``, ``padding``, ``output_padding`` (smaller than the
    stride or the dilation), ``dilation``: an int or one per axis. One ``conv`` on the
    input dilated by the stride, with the kernel flipped.
    """
    return _conv_transpose(x, w, bias, stride, padding, output_padding, groups, dilation, 2)


def conv_transpose3d(
    x: Any,
    w: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
):
    """PyTorch's ``F.conv_transpose3d``: x ``[N, C_in, D, H, W]``, w ``[C_in,
    C_out/groups, KD, KH, KW]`` (arguments as :func:`conv_transpose2d`)."""
    return _conv_transpose(x, w, bias, stride, padding, output_padding, groups, dilation, 3)
