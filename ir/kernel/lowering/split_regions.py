"""Loops cut where a select's condition on the loop variable changes (index-set splitting).

``pad`` and ``concatenate`` lower to selects over clamped loads
(``lowering/rules_movement.py``): every element evaluates every source and keeps one.
The gradient of a slice is a pad, so an LSTM's gate gradient (four slices of one
``[B, 4H]`` pre-activation) is a sum of four pads, and each of its ``4H`` elements
computes all four gates' expressions through clamped (gathered) loads::

    for i0 in 0..32 {
      for i1 in 0..512 {
        %out[i0 * 512 + i1] = select(i1 < 128, a(min(i1, 127)), 0.0)
                            + select(i1 + -128 >= 0 && i1 + -128 < 128, b(...), 0.0) + ...
      }
    }

:func:`split_regions` cuts such a loop at every constant where one of its conditions
``v + c OP k`` (``v`` the loop variable, coefficient 1 or -1) changes value, and runs the
pieces one after another, each over a loop variable of the same name shifted by the
piece's start. The index arithmetic of :mod:`tcomp.ir.kernel.expr` knows each piece's
range, so inside a piece the conditions fold to constants, the selects to one side and
the clamps away::

    for i0 in 0..32 {
      for i1 in 0..128 { %out[i0 * 512 + i1] = a(i1) }
      for i1 in 0..128 { %out[(i0 * 512 + i1) + 128] = b(i1) }
      ...
    }

A short loop (at most :data:`MAX_UNROLLED` iterations) whose variable shifts such a
condition of a loop inside it, ``w + v + c OP k``, is unrolled first, so each copy's
inner loop has constant boundaries: a padded 3x3 convolution's im2col copy, which reads
``x[h + kh - 1, w + kw - 1]`` under a select over clamped (gathered) loads, becomes nine
copies of contiguous row copies and zero fills.

Every element is computed by the same expression as before with the same values, and
pieces run in the loop's order, so results are identical bit for bit. Only loops that
hold stores and no reduction are cut (a reduction loop's accumulator order would be
kept too, but the column and contraction plans want one loop), never the loop that the
schedule runs in parallel, and only into at most :data:`MAX_PIECES` pieces (each piece
is a copy of the body's code).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

from tcomp.ir.kernel.analysis.affine import affine_terms
from tcomp.ir.kernel.expr import INDEX, Binary, Const, Var, add, const_index, walk
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    Loop,
    Program,
    Stmt,
    statement_exprs,
    walk_statements,
)
from tcomp.ir.kernel.lowering.split_reduction import substitute_body

MAX_PIECES = 8  # a loop is cut into at most this many pieces (code size grows with them)
MAX_UNROLLED = 3  # iterations of a loop unrolled so an inner loop's boundaries are constants
_MIRRORED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def split_regions(program: Program) -> Program:
    """The pass: every kernel's loops cut at their conditions' boundaries (module
    docstring); kernels without such conditions are unchanged."""
    program.kernels = [_split_kernel(kernel) for kernel in program.kernels]
    return program


def _split_kernel(kernel: Kernel) -> Kernel:
    schedule = kernel.schedule
    named = {*schedule.vector, *schedule.unroll, *schedule.tile, *schedule.columns}
    if schedule.parallel is not None:
        named.add(schedule.parallel)
    body = _split_body(kernel.body, schedule.parallel, named)
    if body == kernel.body:
        return kernel
    return dataclasses.replace(kernel, body=body)


def _split_body(body: tuple[Stmt, ...], parallel: str | None,
                named: set[str]) -> tuple[Stmt, ...]:
    """``body`` with its loops cut (never the ``parallel`` one) and short loops whose
    variable moves an inner loop's boundaries unrolled (none the schedule ``named``)."""
    out: list[Stmt] = []
    for stmt in body:
        if not isinstance(stmt, Loop):
            out.append(stmt)
            continue
        if stmt.var.name not in named and _moves_inner_boundaries(stmt):
            for value in range(stmt.extent):
                copy = substitute_body(stmt.body, stmt.var, const_index(value))
                out.extend(_split_body(copy, parallel, named))
            continue
        inner = Loop(stmt.var, _split_body(stmt.body, parallel, named))
        out.extend(_pieces(inner) if stmt.var.name != parallel else (inner,))
    return tuple(out)


def _moves_inner_boundaries(loop: Loop) -> bool:
    """Whether ``loop`` is short (at most :data:`MAX_UNROLLED` iterations), holds no
    reduction, and its variable shifts a condition ``w + v + c OP k`` of a loop ``w``
    inside it: unrolled, each copy's ``w`` loop has constant boundaries to cut at (an
    im2col copy's window offset beside the image position it pads)."""
    if loop.extent > MAX_UNROLLED or _reduces(loop.body):
        return False
    inner = {s.var.name for s in walk_statements(loop.body) if isinstance(s, Loop)}
    name = loop.var.name
    for node in _comparisons(loop.body):
        for side in (node.a, node.b):
            affine = affine_terms(side)
            terms = set(affine[0]) if affine is not None else set()
            if name in terms and len(terms) == 2 and terms - {name} <= inner:
                return True
    return False


def _comparisons(body: tuple[Stmt, ...]) -> Iterator[Binary]:
    """Every comparison (``lt``, ``le``, ``gt``, ``ge``) the statements of ``body`` and of
    its nested loops evaluate."""
    for stmt in walk_statements(body):
        for expr in statement_exprs(stmt):
            for node in walk(expr):
                if isinstance(node, Binary) and node.op in _MIRRORED:
                    yield node


def _pieces(loop: Loop) -> tuple[Loop, ...]:
    """``loop`` cut at its conditions' boundaries, or ``(loop,)`` when nothing to cut."""
    if _reduces(loop.body):
        return (loop,)
    cuts = sorted(c for c in _boundaries(loop) if 0 < c < loop.extent)
    if not cuts or len(cuts) + 1 > MAX_PIECES:
        return (loop,)
    edges = [0, *cuts, loop.extent]
    pieces = []
    for start, stop in zip(edges, edges[1:]):
        var = Var(loop.var.name, INDEX, stop - start)
        shifted = add(var, const_index(start))
        pieces.append(Loop(var, substitute_body(loop.body, loop.var, shifted)))
    return tuple(pieces)


def _reduces(body: tuple[Stmt, ...]) -> bool:
    """Whether ``body`` updates an accumulator (holds a reduction loop) anywhere."""
    return any(
        isinstance(stmt, Assign) or (isinstance(stmt, Loop) and _reduces(stmt.body))
        for stmt in body
    )


def _boundaries(loop: Loop) -> set[int]:
    """The values of ``loop``'s variable at which a comparison in its body changes."""
    cuts = (_boundary(node, loop.var.name) for node in _comparisons(loop.body))
    return {cut for cut in cuts if cut is not None}


def _boundary(node: object, name: str) -> int | None:
    """For ``v + c OP k`` (or ``k OP v + c``, or ``-v``), the first value of ``v`` on the
    far side of the comparison's change; None for any other node."""
    if not isinstance(node, Binary) or node.op not in _MIRRORED:
        return None
    op, side, bound = node.op, node.a, node.b
    if isinstance(side, Const) and not isinstance(bound, Const):
        op, side, bound = _MIRRORED[op], bound, side
    if not isinstance(bound, Const) or bound.dtype != INDEX:
        return None
    affine = affine_terms(side)
    if affine is None or set(affine[0]) != {name}:
        return None
    coefficient, k = affine[0][name], int(bound.value) - affine[1]
    if coefficient == -1:  # -v OP k  <=>  v OP' -k
        op, k = _MIRRORED[op], -k
    elif coefficient != 1:
        return None
    # v < k and v >= k change at k; v <= k and v > k change at k + 1
    return k if op in ("lt", "ge") else k + 1


__all__ = ["MAX_PIECES", "split_regions"]
