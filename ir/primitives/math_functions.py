"""Elementwise math primitives: rounding, erf, log1p, expm1, hyperbolic and inverse
trigonometric functions, and the float predicates isnan, isinf, isfinite.

The functions take one float tensor and give one of the same type, like ``exp``
(the frontend converts int32 and bool inputs to float32, or, for the rounding
functions, returns them unchanged). float16 and bfloat16 are computed in float32
and rounded once to the input's type, as every float primitive is
(:meth:`tcomp.ir.primitives.base.Primitive.evaluate`). numpy's function is the
reference (``erf``: Python's ``math.erf``, the C library's, as numpy has none);
the compiled backends call their math library's function of the same C99 name
(``rint``, ``asinh`` ...), so float results may differ from the reference by that
library's error: a few ulp (glibc and its vector library libmvec on llvm: at most
4 ulp; OpenCL and CUDA: their documented bounds, up to 16 ulp for OpenCL's float
``erf``). The rounding functions are exact everywhere.

- ``floor``, ``ceil``, ``trunc``; ``rint``: numpy's ``rint``/``round``, halves
  to even (C's ``rint`` in the default rounding mode, LLVM's ``roundeven``;
  never C's ``round``, which rounds halves away from zero).
- ``erf``, ``log1p``, ``expm1``, ``sinh``, ``cosh``, ``asinh``, ``acosh``,
  ``atanh``, ``asin``, ``acos``, ``atan``: numpy's ``log1p`` ... ``arcsinh`` ...
  ``arcsin``, ``arccos``, ``arctan``: NaN outside the domain, the infinities where
  numpy has them (``atanh(1) = inf``).
- ``isnan``, ``isinf``, ``isfinite``: any dtype in, bool out (an int32 or bool
  value is finite and never NaN, as in numpy).

Gradients: the rounding functions are step functions; tcomp defines their
derivative as 0 everywhere, at the jumps too (as JAX and PyTorch do). The
predicates have none (bool results). Each other rule states its derivative.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from tcomp.ir.primitives.base import Primitive, register
from tcomp.ir.primitives.elementwise import _define_unary, applied_to_inputs
from tcomp.ir.types import TensorType

if TYPE_CHECKING:
    from tcomp.ir.builder import Emitter
    from tcomp.ir.graph import Value

# ---------------------------------------------------------------------------
# Rounding: step functions, derivative 0 everywhere (None: no contribution)

for _name, _fn in [("floor", np.floor), ("ceil", np.ceil), ("trunc", np.trunc), ("rint", np.rint)]:
    _define_unary(_name, _fn, lambda b, n, ct: [None])

# ---------------------------------------------------------------------------
# erf, log1p, expm1

_ERF = np.frompyfunc(math.erf, 1, 1)  # the C library's erf, element by element


def _erf(x: np.ndarray) -> np.ndarray:
    """erf (numpy has none) in float64, then float32 for narrower floats (which compute
    in float32: the caller rounds to float16 from there)."""
    exact = np.asarray(_ERF(np.asarray(x, dtype=np.float64)), dtype=np.float64)
    return exact if x.dtype == np.float64 else exact.astype(np.float32)


def _one(b: Emitter, like: Value) -> Value:
    """1 in ``like``'s type."""
    return b.full(1, like.type)


# d erf(x) = 2 / sqrt(pi) * exp(-x^2)
_define_unary(
    "erf",
    _erf,
    lambda b, n, ct: [
        b.mul(ct, b.scale(b.exp(b.neg(b.mul(n.inputs[0], n.inputs[0]))), 2 / math.sqrt(math.pi)))
    ],
)
# d log1p(x) = 1 / (1 + x)
_define_unary("log1p", np.log1p, lambda b, n, ct: [b.div(ct, b.add(_one(b, ct), n.inputs[0]))])
# d expm1(x) = exp(x) = expm1(x) + 1
_define_unary("expm1", np.expm1, lambda b, n, ct: [b.mul(ct, b.add(n.output, _one(b, ct)))])

# ---------------------------------------------------------------------------
# Hyperbolic functions and their inverses


def _one_minus_square(b: Emitter, x: Value) -> Value:
    """``1 - x^2`` as ``(1 - x)(1 + x)``: no cancellation near |x| = 1."""
    one = _one(b, x)
    return b.mul(b.sub(one, x), b.add(one, x))


def _square_minus_one(b: Emitter, x: Value) -> Value:
    """``x^2 - 1`` as ``(x - 1)(x + 1)``: no cancellation near |x| = 1."""
    one = _one(b, x)
    return b.mul(b.sub(x, one), b.add(x, one))


# d sinh(x) = cosh(x)
_define_unary("sinh", np.sinh, lambda b, n, ct: [b.mul(ct, b.cosh(n.inputs[0]))])
# d cosh(x) = sinh(x)
_define_unary("cosh", np.cosh, lambda b, n, ct: [b.mul(ct, b.sinh(n.inputs[0]))])
# d asinh(x) = 1 / sqrt(x^2 + 1)
_define_unary(
    "asinh",
    np.arcsinh,
    lambda b, n, ct: [b.div(ct, b.sqrt(b.add(b.mul(n.inputs[0], n.inputs[0]), _one(b, ct))))],
)
# d acosh(x) = 1 / sqrt((x - 1)(x + 1))   (x > 1)
_define_unary(
    "acosh",
    np.arccosh,
    lambda b, n, ct: [b.div(ct, b.sqrt(_square_minus_one(b, n.inputs[0])))],
)
# d atanh(x) = 1 / ((1 - x)(1 + x))   (|x| < 1)
_define_unary("atanh", np.arctanh, lambda b, n, ct: [b.div(ct, _one_minus_square(b, n.inputs[0]))])

# ---------------------------------------------------------------------------
# Inverse trigonometric functions

# d asin(x) = 1 / sqrt((1 - x)(1 + x))   (|x| < 1)
_define_unary(
    "asin", np.arcsin, lambda b, n, ct: [b.div(ct, b.sqrt(_one_minus_square(b, n.inputs[0])))]
)
# d acos(x) = -1 / sqrt((1 - x)(1 + x))   (|x| < 1)
_define_unary(
    "acos",
    np.arccos,
    lambda b, n, ct: [b.neg(b.div(ct, b.sqrt(_one_minus_square(b, n.inputs[0]))))],
)
# d atan(x) = 1 / (1 + x^2)
_define_unary(
    "atan",
    np.arctan,
    lambda b, n, ct: [b.div(ct, b.add(_one(b, ct), b.mul(n.inputs[0], n.inputs[0])))],
)

# ---------------------------------------------------------------------------
# Predicates: any dtype in, bool out, no gradient


def _predicate_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    return types[0].with_dtype("bool")


for _name, _fn in [("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite)]:
    register(
        Primitive(
            _name,
            _predicate_infer,
            applied_to_inputs(_fn),
            None,
            num_inputs=1,
        )
    )
