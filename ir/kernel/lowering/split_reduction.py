"""Splitting a big reduction with a tiny output into a parallel partial kernel and a final one.

A kernel whose output is a single element (a full ``sum``/``max``/``min``)
has no outer loop to split across threads (``schedule.parallel`` is None), so
it runs on one core however long its reduction loop. :func:`split_reductions`
rewrites such a kernel, when its reduction runs at least
``MIN_SPLIT_ELEMENTS`` times, into two:

- a *partial* kernel over a new loop ``s0`` of ``PARTS`` chunks (a fixed
  count, so the kernel text does not depend on the machine), parallel over
  ``s0``, each chunk reducing ``extent // PARTS`` iterations of the
  original loop into its own element of a new temp buffer;
- a *final* kernel combining the ``PARTS`` partials with the same op, then
  the ``extent % PARTS`` leftover iterations (so no chunk needs a bound
  check and no load can go out of range), then the original statements
  after the loop (the fused epilogue and the store).

Only ``add``/``max``/``min`` accumulators are split (an argmax is left as is),
only the kernel's first top-level loop (a second reduction that follows, as in
``(x - x.max()).sum()``, stays serial in the final kernel), and only kernels
without an output loop (one output element).
Summing in another order changes float rounding slightly. Example::

    kernel k0(in %p0: f32[1000003], out %t1: f32[1]) {  // %1 reduce_sum
      let acc0: f32 = 0.0:f32
      for r0 in 0..1000003 {
        acc0 = acc0 + %p0[r0]
      }
      %t1[0] = acc0
    }
    ->
    kernel k0(in %p0: f32[1000003], out %tsplit0: f32[16]) {  // %1 reduce_sum
      schedule {parallel=s0}
      for s0 in 0..16 {
        let acc0: f32 = 0.0:f32
        for r0 in 0..62500 {
          acc0 = acc0 + %p0[(s0 * 62500) + r0]
        }
        %tsplit0[s0] = acc0
      }
    }
    kernel k1(in %tsplit0: f32[16], in %p0: f32[1000003], out %t1: f32[1]) {  // %1 reduce_sum
      let acc0: f32 = 0.0:f32
      for s0 in 0..16 {
        acc0 = acc0 + %tsplit0[s0]
      }
      for r0 in 0..3 {
        acc0 = acc0 + %p0[r0 + 1000000]
      }
      %t1[0] = acc0
    }
"""

from __future__ import annotations

from typing import Callable

from tcomp.ir.kernel.expr import (
    INDEX,
    Binary,
    Const,
    Expr,
    Load,
    Var,
    add,
    binary,
    const_index,
    mul,
)
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    Let,
    Loop,
    Program,
    ProgramBuffer,
    Schedule,
    Stmt,
    Store,
    walk_statements,
)
from tcomp.ir.kernel.lowering.builder import buffer_sizes, kernel_args
from tcomp.ir.kernel.rewrite import substitute as substitute_exprs
from tcomp.ir.kernel.rewrite import with_children_simplified
from tcomp.ir.types import TensorType

PARTS = 16  # chunks of a split reduction (fixed: the kernel text stays deterministic)
GPU_PARTS = 1024  # chunks for GPU backends: a work-group each, thousands of threads in all
MIN_SPLIT_ELEMENTS = 2**16  # iterations of the reduction body below which no split pays
SPLIT_OPS = ("add", "max", "min")


def split_reductions(program: Program, parts: int = PARTS) -> Program:
    """The pass: splits every eligible kernel (see the module docstring) into ``parts``
    chunks and renumbers the kernels ``k0, k1, ...``. ``PARTS`` (16) suits CPU threads; a
    GPU backend asks for more (``GPU_PARTS``), so the chunks fill its multiprocessors."""
    return replace_kernels(program, lambda kernel: _split(program, kernel, parts))


def replace_kernels(
    program: Program, split: Callable[[Kernel], list[Kernel] | None]
) -> Program:
    """``program`` with each kernel replaced by ``split(kernel)`` where that is not None,
    the kernels renumbered ``k0, k1, ...`` when any was (also ``split_contraction.py``)."""
    kernels: list[Kernel] = []
    for kernel in program.kernels:
        pieces = split(kernel)
        kernels.extend(pieces if pieces is not None else [kernel])
    if len(kernels) != len(program.kernels):
        for number, kernel in enumerate(kernels):
            kernel.name = f"k{number}"
        program.kernels = kernels
    return program


def _split(program: Program, kernel: Kernel, parts: int) -> list[Kernel] | None:
    if kernel.schedule.parallel is not None or not kernel.schedule.is_default():
        return None
    body = kernel.body
    at = next((i for i, s in enumerate(body) if isinstance(s, Loop)), None)
    if at is None or at == 0 or not all(isinstance(s, Let) for s in body[:at]):
        return None
    init, loop = body[at - 1], body[at]
    assert isinstance(init, Let) and isinstance(loop, Loop)
    acc = init.var
    if not isinstance(init.value, Const) or loop.extent < parts:
        return None
    op = _accumulator_op(loop, acc)
    if op is None or _trips(loop.body, loop.extent, acc) < MIN_SPLIT_ELEMENTS:
        return None

    chunk, done = loop.extent // parts, (loop.extent // parts) * parts
    part = Var("s0", INDEX, parts)
    if binds(body, part.name):
        return None
    name = fresh_buffer_name(program)
    program.buffers[name] = ProgramBuffer(name, TensorType((parts,), acc.dtype), "temp")
    sizes = buffer_sizes(program.buffers)

    inner = Var(loop.var.name, INDEX, chunk)
    chunk_loop = Loop(inner, substitute_body(loop.body, loop.var, add(mul(part, const_index(chunk)),
                                                                   inner)))
    partial_body = (*body[: at - 1],
                    Loop(part, (init, chunk_loop, Store(name, part, acc))))
    partial = Kernel(kernel.name, kernel_args(partial_body, sizes), partial_body,
                     Schedule(parallel=part.name), kernel.origin, kernel.loops)

    combine = Loop(part, (Assign(acc, binary(op, acc, Load(name, part, acc.dtype))),))
    final_body: list[Stmt] = [*body[:at], combine]
    if loop.extent > done:
        rest = Var(loop.var.name, INDEX, loop.extent - done)
        final_body.append(Loop(rest, substitute_body(loop.body, loop.var,
                                                 add(rest, const_index(done)))))
    final_body.extend(body[at + 1 :])
    final = Kernel(kernel.name, kernel_args(tuple(final_body), sizes), tuple(final_body),
                   Schedule(), kernel.origin, kernel.loops)
    return [partial, final]


def _accumulator_op(loop: Loop, acc: Var) -> str | None:
    """The op of ``acc = op(acc, x)``, when that is all the loop does to the outside."""
    op = None
    for stmt in walk_statements(loop.body):
        if isinstance(stmt, Store):
            return None
        if isinstance(stmt, Assign):
            value = stmt.value
            if (stmt.var != acc or not isinstance(value, Binary) or value.a != acc
                    or value.op not in SPLIT_OPS or (op is not None and value.op != op)):
                return None
            op = value.op
    return op


def _trips(body: tuple[Stmt, ...], trips: int, acc: Var) -> int:
    """How many times the assignment to ``acc`` runs."""
    total = 0
    for stmt in body:
        if isinstance(stmt, Loop):
            total += _trips(stmt.body, trips * stmt.extent, acc)
        elif isinstance(stmt, Assign) and stmt.var == acc:
            total += trips
    return total


def binds(body: tuple[Stmt, ...], name: str) -> bool:
    """Whether a loop or let anywhere in ``body`` binds ``name`` (a split's new loop
    variable must not; also ``split_contraction.py``)."""
    return any(isinstance(stmt, (Loop, Let)) and stmt.var.name == name
               for stmt in walk_statements(body))


def fresh_buffer_name(program: Program, prefix: str = "tsplit") -> str:
    """``prefix`` and the first number no buffer of ``program`` has yet (also used by
    ``split_contraction.py``)."""
    n = 0
    while f"{prefix}{n}" in program.buffers:
        n += 1
    return f"{prefix}{n}"


def substitute_body(body: tuple[Stmt, ...], var: Var, by: Expr) -> tuple[Stmt, ...]:
    """``body`` with the loop variable ``var`` replaced by ``by`` in every statement
    (:func:`substitute`; also used by ``split_regions.py``)."""
    memo: dict[Expr, Expr] = {}
    out: list[Stmt] = []
    for stmt in body:
        if isinstance(stmt, Loop):
            out.append(Loop(stmt.var, substitute_body(stmt.body, var, by)))
        elif isinstance(stmt, Let):
            out.append(Let(stmt.var, substitute(stmt.value, var, by, memo)))
        elif isinstance(stmt, Assign):
            out.append(Assign(stmt.var, substitute(stmt.value, var, by, memo)))
        else:
            out.append(Store(stmt.buffer, substitute(stmt.index, var, by, memo),
                             substitute(stmt.value, var, by, memo)))
    return tuple(out)


def substitute(expr: Expr, var: Var, by: Expr, memo: dict[Expr, Expr]) -> Expr:
    """``expr`` with ``var`` replaced by ``by`` (index arithmetic re-simplified; ``memo``
    shares the work between calls on one body)."""
    return substitute_exprs(expr, {var: by}, with_children_simplified, memo)


__all__ = ["MIN_SPLIT_ELEMENTS", "PARTS", "split_reductions", "substitute", "substitute_body"]
