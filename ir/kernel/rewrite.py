"""One expression rewriter for the kernel IR: rebuild a node from new children, and map or
substitute over a whole expression.

- :func:`with_children`: the node with other children (in ``children()`` order), exactly
  (no simplification); :func:`with_children_simplified` the same through the simplifying
  constructors of :mod:`tcomp.ir.kernel.expr` (``binary``, ``unary``, ``select``,
  ``cast``), so that index arithmetic folds again after a substitution;
- :func:`map_expr`: top down, ``replace(node)`` gives a node's replacement (which is not
  looked into) or ``None``, and then the node is rebuilt from its mapped children;
- :func:`substitute`: :func:`map_expr` with a mapping of sub-expressions to replacements.

Each distinct sub-expression is mapped once (``memo``, keyed by value: the expressions
are immutable, so equal nodes map alike), which keeps shared sub-trees shared. Example::

    substitute(i0 * 4 + %p0[i0], {i0: r0 + 8}, with_children_simplified)
        -> (r0 * 4 + 32) + %p0[r0 + 8]
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from tcomp.ir.kernel.call import Call
from tcomp.ir.kernel.expr import (
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Reduce,
    Select,
    Unary,
    Var,
    binary,
    cast,
    select,
    unary,
)

# (node, its new children) -> the rebuilt node
Rebuild = Callable[[Expr, Sequence[Expr]], Expr]


def with_children(expr: Expr, children: Sequence[Expr]) -> Expr:
    """``expr`` with ``children`` in place of ``expr.children()``, the rest of it kept
    (a leaf, ``Const`` or ``Var``, is returned as it is)."""
    if isinstance(expr, (Const, Var)):
        return expr
    if isinstance(expr, Load):
        return Load(expr.buffer, children[0], expr.dtype)
    if isinstance(expr, Unary):
        return Unary(expr.op, children[0], expr.dtype)
    if isinstance(expr, Binary):
        return Binary(expr.op, children[0], children[1], expr.dtype)
    if isinstance(expr, Select):
        return Select(children[0], children[1], children[2], expr.dtype)
    if isinstance(expr, Cast):
        return Cast(children[0], expr.dtype)
    if isinstance(expr, Call):
        return Call(expr.op, tuple(children), expr.dtype)
    if isinstance(expr, Reduce):
        return Reduce(expr.op, expr.axes, children[0], expr.dtype)
    raise TypeError(f"cannot rebuild {expr!r}: not a kernel-IR expression")


def with_children_simplified(expr: Expr, children: Sequence[Expr]) -> Expr:
    """As :func:`with_children`, through the simplifying constructors for ``Unary``,
    ``Binary``, ``Select`` and ``Cast`` (``x + 0`` folds, constants fold ...)."""
    if isinstance(expr, Unary):
        return unary(expr.op, children[0])
    if isinstance(expr, Binary):
        return binary(expr.op, children[0], children[1])
    if isinstance(expr, Select):
        return select(children[0], children[1], children[2])
    if isinstance(expr, Cast):
        return cast(children[0], expr.dtype)
    return with_children(expr, children)


def map_expr(
    expr: Expr,
    replace: Callable[[Expr], Expr | None],
    rebuild: Rebuild = with_children,
    memo: dict[Expr, Expr] | None = None,
) -> Expr:
    """``expr`` rewritten top down: a node for which ``replace`` gives an expression becomes
    it (not looked into further); every other node is ``rebuild`` of it and its mapped
    children. ``memo`` (optional) shares the work between calls with the same
    ``replace`` and ``rebuild``."""
    memo = {} if memo is None else memo

    def visit(node: Expr) -> Expr:
        found = memo.get(node)
        if found is not None:
            return found
        result = replace(node)
        if result is None:
            result = rebuild(node, [visit(child) for child in node.children()])
        memo[node] = result
        return result

    return visit(expr)


def substitute(
    expr: Expr,
    mapping: Mapping[Expr, Expr],
    rebuild: Rebuild = with_children,
    memo: dict[Expr, Expr] | None = None,
) -> Expr:
    """``expr`` with each sub-expression that is a key of ``mapping`` replaced by its value
    (:func:`map_expr`)."""
    return map_expr(expr, mapping.get, rebuild, memo)
