"""Splitting a contraction with a small output and a long contracted loop along that loop.

The blocked matmul (``backends/llvm/contraction.py``) shares the output's row blocks
between threads and packs the whole of ``B`` (``K x N``) before its first row block. A
convolution's weight gradient is the opposite shape: a few output rows and columns (out
channels by in channels times window taps: 16 x 144 in a CIFAR ResNet's first stage)
and a contracted loop over the batch and the image (32 x 32 x 32 = 32768). Its rows make
one block, so one thread did all the work, packing a 19 MB ``B`` first.

:func:`split_contractions` rewrites such a kernel (no batch loop, ``M * N`` at most
``MAX_OUTPUT``, ``K`` at least ``MIN_K``) into two:

- a *partial* contraction over a new batch loop ``s0`` of ``PARTS`` chunks, parallel
  over ``s0``, each chunk contracting ``K // PARTS`` iterations into its own
  ``[M, N]`` slice of a new temp buffer (``schedule-contractions`` then blocks each
  chunk: its ``B`` panel is ``K // PARTS`` deep);
- a *final* kernel adding the ``PARTS`` partials, then the ``K % PARTS`` leftover
  iterations, then the original epilogue (bias, optimiser update, store)::

    for f0 in 0..16 { for f1 in 0..144 {
      let acc0 = 0; for f2 in 0..32768 { acc0 = acc0 + %a[f0 * 32768 + f2] * %b[f1 * 32768 + f2] }
      %out[f0 * 144 + f1] = acc0 }}
    ->
    for s0 in 0..16 { for f0 in 0..16 { for f1 in 0..144 {
      let acc0 = 0; for f2 in 0..2048 {
        acc0 = acc0 + %a[f0 * 32768 + s0 * 2048 + f2] * %b[f1 * 32768 + s0 * 2048 + f2] }
      %tsplitk0[(s0 * 16 + f0) * 144 + f1] = acc0 }}}
    for f0 in 0..16 { for f1 in 0..144 {
      let acc0 = 0; for s0 in 0..16 { acc0 = acc0 + %tsplitk0[(s0 * 16 + f0) * 144 + f1] }
      %out[f0 * 144 + f1] = acc0 }}

The products are the same; they are summed in another order (chunk by chunk), which
changes float rounding slightly, as a split reduction does.
"""

from __future__ import annotations

from tcomp.ir.kernel.analysis.contraction import Contraction, worth_blocking
from tcomp.ir.kernel.expr import INDEX, Binary, Const, Load, Var, add, const_index, mul
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    Let,
    Loop,
    Program,
    ProgramBuffer,
    Schedule,
    Store,
)
from tcomp.ir.kernel.lowering.builder import buffer_sizes, kernel_args
from tcomp.ir.kernel.lowering.split_reduction import (
    PARTS,
    binds,
    fresh_buffer_name,
    replace_kernels,
    substitute_body,
)
from tcomp.ir.types import TensorType

PART = "s0"  # the partial kernel's loop over chunks
MIN_K = 4096  # contracted iterations from which a split pays
MAX_OUTPUT = 128 * 128  # output elements (M * N) up to which the rows cannot keep threads busy


def split_contractions(program: Program, parts: int = PARTS) -> Program:
    """The pass (see the module docstring); kernels are renumbered when any is split."""
    return replace_kernels(program, lambda kernel: _split(program, kernel, parts))


def _eligible(kernel: Kernel, parts: int) -> Contraction | None:
    if any(arg.access == "inout" for arg in kernel.args):
        return None
    match = worth_blocking(kernel)
    if match is None or match.outer or kernel.body != (match.m_loop,):
        return None
    size_m, size_n, size_k = match.sizes
    if size_m * size_n > MAX_OUTPUT or size_k < max(MIN_K, parts):
        return None
    return None if binds(kernel.body, PART) else match


def _split(program: Program, kernel: Kernel, parts: int) -> list[Kernel] | None:
    match = _eligible(kernel, parts)
    if match is None:
        return None
    size_m, size_n, size_k = match.sizes
    chunk = size_k // parts
    done = chunk * parts
    m, n, k = match.m_loop.var, match.n_loop.var, match.k_loop.var
    acc = match.acc

    name = fresh_buffer_name(program, "tsplitk")
    program.buffers[name] = ProgramBuffer(
        name, TensorType((parts * size_m * size_n,), acc.dtype), "temp")
    sizes = buffer_sizes(program.buffers)
    part = Var(PART, INDEX, parts)
    slot = add(mul(add(mul(part, const_index(size_m)), m), const_index(size_n)), n)

    inner = Var(k.name, INDEX, chunk)
    chunk_loop = Loop(inner, substitute_body(match.k_loop.body, k,
                                             add(mul(part, const_index(chunk)), inner)))
    partial_body = (Loop(part, (Loop(m, (Loop(n, (
        Let(acc, Const(0.0, acc.dtype)), chunk_loop, Store(name, slot, acc))),)),)),)
    partial = Kernel(kernel.name, kernel_args(partial_body, sizes), partial_body,
                     Schedule(parallel=part.name), kernel.origin, kernel.loops)

    combine = Loop(part, (Assign(acc, Binary("add", acc, Load(name, slot, acc.dtype),
                                              acc.dtype)),))
    tail: tuple = ()
    if size_k > done:
        rest = Var(k.name, INDEX, size_k - done)
        tail = (Loop(rest, substitute_body(match.k_loop.body, k,
                                           add(rest, const_index(done)))),)
    n_body = (*match.n_before, Let(acc, Const(0.0, acc.dtype)), combine, *tail,
              *match.n_after)
    final_body = (Loop(m, (*match.m_prefix, Loop(n, n_body))),)
    final = Kernel(kernel.name, kernel_args(final_body, sizes), final_body, Schedule(),
                   kernel.origin, kernel.loops)
    return [partial, final]
