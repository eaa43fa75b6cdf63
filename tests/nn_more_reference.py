"""Plain numpy references for the ``tcomp.nn`` functions of frontend/nn_more_*.py, written
from PyTorch's documented formulas, independently of tcomp, in float64 (as
tests/nn_reference.py, which holds the older functions' references).

:class:`MoreCase` is tests/nn_checks.py's ``Case`` that looks its reference up here
first, then in ``nn_reference``.
"""

from __future__ import annotations

import math

import nn_reference
import numpy as np
from nn_checks import Case


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


class MoreCase(Case):
    """A ``Case`` whose reference comes from this module (or ``nn_reference``)."""

    def reference(self, args):
        name = self.reference_name or self.name
        function = globals().get(name) or getattr(nn_reference, name)
        out = function(*args, **self.kwargs)
        return tuple(np.asarray(o) for o in out) if isinstance(out, tuple) else (np.asarray(out),)


# ---------------------------------------------------------------------------
# Activations


def celu(x, alpha=1.0):
    x = _f64(x)
    return np.maximum(0.0, x) + np.minimum(0.0, alpha * (np.exp(x / alpha) - 1.0))


def selu(x):
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    x = _f64(x)
    return scale * (np.maximum(0.0, x) + np.minimum(0.0, alpha * (np.exp(x) - 1.0)))


def hardsigmoid(x):
    x = _f64(x)
    return np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0


def hardswish(x):
    x = _f64(x)
    return x * np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0


def mish(x):
    x = _f64(x)
    return x * np.tanh(np.log1p(np.exp(x)))


def softsign(x):
    x = _f64(x)
    return x / (1.0 + np.abs(x))


def quick_gelu(x):
    x = _f64(x)
    return x / (1.0 + np.exp(-1.702 * x))


def softmin(x, axis=-1):
    e = np.exp(-_f64(x))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------------------
# Losses and similarity


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """PyTorch 2.x: each vector divided by ``max(norm, eps)``, then the dot product."""
    x1, x2 = np.broadcast_arrays(_f64(x1), _f64(x2))
    n1 = np.maximum(np.sqrt((x1 * x1).sum(axis=dim, keepdims=True)), eps)
    n2 = np.maximum(np.sqrt((x2 * x2).sum(axis=dim, keepdims=True)), eps)
    return ((x1 / n1) * (x2 / n2)).sum(axis=dim)


def mse_loss(prediction, target, reduction="mean"):
    return nn_reference.mse(prediction, target, reduction)


# ---------------------------------------------------------------------------
# Layers


def normalize(x, p=2.0, dim=1, eps=1e-12):
    x = _f64(x)
    if p == math.inf:
        norm = np.abs(x).max(axis=dim, keepdims=True)
    elif p == -math.inf:
        norm = np.abs(x).min(axis=dim, keepdims=True)
    elif p == 0:
        norm = (x != 0).sum(axis=dim, keepdims=True).astype(x.dtype)
    else:
        norm = (np.abs(x) ** p).sum(axis=dim, keepdims=True) ** (1.0 / p)
    return x / np.maximum(norm, eps)


def masked_fill(x, mask, value):
    return np.where(mask, _f64(value), _f64(x))


def pixel_shuffle(x, upscale_factor):
    r = upscale_factor
    *lead, c, h, w = x.shape
    out = np.empty(tuple(lead) + (c // (r * r), h * r, w * r))
    for ch in range(c // (r * r)):
        for i in range(h * r):
            for j in range(w * r):
                out[..., ch, i, j] = x[..., ch * r * r + (i % r) * r + (j % r), i // r, j // r]
    return out


def pixel_unshuffle(x, downscale_factor):
    r = downscale_factor
    *lead, c, h, w = x.shape
    out = np.empty(tuple(lead) + (c * r * r, h // r, w // r))
    for ch in range(c):
        for i in range(h):
            for j in range(w):
                out[..., ch * r * r + (i % r) * r + (j % r), i // r, j // r] = x[..., ch, i, j]
    return out


def instance_norm(
    x,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats=True,
    momentum=0.1,
    eps=1e-5,
):
    x = _f64(x)
    axes = tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if use_input_stats:
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
    else:
        mean = _f64(running_mean).reshape(shape)
        var = _f64(running_var).reshape(shape)
    y = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * _f64(weight).reshape(shape)
    if bias is not None:
        y = y + _f64(bias).reshape(shape)
    if not use_input_stats or running_mean is None:
        return y
    count = int(np.prod([x.shape[a] for a in axes]))
    new_mean = (1 - momentum) * _f64(running_mean) + momentum * mean.reshape(x.shape[:2]).mean(0)
    unbiased = var.reshape(x.shape[:2]) * count / max(count - 1, 1)
    new_var = (1 - momentum) * _f64(running_var) + momentum * unbiased.mean(0)
    return y, new_mean, new_var


def adaptive_max_pool2d(x, output_size):
    x = _f64(x)
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    n, c, h, w = x.shape
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
            c0, c1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].max(axis=(2, 3))
    return out


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
):
    """PyTorch's documented math: a top-left causal mask (``tril`` of ``[L, S]`` ones)."""
    q, k, v = _f64(query), _f64(key), _f64(value)
    if enable_gqa:
        k = np.repeat(k, q.shape[-3] // k.shape[-3], axis=-3)
        v = np.repeat(v, q.shape[-3] // v.shape[-3], axis=-3)
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * factor
    L, S = scores.shape[-2:]
    bias = np.zeros((L, S))
    if is_causal:
        bias = np.where(np.tril(np.ones((L, S), dtype=bool)), 0.0, -np.inf)
    if attn_mask is not None:
        attn_mask = np.asarray(attn_mask)
        bias = bias + (
            np.where(attn_mask, 0.0, -np.inf) if attn_mask.dtype == bool else _f64(attn_mask)
        )
    scores = scores + bias
    top = scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores - top)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights @ v
