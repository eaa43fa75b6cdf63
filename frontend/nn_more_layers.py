"""More ``tcomp.nn`` functions with PyTorch's definitions (issue 15): ``mse_loss``
(PyTorch's name of ``mse``), ``cosine_similarity``, ``normalize``, ``one_hot``,
``masked_fill``, ``scaled_dot_product_attention``, ``pixel_shuffle``,
``pixel_unshuffle`` and ``instance_norm``.

Compositions of tcomp array functions and of the existing ``nn`` functions
(``attention``, the norms' helpers), so they trace, differentiate and compile on every
backend like user code.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tcomp.frontend import creation, ops
from tcomp.frontend.composite_shapes import tril
from tcomp.frontend.dispatch import (
    broadcast_shapes,
    dtype_of,
    materialize,
    normalize_axis,
    operand,
    shape_of,
    user_error,
)
from tcomp.frontend.nn_attention import attention
from tcomp.frontend.nn_common import (
    _array,
    _float_array,
    broadcasts_to,
    check_number,
    is_int,
    static_hint,
)
from tcomp.frontend.nn_losses import mse
from tcomp.frontend.nn_norms import _channel_statistics, _channels, _normalized_per_channel
from tcomp.frontend.ops_gather import one_hot as one_hot_as
from tcomp.frontend.trace import Tracer
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float

mse_loss = mse


# ---------------------------------------------------------------------------
# Similarity and normalisation of vectors


def _norm_along(x: Any, p: float, axis: int, eps: float):
    """``max(||x||_p, eps)`` along ``axis`` (kept): the clamp is applied inside the root
    (``max(sum |x|^p, eps^p) ** (1/p)``), so a zero vector gets a finite gradient."""
    if p == math.inf:
        return ops.maximum(ops.max(ops.abs(x), axis=axis, keepdims=True), eps)
    if p == -math.inf:
        return ops.maximum(ops.min(ops.abs(x), axis=axis, keepdims=True), eps)
    if p == 0.0:  # the count of nonzero entries: a step function, no gradient flows
        nonzero = ops.astype(ops.not_equal(x, 0), dtype_of(x))
        return ops.maximum(ops.sum(nonzero, axis=axis, keepdims=True), eps)
    if p < 0.0:  # ||x||_p falls as the sum grows: the clamp is a cap on the sum
        total = ops.sum(_abs_power(x, p), axis=axis, keepdims=True)
        return ops.power(ops.minimum(total, _power_or_inf(eps, p)), 1.0 / p)
    if p == 1.0:
        return ops.maximum(ops.sum(ops.abs(x), axis=axis, keepdims=True), eps)
    if p == 2.0:
        total = ops.sum(x * x, axis=axis, keepdims=True)
        return ops.sqrt(ops.maximum(total, eps * eps))
    total = ops.sum(_abs_power(x, p), axis=axis, keepdims=True)
    return ops.power(ops.maximum(total, eps**p), 1.0 / p)


def _abs_power(x: Any, p: float):
    """``|x| ** p`` whose gradient at ``x == 0`` is 0 (PyTorch's norm gradient there),
    where the plain power's would be ``0 * inf = nan`` for ``p < 1``."""
    zero = ops.equal(x, 0)
    safe = ops.where(zero, 1.0, ops.abs(x))
    at_zero = 0.0 if p > 0 else math.inf
    return ops.where(zero, at_zero, ops.power(safe, p))


def _power_or_inf(base: float, exponent: float) -> float:
    """``base ** exponent`` for a Python float, ``inf`` where it overflows."""
    try:
        return base**exponent
    except (OverflowError, ZeroDivisionError):
        return math.inf


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8):
    """PyTorch's ``F.cosine_similarity``: ``sum(x1 / max(||x1||, eps) * x2 / max(||x2||,
    eps))`` along ``dim`` (x1 and x2 broadcast; ``dim`` is removed). Each norm is clamped
    separately, as PyTorch 2.x (older releases clamped their product). Where a norm is
    below ``eps`` the gradient does not flow through it (PyTorch's still would)."""
    op = "cosine_similarity"
    eps = check_number(eps, "eps", op, minimum=0.0)
    a, b = _float_array(x1, op), _float_array(x2, op)
    shape = broadcast_shapes(op, shape_of(a), shape_of(b))
    a, b = ops.broadcast_to(a, shape), ops.broadcast_to(b, shape)
    axis = normalize_axis(op, dim, len(shape))
    a = a / _norm_along(a, 2.0, axis, eps)
    b = b / _norm_along(b, 2.0, axis, eps)
    return ops.sum(a * b, axis=axis)


def normalize(x: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12):
    """PyTorch's ``F.normalize``: ``x / max(||x||_p, eps)`` along ``dim``. A zero vector
    gives zeros and the gradient ``1 / eps`` (PyTorch's values).

    ``p`` is any number or ``±math.inf``, with numpy's and PyTorch's vector-norm
    definitions: ``(sum |x|^p)^(1/p)``; ``inf`` the largest ``|x|``, ``-inf`` the
    smallest; ``0`` the count of nonzero entries (no gradient flows through the count).
    Below 1 these are not norms, but they are what both libraries compute."""
    op = "normalize"
    p = check_number(p, "p", op)
    eps = check_number(eps, "eps", op, minimum=0.0)
    x = _float_array(x, op)
    axis = normalize_axis(op, dim, len(shape_of(x)))
    return x / _norm_along(x, p, axis, eps)


# ---------------------------------------------------------------------------
# Indices and masks


def one_hot(indices: Any, num_classes: int = -1):
    """PyTorch's ``F.one_hot``: ``indices`` (ints, any shape) to ``[..., num_classes]``
    int64 (PyTorch's dtype; ``tcomp.one_hot`` takes a dtype). ``num_classes=-1`` (the
    default) means ``max(indices) + 1``, which needs concrete indices (numpy or a
    ``tcomp.Array``, not a traced value). Negative and out-of-range indices give a row of
    zeros (compiled code cannot raise, where PyTorch does)."""
    op = "one_hot"
    value = _array(indices, op)
    if is_float(dtype_of(value)) or dtype_of(value) == "bool":
        raise user_error(TcompTypeError, f"{op}: indices must be integers, got {dtype_of(value)}")
    if not is_int(num_classes):
        raise user_error(
            TcompTypeError,
            f"{op}: num_classes must be an int, got {num_classes!r}{static_hint(num_classes)}",
        )
    if num_classes == -1:
        if isinstance(value, Tracer):
            raise user_error(
                TcompArgumentError,
                f"{op}: num_classes=-1 needs the indices' values, which are traced here; "
                "pass num_classes",
            )
        host = np.asarray(value)
        num_classes = int(host.max()) + 1 if host.size else 0
    elif num_classes < 1:
        raise user_error(
            TcompArgumentError, f"{op}: num_classes must be -1 or positive, got {num_classes}"
        )
    return one_hot_as(value, int(num_classes), "int64")


def masked_fill(x: Any, mask: Any, value: Any):
    """PyTorch's ``Tensor.masked_fill`` as a function: ``value`` where the bool ``mask``
    (broadcast to ``x``'s shape, which it must not change) is True, else ``x``. The result
    keeps ``x``'s dtype (``value`` is converted to it, as PyTorch does). ``value`` is a
    number or a 0-d array; the gradient goes to ``x`` where unmasked, and to a 0-d array
    ``value`` summed over the masked positions."""
    op = "masked_fill"
    x, mask = _array(x, op), _array(mask, op)
    if dtype_of(mask) != "bool":
        raise user_error(TcompTypeError, f"{op}: mask must be bool, got {dtype_of(mask)}")
    if not broadcasts_to(shape_of(mask), shape_of(x)):
        raise user_error(
            TcompShapeError, f"{op}: mask {shape_of(mask)} does not broadcast to x {shape_of(x)}"
        )
    fill = operand(value, op)
    if shape_of(fill) != ():
        raise user_error(
            TcompShapeError,
            f"{op}: value must be a number or a 0-d array, got shape {shape_of(fill)}",
        )
    return ops.where(mask, ops.astype(materialize(fill), dtype_of(x)), x)


# ---------------------------------------------------------------------------
# Attention


def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
):
    """PyTorch's ``F.scaled_dot_product_attention`` (same arguments), on :func:`attention`:
    ``softmax(q @ k^T * scale + mask) @ v`` with q ``[..., L, E]``, k ``[..., S, E]``, v
    ``[..., S, Ev]``. ``attn_mask``: bool (True takes part) or float (added), broadcast to
    ``[..., L, S]``. ``is_causal``: PyTorch's top-left causal mask (query ``i`` sees keys
    ``<= i``; ``nn.attention``'s ``causal`` aligns the last query with the last key
    instead, the same when ``L == S``); as PyTorch, it cannot be combined with
    ``attn_mask``. ``dropout_p`` must be 0 (dropout needs a key: apply ``nn.dropout``
    to the weights yourself). A query that sees no key gives zeros."""
    op = "scaled_dot_product_attention"
    p = check_number(dropout_p, "dropout_p", op, minimum=0.0, maximum=1.0)
    if p != 0.0:
        raise user_error(
            TcompArgumentError,
            f"{op}: dropout_p={dropout_p!r} is not supported (tcomp's randomness takes explicit "
            "keys); pass 0.0 and use nn.dropout",
        )
    if not isinstance(is_causal, bool):
        raise user_error(TcompTypeError, f"{op}: is_causal must be True or False")
    if is_causal and attn_mask is not None:
        raise user_error(
            TcompArgumentError, f"{op}: give attn_mask or is_causal=True, not both (as PyTorch)"
        )
    if is_causal:
        length = shape_of(operand(query, op))
        source = shape_of(operand(key, op))
        if len(length) < 2 or len(source) < 2:
            raise user_error(
                TcompShapeError,
                f"{op}: query and key need a length and a feature axis, got {length} and {source}",
            )
        attn_mask = tril(creation.ones((length[-2], source[-2]), "bool"))
    return attention(query, key, value, mask=attn_mask, scale=scale, enable_gqa=enable_gqa)


# ---------------------------------------------------------------------------
# Pixel shuffles


def _factor(value: Any, name: str, op: str) -> int:
    if not is_int(value) or value < 1:
        raise user_error(
            TcompTypeError,
            f"{op}: {name} must be a positive int, got {value!r}{static_hint(value)}",
        )
    return int(value)


def pixel_shuffle(x: Any, upscale_factor: int):
    """PyTorch's ``F.pixel_shuffle``: ``[..., C * r * r, H, W]`` to ``[..., C, H * r, W *
    r]``; output ``(c, h * r + i, w * r + j)`` is input ``(c * r * r + i * r + j, h, w)``.
    A reshape, a transpose and a reshape."""
    op = "pixel_shuffle"
    r = _factor(upscale_factor, "upscale_factor", op)
    x = _array(x, op)
    shape = shape_of(x)
    if len(shape) < 3 or shape[-3] % (r * r):
        raise user_error(
            TcompShapeError,
            f"{op}: needs x [..., C * {r * r}, H, W] (channels divisible by upscale_factor ** 2 "
            f"= {r * r}), got {shape}",
        )
    lead, (c, h, w) = shape[:-3], shape[-3:]
    k = len(lead)
    x = ops.reshape(x, lead + (c // (r * r), r, r, h, w))
    x = ops.transpose(x, tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))
    return ops.reshape(x, lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(x: Any, downscale_factor: int):
    """PyTorch's ``F.pixel_unshuffle``, the inverse of :func:`pixel_shuffle`: ``[..., C, H *
    r, W * r]`` to ``[..., C * r * r, H, W]``."""
    op = "pixel_unshuffle"
    r = _factor(downscale_factor, "downscale_factor", op)
    x = _array(x, op)
    shape = shape_of(x)
    if len(shape) < 3 or shape[-2] % r or shape[-1] % r:
        raise user_error(
            TcompShapeError,
            f"{op}: needs x [..., C, H, W] with H and W divisible by downscale_factor {r}, "
            f"got {shape}",
        )
    lead, (c, h, w) = shape[:-3], shape[-3:]
    k = len(lead)
    x = ops.reshape(x, lead + (c, h // r, r, w // r, r))
    x = ops.transpose(x, tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))
    return ops.reshape(x, lead + (c * r * r, h // r, w // r))


# ---------------------------------------------------------------------------
# Instance normalisation


def instance_norm(
    x: Any,
    running_mean: Any = None,
    running_var: Any = None,
    weight: Any = None,
    bias: Any = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """PyTorch's ``F.instance_norm`` (same argument order), functional as
    :func:`batch_norm`: x ``[N, C, *spatial]``, the other arrays ``[C]``.

    ``use_input_stats=True``: each ``(n, c)`` plane is normalised by its own mean and
    biased variance; with running statistics given, returns ``(y, new_mean, new_var)``,
    each the running value moved by ``momentum`` toward the batch average of the
    planes' means and unbiased variances (what PyTorch writes into its buffers);
    otherwise returns ``y``. ``use_input_stats=False``: normalises with the running
    statistics (required), returns ``y``. Then ``* weight + bias`` per channel.
    """
    op = "instance_norm"
    x = _float_array(x, op)
    c = _channels(op, x, minimum_rank=3)
    if not isinstance(use_input_stats, bool):
        raise user_error(TcompTypeError, f"{op}: use_input_stats must be True or False")
    stats = _channel_statistics(
        op,
        x,
        c,
        running_mean,
        running_var,
        weight,
        bias,
        not use_input_stats,
        "use_input_stats=False",
    )
    momentum = check_number(momentum, "momentum", op)
    eps = check_number(eps, "eps", op, minimum=0.0)
    axes = tuple(range(2, len(shape_of(x))))
    y, mean, variance, count = _normalized_per_channel(
        op, x, axes, use_input_stats, stats, eps, "needs more than one spatial element per plane"
    )
    if not use_input_stats or running_mean is None:
        return y
    plane_means = ops.mean(ops.reshape(mean, shape_of(x)[:2]), axis=0)
    plane_vars = ops.mean(ops.reshape(variance, shape_of(x)[:2]), axis=0) * (count / (count - 1))
    new_mean = (1.0 - momentum) * stats["running_mean"] + momentum * plane_means
    new_var = (1.0 - momentum) * stats["running_var"] + momentum * plane_vars
    return y, new_mean, new_var


__all__ = [
    "cosine_similarity",
    "instance_norm",
    "masked_fill",
    "mse_loss",
    "normalize",
    "one_hot",
    "pixel_shuffle",
    "pixel_unshuffle",
    "scaled_dot_product_attention",
]
