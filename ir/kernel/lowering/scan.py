"""Lowering a ``scan`` node: its body's kernels once, inside a repeat loop.

The body (a closed graph-IR function) is fused on its own
(:func:`~.program.fuse_function`) and its kernels join the program, tagged with
a repeat loop ``s<id>`` (``Kernel.loops``; ``Program.loops[s<id>] = length``)
that the backends run ``length`` times: the code, and the compile, do not grow
with the length. Around them, plain kernels::

    once:        %s<id>_step[0] = 0 (T-1 when reversed); carry[i] = init[i]
    each step:   x view[i] = xs[step * S + i]          (per sequence the body reads)
                 ...the body's kernels (carry in: the carry buffer)...
                 ys[step * S + i] = y[i]                (per stacked result)
                 carry[i] = new carry[i]
                 step[0] = step[0] + 1 (- 1 when reversed)

The carries live in the scan's own result buffers; the step index lives in a
one-element int32 buffer, read by the copies, so a step is only kernels (a GPU
backend enqueues them ``length`` times with no host round trip). Body buffers
are renamed ``s<id>_<name>``, its loops ``s<id>_<loop>`` (nested scans).
The body's results are made distinct computed values first (a result that is a
parameter, a constant or repeated is copied by a ``reshape`` to its own shape),
so every new carry has its own buffer and the carry copies never overlap.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING, Callable, Sequence

from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.kernel.expr import (
    INDEX,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Var,
    add,
    clamp_index,
    const,
    mul,
)
from tcomp.ir.kernel.kernel import Assign, Kernel, Let, Loop, Program, Schedule, Stmt, Store
from tcomp.ir.kernel.lowering.builder import kernel_args
from tcomp.ir.kernel.rewrite import map_expr, with_children
from tcomp.ir.primitives.control_flow import scan_parts
from tcomp.ir.types import TensorType

if TYPE_CHECKING:
    from tcomp.ir.kernel.lowering.program import ProgramState


def distinct_outputs(body: Function) -> Function:
    """``body`` with each output a distinct value computed by a node other than a
    constant (others get a ``reshape`` to their own shape: a copy kernel)."""
    producers = body.producers()
    used: set[Value] = set()
    copies: list[bool] = []
    for value in body.outputs:
        copies.append(value in used or value not in producers
                      or producers[value].op == "constant")
        used.add(value)
    if not any(copies):
        return body
    builder = FunctionBuilder(body.name)
    builder.params = list(body.params)
    builder.nodes = list(body.nodes)
    builder._ids = itertools.count(max(v.id for v in body.all_values()) + 1)
    outputs = [builder.emit("reshape", [value], {"shape": value.shape}) if copy else value
               for value, copy in zip(body.outputs, copies)]
    return builder.finish(outputs, dict(body.metadata))


def lower_scan(state: "ProgramState", node: Node, tags: tuple[str, ...]) -> None:
    """Appends the kernels of scan ``node`` to ``state`` (see the module docstring);
    ``tags``: the repeat loops the scan itself runs in."""
    from tcomp.ir.kernel.lowering.program import fuse_function

    (body,) = node.regions
    carries, xs, _ = scan_parts(len(node.inputs), node.attrs)
    length, reverse = node.attrs["length"], node.attrs["reverse"]
    loop = f"s{node.output.id}"
    inner = tags + (loop,)
    prefix = f"{loop}_"
    inputs = [state.input_buffer(v) for v in node.inputs]
    results = [state.buffer_name(v) for v in node.outputs]
    sub = fuse_function(distinct_outputs(body))

    rename: dict[str, str] = {}
    views: list[tuple[str, str, int]] = []  # (view, stacked, slice size)
    read = {arg.name for kernel in sub.kernels for arg in kernel.args if arg.access != "out"}
    read.update(sub.outputs)
    for index, name in enumerate(sub.params):
        if index < carries:
            rename[name] = results[index]
        elif index < carries + xs and name not in read:
            rename[name] = inputs[index]  # never read: no per-step slice (the view unused)
        elif index < carries + xs:
            view = prefix + f"x{index - carries}"
            state.buffers[view] = dataclasses.replace(sub.buffers[name], name=view, kind="temp")
            rename[name] = view
            views.append((view, inputs[index], sub.buffers[name].size))
        else:
            rename[name] = inputs[index]
    declare_region_buffers(state, sub, prefix, rename)
    step = prefix + "step"
    state.buffers[step] = _buffer(step, TensorType((1,), "int32"))
    state.loops[loop] = length
    for name, count in sub.loops.items():
        state.loops[prefix + name] = count
    for name, flag in sub.conditions.items():  # while loops inside the body
        state.conditions[prefix + name] = rename[flag]
    # clamped, so a copy is memory-safe on any contents (a GPU warm-up launch on scratch)
    step_at = clamp_index(Cast(Load(step, Const(0, INDEX), "int32"), INDEX), max(length, 1))

    def emit(body_stmts: tuple[Stmt, ...], loops: tuple[str, ...], origin: str) -> None:
        state.kernels.append(Kernel(
            state.next_kernel_name(), kernel_args(body_stmts, state.buffer_sizes()), body_stmts,
            _copy_schedule(body_stmts), (f"%{node.output.id} scan: {origin}",), loops))

    start = Const(length - 1 if reverse else 0, "int32")
    emit((Store(step, Const(0, INDEX), start),), tags, "step index")
    emit_carry_init(emit, node, results, inputs, carries, tags)
    for view, stacked, size in views:
        if size and length:
            dtype = state.buffers[view].type.dtype
            emit(_copy(view, stacked, size, dtype, read_at=mul(step_at, Const(size, INDEX))),
                 inner, f"slice of {stacked}")
    for kernel in sub.kernels:
        state.kernels.append(dataclasses.replace(
            rename_buffers(kernel, rename), name=state.next_kernel_name(),
            loops=inner + tuple(prefix + name for name in kernel.loops)))
    outs = [rename[name] for name in sub.outputs]
    for j, value in enumerate(node.outputs[carries:]):
        size = value.type.size // max(length, 1)
        if size and length:
            emit(_copy(results[carries + j], outs[carries + j], size, value.dtype,
                       write_at=mul(step_at, Const(size, INDEX))), inner, f"y {j}")
    for j in range(carries):
        size = node.inputs[j].type.size
        if size:
            emit(_copy(results[j], outs[j], size, node.inputs[j].dtype), inner, f"carry {j}")
    bump = Binary("add", Load(step, Const(0, INDEX), "int32"),
                  Const(-1 if reverse else 1, "int32"), "int32")
    emit((Store(step, Const(0, INDEX), bump),), inner, "next step")


def _buffer(name: str, type: TensorType):
    from tcomp.ir.kernel.kernel import ProgramBuffer

    return ProgramBuffer(name, type, "temp")


def _copy(
    target: str, source: str, size: int, dtype: str,
    read_at: Expr | None = None, write_at: Expr | None = None,
) -> tuple[Stmt, ...]:
    """``target[write_at + i] = source[read_at + i]`` for ``i`` in ``0..size``."""
    i = Var("i0", INDEX, size)
    read = add(read_at, i) if read_at is not None else i
    write = add(write_at, i) if write_at is not None else i
    return (Loop(i, (Store(target, write, Load(source, read, dtype)),)),)


def _copy_schedule(body: tuple[Stmt, ...]) -> Schedule:
    loop = body[0]
    if isinstance(loop, Loop) and loop.extent > 1:
        return Schedule(parallel=loop.var.name)
    return Schedule()


def declare_region_buffers(
    state: "ProgramState", sub: Program, prefix: str, rename: dict[str, str]
) -> None:
    """Declares the buffers of region program ``sub`` other than its parameters in
    ``state``, renamed ``prefix + name`` (its outputs as temps), adding each to ``rename``."""
    for name, buffer in sub.buffers.items():
        if buffer.kind != "param":
            new = prefix + name
            kind = "temp" if buffer.kind == "output" else buffer.kind
            state.buffers[new] = dataclasses.replace(buffer, name=new, kind=kind)
            rename[name] = new


def emit_carry_init(
    emit: Callable[[tuple[Stmt, ...], tuple[str, ...], str], None], node: Node,
    results: Sequence[str], inputs: Sequence[str], carries: int, tags: tuple[str, ...],
) -> None:
    """The kernels before a loop (scan or while) runs: each carry's initial value copied
    into its result buffer, and a store over nothing to each empty result (so that every
    output has a kernel that writes it)."""
    for j in range(carries):
        size = node.inputs[j].type.size
        if size:
            emit(_copy(results[j], inputs[j], size, node.inputs[j].dtype), tags, f"carry {j} init")
    for name, value in zip(results, node.outputs):
        if value.type.size == 0:  # an empty result: a kernel that stores to it, over nothing
            i = Var("i0", INDEX, 0)
            emit((Loop(i, (Store(name, i, const(0, value.dtype)),)),), tags, "empty")


def rename_buffers(kernel: Kernel, rename: dict[str, str]) -> Kernel:
    """``kernel`` with its buffers renamed through ``rename`` (args, loads, stores)."""
    memo: dict[Expr, Expr] = {}

    def renamed(node: Expr, children: Sequence[Expr]) -> Expr:
        if isinstance(node, Load):
            return Load(rename.get(node.buffer, node.buffer), children[0], node.dtype)
        return with_children(node, children)

    def expr(e: Expr) -> Expr:
        return map_expr(e, lambda node: None, renamed, memo)

    def stmt(s: Stmt) -> Stmt:
        if isinstance(s, Loop):
            return Loop(s.var, tuple(stmt(x) for x in s.body))
        if isinstance(s, (Let, Assign)):
            return type(s)(s.var, expr(s.value))
        return Store(rename.get(s.buffer, s.buffer), expr(s.index), expr(s.value))

    args = tuple(dataclasses.replace(a, name=rename.get(a.name, a.name)) for a in kernel.args)
    return dataclasses.replace(kernel, args=args, body=tuple(stmt(s) for s in kernel.body))
