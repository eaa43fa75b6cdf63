"""Building one kernel: inlining graph values into expressions, then hoisting.

:class:`KernelBuilder` computes one root value of the fusion plan. Asked for
element ``idx`` of a graph value, it loads it when the value has a buffer
(a parameter, another root, a constant buffer) and otherwise applies the
value's primitive lowering to accessors of its inputs, remembering each
(value, idx) so a value read twice at one index is built once. The store
expression then goes through :class:`~.hoist.Hoister`::

    root %3 = add(exp(%1), %2)  (f32[4,3])
    -> for i0 in 0..4 { for i1 in 0..3 {
         %t3[i0 * 3 + i1] = exp(%p0[i0 * 3 + i1]) + %p1[i0 * 3 + i1] } }
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from tcomp.ir.graph import Node, Value
from tcomp.ir.kernel.expr import (
    INDEX,
    Cast,
    Expr,
    Load,
    Reduce,
    Var,
    const,
    const_index,
    flat_index,
    walk,
)
from tcomp.ir.kernel.kernel import (
    Kernel,
    KernelArg,
    Loop,
    ProgramBuffer,
    Schedule,
    Stmt,
    Store,
    statement_exprs,
    walk_statements,
)
from tcomp.ir.kernel.lowering.context import Accessor, Index, LoweringContext, uniform_const
from tcomp.ir.kernel.lowering.hoist import Hoister, NameGen, Rematerialize
from tcomp.ir.kernel.lowering.storage import lower_node
from tcomp.ir.kernel.lowering.table import (
    ExpressionLowering,
    KernelLowering,
    builds_kernel,
    lowering_for,
)

if TYPE_CHECKING:
    from tcomp.ir.kernel.lowering.program import ProgramState

VECTOR_WIDTHS = {"float32": 16, "float64": 8, "int32": 16, "bfloat16": 16}
MAX_INDEX_PATTERNS = 2  # a shared inlined value read at more index vectors gets a buffer


class KernelBuilder:
    """Builds the kernel of one root value (see the module docstring)."""

    def __init__(self, state: "ProgramState", root: Value) -> None:
        self.state = state
        self.plan = state.plan
        self.root = root
        self.names = NameGen()
        self.memo: dict[tuple[Value, tuple[Expr, ...]], Expr] = {}
        self.accessors: dict[Value, Accessor] = {}
        self.patterns: dict[Value, set[tuple[Expr, ...]]] = {}
        self.reduce_origin: dict[Expr, Value] = {}
        self.reduce_runs: dict[Value, int] = {}
        self.fused: list[Node] = []

    # -- services for LoweringContext ---------------------------------------

    def fresh_var(self, prefix: str, extent: int | None = None, dtype: str = INDEX) -> Var:
        return self.names.fresh(prefix, dtype, extent)

    def constant_accessor(self, node: Node) -> Accessor:
        dtype = node.output.dtype
        uniform = uniform_const(node.attrs["value"], dtype)
        if uniform is not None:
            return lambda idx: uniform
        name = self.state.constant_buffer(node)
        shape = node.output.shape
        return lambda idx: Load(name, flat_index(idx, shape), dtype)

    # -- inlining -------------------------------------------------------------

    def accessor(self, value: Value) -> Accessor:
        """The lowered accessor of a node-defined value, built once per kernel."""
        found = self.accessors.get(value)
        if found is None:
            node = self.state.producers[value]
            lowering = lowering_for(node.op)
            if builds_kernel(lowering):
                raise TypeError(f"{node.op} cannot be inlined into an expression")
            inputs = [self._reader(v) for v in node.inputs]
            rule = typing.cast(ExpressionLowering, lowering)
            found = lower_node(rule, LoweringContext(self, node), node, inputs)
            self.accessors[value] = found
            self.fused.append(node)
        return found

    def _reader(self, value: Value) -> Accessor:
        return lambda idx: self.read(value, idx)

    def read(self, value: Value, idx: Index) -> Expr:
        """Element ``idx`` of ``value`` as an expression: a load or the inlined computation."""
        buffer = self.state.buffer_of(value)
        if buffer is not None:
            return Load(buffer, flat_index(idx, value.shape), value.dtype)
        return self.compute(value, idx)

    def compute(self, value: Value, idx: Index) -> Expr:
        key = (value, tuple(idx))
        found = self.memo.get(key)
        if found is not None:
            return found
        if not self.state.is_cheap(value) and len(self.plan.users.get(value, ())) > 1:
            seen = self.patterns.setdefault(value, set())
            seen.add(key[1])
            if len(seen) > MAX_INDEX_PATTERNS:
                raise Rematerialize(value, f"it is read at {len(seen)} index vectors")
        result = self.accessor(value)(list(idx))
        reduced = result.x if isinstance(result, Cast) else result  # f16 matmul: f16(reduce)
        if isinstance(reduced, Reduce):
            self.reduce_origin.setdefault(reduced, value)
        self.memo[key] = result
        return result

    def placed(self, expr: Reduce, trips: int) -> None:
        """Counts the runs of each graph value's reductions; more runs than the value
        has elements means recomputation: the value should have a buffer."""
        value = self.reduce_origin.get(expr)
        if value is None:
            return
        total = self.reduce_runs[value] = self.reduce_runs.get(value, 0) + trips
        if total > value.type.size:
            raise Rematerialize(
                value, f"its reductions would run {total} times for {value.type.size} elements"
            )

    # -- kernels --------------------------------------------------------------

    def output_loops(
        self, shape: tuple[int, ...], prefix: str = "i"
    ) -> tuple[list[Var], list[Expr]]:
        """One loop variable per axis longer than 1 (a length-1 axis reads index 0)."""
        loops: list[Var] = []
        idx: list[Expr] = []
        for axis, extent in enumerate(shape):
            if extent == 1:
                idx.append(const_index(0))
            else:
                var = Var(f"{prefix}{axis}", INDEX, extent)
                loops.append(var)
                idx.append(var)
        return loops, idx

    def build(self) -> Kernel | None:
        """The root's kernel (None when the root has no elements)."""
        root = self.root
        if root.type.size == 0:
            if root not in self.state.outputs:
                return None
            # an empty output still has a kernel that "writes" it, over no iterations
            self.fused.append(self.state.producers[root])
            var = Var("i0", INDEX, 0)
            store = Store(self.state.buffer_name(root), var, const(0, root.dtype))
            return self.finish((Loop(var, (store,)),), parallel=None)
        lowering = lowering_for(self.state.producers[root].op)
        if builds_kernel(lowering):
            self.fused.append(self.state.producers[root])
            body = typing.cast(KernelLowering, lowering)(self, self.state.producers[root])
            return self.finish(body, parallel=None)
        loops, idx = self.output_loops(root.shape)
        value = self.compute(root, idx)
        store = Store(self.state.buffer_name(root), flat_index(idx, root.shape), value)
        body = self.hoist(loops, [store])
        vector = {}
        width = VECTOR_WIDTHS.get(root.dtype)
        if loops and width:
            vector[loops[-1].name] = width
        return self.finish(body, loops[0].name if loops else None, vector)

    def hoist(self, loops: list[Var], stores: list[Store]) -> tuple[Stmt, ...]:
        return Hoister(self.names, self.placed).build_nest(loops, stores)

    def finish(
        self, body: tuple[Stmt, ...], parallel: str | None, vector: dict[str, int] | None = None
    ) -> Kernel:
        order = self.state.node_order
        fused = sorted(set(self.fused), key=lambda n: order[n.output])
        origin = tuple(f"%{n.output.id} {n.op}" for n in fused)
        return Kernel(
            name=self.state.next_kernel_name(),
            args=kernel_args(body, self.state.buffer_sizes()),
            body=body,
            schedule=Schedule(parallel=parallel, vector=dict(vector or {})),
            origin=origin,
        )


def buffer_sizes(buffers: Mapping[str, ProgramBuffer]) -> Callable[[str], tuple[str, int]]:
    """``name -> (dtype, size in elements)`` over ``buffers`` (what :func:`kernel_args` asks)."""

    def lookup(name: str) -> tuple[str, int]:
        buffer = buffers[name]
        return buffer.type.dtype, buffer.size

    return lookup


def kernel_args(
    body: tuple[Stmt, ...], buffers: Callable[[str], tuple[str, int]]
) -> tuple[KernelArg, ...]:
    """The buffers a kernel body touches: read ones first (in order of first use), then
    written-only ones; ``buffers(name)`` gives each one's (dtype, size)."""
    reads: dict[str, None] = {}
    writes: dict[str, None] = {}
    for stmt in walk_statements(body):
        if isinstance(stmt, Store):
            writes.setdefault(stmt.buffer)
        for expr in statement_exprs(stmt):
            for node in walk(expr):
                if isinstance(node, Load):
                    reads.setdefault(node.buffer)
    args = []
    for name in list(reads) + [w for w in writes if w not in reads]:
        dtype, size = buffers(name)
        access = "inout" if name in reads and name in writes else "in" if name in reads else "out"
        args.append(KernelArg(name, dtype, size, access))
    return tuple(args)


def constant_array(node: Node) -> np.ndarray:
    """A constant node's value as a C-contiguous array of its own shape (0-d stays 0-d)."""
    return np.array(node.attrs["value"], order="C", copy=True)
