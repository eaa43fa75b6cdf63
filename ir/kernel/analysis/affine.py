"""Affine index terms: an index expression as coefficients of loop variables.

``affine_terms((i0 * 3) + r0 + 2)`` is ``({"i0": 3, "r0": 1}, 2)``; an index
that is not a sum of constant multiples of loop variables (a division, a
load, a ``let`` variable) gives None. The contraction matcher reads operand
strides this way, and renderers use it to find contiguous (unit-stride)
accesses.
"""

from __future__ import annotations

from tcomp.ir.kernel.expr import Binary, Const, Expr, Var


def affine_terms(expr: Expr) -> tuple[dict[str, int], int] | None:
    """``expr`` as ``(coefficients by loop variable, constant)``, or None when it is not
    an affine function of loop variables."""
    if isinstance(expr, Const) and expr.dtype == "index":
        return {}, int(expr.value)
    if isinstance(expr, Var) and expr.extent is not None:
        return {expr.name: 1}, 0
    if isinstance(expr, Binary) and expr.op in ("add", "sub"):
        a, b = affine_terms(expr.a), affine_terms(expr.b)
        if a is None or b is None:
            return None
        sign = 1 if expr.op == "add" else -1
        terms = dict(a[0])
        for name, k in b[0].items():
            terms[name] = terms.get(name, 0) + sign * k
        return {n: k for n, k in terms.items() if k}, a[1] + sign * b[1]
    if isinstance(expr, Binary) and expr.op == "mul":
        for x, y in ((expr.a, expr.b), (expr.b, expr.a)):
            if isinstance(y, Const) and y.dtype == "index":
                inner = affine_terms(x)
                if inner is None:
                    return None
                k = int(y.value)
                return {n: v * k for n, v in inner[0].items() if v * k}, inner[1] * k
    return None
