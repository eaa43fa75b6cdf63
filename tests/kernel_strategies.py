"""Hypothesis strategies for random, valid kernel-IR programs, and mutations that break them.

``random_programs()`` draws a program with 1-3 parameters of every dtype,
maybe a constant (special floats included), 1-2 outputs and maybe a
planned temp, then 1-3 kernels of random loop nests (extents 0-4, so some
loops never run), ``let``/assignments of locals of every type, and stores
of random expressions: constants, loop variables and locals, loads, every
unary and binary op on the types it takes, ``select``, casts and the ``Call``
ops (``threefry2x32_0``/``_1`` on int32). Indices
are random index expressions made safe by a ``min(max(e, 0), size-1)``
clamp or a ``% size`` where their range is not already inside the buffer.
Names include ones that look like keywords of the text form (``exp``,
``f32``, ``select``), origins include ones that need quoting. A last kernel
stores every output (the first through a ``let``), so the program verifies.

``random_kernels(reductions=True)`` draws a lone kernel whose expressions may
hold ``Reduce`` (for the text round trip only: the verifier rejects them).

The mutations (:func:`drop_a_let`, :func:`store_to_a_wrong_buffer`,
:func:`index_out_of_range`) return a broken copy, or None where the program
has nothing to break that way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tcomp.ir.kernel.call import Call
from tcomp.ir.kernel.expr import (
    FLOAT_TYPES,
    INDEX,
    REDUCE_OPS,
    UNARY_OPS,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Reduce,
    Select,
    Unary,
    Var,
    value_range,
    walk,
)
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    KernelArg,
    Let,
    Loop,
    Program,
    ProgramBuffer,
    Schedule,
    Stmt,
    Store,
)
from tcomp.ir.kernel.ops import CALL_OPS, MATH_OPS
from tcomp.ir.types import TensorType, numpy_dtype

Draw = Callable[[st.SearchStrategy], object]

DTYPES = ("float32", "float64", "float16", "int32", "bool")
SCALARS = DTYPES + (INDEX,)
FLOAT_UNARY = ("exp", "log", "sqrt", "tanh", "sin", "cos", "logistic", *sorted(MATH_OPS))
SPECIAL_FLOATS = (0.0, -0.0, 1.0, -2.5, 0.1, 1e-05, 1.5e300, float("nan"), float("inf"),
                  float("-inf"))
EXACT_FLOATS = (0.0, -0.0, 1.0, -2.5, float("nan"), float("inf"), float("-inf"))
LOCAL_NAMES = ("acc", "x_1", "exp", "f32", "select", "index", "max", "reduce_add", "v")
LOOP_NAMES = ("i0", "i1", "i2", "r0", "j")
ORIGINS = ("exp %1", "reduce_sum %2", "a, b", " padded ", "", '"quoted"', "trailing,", "ünï")
PROGRAM_NAMES = ("f", "train_step", "<lambda>", "two words")

shapes = st.lists(st.integers(1, 4), max_size=2).map(tuple)


class _KernelGen:
    """Draws one kernel's body over its arguments."""

    def __init__(self, draw: Draw, args: list[KernelArg], reductions: bool = False) -> None:
        self.draw = draw
        self.args = args
        self.reductions = reductions
        self.loops: list[str] = []
        self.counter = 0

    def readable(self, dtype: str) -> list[KernelArg]:
        return [a for a in self.args if a.access != "out" and a.dtype == dtype and a.size]

    def writable(self) -> list[KernelArg]:
        return [a for a in self.args if a.access != "in" and a.size]

    # -- statements ------------------------------------------------------

    def block(self, depth: int, scopes: list[dict[str, Var]]) -> tuple[Stmt, ...]:
        body: list[Stmt] = []
        scopes = [*scopes, {}]
        for _ in range(self.draw(st.integers(1 if depth == 0 else 0, 4 - depth))):
            kind = self.draw(st.sampled_from(("let", "store", "assign", "loop")))
            if kind == "loop" and depth < 3:
                free = [n for n in LOOP_NAMES if not _bound(n, scopes)]
                if not free:
                    continue
                var = Var(self.draw(st.sampled_from(free)), INDEX, self.draw(st.integers(0, 4)))
                self.loops.append(var.name)
                body.append(Loop(var, self.block(depth + 1, [*scopes, {var.name: var}])))
            elif kind == "let":
                dtype = self.draw(st.sampled_from(SCALARS))
                name = self.local_name(scopes)
                var = Var(name, dtype)
                body.append(Let(var, self.expr(dtype, 2, scopes)))
                scopes[-1][name] = var
                if self.writable() and self.draw(st.booleans()):
                    body.append(self.store(scopes, var))
            elif kind == "assign":
                locals_ = [v for s in scopes for v in s.values() if v.extent is None]
                if locals_:
                    var = self.draw(st.sampled_from(locals_))
                    body.append(Assign(var, self.expr(var.dtype, 2, scopes)))
            elif self.writable():
                body.append(self.store(scopes))
        return tuple(body)

    def local_name(self, scopes: list[dict[str, Var]]) -> str:
        name = self.draw(st.sampled_from(LOCAL_NAMES))
        while _bound(name, scopes) or name in LOOP_NAMES:
            self.counter += 1
            name = f"t{self.counter}"
        return name

    def store(self, scopes: list[dict[str, Var]], value: Expr | None = None) -> Store:
        arg = self.draw(st.sampled_from(self.writable()))
        if value is None:
            value = self.expr(arg.dtype, 3, scopes)
        elif value.dtype != arg.dtype:
            value = Cast(value, arg.dtype)
        return Store(arg.name, self.index(arg.size, scopes), value)

    # -- expressions -----------------------------------------------------

    def index(self, size: int, scopes: list[dict[str, Var]]) -> Expr:
        """An index expression known to lie in ``0 .. size-1``."""
        raw = self.expr(INDEX, 2, scopes)
        lo, hi = value_range(raw)
        if 0 <= lo and hi < size:
            return raw
        if lo >= 0 and self.draw(st.booleans()):
            return Binary("mod", raw, Const(size, INDEX), INDEX)
        low = Binary("max", raw, Const(0, INDEX), INDEX)
        return Binary("min", low, Const(size - 1, INDEX), INDEX)

    def leaf(self, dtype: str, scopes: list[dict[str, Var]]) -> Expr:
        options: list[Callable[[], Expr]] = [lambda: self.const(dtype)]
        variables = [v for s in scopes for v in s.values() if v.dtype == dtype]
        if variables:
            options += [lambda: self.draw(st.sampled_from(variables))] * 2
        sources = self.readable(dtype)
        if sources:
            arg = self.draw(st.sampled_from(sources))
            options.append(lambda: Load(arg.name, self.index(arg.size, scopes), dtype))
        return self.draw(st.sampled_from(options))()

    def const(self, dtype: str) -> Const:
        if dtype == "bool":
            return Const(self.draw(st.booleans()), dtype)
        if dtype == INDEX:
            return Const(self.draw(st.integers(-3, 12)), dtype)
        if dtype == "int32":
            return Const(self.draw(st.integers(-(2**31), 2**31 - 1)), dtype)
        value = self.draw(st.sampled_from(SPECIAL_FLOATS) | st.floats(width=16))
        return Const(float(value), dtype)

    def expr(self, dtype: str, depth: int, scopes: list[dict[str, Var]]) -> Expr:
        if depth == 0 or self.draw(st.integers(0, 3)) == 0:
            return self.leaf(dtype, scopes)
        kinds = ["unary", "binary", "compare", "select", "cast", "call"]
        if self.reductions:
            kinds.append("reduce")
        kind = self.draw(st.sampled_from(kinds))
        sub = depth - 1
        if kind == "unary":
            ops = _unary_ops(dtype)
            if ops:
                op, operand = self.draw(st.sampled_from(ops))
                return Unary(op, self.expr(operand, sub, scopes), dtype)
        if kind == "binary":
            ops = _binary_ops(dtype)
            op = self.draw(st.sampled_from(ops))
            a, b = self.expr(dtype, sub, scopes), self.expr(dtype, sub, scopes)
            return Binary(op, a, b, dtype)
        if kind == "compare" and dtype == "bool":
            operand = self.draw(st.sampled_from(SCALARS))
            op = self.draw(st.sampled_from(("eq", "ne", "lt", "le", "gt", "ge")))
            return Binary(op, self.expr(operand, sub, scopes), self.expr(operand, sub, scopes),
                          "bool")
        if kind == "select":
            cond = self.expr("bool", sub, scopes)
            return Select(cond, self.expr(dtype, sub, scopes), self.expr(dtype, sub, scopes),
                          dtype)
        if kind == "cast":
            source = self.draw(st.sampled_from(SCALARS))
            return Cast(self.expr(source, sub, scopes), dtype)
        if kind == "call" and dtype == "int32":  # threefry2x32_0/_1 of four int32 operands
            op = self.draw(st.sampled_from(sorted(CALL_OPS)))
            args = tuple(self.expr("int32", sub, scopes) for _ in range(CALL_OPS[op]))
            return Call(op, args, "int32")
        if kind == "reduce" and dtype != "bool":
            return self.reduce(dtype, sub, scopes)
        return self.leaf(dtype, scopes)

    def reduce(self, dtype: str, depth: int, scopes: list[dict[str, Var]]) -> Expr:
        op = self.draw(st.sampled_from(sorted(REDUCE_OPS)))
        free = [n for n in LOOP_NAMES if not _bound(n, scopes)][:2]
        if not free or (op == "argmax" and dtype != "int32"):
            return self.leaf(dtype, scopes)
        axes = tuple(Var(n, INDEX, self.draw(st.integers(0, 3))) for n in free)
        body_type = self.draw(st.sampled_from(sorted(FLOAT_TYPES))) if op == "argmax" else dtype
        body = self.expr(body_type, depth, [*scopes, {a.name: a for a in axes}])
        return Reduce(op, axes, body, dtype)


def _bound(name: str, scopes: list[dict[str, Var]]) -> bool:
    return any(name in scope for scope in scopes)


def _unary_ops(dtype: str) -> list[tuple[str, str]]:
    """(op, operand type) pairs giving ``dtype``."""
    if dtype == "bool":
        return [("not", "bool"), ("bitnot", "bool")] + [("isnan", f) for f in sorted(FLOAT_TYPES)]
    ops = [("neg", dtype), ("abs", dtype), ("sign", dtype)]
    if dtype in FLOAT_TYPES:
        ops += [(op, dtype) for op in FLOAT_UNARY]
    if dtype == "int32":
        ops.append(("bitnot", dtype))
    assert {op for op, _ in ops} <= UNARY_OPS
    return ops


def _binary_ops(dtype: str) -> list[str]:
    if dtype == "bool":
        return ["and", "or", "bitand", "bitor", "bitxor"]
    ops = ["add", "sub", "mul", "max", "min"]
    if dtype in FLOAT_TYPES:
        return ops + ["div", "pow", "floordiv", "mod"]  # floordiv/mod: numpy's, on floats too
    if dtype == "int32":
        ops += ["bitand", "bitor", "bitxor", "shl", "shr", "pow"]  # pow: exact, wrapping
    return ops + ["floordiv", "mod"]


def _schedule(draw: Draw, loops: list[str]) -> Schedule:
    if not loops or draw(st.booleans()):
        return Schedule()
    names = st.sampled_from(sorted(set(loops)))
    factors = st.dictionaries(names, st.integers(1, 16), max_size=2)
    parallel = draw(st.none() | names)
    return Schedule(parallel, draw(factors), draw(factors), draw(factors))


@st.composite
def random_kernels(draw: Draw, reductions: bool = False) -> Kernel:
    """A lone kernel over 1-4 arguments (with ``reductions``, maybe holding ``Reduce``)."""
    count = draw(st.integers(1, 4))
    args = [
        KernelArg(f"b{i}", draw(st.sampled_from(DTYPES)), draw(st.integers(1, 8)),
                  draw(st.sampled_from(("in", "out", "inout"))))
        for i in range(count)
    ]
    gen = _KernelGen(draw, args, reductions)
    body = gen.block(0, [])
    origin = tuple(draw(st.lists(st.sampled_from(ORIGINS), max_size=3)))
    return Kernel("k0", tuple(args), body, _schedule(draw, gen.loops), origin)


@st.composite
def random_programs(draw: Draw, max_kernels: int = 3) -> Program:
    """A random valid program (see the module docstring)."""
    buffers: dict[str, ProgramBuffer] = {}

    def add(name: str, dtype: str, kind: str, data: np.ndarray | None = None) -> ProgramBuffer:
        shape = draw(shapes) if data is None else data.shape
        buffers[name] = ProgramBuffer(name, TensorType(shape, dtype), kind, data)
        return buffers[name]

    dtypes = st.sampled_from(DTYPES)
    params = [add(f"p{i}", draw(dtypes), "param").name for i in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        dtype = draw(dtypes)
        elements = st.sampled_from(EXACT_FLOATS) if dtype in FLOAT_TYPES else None
        data = draw(hnp.arrays(numpy_dtype(dtype), shapes, elements=elements))
        add("c0", dtype, "constant", data)
    outputs = [add(f"t{i}", draw(dtypes), "output").name for i in range(draw(st.integers(1, 2)))]
    arena = 0
    if draw(st.booleans()):
        temp = add("tmp", draw(dtypes), "temp")
        if draw(st.booleans()):
            temp.offset = draw(st.integers(0, 64))
            arena = temp.offset + temp.size * numpy_dtype(temp.type.dtype).itemsize
    kernels = []
    for index in range(draw(st.integers(0, max_kernels - 1))):
        args = []
        for buffer in buffers.values():
            if buffer.kind in ("param", "constant"):
                access = "in"
            else:
                access = draw(st.sampled_from(("in", "out", "inout")))
            if draw(st.integers(0, 3)):
                args.append(KernelArg(buffer.name, buffer.type.dtype, buffer.size, access))
        gen = _KernelGen(draw, args)
        body = gen.block(0, [])
        origin = tuple(draw(st.lists(st.sampled_from(ORIGINS), max_size=3)))
        kernels.append(Kernel(f"k{index}", tuple(args), body, _schedule(draw, gen.loops), origin))
    kernels.append(_store_outputs(draw, buffers, outputs, f"k{len(kernels)}"))
    returned = outputs + draw(st.lists(st.sampled_from(params), max_size=1))
    name = draw(st.sampled_from(PROGRAM_NAMES))
    return Program(name, buffers, params, returned, kernels, arena)


def _store_outputs(draw: Draw, buffers: dict[str, ProgramBuffer], outputs: list[str],
                   name: str) -> Kernel:
    """A kernel that stores every output: ``for i0 in 0..size { %t[i0] = expr }``, the
    first through a local (``let out0: type = expr``)."""
    args = [KernelArg(n, b.type.dtype, b.size, "in") for n, b in buffers.items()
            if b.kind in ("param", "constant")]
    args += [KernelArg(n, buffers[n].type.dtype, buffers[n].size, "out") for n in outputs]
    gen = _KernelGen(draw, args)
    body = []
    for position, out in enumerate(outputs):
        buffer = buffers[out]
        i = Var("i0", INDEX, buffer.size)
        value = gen.expr(buffer.type.dtype, 2, [{"i0": i}])
        if position == 0:  # through a local, so every program has a let to drop
            local = Var("out0", buffer.type.dtype)
            body.append(Loop(i, (Let(local, value), Store(out, i, local))))
        else:
            body.append(Loop(i, (Store(out, i, value),)))
    return Kernel(name, tuple(args), tuple(body))


# ---------------------------------------------------------------------------
# Mutations


def _paths(body: tuple[Stmt, ...], prefix: tuple = (), live: bool = True):
    """(path, statement, live) for every statement; dead ones sit in loops of extent 0."""
    for position, stmt in enumerate(body):
        yield prefix + (position,), stmt, live
        if isinstance(stmt, Loop):
            yield from _paths(stmt.body, prefix + (position,), live and stmt.extent > 0)


def _replace_at(body: tuple[Stmt, ...], path: tuple, new: Stmt | None) -> tuple[Stmt, ...]:
    head, rest = path[0], path[1:]
    items = list(body)
    if rest:
        loop = items[head]
        assert isinstance(loop, Loop)
        items[head] = Loop(loop.var, _replace_at(loop.body, rest, new))
    elif new is None:
        del items[head]
    else:
        items[head] = new
    return tuple(items)


def _with_kernel(program: Program, index: int, kernel: Kernel) -> Program:
    kernels = list(program.kernels)
    kernels[index] = kernel
    return replace(program, kernels=kernels)


def _uses(stmt: Stmt, var: Var) -> bool:
    exprs: list[Expr] = []
    for _, inner, _ in _paths((stmt,)):
        if isinstance(inner, Assign) and inner.var == var:
            return True
        if isinstance(inner, (Let, Assign)):
            exprs.append(inner.value)
        elif isinstance(inner, Store):
            exprs += [inner.index, inner.value]
    return any(node == var for e in exprs for node in walk(e))


def drop_a_let(program: Program) -> tuple[Program, str] | None:
    """The program without a ``let`` whose local a later statement uses, and that local's name."""
    for k, kernel in enumerate(program.kernels):
        for path, stmt, _ in _paths(kernel.body):
            if not isinstance(stmt, Let):
                continue
            siblings = _block_at(kernel.body, path[:-1])
            if any(_uses(later, stmt.var) for later in siblings[path[-1] + 1:]):
                body = _replace_at(kernel.body, path, None)
                return _with_kernel(program, k, replace(kernel, body=body)), stmt.var.name
    return None


def _block_at(body: tuple[Stmt, ...], path: tuple) -> tuple[Stmt, ...]:
    for position in path:
        loop = body[position]
        assert isinstance(loop, Loop)
        body = loop.body
    return body


def store_to_a_wrong_buffer(program: Program, target: str = "nowhere") -> Program | None:
    """The program with its first store redirected to ``%target`` (by default no buffer)."""
    for k, kernel in enumerate(program.kernels):
        for path, stmt, _ in _paths(kernel.body):
            if isinstance(stmt, Store):
                body = _replace_at(kernel.body, path, replace(stmt, buffer=target))
                return _with_kernel(program, k, replace(kernel, body=body))
    return None


def index_out_of_range(program: Program) -> tuple[Program, str] | None:
    """The program with a live store's index set to its buffer's size, and the buffer's name."""
    for k, kernel in enumerate(program.kernels):
        for path, stmt, live in _paths(kernel.body):
            if isinstance(stmt, Store) and live:
                size = kernel.arg(stmt.buffer).size
                body = _replace_at(kernel.body, path, replace(stmt, index=Const(size, INDEX)))
                return _with_kernel(program, k, replace(kernel, body=body)), stmt.buffer
    return None
