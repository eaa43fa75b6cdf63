"""Neural-network functions, written in plain tcomp over the primitives.

Being compositions of primitives, they trace, differentiate and compile like
user code; nothing here has a gradient rule of its own. Layouts follow
PyTorch: images are NCHW, convolution weights OIHW.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

import tcomp
from tcomp.frontend.dispatch import (
    bind,
    broadcast_shapes,
    dtype_of,
    materialize,
    normalize_axes,
    normalize_axis,
    operand,
    result_dtype,
    shape_of,
    user_error,
)
from tcomp.frontend.trace import Tracer
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float, numpy_dtype


def _array(x: Any, op: str):
    """A tracer (inside a trace) or an Array (eagerly) for any array-like ``x``."""
    return materialize(operand(x, op))


def _float_array(x: Any, op: str):
    """Like :func:`_array`; integer and bool inputs become float32 (as ``tcomp.exp`` does)."""
    x = _array(x, op)
    return x if is_float(dtype_of(x)) else tcomp.astype(x, "float32")


def _max_shift(x: Any, axis: Any):
    """``max(x)`` along ``axis`` (kept), 0 where that max is not finite, with no gradient.

    Subtracting it keeps ``exp`` from overflowing; a row of ``-inf`` then
    gives ``exp(-inf) = 0`` instead of ``-inf - -inf = nan``.
    """
    m = tcomp.max(x, axis=axis, keepdims=True)
    return tcomp.stop_gradient(tcomp.where(tcomp.abs(m) < math.inf, m, 0))


def relu(x: Any):
    """``max(x, 0)``."""
    return tcomp.maximum(x, 0)


def gelu(x: Any):
    """GELU with the tanh approximation (``jax.nn.gelu``'s default; PyTorch's ``approximate="tanh"``)."""
    x = _float_array(x, "gelu")
    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1.0 + tcomp.tanh(inner))


def sigmoid(x: Any):
    """``1 / (1 + exp(-x))``."""
    return tcomp.sigmoid(x)


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False):
    """``log(sum(exp(x)))`` along ``axis`` (an int, a tuple, or None for all).

    Max-shifted, so it cannot overflow; all ``-inf`` gives ``-inf``.
    """
    x = _float_array(x, "logsumexp")
    axis = normalize_axes("logsumexp", axis, len(shape_of(x)))
    shift = _max_shift(x, axis)
    total = tcomp.sum(tcomp.exp(x - shift), axis=axis, keepdims=True)
    result = tcomp.log(total) + shift
    return result if keepdims else tcomp.squeeze(result, axis)


def softmax(x: Any, axis: int = -1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (max-shifted)."""
    x = _float_array(x, "softmax")
    axis = normalize_axis("softmax", axis, len(shape_of(x)))
    shifted = tcomp.exp(x - _max_shift(x, axis))
    return shifted / tcomp.sum(shifted, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1):
    """``x - logsumexp(x)`` along ``axis``.

    Computed as ``(x - max) - log(sum(exp(x - max)))``: subtracting the
    maximum first is exact near the maximum, where ``x - logsumexp(x)``
    would lose the digits of a large ``x`` (float32 logits near 1000).
    """
    x = _float_array(x, "log_softmax")
    axis = normalize_axis("log_softmax", axis, len(shape_of(x)))
    shifted = x - _max_shift(x, axis)
    return shifted - tcomp.log(tcomp.sum(tcomp.exp(shifted), axis=axis, keepdims=True))


def cross_entropy(logits: Any, labels: Any):
    """Mean over the batch of ``-log_softmax(logits)[label]``.

    ``logits`` is ``[..., classes]`` (float), ``labels`` the matching
    ``[...]`` integer class indices. A label outside ``[0, classes)``
    contributes 0 (it matches no class) but still counts in the mean.
    Logits of ``-inf`` (masked classes) are fine as long as the label's
    class is not one of them.
    """
    logits = _array(logits, "cross_entropy")
    labels = _array(labels, "cross_entropy")
    if not is_float(dtype_of(logits)):
        raise user_error(TcompTypeError, f"cross_entropy: logits must be float, got {dtype_of(logits)}")
    if len(shape_of(logits)) == 0:
        raise user_error(TcompShapeError, "cross_entropy: logits must have a class axis, got a 0-d array")
    if is_float(dtype_of(labels)) or dtype_of(labels) == "bool":
        raise user_error(
            TcompTypeError,
            f"cross_entropy: labels must be integer class indices, got {dtype_of(labels)}",
        )
    if shape_of(logits)[:-1] != shape_of(labels):
        raise user_error(
            TcompShapeError,
            f"cross_entropy: logits {shape_of(logits)} need labels of shape {shape_of(logits)[:-1]}, "
            f"got {shape_of(labels)}",
        )
    classes = shape_of(logits)[-1]
    # where, not a product with one_hot: -inf * 0 would be nan for masked classes.
    picked = tcomp.where(tcomp.one_hot(labels, classes, dtype="bool"), log_softmax(logits), 0)
    return -tcomp.mean(tcomp.sum(picked, axis=-1))


def mse(prediction: Any, target: Any):
    """Mean of ``(prediction - target) ** 2`` over all elements.

    ``target`` must broadcast to ``prediction``'s shape without changing it
    (a scalar target is fine); a ``[N, 1]`` prediction against a ``[N]``
    target is an error rather than a silent ``[N, N]`` mean.
    """
    prediction, target = _array(prediction, "mse"), operand(target, "mse")
    pshape, tshape = shape_of(prediction), shape_of(target)
    if broadcast_shapes("mse", pshape, tshape) != pshape:
        raise user_error(
            TcompShapeError, f"mse: target {tshape} does not match prediction {pshape}"
        )
    difference = prediction - target
    return tcomp.mean(difference * difference)


def layer_norm(x: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5):
    """Normalises over the trailing axes that ``weight`` covers (the last axis when it is None).

    ``(x - mean) / sqrt(var + eps) * weight + bias``, with the biased
    variance, as in PyTorch.
    """
    x = _float_array(x, "layer_norm")
    weight = _array(weight, "layer_norm") if weight is not None else None
    bias = _array(bias, "layer_norm") if bias is not None else None
    xshape = shape_of(x)
    normalized_ndim = len(shape_of(weight)) if weight is not None else 1
    if normalized_ndim == 0 or normalized_ndim > len(xshape):
        raise user_error(
            TcompShapeError,
            f"layer_norm: weight {shape_of(weight) if weight is not None else None} must cover "
            f"one or more trailing axes of x {xshape}",
        )
    normalized = xshape[len(xshape) - normalized_ndim :]
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and shape_of(value) != normalized:
            raise user_error(
                TcompShapeError,
                f"layer_norm: {name} {shape_of(value)} must have the normalised shape {normalized} "
                f"of x {xshape}",
            )
    axes = tuple(range(-normalized_ndim, 0))
    mean = tcomp.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    variance = tcomp.mean(centered * centered, axis=axes, keepdims=True)
    y = centered / tcomp.sqrt(variance + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """``(v, v)`` for an int ``v``, or the pair itself; both Python ints >= 0, known when tracing."""
    is_int = lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)  # noqa: E731
    pair = (value, value) if is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(is_int(v) and v >= 0 for v in pair):
        hint = ""
        if isinstance(value, Tracer):
            hint = " (a traced value: make it a static argument, jit(..., static_argnames=...))"
        raise user_error(
            TcompTypeError, f"{name} must be an int or a pair of non-negative ints, got {value!r}{hint}"
        )
    return int(pair[0]), int(pair[1])


def _spatial(value: Any, d: int, name: str, minimum: int) -> tuple[int, ...]:
    """``(v,) * d`` for an int ``v``, or a sequence of ``d`` ints, each ``>= minimum``."""
    is_int = lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)  # noqa: E731
    values = (value,) * d if is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else None
    if values is not None and len(values) == d and all(is_int(v) and v >= 0 for v in values):
        if any(v < minimum for v in values):
            raise user_error(TcompShapeError, f"{name} must be positive, got {value!r}")
    else:
        hint = ""
        if isinstance(value, Tracer):
            hint = " (a traced value: make it a static argument, jit(..., static_argnames=...))"
        raise user_error(
            TcompTypeError,
            f"{name} must be a non-negative int or {d} of them, got {value!r}{hint}",
        )
    return tuple(int(v) for v in values)


def _conv_padding(padding: Any, d: int, kernel: tuple[int, ...], dilation: tuple[int, ...],
                  stride: tuple[int, ...], op: str) -> tuple[int, ...]:
    """``(low_0, high_0, low_1, ...)`` from PyTorch's padding: an int, ``d`` ints or
    ``(low, high)`` pairs, ``"valid"`` (none) or ``"same"`` (output size = input size,
    stride 1 only; an odd total puts the extra element at the end, as PyTorch does)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * (2 * d)
        if padding == "same":
            if any(s != 1 for s in stride):
                raise user_error(TcompShapeError, f"{op}: padding='same' needs stride 1, got {stride}")
            pads: list[int] = []
            for k, r in zip(kernel, dilation):
                total = r * (k - 1)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        raise user_error(TcompTypeError, f"{op}: padding must be an int, ints, 'same' or 'valid', got {padding!r}")
    if isinstance(padding, (tuple, list)) and len(padding) == d and all(
        isinstance(p, (tuple, list)) for p in padding
    ):
        pairs = [_spatial(p, 2, f"{op} padding pair", 0) for p in padding]
        return tuple(v for pair in pairs for v in pair)
    return tuple(v for p in _spatial(padding, d, f"{op} padding", 0) for v in (p, p))


def _conv(x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any, groups: Any, d: int):
    op = f"conv{d}d"
    names = "L" if d == 1 else "HW" if d == 2 else "DHW"
    x, w = _array(x, op), _array(w, op)
    xs, ws = shape_of(x), shape_of(w)
    if len(xs) != d + 2 or len(ws) != d + 2:
        axes = ", ".join(names)
        kaxes = ", ".join("K" + a for a in names)
        raise user_error(
            TcompShapeError,
            f"{op}: needs x [N, C, {axes}] and w [O, C/groups, {kaxes}], got {xs} and {ws}",
        )
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise user_error(TcompTypeError, f"{op}: groups must be an int >= 1, got {groups!r}")
    groups = int(groups)
    c, o, wc = xs[1], ws[0], ws[1]
    if c % groups or o % groups:
        raise user_error(
            TcompShapeError,
            f"{op}: groups={groups} must divide the input channels of x {xs} ({c}) and the "
            f"output channels of w {ws} ({o})",
        )
    if wc * groups != c:
        raise user_error(
            TcompShapeError,
            f"{op}: x {xs} has {c} channels, so w needs {c // groups} input channels per group "
            f"(groups={groups}), but w is {ws}",
        )
    stride = _spatial(stride, d, f"{op} stride", 1)
    dilation = _spatial(dilation, d, f"{op} dilation", 1)
    kernel = tuple(ws[2:])
    pads = _conv_padding(padding, d, kernel, dilation, stride, op)
    for a in range(d):
        padded = xs[2 + a] + pads[2 * a] + pads[2 * a + 1]
        span = dilation[a] * (kernel[a] - 1) + 1
        if padded < span:
            raise user_error(
                TcompShapeError,
                f"{op}: kernel {kernel} (dilation {dilation}) does not fit the padded input: "
                f"axis {names[a]} has {padded} elements, the kernel spans {span}",
            )
    if b is not None:
        b = _array(b, op)
        if shape_of(b) != (o,):
            raise user_error(
                TcompShapeError, f"{op}: bias must have shape ({o},) for w {ws}, got {shape_of(b)}"
            )
    dtype = result_dtype(x, w) if b is None else result_dtype(x, w, b)
    dtype = "int32" if dtype == "bool" else dtype  # counted on ints, as PyTorch has no bool conv
    x, w = tcomp.astype(x, dtype), tcomp.astype(w, dtype)
    out = bind(
        "conv", [x, w], strides=stride, padding=pads, lhs_dilation=(1,) * d,
        rhs_dilation=dilation, groups=groups,
    )
    if b is not None:
        out = out + tcomp.reshape(tcomp.astype(b, dtype), (1, o) + (1,) * d)
    return out


def conv1d(x: Any, w: Any, b: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1):
    """1-D convolution (cross-correlation, as PyTorch's ``F.conv1d``): x ``[N, C, L]``,
    w ``[O, C/groups, K]``, b ``[O]``. ``padding``: an int, a ``(low, high)`` pair in a
    1-tuple, ``"same"`` or ``"valid"``."""
    return _conv(x, w, b, stride, padding, dilation, groups, 1)


def conv2d(x: Any, w: Any, b: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1):
    """2-D convolution (cross-correlation, as PyTorch's ``F.conv2d``): x ``[N, C, H, W]``,
    w ``[O, C/groups, KH, KW]``, b ``[O]``.

    ``stride``, ``dilation``: an int or one per spatial axis; ``padding``: an int, one per
    axis, ``(low, high)`` pairs per axis, ``"same"`` (stride 1) or ``"valid"``. The ``conv``
    primitive, whose gradients are convolutions too.
    """
    return _conv(x, w, b, stride, padding, dilation, groups, 2)


def conv3d(x: Any, w: Any, b: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1):
    """3-D convolution (cross-correlation, as PyTorch's ``F.conv3d``): x ``[N, C, D, H, W]``,
    w ``[O, C/groups, KD, KH, KW]``, b ``[O]`` (arguments as :func:`conv2d`)."""
    return _conv(x, w, b, stride, padding, dilation, groups, 3)


def max_pool1d(x: Any, kernel: Any = None, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, *, kernel_size: Any = None):
    """Max over windows of an ``[N, C, L]`` input (as PyTorch's ``F.max_pool1d``)."""
    return _max_pool(x, kernel_size, kernel, stride, padding, dilation, ceil_mode, 1)


def max_pool2d(x: Any, kernel: Any = None, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, *, kernel_size: Any = None):
    """Max over windows of an NCHW input, as PyTorch's ``F.max_pool2d``: ``kernel`` (or
    PyTorch's keyword ``kernel_size=``), ``stride`` (default: the kernel), ``padding`` (``-inf``, at most half
    the kernel), ``dilation`` and ``ceil_mode``, each an int or one per spatial axis. The
    ``reduce_window_max`` primitive; its gradient goes to each window's first maximum."""
    return _max_pool(x, kernel_size, kernel, stride, padding, dilation, ceil_mode, 2)


def avg_pool1d(x: Any, kernel: Any = None, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, *, kernel_size: Any = None):
    """Mean over windows of an ``[N, C, L]`` input (as PyTorch's ``F.avg_pool1d``)."""
    return _avg_pool(x, kernel_size, kernel, stride, padding, ceil_mode, count_include_pad, 1)


def avg_pool2d(x: Any, kernel: Any = None, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, *, kernel_size: Any = None):
    """Mean over windows of an NCHW input, as PyTorch's ``F.avg_pool2d``: zero ``padding``
    counted in the mean when ``count_include_pad`` (windows that ``ceil_mode`` lets run past
    the padding count only up to it). The ``reduce_window_sum`` primitive over a divisor."""
    return _avg_pool(x, kernel_size, kernel, stride, padding, ceil_mode, count_include_pad, 2)


def adaptive_avg_pool2d(x: Any, output_size: Any):
    """PyTorch's ``F.adaptive_avg_pool2d``: output cell ``i`` averages input rows
    ``floor(i H / OH) .. ceil((i + 1) H / OH)`` (and likewise for columns). One window sum
    when the input divides evenly, else a mean over slices per output cell."""
    op = "adaptive_avg_pool2d"
    x = _array(x, op)
    if len(shape_of(x)) != 4:
        raise user_error(TcompShapeError, f"{op}: needs an input [N, C, H, W], got {shape_of(x)}")
    sizes = shape_of(x)[2:]
    out = _spatial(output_size, 2, f"{op} output_size", 1)
    if all(s % o == 0 for s, o in zip(sizes, out)):
        kernel = tuple(s // o for s, o in zip(sizes, out))
        return _avg_pool(x, kernel, None, None, 0, False, True, 2, op)
    x = _float(x)
    rows = []
    for i in range(out[0]):
        h0, h1 = (i * sizes[0]) // out[0], -((-(i + 1) * sizes[0]) // out[0])
        cells = []
        for j in range(out[1]):
            w0, w1 = (j * sizes[1]) // out[1], -((-(j + 1) * sizes[1]) // out[1])
            cells.append(tcomp.mean(x[:, :, h0:h1, w0:w1], axis=(2, 3)))
        rows.append(tcomp.stack(cells, axis=-1))
    return tcomp.stack(rows, axis=-2)


def _float(x: Any):
    dtype = str(x.dtype) if hasattr(x, "dtype") else result_dtype(x)
    return x if is_float(dtype) else tcomp.astype(x, "float32")


def _pool_setup(x: Any, kernel_size: Any, kernel: Any, stride: Any, padding: Any,
                dilation: Any, ceil_mode: bool, d: int, op: str):
    """The checked input and the ``reduce_window_*`` attributes of a pooling (PyTorch's
    output size: ``floor`` or, with ``ceil_mode``, ``ceil`` of ``(L + 2 p - span) / s`` plus
    one, the last window starting inside the input or left padding; the extra windows of
    ``ceil_mode`` come from extra high padding)."""
    x = _array(x, op)
    names = "L" if d == 1 else "HW"
    if len(shape_of(x)) != d + 2:
        raise user_error(TcompShapeError,
                         f"{op}: needs an input [N, C, {', '.join(names)}], got {shape_of(x)}")
    if (kernel_size is None) == (kernel is None):
        raise user_error(TcompTypeError, f"{op}: give the window as kernel (or kernel_size=), once")
    kernel = _spatial(kernel_size if kernel is None else kernel, d, f"{op} kernel", 1)
    stride = _spatial(stride, d, f"{op} stride", 1) if stride is not None else kernel
    pads = _spatial(padding, d, f"{op} padding", 0)
    dilation = _spatial(dilation, d, f"{op} dilation", 1)
    sizes = shape_of(x)[2:]
    highs = []
    for a in range(d):
        if pads[a] > kernel[a] // 2:
            raise user_error(TcompShapeError, f"{op}: padding {pads} must be at most half the "
                             f"kernel {kernel}")
        span = dilation[a] * (kernel[a] - 1) + 1
        room = sizes[a] + 2 * pads[a] - span
        if room < 0:
            raise user_error(
                TcompShapeError,
                f"{op}: kernel {kernel} (dilation {dilation}) does not fit the padded input: "
                f"axis {names[a]} has {sizes[a] + 2 * pads[a]} elements, the kernel spans {span}",
            )
        count = (-(-room // stride[a]) if ceil_mode else room // stride[a]) + 1
        if ceil_mode and (count - 1) * stride[a] >= sizes[a] + pads[a]:
            count -= 1  # the last window would start in the right padding
        highs.append(pads[a] + max((count - 1) * stride[a] + span - sizes[a] - 2 * pads[a], 0))
    attrs = {
        "window": (1, 1) + kernel,
        "strides": (1, 1) + stride,
        "padding": (0, 0, 0, 0) + tuple(v for a in range(d) for v in (pads[a], highs[a])),
        "window_dilation": (1, 1) + dilation,
    }
    return x, attrs


def _max_pool(x, kernel_size, kernel, stride, padding, dilation, ceil_mode, d):
    op = f"max_pool{d}d"
    x, attrs = _pool_setup(x, kernel_size, kernel, stride, padding, dilation, ceil_mode, d, op)
    dtype = str(x.dtype) if hasattr(x, "dtype") else result_dtype(x)
    if not is_float(dtype):
        # windows hold -inf padding: integers are pooled in float64 (exact up to 2**53)
        return tcomp.astype(bind("reduce_window_max", [tcomp.astype(x, "float64")], **attrs),
                            dtype)
    return bind("reduce_window_max", [x], **attrs)


def _avg_pool(x, kernel_size, kernel, stride, padding, ceil_mode, count_include_pad, d, op=None):
    op = op or f"avg_pool{d}d"
    x, attrs = _pool_setup(x, kernel_size, kernel, stride, padding, 1, ceil_mode, d, op)
    x = _float(x)
    total = bind("reduce_window_sum", [x], **attrs, base_dilation=(1,) * (d + 2))
    # the divisor per output position: the window's elements inside the input, plus the
    # symmetric padding when count_include_pad (never the extra high padding of ceil_mode)
    sizes = shape_of(x)[2:]
    pads = attrs["padding"][4::2]
    if count_include_pad:
        ones = np.ones(tuple(s + 2 * p for s, p in zip(sizes, pads)))
        spatial_pad = tuple(v for a in range(d)
                            for v in (0, attrs["padding"][5 + 2 * a] - pads[a]))
    else:
        ones = np.ones(sizes)
        spatial_pad = attrs["padding"][4:]
    from tcomp.ir.primitives import PRIMITIVES

    count = PRIMITIVES["reduce_window_sum"].reference(
        [ones], {"window": attrs["window"][2:], "strides": attrs["strides"][2:],
                 "padding": spatial_pad, "window_dilation": (1,) * d, "base_dilation": (1,) * d})
    if np.all(count == count.flat[0]):
        return total / float(count.flat[0])
    return total / count.astype(numpy_dtype(str(total.dtype)))


def attention(q: Any, k: Any, v: Any, causal: bool = False):
    """Scaled dot-product attention: ``softmax(q @ k^T / sqrt(d)) @ v``.

    q ``[..., Tq, D]``, k ``[..., Tk, D]``, v ``[..., Tk, Dv]``; leading axes
    (batch, heads) broadcast. ``causal`` masks keys after each query
    position (query i sees keys ``<= i + Tk - Tq``: the queries are the last
    ``Tq`` positions of the key sequence, so ``Tq <= Tk``).
    """
    q, k, v = (_float_array(a, "attention") for a in (q, k, v))
    if min(len(shape_of(q)), len(shape_of(k)), len(shape_of(v))) < 2:
        raise user_error(
            TcompShapeError,
            f"attention: q, k and v need a length and a feature axis, got {shape_of(q)}, "
            f"{shape_of(k)} and {shape_of(v)}",
        )
    d = shape_of(q)[-1]
    if shape_of(k)[-1] != d or shape_of(k)[-2] != shape_of(v)[-2]:
        raise user_error(
            TcompShapeError,
            f"attention: q {shape_of(q)}, k {shape_of(k)} and v {shape_of(v)} do not fit "
            "(q and k need one feature size, k and v one length)",
        )
    scores = tcomp.matmul(q, tcomp.swapaxes(k, -1, -2)) * (1.0 / math.sqrt(d))
    if causal:
        tq, tk = shape_of(q)[-2], shape_of(k)[-2]
        if tq > tk:
            raise user_error(
                TcompShapeError,
                f"attention: causal=True needs at most as many queries as keys, got {tq} and {tk} "
                f"(the first {tq - tk} queries would see no key)",
            )
        rows = tcomp.reshape(tcomp.arange(tq), (tq, 1))
        cols = tcomp.reshape(tcomp.arange(tk), (1, tk))
        lowest = float(np.finfo(numpy_dtype(dtype_of(scores))).min)
        scores = tcomp.where(cols <= rows + (tk - tq), scores, lowest)
    return tcomp.matmul(softmax(scores, axis=-1), v)


__all__ = [
    "adaptive_avg_pool2d",
    "attention",
    "avg_pool1d",
    "avg_pool2d",
    "conv1d",
    "conv2d",
    "conv3d",
    "cross_entropy",
    "gelu",
    "layer_norm",
    "log_softmax",
    "logsumexp",
    "max_pool1d",
    "max_pool2d",
    "mse",
    "relu",
    "sigmoid",
    "softmax",
]
