"""Storing a reduction's terms in the output that recomputes them (row softmax: exp once).

Fusion makes row softmax one kernel, but its sum loop and its output loop
each compute ``exp(x - max)``: exp dominates, so the kernel does twice the
work it needs. :func:`reuse_reduction_terms` rewrites

    let acc1 = 0
    for r1 in 0..N { acc1 = acc1 + T(r1) }
    for i1 in 0..N { %out[idx(i1)] = V(T(i1), acc1) }

into

    let acc1 = 0
    for r1 in 0..N { let v = T(r1); %out[idx(r1)] = v; acc1 = acc1 + v }
    for i1 in 0..N { %out[idx(i1)] = V(%out[idx(i1)], acc1) }

when the later loop is a single store whose value contains ``T(i1)``, the
output has ``T``'s dtype and is written nowhere else in the kernel and read
nowhere before, and nothing between the loops assigns a variable ``T``
reads. Each element is written twice and read once, in the same row that
is still in cache, instead of computing ``T`` twice. The output becomes an
``inout`` arg of the kernel.

The CPU backend runs this pass. GPU backends do not: their mapping gives a
long reduction one work-group only when no buffer is both read and written
in the kernel (:mod:`tcomp.backends.cfamily.mapping`), so there the
recomputation is cheaper than losing the work-group.
"""

from __future__ import annotations

import dataclasses
import itertools

from tcomp.ir.kernel.expr import (
    Binary,
    Const,
    Expr,
    Load,
    Reduce,
    Unary,
    Var,
    free_vars,
    walk,
)
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    Let,
    Loop,
    Program,
    Stmt,
    Store,
    statement_exprs,
    walk_statements,
)
from tcomp.ir.kernel.lowering.split_reduction import substitute
from tcomp.ir.kernel.rewrite import map_expr

FLOAT_TERMS = ("float32", "float64")


def reuse_reduction_terms(program: Program) -> Program:
    """The pass (see the module docstring); kernels with a blocked contraction schedule
    are left alone."""
    for kernel in program.kernels:
        if kernel.schedule.tile:
            continue
        names = _names(kernel)
        stored: set[str] = set()
        body = _rewrite_block(kernel, kernel.body, names, stored)
        if stored:
            kernel.body = body
            kernel.args = tuple(
                dataclasses.replace(arg, access="inout") if arg.name in stored else arg
                for arg in kernel.args
            )
    return program


def _names(kernel: Kernel) -> set[str]:
    names: set[str] = set()
    for stmt in walk_statements(kernel.body):
        if isinstance(stmt, (Loop, Let, Assign)):
            names.add(stmt.var.name)
    return names


def _rewrite_block(
    kernel: Kernel, body: tuple[Stmt, ...], names: set[str], stored: set[str]
) -> tuple[Stmt, ...]:
    stmts = [
        Loop(s.var, _rewrite_block(kernel, s.body, names, stored)) if isinstance(s, Loop) else s
        for s in body
    ]
    for at in range(1, len(stmts)):
        found = _match(kernel, stmts, at, stored)
        if found is None:
            continue
        later, acc, term, op_first = found
        reduce_loop, store_loop = stmts[at], stmts[later]
        assert isinstance(reduce_loop, Loop) and isinstance(store_loop, Loop)
        (store,) = store_loop.body
        assert isinstance(store, Store)
        value = Var(_fresh(names), term.dtype)
        index_r = substitute(store.index, store_loop.var, reduce_loop.var, {})
        update = Binary("add", acc, value, acc.dtype) if op_first else Binary("add", value, acc, acc.dtype)
        stmts[at] = Loop(reduce_loop.var, (Let(value, term), Store(store.buffer, index_r, value),
                                           Assign(acc, update)))
        term_i = substitute(term, reduce_loop.var, store_loop.var, {})
        reread = Load(store.buffer, store.index, term.dtype)
        stmts[later] = Loop(store_loop.var, (Store(store.buffer, store.index,
                                                   _replace(store.value, term_i, reread)),))
        stored.add(store.buffer)
    return tuple(stmts)


def _match(
    kernel: Kernel, stmts: list[Stmt], at: int, stored: set[str]
) -> tuple[int, Var, Expr, bool] | None:
    """(index of the store loop, the accumulator, the term, acc is the left operand)."""
    init, loop = stmts[at - 1], stmts[at]
    if not (isinstance(init, Let) and isinstance(loop, Loop) and len(loop.body) == 1):
        return None
    (assign,) = loop.body
    acc = init.var
    if not (isinstance(assign, Assign) and assign.var == acc and isinstance(init.value, Const)):
        return None
    value = assign.value
    if not (isinstance(value, Binary) and value.op == "add" and acc in (value.a, value.b)):
        return None
    term = value.b if value.a == acc else value.a
    if term.dtype not in FLOAT_TERMS or acc in free_vars(term) or loop.var not in free_vars(term):
        return None
    if not any(isinstance(node, Unary) for node in walk(term)):
        return None  # only a term that costs a function call is worth a store and a load
    for later in range(at + 1, len(stmts)):
        candidate = stmts[later]
        if _assigns(stmts[at + 1 : later], free_vars(term)):
            return None
        if not (isinstance(candidate, Loop) and candidate.extent == loop.extent):
            continue
        if len(candidate.body) != 1 or not isinstance(candidate.body[0], Store):
            continue
        store = candidate.body[0]
        term_i = substitute(term, loop.var, candidate.var, {})
        if term_i not in set(walk(store.value)) or store.buffer in stored:
            continue
        if _buffer_dtype(kernel, store.buffer) != term.dtype or acc in free_vars(store.index):
            continue
        if _touches(kernel, store.buffer, store):
            continue
        return later, acc, term, value.a == acc
    return None


def _assigns(stmts: list[Stmt], variables: frozenset[Var]) -> bool:
    return any(isinstance(s, Assign) and s.var in variables for s in walk_statements(tuple(stmts)))


def _buffer_dtype(kernel: Kernel, name: str) -> str | None:
    return next((arg.dtype for arg in kernel.args if arg.name == name), None)


def _touches(kernel: Kernel, buffer: str, the_store: Store) -> bool:
    """Whether the kernel reads ``buffer`` or writes it anywhere but ``the_store``."""
    for stmt in walk_statements(kernel.body):
        if isinstance(stmt, Store) and stmt.buffer == buffer and stmt is not the_store:
            return True
        for expr in statement_exprs(stmt):
            if any(isinstance(node, Load) and node.buffer == buffer for node in walk(expr)):
                return True
    return False


def _fresh(names: set[str]) -> str:
    for number in itertools.count():
        name = f"v{number}"
        if name not in names:
            names.add(name)
            return name
    raise AssertionError("unreachable")


def _replace(expr: Expr, target: Expr, by: Expr) -> Expr:
    """``expr`` with every occurrence of the subexpression ``target`` replaced by ``by``
    (loads are kept as they are: the term is never inside an index)."""

    def replace(node: Expr) -> Expr | None:
        if node == target:
            return by
        return node if isinstance(node, (Load, Reduce)) else None

    return map_expr(expr, replace)
