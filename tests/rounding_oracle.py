"""Exact oracles for rounding to the 16-bit floats, in Python Fractions (test helper).

Independent of tcomp, numpy's casts and ml_dtypes: a :class:`SmallFloat`
builds every magnitude of its format from the bit pattern as a Fraction,
finds the two neighbours of the exact source value and picks the nearer,
the even pattern (even mantissa) on a tie: one rounding from the exact
value, tcomp's definition. The pattern of infinity stands for the step
after the largest finite value (``2**128`` for bfloat16, ``2**16`` for
float16), so values from the midpoint below it on round to infinity by the
same rule.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from fractions import Fraction


class SmallFloat:
    """A binary floating-point format of 16 bits: ``mantissa_bits`` stored mantissa bits,
    the exponent ``bias``; ``nan_bits``, the pattern tcomp gives a NaN (``None``: any
    NaN of the right sign will do)."""

    def __init__(self, mantissa_bits: int, bias: int, nan_bits: int | None) -> None:
        self.mantissa_bits = mantissa_bits
        self.bias = bias
        self.nan_bits = nan_bits
        self.infinity = (0x7FFF >> mantissa_bits) << mantissa_bits  # all exponent bits set
        self.max_finite = self.infinity - 1
        self.grid = [self.magnitude(pattern) for pattern in range(self.infinity + 1)]

    def magnitude(self, pattern: int) -> Fraction:
        """The exact value of a non-negative pattern (infinity's pattern: the next step)."""
        m = self.mantissa_bits
        exponent, mantissa = pattern >> m, pattern & ((1 << m) - 1)
        if exponent == 0:  # subnormal: mantissa * 2**(1 - bias - m)
            return Fraction(mantissa, 2 ** (self.bias - 1 + m))
        return Fraction((1 << m) + mantissa) * Fraction(2) ** (exponent - self.bias - m)

    def midpoint(self, pattern: int) -> Fraction:
        """The value halfway between ``pattern`` and the next magnitude."""
        return (self.grid[pattern] + self.grid[pattern + 1]) / 2

    def oracle_bits(self, x: float | int) -> int | None:
        """The pattern of ``x`` (a float or an int, taken exactly), rounded once to
        nearest, ties to even; a NaN gives ``nan_bits`` with ``x``'s sign (or None)."""
        sign = 0x8000 if math.copysign(1.0, x) < 0 else 0
        if isinstance(x, float) and math.isnan(x):
            return None if self.nan_bits is None else sign | self.nan_bits
        if isinstance(x, float) and math.isinf(x):
            return sign | self.infinity
        value = abs(Fraction(x))
        below = bisect_right(self.grid, value) - 1  # grid[below] <= value
        if below >= self.infinity:
            return sign | self.infinity
        down, up = value - self.grid[below], self.grid[below + 1] - value
        if down == up:
            return sign | (below if below % 2 == 0 else below + 1)  # the even mantissa
        return sign | (below if down < up else below + 1)


BFLOAT16 = SmallFloat(mantissa_bits=7, bias=127, nan_bits=0x7FC0)  # a NaN: the quiet NaN
FLOAT16 = SmallFloat(mantissa_bits=10, bias=15, nan_bits=None)
