"""More activation functions of ``tcomp.nn`` (PyTorch's ``torch.nn.functional`` definitions,
issue 15): ``celu selu hardsigmoid hardswish mish softsign quick_gelu softmin`` and
PyTorch's spellings of existing ones (``swish logsigmoid hardtanh``).

Compositions of tcomp array functions, so they trace, differentiate and compile on every
backend; integer and bool inputs become float32. Where a function has a kink its
docstring gives the gradient there: PyTorch's (``torch.autograd``) value in each case,
chosen by ``where`` so that no NaN of the branch not taken leaks.
"""

from __future__ import annotations

from typing import Any

from tcomp.frontend import ops
from tcomp.frontend.dispatch import normalize_axis, shape_of, user_error
from tcomp.frontend.math_ops import expm1
from tcomp.frontend.nn_activations import hard_tanh, log_sigmoid, silu
from tcomp.frontend.nn_common import _float_array, _max_shift, check_number, softplus_core
from tcomp.ir.errors import TcompArgumentError

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

swish = silu
logsigmoid = log_sigmoid
hardtanh = hard_tanh


def _elu_like(x: Any, alpha: float, input_scale: float):
    """``x`` where ``x > 0``, else ``alpha * expm1(x * input_scale)`` (``expm1`` sees only
    ``x <= 0``, so a large ``x`` makes no ``inf``)."""
    positive = ops.greater(x, 0)
    negative = ops.where(positive, 0.0, x)
    scaled = negative * input_scale if input_scale != 1.0 else negative
    return ops.where(positive, x, alpha * expm1(scaled))


def celu(x: Any, alpha: float = 1.0):
    """CELU, PyTorch's ``F.celu``: ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.
    ``alpha`` must not be 0. Continuously differentiable: the gradient at 0 is 1 from
    both sides (PyTorch's value)."""
    alpha = check_number(alpha, "alpha", "celu")
    if alpha == 0:
        raise user_error(TcompArgumentError, "celu: alpha must not be 0 (it divides x)")
    x = _float_array(x, "celu")
    return _elu_like(x, alpha, 1.0 / alpha)


def selu(x: Any):
    """SELU, PyTorch's ``F.selu``: ``scale * elu(x, alpha)`` with PyTorch's constants
    ``alpha = 1.67326...``, ``scale = 1.05070...``. The gradient at 0 is ``scale *
    alpha`` (the negative side's, PyTorch's choice, as ``elu``)."""
    x = _float_array(x, "selu")
    return SELU_SCALE * _elu_like(x, SELU_ALPHA, 1.0)


def hardsigmoid(x: Any):
    """PyTorch's ``F.hardsigmoid``: ``relu6(x + 3) / 6``, i.e. 0 for ``x <= -3``, 1 for
    ``x >= 3``, ``x / 6 + 1/2`` between. The gradient is ``1/6`` strictly inside
    ``(-3, 3)`` and 0 outside and at both ends, PyTorch's choice and ``hard_tanh``'s /
    ``relu6``'s convention (not ``clip``'s, which passes the gradient at a bound)."""
    x = _float_array(x, "hardsigmoid")
    inside = ops.add(ops.multiply(x, 1.0 / 6.0), 0.5)
    return ops.where(
        ops.less_equal(x, -3.0), 0.0, ops.where(ops.greater_equal(x, 3.0), 1.0, inside)
    )


def hardswish(x: Any):
    """PyTorch's ``F.hardswish``: ``x * relu6(x + 3) / 6``: 0 for ``x < -3``, ``x`` for ``x
    > 3``, ``x (x + 3) / 6`` between. Gradient ``x / 3 + 1/2`` on the closed ``[-3, 3]``
    (so -0.5 at -3 and 1.5 at 3, PyTorch's values), 0 below and 1 above."""
    x = _float_array(x, "hardswish")
    middle = ops.multiply(x, ops.add(x, 3.0)) * (1.0 / 6.0)
    return ops.where(ops.less(x, -3.0), 0.0, ops.where(ops.less_equal(x, 3.0), middle, x))


def mish(x: Any):
    """Mish, PyTorch's ``F.mish``: ``x * tanh(softplus(x))``, with ``softplus`` computed
    without overflow (``max(x, 0) + log1p(exp(-|x|))``). Smooth everywhere."""
    x = _float_array(x, "mish")
    return x * ops.tanh(softplus_core(x))


def softsign(x: Any):
    """PyTorch's ``F.softsign``: ``x / (1 + |x|)``. Gradient ``1 / (1 + |x|) ** 2`` (1 at
    0)."""
    x = _float_array(x, "softsign")
    return x / (1.0 + ops.abs(x))


def quick_gelu(x: Any):
    """The sigmoid approximation of GELU used by CLIP and Hugging Face's ``QuickGELU``:
    ``x * sigmoid(1.702 x)`` (not in ``torch.nn.functional``)."""
    x = _float_array(x, "quick_gelu")
    return x * ops.sigmoid(x * 1.702)


def softmin(x: Any, axis: int = -1):
    """PyTorch's ``F.softmin`` (its ``dim`` is ``axis`` here, as ``softmax``'s):
    ``softmax(-x)`` along ``axis``, min-shifted so it cannot overflow."""
    x = _float_array(x, "softmin")
    axis = normalize_axis("softmin", axis, len(shape_of(x)))
    negated = ops.negative(x)
    shifted = ops.exp(negated - _max_shift(negated, axis))
    return shifted / ops.sum(shifted, axis=axis, keepdims=True)


__all__ = [
    "celu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "logsigmoid",
    "mish",
    "quick_gelu",
    "selu",
    "softmin",
    "softsign",
    "swish",
]
