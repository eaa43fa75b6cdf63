"""float32 ``exp`` and ``tanh`` as inline LLVM IR that the loop vectoriser turns into straight vector code.

glibc's vector ``expf`` (libmvec) is a call per 16 lanes; this is the same
kind of algorithm written out where it is used (the scheme of Arm's
optimized-routines vector ``expf``), so LLVM schedules it with the rest of
the loop body:

    n  = round(x / ln 2)                  (x * InvLn2 + 1.5 * 2**23, the shift trick)
    r  = x - n * ln2_hi - n * ln2_lo      (|r| <= ln 2 / 2, two fmas)
    p  = r + C3 r**2 + C2 r**3 + C1 r**4 + C0 r**5     (minimax, fmas)
    exp(x) = 2**n * (1 + p)               (2**n as two exponent-field floats,
                                           so 2**-150 .. 2**128 need no branch)

Accuracy, measured against float64 ``exp`` on 5 million float32 points of
[-87, 88.5] and a million of the denormal range: at most 1.9 ulp, 0.63 ulp
on average (numpy's own float32 ``exp`` is at most 2.5 ulp on the same
points). Inputs are clamped to [-104, 89] first: below, the result rounds to
0; above, it overflows to infinity, as ``exp`` does; a NaN stays NaN.

``tanh(x) = sign(x) * -t / (t + 2)`` with ``t = expm1(-2|x|)``, and ``expm1``
from the same reduction as ``2**n * expm1(r) + (2**n - 1)`` with a Taylor
polynomial for ``expm1(r)`` (exact at 0, so small ``x`` keep their relative
accuracy; ``|x|`` is clamped to 9, where ``tanh`` is 1 in float32), the
division corrected by a Newton step on its residual. Measured the same way
(a million points per range): at most 2.1 ulp, 0.5 on average (numpy's own
float32 ``tanh``: 1.4 ulp).
"""

from __future__ import annotations

import math

from llvmlite import ir

F32 = ir.FloatType()
I32 = ir.IntType(32)


def _c(text: str) -> ir.Constant:
    return ir.Constant(F32, float.fromhex(text))


INV_LN2 = "0x1.715476p+0"
LN2_HI = "0x1.62e4p-1"
LN2_LO = "0x1.7f7d1cp-20"
SHIFT = "0x1.8p23"
POLY = ("0x1.0e4020p-7", "0x1.573e2ep-5", "0x1.555e66p-3", "0x1.fffdb6p-2", "0x1.ffffecp-1")
LOW, HIGH = "-0x1.ap+6", "0x1.64p+6"  # -104 and 89
TANH_LIMIT = "0x1.2p+3"  # 9: tanh(9) rounds to 1 in float32
# expm1(r) = r * (1 + r/2 + r**2/6 + ... + r**6/5040), Horner from the innermost: exact
# at r = 0 (the exp polynomial's leading coefficient is not 1, costing ~10 ulp here)
EXPM1_TAYLOR = tuple(float.hex(1.0 / math.factorial(k)) for k in range(7, 0, -1))


def _reduced(builder: ir.IRBuilder, fma, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """``(p, k)`` with ``exp(x) = 2**k * (1 + p)``, ``|x|`` at most about 150 (``k`` an i32)."""
    b = builder
    z = fma(x, _c(INV_LN2), _c(SHIFT))
    n = b.fsub(z, _c(SHIFT))
    r = fma(b.fneg(n), _c(LN2_HI), x)
    r = fma(b.fneg(n), _c(LN2_LO), r)
    r2 = b.fmul(r, r)
    c0, c1, c2, c3, c4 = (_c(text) for text in POLY)
    p = fma(c2, r, c3)
    q = fma(c0, r, c1)
    q = fma(q, r2, p)
    return fma(q, r2, b.fmul(c4, r)), b.fptosi(n, I32)


def _power_of_two(builder: ir.IRBuilder, k: ir.Value) -> ir.Value:
    """``2**k`` for an i32 ``k`` in [-126, 127]."""
    b = builder
    return b.bitcast(b.shl(b.add(k, ir.Constant(I32, 127)), ir.Constant(I32, 23)), F32)


def exp_f32(builder: ir.IRBuilder, fma, minimum, maximum, x: ir.Value) -> ir.Value:
    """``exp(x)`` for a float ``x``; ``fma(a, b, c)``, ``minimum`` and ``maximum`` build the
    ``llvm.fma`` / ``llvm.minnum`` / ``llvm.maxnum`` calls of ``x``'s type."""
    b = builder
    clamped = minimum(maximum(x, _c(LOW)), _c(HIGH))  # minnum/maxnum drop a NaN: see the end
    poly, k = _reduced(b, fma, clamped)  # |k| <= 151 after the clamp: two scale factors
    k1 = b.ashr(k, ir.Constant(I32, 1))
    s1, s2 = _power_of_two(b, k1), _power_of_two(b, b.sub(k, k1))
    result = b.fmul(fma(poly, s1, s1), s2)
    return b.select(b.fcmp_unordered("uno", x, x), x, result)


def tanh_f32(builder: ir.IRBuilder, fma, minimum, fabs, copysign, x: ir.Value) -> ir.Value:
    """``tanh(x)`` for a float ``x`` (see the module docstring); ``fabs`` and ``copysign``
    build ``llvm.fabs`` / ``llvm.copysign``."""
    b = builder
    magnitude = minimum(fabs(x), _c(TANH_LIMIT))  # minnum drops a NaN: see the end
    y = b.fmul(magnitude, _c("-0x1p+1"))  # tanh(a) = -t / (t + 2), t = expm1(-2a)
    z = fma(y, _c(INV_LN2), _c(SHIFT))
    n = b.fsub(z, _c(SHIFT))
    r = fma(b.fneg(n), _c(LN2_HI), y)
    r = fma(b.fneg(n), _c(LN2_LO), r)
    q = _c(EXPM1_TAYLOR[0])
    for coefficient in EXPM1_TAYLOR[1:]:
        q = fma(r, q, _c(coefficient))
    small = b.fmul(r, q)  # expm1(r), |r| <= ln 2 / 2, to float32's relative accuracy
    scale = _power_of_two(b, b.fptosi(n, I32))  # n in [-26, 0]
    t = fma(small, scale, b.fsub(scale, _c("0x1p+0")))  # 2**n * expm1(r) + (2**n - 1)
    # -t / (t + 2) with the rounding of t + 2 and of the quotient corrected: d = hi + lo
    # exactly (two-sum, |t| < 2), then one Newton step on the residual -t - q d
    two = _c("0x1p+1")
    hi = b.fadd(t, two)
    lo = b.fadd(b.fsub(two, hi), t)
    q = b.fdiv(b.fneg(t), hi)
    residual = fma(b.fneg(q), lo, fma(b.fneg(q), hi, b.fneg(t)))
    value = b.fadd(q, b.fdiv(residual, hi))
    return b.select(b.fcmp_unordered("uno", x, x), x, copysign(value, x))
