"""Constant folding on plain numbers for :mod:`tcomp.ir.kernel.expr`: an integer op on
two constants, a comparison decided by two value ranges, a range divided.

The results are exact Python numbers; :func:`tcomp.ir.kernel.expr.const` wraps an
integer result into its type (two's complement) when it builds the constant.
"""

from __future__ import annotations

import math
from typing import Union

Number = Union[int, float, bool]


def floordiv_bound(bound: float, divisor: float) -> float:
    """A range bound divided by a positive divisor, floored (infinite bounds stay)."""
    return bound if math.isinf(bound) else bound // divisor


def fold_integer(op: str, x: Number, y: Number) -> Number | None:
    """``op`` on two integer (or bool) constants, exactly; None when not folded."""
    if op == "add":
        return x + y
    if op == "sub":
        return x - y
    if op == "mul":
        return x * y
    if op == "floordiv" and y > 0:
        return x // y
    if op == "mod" and y > 0:
        return x % y
    if op == "max":
        return max(x, y)
    if op == "min":
        return min(x, y)
    comparisons = {"eq": x == y, "ne": x != y, "lt": x < y, "le": x <= y, "gt": x > y, "ge": x >= y}
    if op in comparisons:
        return comparisons[op]
    if op == "and":
        return bool(x) and bool(y)
    if op == "or":
        return bool(x) or bool(y)
    return None


def compare_ranges(op: str, lo_a: float, hi_a: float, lo_b: float, hi_b: float) -> bool | None:
    """The comparison ``a op b`` when the ranges of ``a`` and ``b`` decide it, else None."""
    if op == "lt":
        return True if hi_a < lo_b else False if lo_a >= hi_b else None
    if op == "le":
        return True if hi_a <= lo_b else False if lo_a > hi_b else None
    if op == "gt":
        return compare_ranges("lt", lo_b, hi_b, lo_a, hi_a)
    if op == "ge":
        return compare_ranges("le", lo_b, hi_b, lo_a, hi_a)
    if op == "eq" and lo_a == hi_a == lo_b == hi_b:
        return True
    return None
