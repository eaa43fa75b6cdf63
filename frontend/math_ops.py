"""The numpy math functions of the ``tcomp`` namespace beyond ``ops.py``'s: rounding,
``erf``, ``log1p``, ``expm1``, hyperbolic and inverse trigonometric functions, and
the predicates ``isnan``, ``isinf``, ``isfinite``, ``isposinf``, ``isneginf``.

Like ``tcomp.exp``, each works inside ``jit``/``grad`` and eagerly on numpy arrays
and ``tcomp.Array``; the float functions give float32 for int32 and bool inputs
(numpy would give float64), and float16/bfloat16 are computed in float32 and
rounded once. They lower to the primitives of ``tcomp.ir.primitives.math_functions``,
whose docstring states the accuracy of each backend (a few ulp: each backend's
math library; the rounding functions are exact).
"""

from __future__ import annotations

from typing import Any

from tcomp.frontend import ops
from tcomp.frontend.dispatch import (
    bind,
    dtype_of,
    is_weak,
    materialize,
    operand,
    to_float,
    user_error,
)
from tcomp.ir.errors import TcompArgumentError
from tcomp.ir.types import is_float


def _math(op: str, public: str, x: Any):
    value = to_float(materialize(operand(x, public)))
    return bind(op, [value], weak=is_weak(value))


def _rounding(op: str, public: str, x: Any):
    value = materialize(operand(x, public))
    if not is_float(dtype_of(value)):
        return value  # an int32 or bool is already whole: itself, in its dtype (as numpy)
    return bind(op, [value], weak=is_weak(value))


# ---------------------------------------------------------------------------
# Rounding. Step functions: tcomp defines their gradient as 0 everywhere (at the
# jumps too), as JAX and PyTorch do.


def floor(x: Any):
    """The largest integer ``<= x``, elementwise. int32 and bool inputs are returned as
    they are (same dtype, as numpy). Gradient 0."""
    return _rounding("floor", "floor", x)


def ceil(x: Any):
    """The smallest integer ``>= x``, elementwise. int32 and bool inputs are returned as
    they are (same dtype, as numpy). Gradient 0."""
    return _rounding("ceil", "ceil", x)


def trunc(x: Any):
    """``x`` rounded toward zero to an integer, elementwise. int32 and bool inputs are
    returned as they are (same dtype, as numpy). Gradient 0."""
    return _rounding("trunc", "trunc", x)


def rint(x: Any):
    """``x`` rounded to the nearest integer, halves to even (``rint(2.5) == 2.0``,
    ``rint(-0.5) == -0.0``), elementwise: numpy's ``rint``. int32 and bool inputs are
    returned as they are (same dtype, as numpy). Gradient 0."""
    return _rounding("rint", "rint", x)


def round(x: Any, decimals: int = 0):
    """numpy's ``round`` with ``decimals=0``: the nearest integer, halves to even
    (``round(0.5) == 0.0``, ``round(1.5) == 2.0``), as :func:`rint`. Other ``decimals``
    are not supported. int32 and bool inputs are returned as they are. Gradient 0."""
    if isinstance(decimals, bool) or decimals != 0:
        raise user_error(
            TcompArgumentError,
            f"round: decimals={decimals!r} is not supported; tcomp rounds to whole numbers "
            "only (decimals=0, halves to even)",
        )
    return _rounding("rint", "round", x)


# ---------------------------------------------------------------------------
# erf, log1p, expm1


def erf(x: Any):
    """The error function ``2/sqrt(pi) * integral_0^x exp(-t^2) dt`` (scipy's
    ``special.erf``), elementwise, float. Gradient ``2/sqrt(pi) * exp(-x^2)``."""
    return _math("erf", "erf", x)


def log1p(x: Any):
    """``log(1 + x)``, accurate for small ``x``, elementwise, float. Gradient
    ``1 / (1 + x)``."""
    return _math("log1p", "log1p", x)


def expm1(x: Any):
    """``exp(x) - 1``, accurate for small ``x``, elementwise, float. Gradient ``exp(x)``."""
    return _math("expm1", "expm1", x)


# ---------------------------------------------------------------------------
# Hyperbolic functions and their inverses (the math library's: a primitive each)


def sinh(x: Any):
    """Hyperbolic sine, elementwise, float. Gradient ``cosh(x)``."""
    return _math("sinh", "sinh", x)


def cosh(x: Any):
    """Hyperbolic cosine, elementwise, float. Gradient ``sinh(x)``."""
    return _math("cosh", "cosh", x)


def asinh(x: Any):
    """Inverse hyperbolic sine (numpy's ``arcsinh``), elementwise, float. Gradient
    ``1 / sqrt(x^2 + 1)``."""
    return _math("asinh", "asinh", x)


def acosh(x: Any):
    """Inverse hyperbolic cosine (numpy's ``arccosh``), elementwise, float: NaN below 1.
    Gradient ``1 / sqrt((x - 1)(x + 1))``."""
    return _math("acosh", "acosh", x)


def atanh(x: Any):
    """Inverse hyperbolic tangent (numpy's ``arctanh``), elementwise, float: ``+-inf`` at
    ``+-1``, NaN beyond. Gradient ``1 / ((1 - x)(1 + x))``."""
    return _math("atanh", "atanh", x)


arcsinh, arccosh, arctanh = asinh, acosh, atanh  # numpy's names (and numpy 2's aliases)

# ---------------------------------------------------------------------------
# Inverse trigonometric functions (the math library's: a primitive each)


def arcsin(x: Any):
    """Inverse sine, in ``[-pi/2, pi/2]``, elementwise, float: NaN outside ``[-1, 1]``.
    Gradient ``1 / sqrt((1 - x)(1 + x))``."""
    return _math("asin", "arcsin", x)


def arccos(x: Any):
    """Inverse cosine, in ``[0, pi]``, elementwise, float: NaN outside ``[-1, 1]``.
    Gradient ``-1 / sqrt((1 - x)(1 + x))``."""
    return _math("acos", "arccos", x)


def arctan(x: Any):
    """Inverse tangent, in ``[-pi/2, pi/2]``, elementwise, float. Gradient
    ``1 / (1 + x^2)``."""
    return _math("atan", "arctan", x)


# ---------------------------------------------------------------------------
# Predicates: bool results, any dtype in (int32 and bool values are finite)


def isnan(x: Any):
    """True where ``x`` is NaN, elementwise (bool; never for int32 and bool inputs)."""
    return bind("isnan", [materialize(operand(x, "isnan"))])


def isinf(x: Any):
    """True where ``x`` is ``+inf`` or ``-inf``, elementwise (bool; never for int32 and
    bool inputs)."""
    return bind("isinf", [materialize(operand(x, "isinf"))])


def isfinite(x: Any):
    """True where ``x`` is neither infinite nor NaN, elementwise (bool; always for int32
    and bool inputs)."""
    return bind("isfinite", [materialize(operand(x, "isfinite"))])


def isposinf(x: Any):
    """True where ``x`` is ``+inf``, elementwise (bool; never for integer and bool
    inputs), numpy's ``isposinf``. A comparison, so it has no gradient."""
    return _is_signed_inf(x, "isposinf", float("inf"))


def isneginf(x: Any):
    """True where ``x`` is ``-inf``, elementwise (bool; never for integer and bool
    inputs), numpy's ``isneginf``. A comparison, so it has no gradient."""
    return _is_signed_inf(x, "isneginf", float("-inf"))


def _is_signed_inf(x: Any, public: str, infinity: float):
    value = materialize(operand(x, public))
    if not is_float(dtype_of(value)):
        return bind("isinf", [value])  # all False, in x's shape
    return ops.equal(value, infinity)  # the Python float takes x's dtype
