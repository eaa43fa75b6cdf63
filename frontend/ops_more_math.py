"""More numpy math functions of the ``tcomp`` namespace, composed from tcomp's ops (issue 15).

``exp2 log2 log10 tan reciprocal rsqrt copysign fmod trunc_divide mod logaddexp
logaddexp2 lerp isclose allclose``. Each is a few calls of ``tcomp.frontend.ops`` and ``math_ops``,
so it works inside ``jit``, eagerly on numpy arrays and ``tcomp.Array``, on every
backend, and gets its gradient from autodiff of those calls. As everywhere in
tcomp, the float functions give float32 for int and bool inputs (numpy gives
float64), and a Python scalar takes the dtype of the array it meets.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.bitwise_ops import logical_and, logical_or
from tcomp.frontend.dispatch import (
    broadcast_shapes,
    cast,
    materialize,
    operand,
    result_dtype,
    shape_of,
    to_float,
    user_error,
)
from tcomp.frontend.math_ops import isfinite, isnan, log1p, trunc
from tcomp.ir.errors import TcompTypeError
from tcomp.ir.types import is_float

LN2 = math.log(2.0)
LN10 = math.log(10.0)


def _float_unary(x: Any, name: str):
    """``x`` as a tracer or Array of a float dtype (ints and bools as float32)."""
    return to_float(materialize(operand(x, name)))


def _float_operands(name: str, *args: Any) -> list[Any]:
    """The operands of a float function of several arrays, in their common float dtype
    (numpy's promotion, ints and bools as float32; a Python scalar takes the dtype of the
    array it meets)."""
    values = [operand(a, name) for a in args]
    broadcast_shapes(name, *(shape_of(v) for v in values))  # the error names this function
    dtype = result_dtype(*values)
    target = dtype if is_float(dtype) else "float32"
    return [materialize(cast(v, target)) for v in values]


# ---------------------------------------------------------------------------
# Powers, logarithms, trigonometry


def exp2(x: Any):
    """``2 ** x``, elementwise (numpy's ``exp2``): ``power(2, x)``, so whole ``x`` give
    exact powers of two. Gradient ``2 ** x * ln 2``."""
    return ops.power(2.0, _float_unary(x, "exp2"))


def log2(x: Any):
    """The base-2 logarithm, elementwise (numpy's ``log2``): ``log(x) / ln 2``, within a few
    ulp of numpy's (exact powers of two may be off by an ulp). ``log2(0) = -inf``,
    negative ``x`` give NaN."""
    return ops.log(_float_unary(x, "log2")) * (1.0 / LN2)


def log10(x: Any):
    """The base-10 logarithm, elementwise (numpy's ``log10``): ``log(x) / ln 10``, within a
    few ulp of numpy's."""
    return ops.log(_float_unary(x, "log10")) * (1.0 / LN10)


def tan(x: Any):
    """The tangent, elementwise (numpy's ``tan``): ``sin(x) / cos(x)``. Gradient
    ``1 / cos(x) ** 2``."""
    x = _float_unary(x, "tan")
    return ops.sin(x) / ops.cos(x)


def reciprocal(x: Any):
    """``1 / x``, elementwise. Integer and bool inputs give float32 (``1 / 2 == 0.5``, as
    PyTorch's ``reciprocal``; numpy's integer ``reciprocal`` truncates to 0 instead).
    ``1 / 0 = inf``."""
    return ops.divide(1.0, _float_unary(x, "reciprocal"))


def rsqrt(x: Any):
    """``1 / sqrt(x)``, elementwise (PyTorch's ``rsqrt``; numpy has none). ``rsqrt(0) =
    inf``, negative ``x`` give NaN."""
    return ops.divide(1.0, ops.sqrt(_float_unary(x, "rsqrt")))


# ---------------------------------------------------------------------------
# Signs and remainders


def _sign_bit(y: Any):
    """Whether the float ``y`` is negative, ``-0.0`` and ``-inf`` included (``1 / -0.0`` is
    ``-inf``); a NaN counts as positive (its sign bit is not visible to tcomp's ops)."""
    zero = ops.equal(y, 0)
    return ops.where(zero, ops.less(ops.divide(1.0, ops.where(zero, y, 1.0)), 0), ops.less(y, 0))


def copysign(x: Any, y: Any):
    """``|x|`` with the sign of ``y``, elementwise (numpy's ``copysign``): ``-0.0`` in ``y``
    counts as negative, as numpy. Differs from numpy for a NaN ``y``: its sign is taken as
    positive (numpy reads its sign bit). Gradient by ``x``: ``sign(x) * sign(y)``, 0 at
    ``x == 0`` (PyTorch's); none by ``y``."""
    x, y = _float_operands("copysign", x, y)
    magnitude = ops.abs(x)
    return ops.where(_sign_bit(ops.stop_gradient(y)), ops.negative(magnitude), magnitude)


def fmod(x: Any, y: Any):
    """The C library's ``fmod``, elementwise (numpy's ``fmod``): ``x - trunc(x / y) * y``,
    with the sign of the dividend ``x`` (``fmod(-7, 3) == -1``, where ``remainder``/``mod``
    give 2, the divisor's sign).

    Floats: exact (computed as ``remainder(|x|, |y|)`` with ``x``'s sign); a zero ``y`` or
    an infinite ``x`` gives NaN, an infinite ``y`` gives ``x``. Integers: a zero divisor
    gives 0 (numpy's result, without its warning). Gradient ``(1, -trunc(x / y))``. bool
    inputs are refused, as by ``remainder``.
    """
    a, b = operand(x, "fmod"), operand(y, "fmod")
    broadcast_shapes("fmod", shape_of(a), shape_of(b))
    dtype = result_dtype(a, b)
    if dtype == "bool":
        raise user_error(
            TcompTypeError,
            "fmod: not defined on bool arrays (numpy computes it in int8); convert first, "
            "e.g. x.astype('int32')",
        )
    if not is_float(dtype):
        r = ops.remainder(a, b)  # the divisor's sign: move it to the dividend's
        wrong_side = logical_and(ops.not_equal(r, 0), ops.not_equal(ops.less(r, 0), ops.less(a, 0)))
        return ops.where(wrong_side, ops.subtract(r, b), r)
    a, b = _float_operands("fmod", a, b)
    r = ops.remainder(ops.abs(a), ops.abs(b))
    return ops.where(_sign_bit(ops.stop_gradient(a)), ops.negative(r), r)


def trunc_divide(x: Any, y: Any):
    """Division rounded toward zero, elementwise: C's integer ``/``, PyTorch's
    ``div(x, y, rounding_mode="trunc")``, ``jax.lax.div`` (numpy has no such function;
    its ``floor_divide`` rounds toward -inf: ``trunc_divide(-7, 2) == -3``,
    ``floor_divide(-7, 2) == -4``).

    Integers: ``(x - fmod(x, y)) // y``, exact; a zero divisor gives 0 and
    ``INT_MIN / -1`` wraps to ``INT_MIN``, as ``floor_divide``. Floats: ``trunc(x / y)``
    (inf and NaN as ``x / y`` gives them); no gradient (piecewise constant, as
    ``floor_divide``). bool inputs are refused.
    """
    a, b = operand(x, "trunc_divide"), operand(y, "trunc_divide")
    broadcast_shapes("trunc_divide", shape_of(a), shape_of(b))
    dtype = result_dtype(a, b)
    if dtype == "bool":
        raise user_error(
            TcompTypeError,
            "trunc_divide: not defined on bool arrays; convert first, e.g. x.astype('int32')",
        )
    if not is_float(dtype):
        return ops.floor_divide(ops.subtract(a, fmod(a, b)), b)
    a, b = _float_operands("trunc_divide", a, b)
    return trunc(ops.divide(a, b))


def mod(x: Any, y: Any):
    """numpy's ``mod``: another name of :func:`tcomp.remainder` (the divisor's sign)."""
    return ops.remainder(x, y)


# ---------------------------------------------------------------------------
# Log-sum-exp of two, interpolation


def _logaddexp_core(x: Any, y: Any, scale: float):
    """``max + log1p(exp(-|x - y| * scale)) / scale`` without NaN at equal infinities: where
    ``x == y`` the difference is taken as 0, so ``logaddexp(-inf, -inf) = -inf`` and the
    gradient there is ``maximum``'s half and half (the true derivative at a tie)."""
    tie = ops.equal(x, y)
    difference = ops.where(tie, 0.0, ops.subtract(x, y))
    correction = log1p(ops.exp(ops.abs(difference) * -scale))
    if scale != 1.0:
        correction = correction * (1.0 / scale)
    return ops.maximum(x, y) + correction


def logaddexp(x: Any, y: Any):
    """``log(exp(x) + exp(y))``, elementwise and without overflow (numpy's ``logaddexp``):
    ``max(x, y) + log1p(exp(-|x - y|))``. ``logaddexp(-inf, -inf) = -inf``, NaN in gives
    NaN. Gradient ``(sigmoid(x - y), sigmoid(y - x))``, half and half at ``x == y``."""
    x, y = _float_operands("logaddexp", x, y)
    return _logaddexp_core(x, y, 1.0)


def logaddexp2(x: Any, y: Any):
    """``log2(2 ** x + 2 ** y)``, elementwise and without overflow (numpy's
    ``logaddexp2``): ``max(x, y) + log1p(2 ** -|x - y|) / ln 2``."""
    x, y = _float_operands("logaddexp2", x, y)
    return _logaddexp_core(x, y, LN2)


def lerp(start: Any, end: Any, weight: Any):
    """Linear interpolation ``start + weight * (end - start)``, elementwise, as PyTorch's
    ``torch.lerp`` (numpy has no ``lerp``). As PyTorch, computed as ``end - (end - start) *
    (1 - weight)`` where ``|weight| >= 0.5``, so ``weight == 1`` gives ``end`` exactly.
    The three broadcast together; dtypes follow numpy's promotion (PyTorch asks for
    equal dtypes), ints as float32. Gradients ``(1 - weight, weight, end - start)``."""
    start, end, weight = _float_operands("lerp", start, end, weight)
    delta = ops.subtract(end, start)
    low = ops.add(start, ops.multiply(weight, delta))
    high = ops.subtract(end, ops.multiply(delta, ops.subtract(1.0, weight)))
    return ops.where(ops.less(ops.abs(weight), 0.5), low, high)


# ---------------------------------------------------------------------------
# Closeness


def _tolerance(value: Any, name: str, op: str) -> float:
    """``value`` as a Python float: a number known when tracing."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise user_error(
            TcompTypeError,
            f"{op}: {name} must be a Python number known when tracing, got {value!r}",
        )
    return float(value)


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """numpy's ``isclose``: ``|a - b| <= atol + rtol * |b|`` elementwise (not symmetric:
    ``b`` is the reference), as a bool array. Infinities are close only to themselves;
    NaN is close to nothing unless ``equal_nan``, which makes two NaNs close. Computed in
    the inputs' common float dtype (ints and bools as float32). ``rtol`` and ``atol``
    are Python numbers. No gradient (a predicate)."""
    op = "isclose"
    rtol, atol = _tolerance(rtol, "rtol", op), _tolerance(atol, "atol", op)
    if not isinstance(equal_nan, bool):
        raise user_error(
            TcompTypeError, f"{op}: equal_nan must be True or False, got {equal_nan!r}"
        )
    x, y = _float_operands(op, a, b)
    within = ops.less_equal(ops.abs(ops.subtract(x, y)), atol + rtol * ops.abs(y))
    close = logical_or(logical_and(within, isfinite(y)), ops.equal(x, y))
    if equal_nan:
        close = logical_or(close, logical_and(isnan(x), isnan(y)))
    return close


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """numpy's ``allclose``: whether :func:`isclose` holds everywhere, as a 0-d bool
    ``tcomp.Array`` (or traced value; numpy returns a Python bool: ``bool(result)`` gives
    one eagerly)."""
    from tcomp.frontend.composite_reductions import all as all_of  # it builds on ops

    return all_of(isclose(a, b, rtol, atol, equal_nan))


__all__ = [
    "allclose",
    "copysign",
    "exp2",
    "fmod",
    "isclose",
    "lerp",
    "log10",
    "log2",
    "logaddexp",
    "logaddexp2",
    "mod",
    "reciprocal",
    "rsqrt",
    "tan",
]
