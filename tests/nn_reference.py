"""Plain numpy reference implementations of ``tcomp.nn``, written independently of it.

They compute in float64 (whatever the input dtype) and favour the textbook
formula over cleverness: convolution and pooling are explicit loops over
output positions, attention builds its mask from two nested loops. The tests
compare tcomp's results against these.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    a, b = value
    return int(a), int(b)


def relu(x: np.ndarray) -> np.ndarray:
    x = _f64(x)
    return np.where(x > 0, x, 0.0)


def gelu(x: np.ndarray) -> np.ndarray:
    """The tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = _f64(x)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = _f64(x)
    # exp(-|x|) never overflows; x < 0 uses exp(x) / (1 + exp(x)) for full relative precision.
    small = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + small), small / (1.0 + small))


def logsumexp(x: np.ndarray, axis=-1, keepdims: bool = False) -> np.ndarray:
    x = _f64(x)
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = _f64(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return _f64(x) - logsumexp(x, axis=axis, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean over every leading position of ``-log p[label]``."""
    logp = log_softmax(logits, axis=-1)
    classes = logp.shape[-1]
    flat_logp = logp.reshape(-1, classes)
    flat_labels = np.asarray(labels).reshape(-1)
    picked = [flat_logp[i, int(flat_labels[i])] for i in range(flat_labels.size)]
    return np.asarray(-np.mean(picked))


def mse(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.asarray(np.mean((_f64(prediction) - _f64(target)) ** 2))


def layer_norm(x: np.ndarray, weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    """Normalise over the trailing ``weight.ndim`` axes (1 when weight is None), biased variance."""
    x = _f64(x)
    k = np.ndim(weight) if weight is not None else 1
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * _f64(weight)
    if bias is not None:
        y = y + _f64(bias)
    return y


def conv2d(x: np.ndarray, w: np.ndarray, b=None, stride=1, padding=0) -> np.ndarray:
    """Cross-correlation, NCHW x OIHW, by explicit loops over output positions."""
    x, w = _f64(x), _f64(w)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    n, c, h, wd = x.shape
    o, c2, kh, kw = w.shape
    assert c == c2
    padded = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    padded[:, :, ph : ph + h, pw : pw + wd] = x
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = padded[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]  # [N, C, KH, KW]
            out[:, :, i, j] = np.einsum("nckl,ockl->no", window, w)
    if b is not None:
        out = out + _f64(b)[None, :, None, None]
    return out


def _conv_nd(x, w, b, stride, padding, d):
    from window_reference import direct_conv  # loops over output positions and kernel offsets

    out = direct_conv(_f64(x), _f64(w), (stride,) * d, (padding,) * (2 * d), (1,) * d, (1,) * d, 1)
    return out if b is None else out + _f64(b).reshape((1, -1) + (1,) * d)


def conv1d(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    return _conv_nd(x, w, b, stride, padding, 1)


def conv3d(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    return _conv_nd(x, w, b, stride, padding, 3)


def _pool(x: np.ndarray, kernel, stride, reduce) -> np.ndarray:
    x = _f64(x)
    kh, kw = _pair(kernel)
    sh, sw = _pair(stride) if stride is not None else (kh, kw)
    n, c, h, w = x.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            out[:, :, i, j] = reduce(window.reshape(n, c, -1), axis=-1)
    return out


def max_pool2d(x: np.ndarray, kernel, stride=None) -> np.ndarray:
    return _pool(x, kernel, stride, np.max)


def avg_pool2d(x: np.ndarray, kernel, stride=None) -> np.ndarray:
    return _pool(x, kernel, stride, np.mean)


def _pool1d(x, kernel, stride, reduce):
    x = _f64(x)
    stride = kernel if stride is None else stride
    out = np.zeros(x.shape[:2] + ((x.shape[2] - kernel) // stride + 1,))
    for i in range(out.shape[2]):
        out[:, :, i] = reduce(x[:, :, i * stride : i * stride + kernel], axis=-1)
    return out


def max_pool1d(x: np.ndarray, kernel: int, stride=None) -> np.ndarray:
    return _pool1d(x, kernel, stride, np.max)


def avg_pool1d(x: np.ndarray, kernel: int, stride=None) -> np.ndarray:
    return _pool1d(x, kernel, stride, np.mean)


def adaptive_avg_pool2d(x: np.ndarray, output_size) -> np.ndarray:
    """PyTorch's cells: rows floor(i H / OH) .. ceil((i + 1) H / OH), likewise columns."""
    x = _f64(x)
    (oh, ow), (h, w) = _pair(output_size), x.shape[2:]
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * h // oh, -(-(i + 1) * h // oh))
            cols = slice(j * w // ow, -(-(j + 1) * w // ow))
            out[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool = False) -> np.ndarray:
    """softmax(q k^T / sqrt(d)) v; causal: query i sees keys j <= i + Tk - Tq."""
    q, k, v = _f64(q), _f64(k), _f64(v)
    d = q.shape[-1]
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) / math.sqrt(d)
    if causal:
        tq, tk = q.shape[-2], k.shape[-2]
        allowed = np.zeros((tq, tk), dtype=bool)
        for i in range(tq):
            for j in range(tk):
                allowed[i, j] = j <= i + tk - tq
        scores = np.where(allowed, scores, -np.inf)
    return np.matmul(softmax(scores, axis=-1), v)
