"""Kernel-IR statements and kernels rendered as LLVM functions (llvmlite.ir only).

Each kernel becomes an internal function taking one pointer per buffer it
touches (``noalias`` unless two of its arena temps overlap) and, when its
outermost loop is split across threads, the ``start``/``end`` of that loop::

    define internal void @k0(ptr noalias %p0, ptr noalias %t1, i64 %start, i64 %end)

Loops are canonical (``i = phi [start], [i + 1]; i < end``), so LLVM's loop
passes and vectoriser see plain counted loops. Locals (``Let``/``Assign``)
are allocas in the entry block that SROA turns into registers. An update
``acc = acc + x`` (or ``*``) of a float local gets the ``reassoc`` flag so
that sum reductions vectorise; no other fast-math flag is ever set.
A bfloat16 ``acc = max(acc, x)`` (or ``min``) whose ``acc`` starts at a
constant is ``llvm.maximum(acc, canonical_nan(x))``, with no rounding after it
(:func:`extreme_accumulators`; the bits are those of rounding each step, see
:mod:`tcomp.backends.llvm.halves`), so it vectorises as float32's does.
The innermost loops of a kernel with bfloat16 buffers ask the vectoriser to
interleave :data:`BFLOAT16_INTERLEAVE` vector iterations (``!llvm.loop`` metadata,
:func:`tcomp.backends.llvm.loops.interleave_hint`), and so do float32 innermost loops
that call a math function libmvec vectorises (:data:`VECTOR_MATH_INTERLEAVE`); LLVM
chooses for the others.
"""

from __future__ import annotations

from typing import Callable

from llvmlite import ir

from tcomp.backends.llvm.column_reduce import render_columns
from tcomp.backends.llvm.exprs import (
    FLOATS,
    I64,
    PTR,
    ExprRenderer,
    register_type,
)
from tcomp.backends.llvm.halves import canonical_nan
from tcomp.backends.llvm.loops import counted_loop
from tcomp.backends.llvm.vecmath import LIBMVEC, VariantTable
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.kernel.analysis.columns import column_parts
from tcomp.ir.kernel.expr import Binary, Const, Expr, Unary, Var, walk
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    Let,
    Loop,
    Stmt,
    Store,
    statement_exprs,
    walk_statements,
)
from tcomp.ir.kernel.op_table import KERNEL_OPS

ACCUMULATOR_FLAGS = ("reassoc",)

# The vectoriser's interleave count for the innermost loops of kernels with bfloat16
# buffers. LLVM picks 1 for them (long bodies: each bf16 op's rounding is a chain of
# integer operations); four independent 16-lane iterations let the CPU overlap those
# chains (baby GPT step, one thread: GELU 865 -> 581 us, attention exp 674 -> 434 us,
# GELU backward 2310 -> 2015 us; 8 made some kernels slower than 4). float32 kernels
# keep LLVM's choice.
BFLOAT16_INTERLEAVE = 4
# The same for float32 innermost loops that call a vectorisable libm function (exp, log,
# tanh, erf ...: libmvec's list, vecmath.LIBMVEC, or tcomp's inline exp/tanh): LLVM keeps
# one vector iteration in flight around the long call or polynomial. Baby GPT step, one
# thread, per-kernel profile: GELU forward 470 -> 292 us, attention exp 372 -> 289 us;
# matmuls (no math calls) are not affected, as only loops that call math get it.
VECTOR_MATH_INTERLEAVE = 4


def kernel_signature(kernel: Kernel, split: bool) -> ir.FunctionType:
    """``void(ptr per arg [, i64 start, i64 end])``."""
    args: list[ir.Type] = [PTR] * len(kernel.args)
    if split:
        args += [I64, I64]
    return ir.FunctionType(ir.VoidType(), args)


def render_kernel(
    module: ir.Module,
    kernel: Kernel,
    name: str,
    aliased: frozenset[str] = frozenset(),
    split: bool = False,
    vector_functions: VariantTable | None = None,
    body_renderer=None,
) -> ir.Function:
    """Defines ``kernel`` as the internal function ``name`` in ``module``.

    ``aliased`` names the args that may share memory with another arg (no
    ``noalias`` on them); ``split`` adds ``start``/``end`` for the parallel loop;
    ``vector_functions`` are the libmvec variants libm calls may name;
    ``body_renderer`` replaces the statement renderer class (blocked contractions).
    """
    function = ir.Function(module, kernel_signature(kernel, split), name=name)
    function.linkage = "internal"
    function.attributes.add("nounwind")
    # Never inlined: a kernel runs once per call (or per thread chunk), so inlining gains
    # nothing, while inlining it into both thread runners and tcomp_main made LLVM
    # optimise every parallel kernel three times (about 4x the O3 time).
    function.attributes.add("noinline")
    pointers: dict[str, tuple[ir.Value, str, int]] = {}
    for arg, value in zip(kernel.args, function.args):
        value.name = _llvm_name(arg.name)
        if arg.name not in aliased:
            value.add_attribute("noalias")
        value.add_attribute("captures(none)")
        pointers[arg.name] = (value, arg.dtype, arg.size)
    bounds = None
    if split:
        start, end = function.args[-2], function.args[-1]
        start.name, end.name = "start", "end"
        bounds = (start, end)
    entry = function.append_basic_block("entry")
    builder = ir.IRBuilder(entry)
    renderer = (body_renderer or _BodyRenderer)(
        builder, pointers, entry, bounds, kernel.schedule.parallel
    )
    renderer.exprs.vector_functions = vector_functions or {}
    renderer.column_blocks = dict(kernel.schedule.columns)
    renderer.extreme_accumulators = extreme_accumulators(kernel.body)
    if any(arg.dtype == "bfloat16" for arg in kernel.args):
        renderer.interleave = BFLOAT16_INTERLEAVE
    renderer.block(kernel.body, {})
    builder.ret_void()
    return function


def _llvm_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._" else "_" for c in name)


class _BodyRenderer:
    def __init__(
        self,
        builder: ir.IRBuilder,
        pointers: dict[str, tuple[ir.Value, str, int]],
        entry: ir.Block,
        bounds: tuple[ir.Value, ir.Value] | None,
        parallel: str | None,
    ) -> None:
        self.builder = builder
        self.pointers = pointers
        self.entry = entry
        self.bounds = bounds
        self.parallel = parallel
        self.exprs = ExprRenderer(builder, pointers, {})
        self.column_blocks: dict[str, int] = {}  # the schedule's columns (column_reduce.py)
        self.extreme_accumulators: frozenset[str] = frozenset()  # see extreme_accumulators
        self.loop_depth = 0  # loops around the statement being rendered
        self.interleave = 0  # the interleave hint for innermost loops (0: LLVM's choice)

    def block(self, body: tuple[Stmt, ...], scope: dict[str, tuple[ir.Value, bool]]) -> None:
        scope = dict(scope)  # a Let is visible to the end of its block only
        for stmt in body:
            self.exprs.scope = scope
            self.exprs.fresh()
            if isinstance(stmt, Loop):
                self.loop(stmt, scope)
            elif isinstance(stmt, Let):
                slot = self._alloca(register_type(stmt.var.dtype), stmt.var.name)
                self.builder.store(self.exprs.render(stmt.value), slot)
                scope[stmt.var.name] = (slot, True)
            elif isinstance(stmt, Assign):
                slot = scope[stmt.var.name][0]
                self.builder.store(self._assigned_value(stmt), slot)
            elif isinstance(stmt, Store):
                index = self.exprs.render(stmt.index)
                value = self.exprs.render(stmt.value)
                self.exprs.store(stmt.buffer, index, value, stmt.value.dtype)
            else:
                raise TypeError(f"llvm renderer: not a statement: {stmt!r}")

    def _alloca(self, ty: ir.Type, name: str) -> ir.Value:
        saved = self.builder.block
        with self.builder.goto_block(self.entry):
            if self.entry.instructions:
                self.builder.position_before(self.entry.instructions[0])
            slot = self.builder.alloca(ty, name=_llvm_name(name))
            slot.type = PTR  # opaque, as LLVM has them
        assert self.builder.block is saved
        return slot

    def _assigned_value(self, stmt: Assign) -> ir.Value:
        value: Expr = stmt.value
        var = stmt.var
        if (
            isinstance(value, Binary)
            and value.op in ("add", "mul")
            and var.dtype in FLOATS
            and _is_var(value.a, var) != _is_var(value.b, var)
        ):
            # acc = acc + x: reassociable, so the vectoriser may split the sum
            other = value.b if _is_var(value.a, var) else value.a
            rest = self.exprs.render(other)
            current = self.exprs.render(var)
            return self.exprs.binary_flags(value.op, current, rest, var.dtype, ACCUMULATOR_FLAGS)
        if var.name in self.extreme_accumulators:
            assert isinstance(value, Binary)
            # acc = max(acc, x) in bfloat16: x made canonical, no rounding (module docstring)
            a, c = self.exprs.render(value.a), self.exprs.render(value.b)
            if _is_var(value.a, var):
                c = canonical_nan(self.builder, c)
            else:
                a = canonical_nan(self.builder, a)
            return self.exprs.binary(value.op, a, c, "float32")
        return self.exprs.render(value)

    def lets(
        self, stmts: tuple[Let, ...], scope: dict[str, tuple[ir.Value, bool]]
    ) -> dict[str, tuple[ir.Value, bool]]:
        """Renders ``Let`` statements; returns ``scope`` with them added."""
        scope = dict(scope)
        for stmt in stmts:
            self.exprs.scope = scope
            self.exprs.fresh()
            slot = self._alloca(register_type(stmt.var.dtype), stmt.var.name)
            self.builder.store(self.exprs.render(stmt.value), slot)
            scope[stmt.var.name] = (slot, True)
        return scope

    def counted_loop(
        self,
        name: str,
        start: ir.Value,
        end: ir.Value,
        body: Callable[[ir.Value], None],
        step: int = 1,
        interruptible: bool = False,
        interleave: int = 0,
    ) -> None:
        """``for (i = start; i < end; i += step) body(i)``, ``body`` rendering at the
        builder's position: the backend's one counted loop (``loops.counted_loop``, which
        also says what ``interruptible`` does), labelled after the loop variable ``name``."""
        with counted_loop(
            self.builder, start, end, _llvm_name(name), step, interruptible, interleave
        ) as index:
            body(index)

    def loop(self, loop: Loop, scope: dict[str, tuple[ir.Value, bool]]) -> None:
        if loop.extent == 0:
            return
        if self.bounds is not None and loop.var.name == self.parallel:
            start, end = self.bounds
        else:
            start, end = ir.Constant(I64, 0), ir.Constant(I64, loop.extent)
        if loop.var.name in self.column_blocks:  # the schedule's columns={...}
            plan = column_parts(loop)
            if plan is None:
                raise TcompBackendError(
                    f"llvm renderer: schedule columns={{{loop.var.name}: ...}} names a loop "
                    "that is not lets, a reduction and the rest"
                )
            width = self.column_blocks[loop.var.name]
            render_columns(self, loop, plan, scope, (start, end), width)
            return
        if loop.extent == 1 and self.bounds is None:
            self.block(loop.body, {**scope, loop.var.name: (ir.Constant(I64, 0), False)})
            return
        outermost = self.loop_depth == 0
        self.loop_depth += 1
        self.counted_loop(
            loop.var.name,
            start,
            end,
            lambda index: self.block(loop.body, {**scope, loop.var.name: (index, False)}),
            interruptible=outermost and _holds_loop(loop),
            interleave=0 if _holds_loop(loop) else self._interleave_for(loop),
        )
        self.loop_depth -= 1

    def _interleave_for(self, loop: Loop) -> int:
        """The interleave hint of innermost ``loop``: the kernel's (bfloat16), else
        :data:`VECTOR_MATH_INTERLEAVE` when the loop calls a vectorisable libm function
        on float32, else 0 (LLVM's choice)."""
        if self.interleave:
            return self.interleave
        return VECTOR_MATH_INTERLEAVE if _calls_float32_vector_math(loop) else 0


def _calls_float32_vector_math(loop: Loop) -> bool:
    """Whether ``loop``'s body evaluates a float32 op that libmvec has a variant of."""
    for stmt in walk_statements(loop.body):
        for root in statement_exprs(stmt):
            for node in walk(root):
                if (
                    isinstance(node, (Unary, Binary))
                    and node.dtype == "float32"
                    and node.op in KERNEL_OPS
                    and KERNEL_OPS[node.op].c_math in LIBMVEC
                ):
                    return True
    return False


def _holds_loop(loop: Loop) -> bool:
    """Whether ``loop`` has another loop in its body (so is not the vectorised one)."""
    return any(
        isinstance(stmt, Loop) and (stmt.extent > 1 or _holds_loop(stmt)) for stmt in loop.body
    )


def extreme_accumulators(body: tuple[Stmt, ...]) -> frozenset[str]:
    """The bfloat16 locals of ``body`` that start at a constant (``let acc: bf16 =
    -inf:bf16``) and are only ever updated as ``acc = max(acc, x)`` or ``min``: their
    register value is a bfloat16 value with a canonical NaN throughout, so the update
    needs no rounding when ``x`` is made canonical (see :mod:`tcomp.backends.llvm.halves`)."""
    constant: set[str] = set()
    other: set[str] = set()
    updated: set[str] = set()

    def visit(stmts: tuple[Stmt, ...]) -> None:
        for stmt in stmts:
            if isinstance(stmt, Loop):
                visit(stmt.body)
            elif isinstance(stmt, Let) and stmt.var.dtype == "bfloat16":
                (constant if isinstance(stmt.value, Const) else other).add(stmt.var.name)
            elif isinstance(stmt, Assign):
                value, var = stmt.value, stmt.var
                if (
                    isinstance(value, Binary)
                    and value.op in ("max", "min")
                    and _is_var(value.a, var) != _is_var(value.b, var)
                ):
                    updated.add(var.name)
                else:
                    other.add(var.name)

    visit(body)
    return frozenset((constant & updated) - other)


def _is_var(expr: Expr, var: Var) -> bool:
    return isinstance(expr, Var) and expr.name == var.name and expr.dtype == var.dtype
