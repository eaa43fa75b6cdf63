"""float32 ``exp`` as inline LLVM IR that the loop vectoriser turns into straight vector code.

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
"""

from __future__ import annotations

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


def exp_f32(builder: ir.IRBuilder, fma, minimum, maximum, x: ir.Value) -> ir.Value:
    """``exp(x)`` for a float ``x``; ``fma(a, b, c)``, ``minimum`` and ``maximum`` build the
    ``llvm.fma`` / ``llvm.minnum`` / ``llvm.maxnum`` calls of ``x``'s type."""
    b = builder
    clamped = minimum(maximum(x, _c(LOW)), _c(HIGH))  # minnum/maxnum drop a NaN: see the end
    z = fma(clamped, _c(INV_LN2), _c(SHIFT))
    n = b.fsub(z, _c(SHIFT))
    r = fma(b.fneg(n), _c(LN2_HI), clamped)
    r = fma(b.fneg(n), _c(LN2_LO), r)
    r2 = b.fmul(r, r)
    c0, c1, c2, c3, c4 = (_c(text) for text in POLY)
    p = fma(c2, r, c3)
    q = fma(c0, r, c1)
    q = fma(q, r2, p)
    poly = fma(q, r2, b.fmul(c4, r))
    k = b.fptosi(n, I32)  # |n| <= 151 after the clamp
    k1 = b.ashr(k, ir.Constant(I32, 1))
    k2 = b.sub(k, k1)
    bias = ir.Constant(I32, 127)
    s1 = b.bitcast(b.shl(b.add(k1, bias), ir.Constant(I32, 23)), F32)
    s2 = b.bitcast(b.shl(b.add(k2, bias), ir.Constant(I32, 23)), F32)
    result = b.fmul(fma(poly, s1, s1), s2)
    return b.select(b.fcmp_unordered("uno", x, x), x, result)
