"""Integer ``pow`` (int32, int64) as LLVM IR, for :mod:`tcomp.backends.llvm.exprs`: exact, straight-line.

tcomp's definition (``ir/primitives/elementwise.py``, ``integer_power``), which every
backend computes:

- ``y >= 0``: the exact power wrapped to its width (LLVM's ``mul`` without ``nsw`` wraps,
  as numpy's integer power does);
- ``y < 0``: the exact ``1 / x ** -y`` truncated toward zero: 1 for ``x == 1``, 1 or -1
  for ``x == -1`` (``y`` even, odd), 0 otherwise (``x == 0`` too).

Binary exponentiation over the 31 (63) bits a non-negative int32 (int64) has, unrolled into
selects rather than a loop, so a kernel stays one basic block and vectorises (and a
constant exponent folds to a few multiplications)::

    r = 1; p = x
    for bit in 0..30: r = select(y & (1 << bit) != 0, r * p, r); p = p * p
    result = select(y < 0, select(x == 1, 1, select(x == -1, (y & 1) ? -1 : 1, 0)), r)
"""

from __future__ import annotations

from llvmlite import ir


def int_power(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """``x ** y`` on two ``i32`` (or ``i64``) values by tcomp's integer definition
    (module docstring)."""
    ty = x.type
    exponent_bits = ty.width - 1  # the bits of a non-negative value
    zero, one, minus_one = ir.Constant(ty, 0), ir.Constant(ty, 1), ir.Constant(ty, -1)
    result, power = one, x
    for bit in range(exponent_bits):
        has_bit = builder.icmp_unsigned("!=", builder.and_(y, ir.Constant(ty, 1 << bit)), zero)
        result = builder.select(has_bit, builder.mul(result, power), result)
        if bit < exponent_bits - 1:
            power = builder.mul(power, power)
    odd = builder.icmp_unsigned("!=", builder.and_(y, one), zero)
    of_minus_one = builder.select(odd, minus_one, one)
    reciprocal = builder.select(
        builder.icmp_signed("==", x, one),
        one,
        builder.select(builder.icmp_signed("==", x, minus_one), of_minus_one, zero),
    )
    return builder.select(builder.icmp_signed("<", y, zero), reciprocal, result)
