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
from tcomp.frontend.dispatch import dtype_of, materialize, operand, shape_of, user_error
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float, numpy_dtype


def _array(x: Any, op: str):
    return materialize(operand(x, op))


def relu(x: Any):
    """``max(x, 0)``."""
    return tcomp.maximum(x, 0)


def gelu(x: Any):
    """GELU with the tanh approximation (``jax.nn.gelu``'s default; PyTorch's ``approximate="tanh"``)."""
    x = _array(x, "gelu")
    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1.0 + tcomp.tanh(inner))


def sigmoid(x: Any):
    """``1 / (1 + exp(-x))``."""
    return tcomp.sigmoid(x)


def logsumexp(x: Any, axis: int = -1, keepdims: bool = False):
    """``log(sum(exp(x)))`` along ``axis``, shifted by the maximum so it cannot overflow."""
    x = _array(x, "logsumexp")
    shift = tcomp.stop_gradient(tcomp.max(x, axis=axis, keepdims=True))
    total = tcomp.sum(tcomp.exp(x - shift), axis=axis, keepdims=True)
    result = tcomp.log(total) + shift
    return result if keepdims else tcomp.squeeze(result, axis)


def softmax(x: Any, axis: int = -1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (max-shifted)."""
    x = _array(x, "softmax")
    shifted = tcomp.exp(x - tcomp.stop_gradient(tcomp.max(x, axis=axis, keepdims=True)))
    return shifted / tcomp.sum(shifted, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1):
    """``x - logsumexp(x)`` along ``axis``."""
    x = _array(x, "log_softmax")
    return x - logsumexp(x, axis=axis, keepdims=True)


def cross_entropy(logits: Any, labels: Any):
    """Mean over the batch of ``-log_softmax(logits)[label]``.

    ``logits`` is ``[..., classes]`` (float), ``labels`` the matching
    ``[...]`` integer class indices. A label outside ``[0, classes)``
    contributes 0 (it matches no class).
    """
    logits = _array(logits, "cross_entropy")
    labels = _array(labels, "cross_entropy")
    if not is_float(dtype_of(logits)):
        raise user_error(TcompTypeError, f"cross_entropy: logits must be float, got {dtype_of(logits)}")
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
    picked = log_softmax(logits) * tcomp.one_hot(labels, classes, dtype=dtype_of(logits))
    return -tcomp.mean(tcomp.sum(picked, axis=-1))


def mse(prediction: Any, target: Any):
    """Mean of ``(prediction - target) ** 2`` over all elements."""
    difference = _array(prediction, "mse") - target
    return tcomp.mean(difference * difference)


def layer_norm(x: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5):
    """Normalises over the trailing axes that ``weight`` covers (the last axis when it is None).

    ``(x - mean) / sqrt(var + eps) * weight + bias``, with the biased
    variance, as in PyTorch.
    """
    x = _array(x, "layer_norm")
    normalized_ndim = len(shape_of(_array(weight, "layer_norm"))) if weight is not None else 1
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
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, (int, np.integer)) or v < 0 for v in pair):
        raise user_error(TcompTypeError, f"{name} must be an int or a pair of non-negative ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _patches(x: Any, kernel: tuple[int, int], stride: tuple[int, int], op: str):
    """``[N, C, KH*KW, OH, OW]``: every kernel offset's strided view of ``x``."""
    n, c, h, w = shape_of(x)
    kh, kw = kernel
    sh, sw = stride
    if sh == 0 or sw == 0:
        raise user_error(TcompShapeError, f"{op}: stride must be positive")
    if kh > h or kw > w or kh == 0 or kw == 0:
        raise user_error(
            TcompShapeError, f"{op}: kernel {kernel} does not fit the (padded) input {(h, w)}"
        )
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    views = [
        x[:, :, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]
    return tcomp.stack(views, axis=2), (oh, ow)


def conv2d(x: Any, w: Any, b: Any = None, stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0):
    """2-D convolution (cross-correlation, as in PyTorch): x ``[N, C, H, W]``, w ``[O, C, KH, KW]``, b ``[O]``.

    Built from slices and one matmul, so its gradient comes from theirs.
    """
    x, w = _array(x, "conv2d"), _array(w, "conv2d")
    if len(shape_of(x)) != 4 or len(shape_of(w)) != 4:
        raise user_error(
            TcompShapeError,
            f"conv2d: needs x [N, C, H, W] and w [O, C, KH, KW], got {shape_of(x)} and {shape_of(w)}",
        )
    n, c = shape_of(x)[:2]
    o, wc, kh, kw = shape_of(w)
    if wc != c:
        raise user_error(
            TcompShapeError, f"conv2d: x has {c} channels but w {shape_of(w)} expects {wc}"
        )
    ph, pw = _pair(padding, "conv2d padding")
    if ph or pw:
        x = tcomp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    patches, (oh, ow) = _patches(x, (kh, kw), _pair(stride, "conv2d stride"), "conv2d")
    columns = tcomp.reshape(patches, (n, c * kh * kw, oh * ow))
    out = tcomp.matmul(tcomp.reshape(w, (o, c * kh * kw)), columns)  # [N, O, OH*OW]
    out = tcomp.reshape(out, (n, o, oh, ow))
    if b is not None:
        out = out + tcomp.reshape(b, (1, o, 1, 1))
    return out


def max_pool2d(x: Any, kernel: int | Sequence[int], stride: int | Sequence[int] | None = None):
    """Max over ``kernel`` windows of an NCHW input (stride defaults to the kernel)."""
    return _pool(x, kernel, stride, "max_pool2d", tcomp.max)


def avg_pool2d(x: Any, kernel: int | Sequence[int], stride: int | Sequence[int] | None = None):
    """Mean over ``kernel`` windows of an NCHW input (stride defaults to the kernel)."""
    return _pool(x, kernel, stride, "avg_pool2d", tcomp.mean)


def _pool(x: Any, kernel: Any, stride: Any, op: str, reduce: Any):
    x = _array(x, op)
    if len(shape_of(x)) != 4:
        raise user_error(TcompShapeError, f"{op}: needs an input [N, C, H, W], got {shape_of(x)}")
    kernel = _pair(kernel, f"{op} kernel")
    stride = _pair(stride, f"{op} stride") if stride is not None else kernel
    patches, _ = _patches(x, kernel, stride, op)
    return reduce(patches, axis=2)


def attention(q: Any, k: Any, v: Any, causal: bool = False):
    """Scaled dot-product attention: ``softmax(q @ k^T / sqrt(d)) @ v``.

    q ``[..., Tq, D]``, k ``[..., Tk, D]``, v ``[..., Tk, Dv]``; leading axes
    (batch, heads) broadcast. ``causal`` masks keys after each query
    position (query i sees keys ``<= i + Tk - Tq``).
    """
    q, k, v = _array(q, "attention"), _array(k, "attention"), _array(v, "attention")
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
        rows = tcomp.reshape(tcomp.arange(tq), (tq, 1))
        cols = tcomp.reshape(tcomp.arange(tk), (1, tk))
        lowest = float(np.finfo(numpy_dtype(dtype_of(scores))).min)
        scores = tcomp.where(cols <= rows + (tk - tq), scores, lowest)
    return tcomp.matmul(softmax(scores, axis=-1), v)


__all__ = [
    "attention",
    "avg_pool2d",
    "conv2d",
    "cross_entropy",
    "gelu",
    "layer_norm",
    "log_softmax",
    "logsumexp",
    "max_pool2d",
    "mse",
    "relu",
    "sigmoid",
    "softmax",
]
