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


def gelu(x: np.ndarray, approximate="none") -> np.ndarray:
    """x * Phi(x) with the normal CDF from math.erf; or, approximate="tanh",
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = _f64(x)
    if approximate in ("tanh", True):
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return x * np.vectorize(lambda v: 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))))(x)


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


def _normalized_ndim(weight, normalized_shape) -> int:
    if normalized_shape is not None:
        return 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    return np.ndim(weight) if weight is not None else 1


def layer_norm(x: np.ndarray, weight=None, bias=None, eps: float = 1e-5,
               normalized_shape=None) -> np.ndarray:
    """Normalise over the trailing ``normalized_shape`` (else ``weight.ndim``, else 1) axes,
    biased variance."""
    x = _f64(x)
    k = _normalized_ndim(weight, normalized_shape)
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


# ---------------------------------------------------------------------------
# Activations, losses, normalisation, padding and attention options: PyTorch's
# formulas (torch.nn.functional's documentation), written plainly in float64.


def silu(x):
    x = _f64(x)
    return x * sigmoid(x)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, x itself where beta x > threshold."""
    x = _f64(x)
    z = beta * x
    return np.where(z > threshold, x, np.logaddexp(0.0, z) / beta)


def log_sigmoid(x):
    return -np.logaddexp(0.0, -_f64(x))


def leaky_relu(x, negative_slope=0.01):
    x = _f64(x)
    return np.where(x > 0, x, negative_slope * x)


def elu(x, alpha=1.0):
    x = _f64(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def hard_tanh(x, min_val=-1.0, max_val=1.0):
    return np.clip(_f64(x), min_val, max_val)


def relu6(x):
    return np.clip(_f64(x), 0.0, 6.0)


def _reduce(loss, reduction):
    return {"none": loss, "sum": np.sum(loss), "mean": np.mean(loss)}[reduction]


def nll_loss(log_probs, labels, weight=None, ignore_index=-100, reduction="mean", axis=-1):
    """Loops over positions: loss -w[y] logp[y]; ignored positions 0 and out of the mean."""
    logp = np.moveaxis(_f64(log_probs), axis, -1)
    classes = logp.shape[-1]
    flat, ys = logp.reshape(-1, classes), np.asarray(labels).reshape(-1)
    w = np.ones(classes) if weight is None else _f64(weight)
    losses, weights = np.zeros(ys.size), np.zeros(ys.size)
    for i, y in enumerate(ys):
        if ignore_index is not None and y == ignore_index:
            continue
        if 0 <= y < classes:
            losses[i], weights[i] = -w[y] * flat[i, y], w[y]
        else:  # no such class: loss 0, counting 1 unless class weights are given
            weights[i] = 1.0 if weight is None else 0.0
    if reduction == "none":
        return losses.reshape(np.shape(labels))
    if reduction == "sum":
        return np.asarray(losses.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(losses.sum() / weights.sum())


def cross_entropy(logits, labels, weight=None, ignore_index=None, reduction="mean",
                  label_smoothing=0.0, axis=-1):
    """nll_loss of log_softmax, plus PyTorch's label smoothing term (both over one total
    weight under "mean")."""
    logp = log_softmax(np.moveaxis(_f64(logits), axis, -1), axis=-1)
    nll = nll_loss(logp, labels, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    classes = logp.shape[-1]
    w = np.ones(classes) if weight is None else _f64(weight)
    smooth = -(logp * w).sum(axis=-1)
    ys = np.asarray(labels)
    kept = np.ones(ys.shape, bool) if ignore_index is None else ys != ignore_index
    smooth = np.where(kept, smooth, 0.0)
    if reduction == "mean":
        if weight is None:
            total = kept.sum() if ignore_index is not None else ys.size
        else:
            inside = kept & (ys >= 0) & (ys < classes)
            total = w[np.clip(ys, 0, classes - 1)][inside].sum()
        smooth = smooth.sum() / total
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * nll + label_smoothing / classes * smooth


def mse(prediction, target, reduction="mean"):
    return np.asarray(_reduce((_f64(prediction) - _f64(target)) ** 2, reduction))


def l1_loss(prediction, target, reduction="mean"):
    return np.asarray(_reduce(np.abs(_f64(prediction) - _f64(target)), reduction))


def smooth_l1_loss(prediction, target, reduction="mean", beta=1.0):
    d = np.abs(_f64(prediction) - _f64(target))
    loss = d if beta == 0 else np.where(d < beta, 0.5 * d * d / max(beta, 1e-300), d - 0.5 * beta)
    return np.asarray(_reduce(loss, reduction))


def huber_loss(prediction, target, reduction="mean", delta=1.0):
    d = np.abs(_f64(prediction) - _f64(target))
    return np.asarray(_reduce(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction))


def binary_cross_entropy(probs, targets, weight=None, reduction="mean"):
    p, t = _f64(probs), _f64(targets)
    with np.errstate(divide="ignore"):
        loss = -(t * np.maximum(np.log(p), -100.0) + (1 - t) * np.maximum(np.log(1 - p), -100.0))
    return np.asarray(_reduce(loss if weight is None else loss * _f64(weight), reduction))


def binary_cross_entropy_with_logits(logits, targets, weight=None, reduction="mean",
                                     pos_weight=None):
    """-w [pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], with log sigmoid by logaddexp."""
    x, t = _f64(logits), _f64(targets)
    pw = 1.0 if pos_weight is None else _f64(pos_weight)
    loss = -(pw * t * log_sigmoid(x) + (1 - t) * log_sigmoid(-x))
    return np.asarray(_reduce(loss if weight is None else loss * _f64(weight), reduction))


def kl_div(log_probs, targets, reduction="mean", log_target=False):
    x, t = _f64(log_probs), _f64(targets)
    if log_target:
        loss = np.exp(t) * (t - x)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.where(t == 0, 0.0, t * (np.log(t) - x))
    if reduction == "batchmean":
        return np.asarray(loss.sum() / x.shape[0])
    return np.asarray(_reduce(loss, reduction))


def rms_norm(x, weight=None, eps=None, normalized_shape=None):
    """x / sqrt(mean(x^2) + eps) * weight; eps None is the machine epsilon of x's dtype."""
    eps = float(np.finfo(np.asarray(x).dtype).eps) if eps is None else eps
    x = _f64(x)
    k = _normalized_ndim(weight, normalized_shape)
    axes = tuple(range(x.ndim - k, x.ndim))
    y = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return y if weight is None else y * _f64(weight)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Loops over samples and groups: each group's channels and positions normalised."""
    x = _f64(x)
    n, c = x.shape[:2]
    size = c // num_groups
    y = np.empty_like(x)
    for i in range(n):
        for g in range(num_groups):
            block = x[i, g * size:(g + 1) * size]
            y[i, g * size:(g + 1) * size] = (block - block.mean()) / np.sqrt(block.var() + eps)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * _f64(weight).reshape(shape)
    if bias is not None:
        y = y + _f64(bias).reshape(shape)
    return y


def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Per channel: batch statistics (and the running update with the unbiased variance)
    when training, else the running ones."""
    x = _f64(x)
    c = x.shape[1]
    y = np.empty_like(x)
    means, variances = np.zeros(c), np.zeros(c)
    for ch in range(c):
        values = x[:, ch]
        if training:
            means[ch], variances[ch] = values.mean(), values.var()
        else:
            means[ch], variances[ch] = running_mean[ch], running_var[ch]
        y[:, ch] = (values - means[ch]) / np.sqrt(variances[ch] + eps)
        if weight is not None:
            y[:, ch] *= weight[ch]
        if bias is not None:
            y[:, ch] += bias[ch]
    if not training or running_mean is None:
        return y
    count = x.size // c
    new_mean = (1 - momentum) * _f64(running_mean) + momentum * means
    new_var = (1 - momentum) * _f64(running_var) + momentum * variances * count / (count - 1)
    return y, new_mean, new_var


def embedding(indices, table, padding_idx=None):
    return _f64(table)[np.asarray(indices)]


def pad(x, pad, mode="constant", value=0.0):
    """PyTorch's pairs from the last axis, by np.pad with the matching numpy mode."""
    x = _f64(x)
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode == "constant":
        return np.pad(x, pairs, constant_values=value)
    return np.pad(x, pairs, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])


def masked_attention(q, k, v, causal=False, mask=None, scale=None, enable_gqa=False):
    """Heads repeated for grouped queries, then softmax(q k^T scale + mask) v row by row;
    a row with no visible key gives zeros."""
    q, k, v = _f64(q), _f64(k), _f64(v)
    if enable_gqa:
        group = q.shape[-3] // k.shape[-3]
        k, v = np.repeat(k, group, axis=-3), np.repeat(v, group, axis=-3)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    tq, tk = scores.shape[-2:]
    keep = np.ones(scores.shape, bool)
    if causal:
        keep &= np.arange(tk)[None, :] <= np.arange(tq)[:, None] + tk - tq
    if mask is not None and np.asarray(mask).dtype == bool:
        keep &= mask
    elif mask is not None:
        scores = scores + _f64(mask)
    scores = np.where(keep, scores, -np.inf)
    out_shape = scores.shape[:-1] + (v.shape[-1],)
    scores, out = scores.reshape(-1, tq, tk), np.zeros(out_shape).reshape(-1, tq, v.shape[-1])
    values = np.broadcast_to(v, scores.shape[:0] + out_shape[:-2] + v.shape[-2:]).reshape(-1, tk, v.shape[-1])
    for b in range(scores.shape[0]):
        for i in range(tq):
            row = scores[b, i]
            if np.all(row == -np.inf):
                continue
            p = np.exp(row - row.max())
            out[b, i] = (p / p.sum()) @ values[b]
    return out.reshape(out_shape)


def _pool_nd(x, kind, kernel, stride, padding, dilation=1, ceil_mode=False,
             count_include_pad=True, divisor_override=None):
    """PyTorch's max/avg pooling by its formulas, in loops over output positions."""
    x = _f64(x)
    d = x.ndim - 2
    tup = lambda v: (v,) * d if isinstance(v, int) else tuple(v)  # noqa: E731
    kernel, padding, dilation = tup(kernel), tup(padding), tup(dilation)
    stride = kernel if stride is None else tup(stride)
    sizes = []
    for a in range(d):
        room = x.shape[2 + a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1
        n = (-(-room // stride[a]) if ceil_mode else room // stride[a]) + 1
        if ceil_mode and (n - 1) * stride[a] >= x.shape[2 + a] + padding[a]:
            n -= 1
        sizes.append(n)
    out = np.zeros(x.shape[:2] + tuple(sizes))
    for o in np.ndindex(*sizes):
        start = [o[a] * stride[a] - padding[a] for a in range(d)]
        values, span = [], 1
        for k in np.ndindex(*kernel):
            p = tuple(start[a] + k[a] * dilation[a] for a in range(d))
            if all(0 <= p[a] < x.shape[2 + a] for a in range(d)):
                values.append(x[(Ellipsis,) + p])
        if kind == "max":
            out[(Ellipsis,) + o] = np.max(values, axis=0) if values else -np.inf
            continue
        for a in range(d):  # the window clipped to the padded input (ceil_mode runs past it)
            end = min(start[a] + kernel[a], x.shape[2 + a] + padding[a])
            low, high = max(start[a], 0), min(end, x.shape[2 + a])
            span *= (end - start[a]) if count_include_pad else (high - low)
        divisor = divisor_override or span
        out[(Ellipsis,) + o] = np.sum(values, axis=0) / divisor
    return out


def max_pool3d(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _pool_nd(x, "max", kernel, stride, padding, dilation, ceil_mode)


def avg_pool3d(x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _pool_nd(x, "avg", kernel, stride, padding, 1, ceil_mode, count_include_pad,
                    divisor_override)


def _adaptive(x, output_size):
    """Cell i of each axis averages floor(i n / o) .. ceil((i + 1) n / o)."""
    x = _f64(x)
    d = x.ndim - 2
    out_size = (output_size,) * d if isinstance(output_size, int) else tuple(output_size)
    out = np.zeros(x.shape[:2] + out_size)
    for o in np.ndindex(*out_size):
        cell = tuple(slice(i * n // m, -(-(i + 1) * n // m))
                     for i, n, m in zip(o, x.shape[2:], out_size))
        out[(Ellipsis,) + o] = x[(Ellipsis,) + cell].mean(axis=tuple(range(2, 2 + d)))
    return out


def adaptive_avg_pool1d(x, output_size):
    return _adaptive(x, output_size)


def adaptive_avg_pool3d(x, output_size):
    return _adaptive(x, output_size)


def _interpolate_sources(n_in, n_out, scale, mode, align_corners):
    """Per output index: a list of (source index, weight), PyTorch's formulas."""
    out = []
    for dst in range(n_out):
        if mode in ("nearest", "nearest-exact"):
            # PyTorch computes these in float32: scale = float(in) / out or 1 / scale_factor
            step = np.float32(n_in) / np.float32(n_out) if scale is None else np.float32(1 / scale)
            shift = np.float32(0.5 if mode == "nearest-exact" else 0.0)
            out.append([(min(int(np.floor((np.float32(dst) + shift) * step)), n_in - 1), 1.0)])
            continue
        if align_corners:
            src = dst * ((n_in - 1) / (n_out - 1)) if n_out > 1 else 0.0
        else:
            step = n_in / n_out if scale is None else 1.0 / scale
            src = max((dst + 0.5) * step - 0.5, 0.0)
        i0 = min(int(math.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        out.append([(i0, 1.0 - (src - i0)), (i1, src - i0)])
    return out


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None):
    """F.interpolate: every output element is the sum over the corners of its source
    cell (one corner for nearest) of the product of the per-axis weights."""
    dtype = np.float64 if mode not in ("nearest", "nearest-exact") else x.dtype
    x = np.asarray(x)
    spatial = x.shape[2:]
    d = len(spatial)
    if size is not None:
        sizes = (size,) * d if isinstance(size, int) else tuple(size)
        scales = (None,) * d
    else:
        factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * d
        sizes = tuple(int(math.floor(n * f)) for n, f in zip(spatial, factors))
        scales = (None,) * d if recompute_scale_factor else tuple(factors)
    sources = [_interpolate_sources(n, m, s, mode, align_corners)
               for n, m, s in zip(spatial, sizes, scales)]
    out = np.zeros(x.shape[:2] + sizes, dtype=np.float64)
    for position in np.ndindex(*sizes):
        corners = [sources[a][position[a]] for a in range(d)]
        for choice in np.ndindex(*(len(c) for c in corners)):
            weight, index = 1.0, []
            for a, k in enumerate(choice):
                i, w = corners[a][k]
                weight *= w
                index.append(i)
            out[(Ellipsis,) + position] += weight * x[(Ellipsis,) + tuple(index)].astype(np.float64)
    return out.astype(dtype)


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """F.conv_transpose2d as the scatter it is: each input element adds x * w[c_in, c_out]
    at out[(i * stride + k * dilation) - padding] for every kernel offset k."""
    x, w = _f64(x), _f64(w)
    d = x.ndim - 2
    spread = lambda v: (v,) * d if isinstance(v, (int, np.integer)) else tuple(v)  # noqa: E731
    stride, padding, extra, dilation = map(spread, (stride, padding, output_padding, dilation))
    n, c_in = x.shape[:2]
    per_group, kernel = w.shape[1], w.shape[2:]
    sizes = tuple(
        (x.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (kernel[a] - 1)
        + extra[a] + 1
        for a in range(d)
    )
    out = np.zeros((n, per_group * groups) + sizes)
    for ci in range(c_in):
        group = ci // (c_in // groups)
        for i in np.ndindex(*x.shape[2:]):
            for k in np.ndindex(*kernel):
                o = tuple(i[a] * stride[a] + k[a] * dilation[a] - padding[a] for a in range(d))
                if all(0 <= o[a] < sizes[a] for a in range(d)):
                    for co in range(per_group):
                        out[(slice(None), group * per_group + co) + o] += (
                            x[(slice(None), ci) + i] * w[(ci, co) + k]
                        )
    if b is not None:
        out += _f64(b).reshape((1, -1) + (1,) * d)
    return out


conv_transpose1d = conv_transpose3d = conv_transpose2d
