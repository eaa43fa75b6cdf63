"""Activation functions of ``tcomp.nn`` (PyTorch's ``torch.nn.functional`` definitions).

Each is a composition of tcomp array functions, so it traces, differentiates
and compiles on every backend. Integer and bool inputs become float32 (as
``tcomp.exp`` does). Gradients at the kinks follow PyTorch's choices; each
docstring says which.
"""

from __future__ import annotations

from typing import Any

from tcomp.frontend import ops
from tcomp.frontend.dispatch import user_error
from tcomp.frontend.math_ops import expm1
from tcomp.frontend.nn_common import _float_array, check_number, softplus_core
from tcomp.ir.errors import TcompArgumentError


def silu(x: Any):
    """SiLU (swish): ``x * sigmoid(x)``, as PyTorch's ``F.silu``."""
    x = _float_array(x, "silu")
    return x * ops.sigmoid(x)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0):
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``,
    as PyTorch's ``F.softplus``.

    Computed as ``(max(z, 0) + log1p(exp(-|z|))) / beta`` with ``z = beta x``,
    which never overflows (whatever ``threshold``); the gradient is
    ``sigmoid(beta x)`` (1 above the threshold). ``beta`` must be positive.
    """
    beta = check_number(beta, "beta", "softplus")
    threshold = check_number(threshold, "threshold", "softplus")
    if beta <= 0:
        raise user_error(TcompArgumentError, f"softplus: beta must be positive, got {beta!r}")
    x = _float_array(x, "softplus")
    z = x * beta if beta != 1.0 else x
    soft = softplus_core(z)
    soft = soft / beta if beta != 1.0 else soft
    return ops.where(z > threshold, x, soft)


def log_sigmoid(x: Any):
    """``log(sigmoid(x)) = -softplus(-x)``, as PyTorch's ``F.logsigmoid``: computed as
    ``min(x, 0) - log1p(exp(-|x|))``: finite for every finite ``x``, and accurate at
    both ends (about ``x`` for very negative ``x``, ``-exp(-x)`` for large ``x``); the
    gradient is ``sigmoid(-x)``."""
    x = _float_array(x, "log_sigmoid")
    return -softplus_core(-x)


def leaky_relu(x: Any, negative_slope: float = 0.01):
    """``x`` where ``x > 0``, else ``negative_slope * x``, as PyTorch's ``F.leaky_relu``.

    The gradient at 0 is ``negative_slope`` (PyTorch's choice).
    """
    slope = check_number(negative_slope, "negative_slope", "leaky_relu")
    x = _float_array(x, "leaky_relu")
    return ops.where(x > 0, x, x * slope)


def elu(x: Any, alpha: float = 1.0):
    """``x`` where ``x > 0``, else ``alpha (exp(x) - 1)``, as PyTorch's ``F.elu``.

    The gradient at 0 is ``alpha`` (PyTorch's choice). ``expm1`` (as PyTorch: exact
    near 0) only sees ``x <= 0`` (the other branch reads 0), so a large ``x`` cannot
    make an ``inf`` whose zero cotangent would be ``nan``.
    """
    alpha = check_number(alpha, "alpha", "elu")
    x = _float_array(x, "elu")
    positive = x > 0
    negative = ops.where(positive, 0.0, x)
    return ops.where(positive, x, alpha * expm1(negative))


def hard_tanh(x: Any, min_val: float = -1.0, max_val: float = 1.0):
    """``x`` clipped to ``[min_val, max_val]``, as PyTorch's ``F.hardtanh``.

    The gradient is 1 strictly inside the interval and 0 outside and at both
    ends (PyTorch's choice). Integer inputs become float32.
    """
    low = check_number(min_val, "min_val", "hard_tanh")
    high = check_number(max_val, "max_val", "hard_tanh", minimum=low)
    x = _float_array(x, "hard_tanh")
    return ops.where(x <= low, low, ops.where(x >= high, high, x))


def relu6(x: Any):
    """``min(max(x, 0), 6)``: ``hard_tanh(x, 0, 6)``, as PyTorch's ``F.relu6`` (gradient 0
    at 0 and at 6)."""
    return hard_tanh(x, 0.0, 6.0)


__all__ = ["elu", "hard_tanh", "leaky_relu", "log_sigmoid", "relu6", "silu", "softplus"]
