"""Lowering a ``while`` node: its cond's and body's kernels once, in a while loop.

The regions (cond and body, closed graph-IR functions) are fused on their own
(:func:`~.program.fuse_function`) and their kernels join the program: the body's
inside a while loop ``w<id>`` (``Kernel.loops``; ``Program.conditions[w<id>]`` names
the one-element bool buffer the cond's kernels write) that the backends run while
that buffer holds true, testing it before each run. The loop is pre-tested, so the
cond's kernels run once before it and again at the end of each run::

    once:        carry[i] = init[i]
                 ...the cond's kernels (carry in: the carry buffers)...   -> flag
    while flag:  ...the body's kernels (carry in: the carry buffers)...
                 carry[i] = new carry[i]
                 ...the cond's kernels...                                 -> flag

The code, and the compile, do not grow with the trip count (the cond's kernels
are there twice). The carries live in the node's own result buffers, as a scan's.
Cond buffers are renamed ``w<id>_c_<name>``, body buffers ``w<id>_b_<name>``; the
regions' own loops ``w<id>_c0_<loop>`` (the cond before the loop),
``w<id>_c_<loop>`` and ``w<id>_b_<loop>`` (nested scans and while loops).
Each backend reads the flag once per run: llvm in ``tcomp_main``'s loop (which also
polls the interrupt flag), a GPU backend by a one-element read back to the host.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tcomp.ir.graph import Node
from tcomp.ir.kernel.kernel import Kernel, Program, Stmt
from tcomp.ir.kernel.lowering.builder import kernel_args
from tcomp.ir.kernel.lowering.scan import (
    _copy,
    _copy_schedule,
    declare_region_buffers,
    distinct_outputs,
    emit_carry_init,
    rename_buffers,
)

if TYPE_CHECKING:
    from tcomp.ir.kernel.lowering.program import ProgramState


def lower_while(state: "ProgramState", node: Node, tags: tuple[str, ...]) -> None:
    """Appends the kernels of while ``node`` to ``state`` (see the module docstring);
    ``tags``: the repeat loops the while itself runs in."""
    from tcomp.ir.kernel.lowering.program import fuse_function

    cond, body = node.regions
    carries, cond_consts = node.attrs["num_carry"], node.attrs["num_cond_consts"]
    loop = f"w{node.output.id}"
    inner = tags + (loop,)
    inputs = [state.input_buffer(v) for v in node.inputs]
    results = [state.buffer_name(v) for v in node.outputs]
    cond_sub = fuse_function(distinct_outputs(cond))
    body_sub = fuse_function(distinct_outputs(body))
    cond_rename = _adopt(state, cond_sub, results + inputs[carries:carries + cond_consts],
                         f"{loop}_c_")
    body_rename = _adopt(state, body_sub, results + inputs[carries + cond_consts:],
                         f"{loop}_b_")
    flag = cond_rename[cond_sub.outputs[0]]
    state.conditions[loop] = flag

    def emit(body_stmts: tuple[Stmt, ...], loops: tuple[str, ...], origin: str) -> None:
        state.kernels.append(Kernel(
            state.next_kernel_name(), kernel_args(body_stmts, state.buffer_sizes()), body_stmts,
            _copy_schedule(body_stmts), (f"%{node.output.id} while: {origin}",), loops))

    emit_carry_init(emit, node, results, inputs, carries, tags)
    _append(state, cond_sub, cond_rename, tags, f"{loop}_c0_")
    _append(state, body_sub, body_rename, inner, f"{loop}_b_")
    outs = [body_rename[name] for name in body_sub.outputs]
    for j in range(carries):
        size = node.inputs[j].type.size
        if size:
            emit(_copy(results[j], outs[j], size, node.inputs[j].dtype), inner, f"carry {j}")
    _append(state, cond_sub, cond_rename, inner, f"{loop}_c_")


def _adopt(state: "ProgramState", sub: Program, params: list[str], prefix: str) -> dict[str, str]:
    """Declares the buffers of region program ``sub`` in ``state`` (its parameters are
    ``params``; the others, renamed ``prefix + name``, its outputs as temps) and
    returns the renaming."""
    rename = dict(zip(sub.params, params))
    declare_region_buffers(state, sub, prefix, rename)
    return rename


def _append(
    state: "ProgramState", sub: Program, rename: dict[str, str], tags: tuple[str, ...],
    loop_prefix: str,
) -> None:
    """Appends the kernels of ``sub`` through ``rename``, inside ``tags``; its own loops
    are renamed ``loop_prefix + name`` (distinct per copy of the same region)."""
    for name, count in sub.loops.items():
        state.loops[loop_prefix + name] = count
    for name, flag in sub.conditions.items():
        state.conditions[loop_prefix + name] = rename[flag]
    for kernel in sub.kernels:
        state.kernels.append(dataclasses.replace(
            rename_buffers(kernel, rename), name=state.next_kernel_name(),
            loops=tags + tuple(loop_prefix + name for name in kernel.loops)))
