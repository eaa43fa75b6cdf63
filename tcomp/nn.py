"""Neural-network functions, written in plain tcomp over the primitives.

Being compositions of primitives, they trace, differentiate and compile like
user code; nothing here has a gradient rule of its own. Layouts follow
PyTorch: images are NCHW, convolution weights OIHW. Activations, losses,
normalisation, pooling and attention live in ``frontend/nn_*.py``; this module
re-exports them, so ``tcomp.nn`` is the one namespace.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import tcomp
from tcomp.frontend import nn_init as init
from tcomp.frontend.dispatch import (
    bind,
    dtype_of,
    normalize_axes,
    normalize_axis,
    result_dtype,
    shape_of,
    user_error,
)
from tcomp.frontend.nn_activations import (
    elu,
    hard_tanh,
    leaky_relu,
    log_sigmoid,
    relu6,
    silu,
    softplus,
)
from tcomp.frontend.nn_attention import attention
from tcomp.frontend.nn_common import (
    _array,
    _float_array,
    _max_shift,
    _spatial,
    is_int,
    log_softmax_along,
)
from tcomp.frontend.nn_dropout import dropout
from tcomp.frontend.nn_losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse,
    nll_loss,
    smooth_l1_loss,
)
from tcomp.frontend.nn_more_activations import (
    celu,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    quick_gelu,
    selu,
    softmin,
    softsign,
    swish,
)
from tcomp.frontend.nn_more_layers import (
    cosine_similarity,
    instance_norm,
    masked_fill,
    mse_loss,
    normalize,
    one_hot,
    pixel_shuffle,
    pixel_unshuffle,
    scaled_dot_product_attention,
)
from tcomp.frontend.nn_more_pooling import (
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    max_pool2d,
    max_unpool2d,
)
from tcomp.frontend.nn_norms import batch_norm, group_norm, layer_norm, rms_norm
from tcomp.frontend.nn_pooling import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool3d,
)
from tcomp.frontend.nn_recurrent import (
    gru_cell,
    init_gru,
    init_lstm,
    init_rnn,
    lstm_cell,
    rnn,
    rnn_cell,
)
from tcomp.frontend.nn_resample import (
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    interpolate,
)
from tcomp.frontend.pad_modes import pad_copying
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float


def relu(x: Any):
    """``max(x, 0)``; NaN stays NaN, and the dtype is ``tcomp.maximum(x, 0)``'s.

    Its gradient is 1 where ``x > 0`` and 0 where ``x <= 0``: 0 at the kink ``x == 0``,
    the convention of JAX and PyTorch (``tcomp.maximum(x, 0)`` would split a tie, giving
    0.5 there). Built on ``where``, which passes the gradient to one side only.
    """
    x = _array(x, "relu")
    if dtype_of(x) == "bool":
        x = tcomp.astype(x, "int32")  # as maximum(x, 0): bool meets the int 0
    zero = tcomp.zeros_like(x)
    return tcomp.where(tcomp.less_equal(x, zero), zero, x)


def gelu(x: Any, approximate: Any = "none"):
    """GELU, PyTorch's ``F.gelu``: ``x * Phi(x)``, ``Phi`` the standard normal CDF.

    ``approximate="none"`` (the default, as PyTorch's; also ``False``) is the exact form
    ``0.5 * x * (1 + erf(x / sqrt(2)))``; ``"tanh"`` (also ``True``, ``jax.nn.gelu``'s
    default) is ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``. Until
    issue 15 tcomp's ``gelu`` was always the tanh form: pass ``approximate="tanh"`` for
    the old results (they differ by up to about 5e-4).
    """
    x = _float_array(x, "gelu")
    if approximate in ("tanh", True):
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + tcomp.tanh(inner))
    if approximate not in ("none", False):
        raise user_error(
            TcompArgumentError,
            f"gelu: approximate must be 'none' or 'tanh' (or False / True), got {approximate!r}",
        )
    return 0.5 * x * (1.0 + tcomp.erf(x * (1.0 / math.sqrt(2.0))))


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
    return log_softmax_along(x, normalize_axis("log_softmax", axis, len(shape_of(x))))


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


def embedding(indices: Any, table: Any, padding_idx: int | None = None):
    """Rows of ``table`` ``[num_embeddings, dim]`` picked by integer ``indices`` (any
    shape): ``table[indices]``, shape ``indices.shape + (dim,)``, as PyTorch's
    ``F.embedding(indices, table)``.

    A ``take`` along axis 0, whose gradient is a scatter-add into the table (an index
    that repeats adds up its rows' cotangents). ``padding_idx`` (negative counts from
    the end) marks a row that gets no gradient, as in PyTorch. Indices follow ``take``:
    negative ones count from the end and out-of-range ones clamp (compiled kernels cannot
    raise, where PyTorch does).
    """
    table = _array(table, "embedding")
    indices = _array(indices, "embedding")
    if len(shape_of(table)) != 2:
        raise user_error(
            TcompShapeError,
            f"embedding: table must be [num_embeddings, dim], got {shape_of(table)}",
        )
    if is_float(dtype_of(indices)) or dtype_of(indices) == "bool":
        raise user_error(
            TcompTypeError, f"embedding: indices must be integers, got {dtype_of(indices)}"
        )
    rows = tcomp.take(table, indices, axis=0)
    if padding_idx is None:
        return rows
    count = shape_of(table)[0]
    if not is_int(padding_idx) or not -count <= padding_idx < count:
        raise user_error(
            TcompArgumentError,
            f"embedding: padding_idx must be an int in [-{count}, {count}) for a table of "
            f"{count} rows, got {padding_idx!r}",
        )
    frozen = tcomp.expand_dims(indices == int(padding_idx) % count, -1)
    return tcomp.where(frozen, tcomp.stop_gradient(rows), rows)


_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(x: Any, pad: Any, mode: str = "constant", value: float = 0.0):
    """PyTorch's ``F.pad``: ``pad`` is ``(low, high)`` pairs from the last axis backwards,
    ``(left, right)`` or ``(left, right, top, bottom)`` and so on.

    ``mode``: ``"constant"`` (``value``), ``"reflect"`` (mirrored without repeating the
    edge, each pad smaller than its axis), ``"replicate"`` (the edge repeated) or
    ``"circular"`` (wrapped around, each pad at most its axis). ``tcomp.pad`` gives the
    same in numpy's terms (``edge``, ``reflect``, ``wrap``); the copying modes are one
    gather per axis, whose gradient is a scatter-add onto the copied positions.

    A negative pad removes that many elements from its side, as in PyTorch: the positive
    pads are applied first (reflected and replicated ones read the whole of ``x``), then
    the negative ones cut, except in ``"circular"`` mode, which cuts first and wraps what
    is left (PyTorch's order for each mode); an axis cut below 0 elements is an error.
    """
    x = _array(x, "pad")
    ndim = len(shape_of(x))
    widths = tuple(pad) if isinstance(pad, (tuple, list)) else None
    if widths is None or not all(is_int(w) for w in widths):
        raise user_error(
            TcompTypeError,
            f"pad: pad must be (low, high) pairs of ints, at most one pair per "
            f"axis of x {shape_of(x)} (last axis first), got {pad!r}",
        )
    if len(widths) % 2 or len(widths) > 2 * ndim:
        raise user_error(
            TcompArgumentError,
            f"pad: pad must be (low, high) pairs, at most one pair per axis of x "
            f"{shape_of(x)} (last axis first): {len(widths)} values, got {pad!r}",
        )
    pairs = [(0, 0)] * ndim
    for i in range(len(widths) // 2):
        pairs[ndim - 1 - i] = (int(widths[2 * i]), int(widths[2 * i + 1]))
    for axis, (low, high) in enumerate(pairs):
        if shape_of(x)[axis] + low + high < 0:
            raise user_error(
                TcompShapeError,
                f"pad: axis {axis} of x {shape_of(x)} has {shape_of(x)[axis]} elements, "
                f"fewer than the padding ({low}, {high}) removes",
            )
    grown = [(max(low, 0), max(high, 0)) for low, high in pairs]
    if mode == "constant":
        return _cut(tcomp.pad(x, grown, constant_values=value), pairs)
    if mode not in _PAD_MODES:
        raise user_error(
            TcompTypeError,
            f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}",
        )
    if mode == "circular":
        x = _cut(x, pairs)
    for axis, (low, high) in enumerate(grown):
        size = shape_of(x)[axis]
        limit = {"reflect": size - 1, "circular": size}.get(mode, low + high)
        if max(low, high) > limit:
            need = "smaller than" if mode == "reflect" else "at most"
            raise user_error(
                TcompShapeError,
                f"pad: mode {mode!r} needs each pad {need} its axis: axis {axis} of x "
                f"{shape_of(x)} has {size} elements, padding ({low}, {high})",
            )
    padded = pad_copying(x, grown, _PAD_MODES[mode])
    return padded if mode == "circular" else _cut(padded, pairs)


def _cut(x: Any, pairs: list[tuple[int, int]]):
    """``x`` with ``-low`` / ``-high`` elements removed from each side whose pad is negative."""
    if all(low >= 0 and high >= 0 for low, high in pairs):
        return x
    index = tuple(
        slice(-min(low, 0), shape_of(x)[axis] + min(high, 0))
        for axis, (low, high) in enumerate(pairs)
    )
    return x[index]


__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "attention",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cosine_similarity",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "gelu",
    "group_norm",
    "gru_cell",
    "hard_tanh",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "huber_loss",
    "init",
    "init_gru",
    "init_lstm",
    "init_rnn",
    "instance_norm",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "log_sigmoid",
    "log_softmax",
    "logsigmoid",
    "logsumexp",
    "lstm_cell",
    "masked_fill",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_unpool2d",
    "mish",
    "mse",
    "mse_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "quick_gelu",
    "relu",
    "relu6",
    "rms_norm",
    "rnn",
    "rnn_cell",
    "scaled_dot_product_attention",
    "selu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softmin",
    "softplus",
    "softsign",
    "swish",
]
