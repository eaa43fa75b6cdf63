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
- ``max``, ``min``, ``neg`` and ``abs`` of bfloat16 values are bfloat16
  values already (one of the operands, or it with another sign), so their
  rounding is only the NaN rule (:func:`canonical_nan`, four operations
  instead of nine; :func:`exact_on_bfloat16` recognises them)::

      bits16 = isnan(x) ? sign | 0x7fc0 : bits >> 16

- the sum, difference, product or quotient of two bfloat16 values rounds
  in seven operations instead of nine (:func:`round_arithmetic_to_bfloat16`):
  a NaN it gives is a quiet NaN whose low 16 bits are zero (LLVM's NaN
  rules: an operand's payload, quieted, or the preferred NaN; the operands'
  low halves are zero), which the rounding bias leaves as it is, so clearing
  its payload bits is one mask::

      bits16 = ((bits + 0x7fff + odd) & (isnan(x) ? 0xffc00000 : 0xffff0000)) >> 16

  Without the mask (five operations) the value is the same but for a NaN's
  payload. Where such a value is an operand of another bfloat16 op, that op
  takes this *uncanonical twin* (:func:`arithmetic_operand`): a NaN's payload
  changes no op's result but the NaN's own payload, and every bfloat16 op
  makes its result's NaN canonical, so the bits are those of rounding each
  op fully; LLVM drops the masked value where nothing else reads it (a
  chain ``a * b + c`` masks once, at its end).

- a max/min reduction ``acc = max(acc, v)`` whose accumulator starts at a
  constant keeps ``acc`` a bfloat16 value with canonical NaNs if each ``v``
  is made canonical before the ``llvm.maximum``: the update is then a plain
  ``llvm.maximum`` recurrence, which LLVM vectorises as it does float32's
  (``stmts.py``; a NaN operand's result is an operand, so still canonical).

Before: ``%out[i] = %x[i] + %y[i]`` on ``bf16``. After (per element)::

    %a = bitcast (shl (zext i16 %x.i to i32), 16) to float       ; load, exact
    %b = ... same for %y.i
    %s = fadd float %a, %b                                        ; in float32
    %r = round_to_bfloat16(%s)                                    ; the bf16 result
    store i16 (trunc (lshr (bitcast float %r to i32), 16)), ptr %out.i
"""

from __future__ import annotations

import weakref

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


def canonical_nan(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """``value`` (a bfloat16 value but for a NaN's payload) rounded to bfloat16: itself,
    or the quiet NaN of its sign when it is a NaN (see the module docstring)."""
    b = builder
    bits = b.bitcast(value, I32)
    quiet = b.or_(b.and_(bits, ir.Constant(I32, _SIGN)), ir.Constant(I32, _QUIET_NAN))
    is_nan = b.fcmp_unordered("uno", value, value)
    return b.select(is_nan, b.bitcast(quiet, F32), value)


_EXACT_CALLS = frozenset({"llvm.maximum.f32", "llvm.minimum.f32", "llvm.fabs.f32"})


def exact_on_bfloat16(result: ir.Value, operands: list[ir.Value]) -> bool:
    """Whether ``result`` is ``max``, ``min``, ``abs`` or ``neg`` of ``operands`` (bfloat16
    register values) directly, so a bfloat16 value unless it is a NaN."""
    if isinstance(result, ir.CallInstr):
        name = getattr(result.callee, "name", None)
        arguments = result.args
    elif isinstance(result, ir.Instruction) and result.opname == "fneg":
        name, arguments = "fneg", result.operands
    else:
        return False
    if name != "fneg" and name not in _EXACT_CALLS:
        return False
    return all(any(argument is operand for operand in operands) for argument in arguments)


_ARITHMETIC = frozenset({"fadd", "fsub", "fmul", "fdiv"})


def round_arithmetic_to_bfloat16(
    builder: ir.IRBuilder, value: ir.Value, operands: list[ir.Value]
) -> ir.Value | None:
    """``value`` rounded as :func:`round_to_bfloat16` does, in fewer operations, when it is
    an ``fadd``/``fsub``/``fmul``/``fdiv`` of ``operands`` (bfloat16 register values; see
    the module docstring); None for any other ``value``."""
    if not (isinstance(value, ir.Instruction) and value.opname in _ARITHMETIC):
        return None
    if not all(any(o is operand for operand in operands) for o in value.operands):
        return None
    b = builder
    bits = b.bitcast(value, I32)
    odd = b.and_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 1))
    biased = b.add(b.add(bits, ir.Constant(I32, 0x7FFF)), odd)
    is_nan = b.fcmp_unordered("uno", value, value)
    # a NaN keeps its sign, exponent and quiet bit: the quiet NaN of its sign
    mask = b.select(is_nan, ir.Constant(I32, _SIGN | _QUIET_NAN), ir.Constant(I32, _UPPER))
    rounded = b.bitcast(b.and_(biased, mask), F32)
    _BIASED[rounded] = biased
    return rounded


# a rounded bfloat16 sum, difference, product or quotient -> its biased bits, from which
# its uncanonical twin is made (the module docstring); entries go with their IR
_BIASED: weakref.WeakKeyDictionary[ir.Value, ir.Value] = weakref.WeakKeyDictionary()


def arithmetic_operand(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """What a bfloat16 op takes for its operand ``value`` (a bfloat16 register value):
    the uncanonical twin of a rounded sum, difference, product or quotient (rendered
    here, from the bits the rounding biased; see the module docstring), else ``value``."""
    biased = _BIASED.get(value)
    if biased is None:
        return value
    return builder.bitcast(builder.and_(biased, ir.Constant(I32, _UPPER)), F32)


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
