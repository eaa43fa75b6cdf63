"""Kernel-IR math functions and bitwise ops as LLVM IR, for :mod:`tcomp.backends.llvm.exprs`.

Math functions (``MATH_OPS`` of :mod:`tcomp.ir.kernel.ops`) on float and double
(float16 and bfloat16 reach here widened to float; the caller rounds back):

- ``floor``, ``ceil``, ``trunc``, ``rint``: LLVM's ``llvm.floor`` / ``llvm.ceil`` /
  ``llvm.trunc`` / ``llvm.roundeven`` (halves to even): one exact instruction each
  with SSE4.1, vectorised by LLVM itself;
- ``sinh``, ``cosh``, ``asin``, ``acos``, ``atan``: LLVM's intrinsics of those
  names, which code generation turns into calls to libm's ``sinhf``/``sinh`` ...;
- ``erf``, ``log1p``, ``expm1``, ``asinh``, ``acosh``, ``atanh``: LLVM has no
  intrinsic, so libm's ``erff``/``erf`` ... are called directly, declared
  ``nounwind readnone`` (tcomp never reads ``errno``): calls free of side effects,
  which the loop vectoriser may widen.

Every call names the libmvec vector variants the runtime found
(:mod:`tcomp.backends.llvm.vecmath`), so a loop over them vectorises; where there
are none it is a scalar call per element, with the same results.

Bitwise ops (``BITWISE_OPS``, ``bitnot``) on ``i32`` and, for ``bitand``,
``bitor``, ``bitxor`` and ``bitnot``, ``i1`` (bool: the logical ops). The shifts
are numpy's for every amount (see ``ir/primitives/bitwise.py``), never LLVM's
poison: the amount is masked to 0..31 before the shift, and a select picks 0
(``shl``) or the shift by 31 (``shr``) when it was not in 0..31::

    shl(x, s) = select(s <u 32, shl x, (s & 31), 0)
    shr(x, s) = ashr x, select(s <u 32, s, 31)
"""

from __future__ import annotations

from typing import Callable

from llvmlite import ir

from tcomp.backends.llvm.vecmath import VariantTable, declare_variants, variant_attribute
from tcomp.ir.kernel.op_table import KERNEL_OPS

# kernel-IR math op -> LLVM intrinsic base name (llvm.<name>.f32 / .f64), and the math ops
# LLVM has no intrinsic for (libm's, by name): both from the op table
INTRINSIC_MATH = {
    op: info.llvm_intrinsic
    for op, info in KERNEL_OPS.items()
    if info.category == "math" and info.llvm_intrinsic is not None
}
LIBRARY_MATH = frozenset(
    op for op, info in KERNEL_OPS.items() if info.category == "math" and info.llvm_intrinsic is None
)

# (intrinsic base name, type, arguments) -> the call, with its vector variants
IntrinsicCall = Callable[[str, ir.Type, list[ir.Value]], ir.Value]


def math_function(
    builder: ir.IRBuilder,
    call_intrinsic: IntrinsicCall,
    vector_functions: VariantTable,
    op: str,
    x: ir.Value,
) -> ir.Value:
    """``op(x)`` for a float or double ``x`` (``op`` in INTRINSIC_MATH or LIBRARY_MATH)."""
    if op in INTRINSIC_MATH:
        return call_intrinsic(INTRINSIC_MATH[op], x.type, [x])
    if op not in LIBRARY_MATH:
        raise KeyError(f"llvm backend: no math function {op!r}")
    name = f"{op}f" if x.type == ir.FloatType() else op  # libm: erff (float), erf (double)
    call = builder.call(_library_function(builder.module, name, x.type), [x])
    variants = vector_functions.get(name)
    if variants:
        declare_variants(builder.module, x.type, 1, variants)
        # llvmlite knows no string attributes: add it to the set directly
        set.add(call.attributes, variant_attribute(name, 1, variants))
    return call


def _library_function(module: ir.Module, name: str, ty: ir.Type) -> ir.Function:
    """The declaration of libm's ``name`` (one argument), without side effects."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    function = ir.Function(module, ir.FunctionType(ty, [ty]), name=name)
    function.attributes.add("nounwind")
    function.attributes.add("readnone")  # memory(none): tcomp never reads errno
    return function


# the bitwise ops that are one instruction (IRBuilder method names); the shifts are below
_LOGIC = {"bitand": "and_", "bitor": "or_", "bitxor": "xor"}


def bitwise(builder: ir.IRBuilder, op: str, a: ir.Value, c: ir.Value) -> ir.Value:
    """``op(a, c)`` for a bitwise kernel-IR op on ``i32`` / ``i64`` (or ``i1``, not the
    shifts)."""
    if op in _LOGIC:
        return getattr(builder, _LOGIC[op])(a, c)
    if op not in _SHIFTS:
        raise KeyError(f"llvm backend: no bitwise op {op!r}")
    ty = a.type
    in_range = builder.icmp_unsigned("<", c, ir.Constant(ty, ty.width))  # false for c < 0 too
    return _SHIFTS[op](builder, a, c, in_range)


def _shl(b: ir.IRBuilder, a: ir.Value, c: ir.Value, in_range: ir.Value) -> ir.Value:
    ty = a.type
    masked = b.and_(c, ir.Constant(ty, ty.width - 1))
    return b.select(in_range, b.shl(a, masked), ir.Constant(ty, 0))


def _shr(b: ir.IRBuilder, a: ir.Value, c: ir.Value, in_range: ir.Value) -> ir.Value:
    amount = b.select(in_range, c, ir.Constant(a.type, a.type.width - 1))
    return b.ashr(a, amount)


_SHIFTS = {"shl": _shl, "shr": _shr}


def bitwise_not(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``~x`` on ``i32``, ``not x`` on ``i1``: x xor all ones."""
    return builder.xor(x, ir.Constant(x.type, (1 << x.type.width) - 1))
