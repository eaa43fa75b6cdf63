"""Integer conversions as LLVM IR, for :mod:`tcomp.backends.llvm.exprs`.

Register types: int8 and uint8 are ``i8``, int32 and uint32 ``i32``, int64 and
``index`` ``i64``; signedness lives in the kernel-IR type, not in LLVM's:

- integer -> integer: ``trunc`` to a narrower type (two's complement wrap, as
  numpy's ``astype``), ``zext`` from an unsigned type or bool, ``sext`` otherwise;
- integer -> float: ``uitofp`` from an unsigned type or bool, ``sitofp`` otherwise
  (one rounding, as numpy);
- float -> integer: tcomp's rule (``ir/primitives/elementwise.py`` ``float_to_int``):
  int32 and int64 truncate in range and give the least value for NaN and values out
  of range (``llvm.fptosi.sat`` plus a select, so never poison); int8 and uint8 are
  the int32 result wrapped (``trunc``), uint32 the int64 result wrapped.
"""

from __future__ import annotations

from typing import Callable

from llvmlite import ir

from tcomp.ir.types import UNSIGNED_DTYPES

I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F16 = ir.HalfType()
F32 = ir.FloatType()
F64 = ir.DoubleType()

# a float goes to these integer types through the wider signed one, then wraps
_THROUGH = {"int8": I32, "uint8": I32, "uint32": I64}


def is_unsigned(dtype: str) -> bool:
    """Whether ``dtype``'s values are read as unsigned (uint8, uint32, bool)."""
    return dtype in UNSIGNED_DTYPES or dtype == "bool"


def int_to_int(builder: ir.IRBuilder, x: ir.Value, source: str, ty: ir.IntType) -> ir.Value:
    """The ``source`` integer (or bool) ``x`` as the integer type ``ty`` (wrapping)."""
    if ty.width == x.type.width:
        return x
    if ty.width < x.type.width:
        return builder.trunc(x, ty)
    return builder.zext(x, ty) if is_unsigned(source) else builder.sext(x, ty)


def int_to_float(builder: ir.IRBuilder, x: ir.Value, source: str, ty: ir.Type) -> ir.Value:
    """The ``source`` integer (or bool) ``x`` rounded once to the float type ``ty``."""
    return builder.uitofp(x, ty) if is_unsigned(source) else builder.sitofp(x, ty)


Intrinsic = Callable[[str, ir.Type, list[ir.Type]], ir.Function]


def float_to_int(
    builder: ir.IRBuilder, intrinsic: Intrinsic, x: ir.Value, target: str, ty: ir.IntType
) -> ir.Value:
    """The float (or double) ``x`` as the integer ``target`` of LLVM type ``ty``, by
    tcomp's rule (module docstring)."""
    wide = _THROUGH.get(target)
    if wide is not None:
        return builder.trunc(_saturated(builder, intrinsic, x, wide), ty)
    return _saturated(builder, intrinsic, x, ty)


def _saturated(
    builder: ir.IRBuilder, intrinsic: Intrinsic, x: ir.Value, ty: ir.IntType
) -> ir.Value:
    suffix = {F32: "f32", F64: "f64"}[x.type]
    name = f"llvm.fptosi.sat.i{ty.width}.{suffix}"
    converted = builder.call(intrinsic(name, ty, [x.type]), [x])
    # x86 (and so numpy) gives the "integer indefinite" INT_MIN for NaN and out of
    # range; below the range fptosi.sat already saturates to INT_MIN
    limit = ir.Constant(x.type, float(2 ** (ty.width - 1)))
    in_range = builder.fcmp_ordered("<", x, limit)  # false for NaN
    return builder.select(in_range, converted, ir.Constant(ty, 1 << (ty.width - 1)))
