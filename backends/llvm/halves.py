"""bfloat16 in LLVM IR: bit-level load, store, rounding and constants (llvmlite.ir only).

llvmlite has no ``bfloat`` type, and LLVM's own bfloat lowering differs
between targets, so tcomp renders bfloat16 with integer operations on the
float32 bit pattern, which every target vectorises:

- in memory a bfloat16 is an ``i16``: the upper half of the float32 bits;
- in registers it is a ``float`` that holds a value exactly representable
  in bfloat16 (every producer rounds, so the invariant holds everywhere);
- a load is exact: ``bitcast(zext(bits) << 16)``;
- a store keeps the upper half: ``trunc(bitcast(x) >> 16)`` (exact for a
  value that the invariant holds for, NaN payloads included, so a copy
  moves the bits unchanged, as numpy's copies do);
- rounding float32 to bfloat16 is round to nearest, ties to even, the
  carry of the rounding running into the exponent (the largest floats
  round to infinity), and any NaN becomes the quiet NaN of its sign
  (``0x7fc0`` with the sign bit), tcomp's rule (:mod:`tcomp.ir.bfloat16`)::

      bits16 = isnan(x) ? sign | 0x7fc0 : (bits + 0x7fff + ((bits >> 16) & 1)) >> 16

- float64 (and integers, through float64) round once too: first to float
  with round-to-odd (the nearest float toward zero, its last bit set when
  inexact: 24 bits that keep bfloat16's 8, its rounding bit and a sticky
  bit), then as above, which gives the correctly rounded bfloat16.

Before: ``%out[i] = %x[i] + %y[i]`` on ``bf16``. After (per element)::

    %a = bitcast (shl (zext i16 %x.i to i32), 16) to float       ; load, exact
    %b = ... same for %y.i
    %s = fadd float %a, %b                                        ; in float32
    %r = round_to_bfloat16(%s)                                    ; the bf16 result
    store i16 (trunc (lshr (bitcast float %r to i32), 16)), ptr %out.i
"""

from __future__ import annotations

from llvmlite import ir

from tcomp.ir.bfloat16 import bfloat16_value

I16 = ir.IntType(16)
I32 = ir.IntType(32)
F32 = ir.FloatType()

_SIGN = 0x8000_0000
_QUIET_NAN = 0x7FC0_0000  # the bf16 quiet NaN 0x7fc0, in the upper half
_UPPER = 0xFFFF_0000


def bfloat16_constant(value: object) -> ir.Constant:
    """The ``float`` register constant of ``value`` rounded to bfloat16 (as the
    reference executor rounds a constant: :func:`tcomp.ir.bfloat16.bfloat16_value`)."""
    return ir.Constant(F32, bfloat16_value(value))


def load_bfloat16(builder: ir.IRBuilder, bits: ir.Value) -> ir.Value:
    """The ``float`` register value of the ``i16`` ``bits`` (exact)."""
    wide = builder.shl(builder.zext(bits, I32), ir.Constant(I32, 16))
    return builder.bitcast(wide, F32)


def store_bfloat16(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """The ``i16`` memory bits of a bfloat16 register value (already rounded)."""
    bits = builder.lshr(builder.bitcast(value, I32), ir.Constant(I32, 16))
    return builder.trunc(bits, I16)


def round_to_bfloat16(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """The ``float`` ``value`` rounded to the nearest bfloat16 (ties to even; NaN to
    the quiet NaN of its sign), as a ``float`` again (see the module docstring)."""
    b = builder
    bits = b.bitcast(value, I32)
    odd = b.and_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 1))
    # bits + 0x7fff + odd, low half cleared: RNE on the upper half (wraps only for NaNs)
    biased = b.add(b.add(bits, ir.Constant(I32, 0x7FFF)), odd)
    rounded = b.and_(biased, ir.Constant(I32, _UPPER))
    quiet = b.or_(b.and_(bits, ir.Constant(I32, _SIGN)), ir.Constant(I32, _QUIET_NAN))
    is_nan = b.fcmp_unordered("uno", value, value)
    return b.bitcast(b.select(is_nan, quiet, rounded), F32)
