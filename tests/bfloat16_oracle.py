"""An exact oracle for tcomp's conversion to bfloat16, in Python Fractions (test helper).

Independent of tcomp and of ml_dtypes: it builds every bfloat16 magnitude
from its bit pattern as a Fraction, finds the two neighbours of the exact
source value and picks the nearer, the even pattern (even mantissa) on a
tie. ``0x7f80`` stands for ``2**128``, the step after the largest finite
bfloat16, so values from the midpoint ``(2 - 2**-8) * 2**127`` on round to
infinity by the same rule.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from fractions import Fraction

INFINITY = 0x7F80
QUIET_NAN = 0x7FC0


def bf16_magnitude(pattern: int) -> Fraction:
    """The exact value of a non-negative bfloat16 pattern (0x7f80 is 2**128)."""
    exponent, mantissa = pattern >> 7, pattern & 0x7F
    if exponent == 0:
        return Fraction(mantissa, 2**133)  # subnormal: mantissa * 2**-133
    return Fraction(128 + mantissa) * Fraction(2) ** (exponent - 134)  # 1.m * 2**(e - 127)


GRID = [bf16_magnitude(pattern) for pattern in range(INFINITY + 1)]


def midpoint(pattern: int) -> Fraction:
    """The value halfway between ``pattern`` and the next bfloat16 magnitude."""
    return (GRID[pattern] + GRID[pattern + 1]) / 2


def oracle_bits(x: float | int) -> int:
    """The bfloat16 pattern of ``x`` (a float or an int, taken exactly) by tcomp's rule."""
    sign = 0x8000 if math.copysign(1.0, x) < 0 else 0
    if isinstance(x, float) and math.isnan(x):
        return sign | QUIET_NAN
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
