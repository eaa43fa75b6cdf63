"""An exact oracle for conversion to IEEE float16, in Python Fractions (test helper).

Independent of tcomp and of numpy's casts: it builds every float16 magnitude
from its bit pattern as a Fraction, finds the two neighbours of the exact
source value and picks the nearer, the even pattern (even mantissa) on a tie:
one rounding from the exact value, tcomp's definition (and numpy's, which
converts double to half directly). ``0x7c00`` stands for ``2**16``, the step
after the largest finite float16 (65504), so values from the midpoint 65520
on round to infinity by the same rule. Subnormals are multiples of ``2**-24``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from fractions import Fraction

INFINITY = 0x7C00
MAX_FINITE = 0x7BFF  # 65504


def f16_magnitude(pattern: int) -> Fraction:
    """The exact value of a non-negative float16 pattern (0x7c00 is 2**16)."""
    exponent, mantissa = pattern >> 10, pattern & 0x3FF
    if exponent == 0:
        return Fraction(mantissa, 2**24)  # subnormal: mantissa * 2**-24
    return Fraction(1024 + mantissa) * Fraction(2) ** (exponent - 25)  # 1.m * 2**(e - 15)


GRID = [f16_magnitude(pattern) for pattern in range(INFINITY + 1)]


def midpoint(pattern: int) -> Fraction:
    """The value halfway between ``pattern`` and the next float16 magnitude."""
    return (GRID[pattern] + GRID[pattern + 1]) / 2


def oracle_bits(x: float | int) -> int | None:
    """The float16 pattern of ``x`` (a float or an int, taken exactly), rounded once to
    nearest, ties to even; ``None`` for NaN (any float16 NaN of ``x``'s sign will do)."""
    if isinstance(x, float) and math.isnan(x):
        return None
    sign = 0x8000 if math.copysign(1.0, x) < 0 else 0
    if isinstance(x, float) and math.isinf(x):
        return sign | INFINITY
    value = abs(Fraction(x))
    below = bisect_right(GRID, value) - 1  # GRID[below] <= value
    if below >= INFINITY:
        return sign | INFINITY
    down, up = value - GRID[below], GRID[below + 1] - value
    if down == up:
        return sign | (below if below % 2 == 0 else below + 1)  # the even mantissa
    return sign | (below if down < up else below + 1)
