"""The CPU schedule's last decisions as data: which kernels run their parallel loop on
threads, and which vector loops run as blocks of columns.

``fuse`` (and the passes that make kernels) name a *candidate* parallel loop in each
kernel's schedule: the outermost output loop, which a GPU maps to work-items whatever
its size. On a CPU, waking threads costs about what a small kernel saves, and only a
loop that is the kernel's whole body after ``let`` statements can be cut into
``start``/``end`` chunks. :func:`schedule_cpu` keeps ``parallel`` where both hold and
clears it elsewhere, so the schedule says what the llvm renderer does:

- the loop can be split (:func:`~tcomp.ir.kernel.analysis.parallel_loop` with
  ``CPU_MIN_EXTENT``: the body's last statement after lets only, two iterations or more);
- the kernel does at least ``min_work`` scalar operations per run
  (:func:`~tcomp.ir.kernel.analysis.kernel_work`, an estimate; :data:`MIN_PARALLEL_WORK`),
  a blocked matmul's work counted :data:`BLOCKED_SPEEDUP` times smaller (its packed
  micro-kernel does about that many of the estimate's operations per nanosecond more
  than a fused elementwise loop).

The threshold is a time: a thread sleeping in the pool (tcomp's libgomp runs passive,
see ``backends/llvm/runtime.py``) takes 50-80 us to wake on the 2-core development
machine, so a split pays only for kernels of about :data:`MIN_PARALLEL_NS` or more on one
core. ``python -m bench.checks.thread_split`` times kernels of growing size run on one
thread and split in two, with the estimate beside them; the constants come from it
(fused kernels: about 40 operations per ns, blocked matmuls about 400). Before (one
threshold of 2**20 operations) a 64x64 matmul (14 us on one thread) took 78 us split,
and the small matmuls of min-char-rnn's step 10-15 us each took 50-150 us.

The vector, unroll and tile hints stay::

    schedule {parallel=i0, vector={i1: 16}}     // softmax of f32[8,32]: 8 x 32 elements
    ->
    schedule {vector={i1: 16}}                   // far below MIN_PARALLEL_WORK: one thread

The renderer then splits exactly the kernels whose schedule names ``parallel`` (across
``TCOMP_NUM_THREADS`` threads; with one thread the chunk is the whole loop).

Column blocks: a vector loop holding a reduction down columns (``x.sum(axis=0)``, a
bias gradient, a convolution's reduction nest under its output columns) gets a
``columns`` entry, the columns per block the llvm renderer runs it in
(:func:`tcomp.ir.kernel.analysis.columns.kernel_column_blocks`; a blocked matmul's row
loop, which the renderer blocks its own way, is left alone)::

    schedule {vector={i0: 16}}  ->  schedule {vector={i0: 16}, columns={i0: 1024}}
It runs last in the llvm pipeline, so it measures the kernels as rendered (after
``split-reductions``, which only splits kernels with no parallel loop, and
``reuse-reduction-terms``).
"""

from __future__ import annotations

import dataclasses

from tcomp.ir.kernel.analysis.columns import kernel_column_blocks
from tcomp.ir.kernel.analysis.contraction import blocked_contraction
from tcomp.ir.kernel.analysis.overlap import overlapping_temps
from tcomp.ir.kernel.analysis.parallel import CPU_MIN_EXTENT, parallel_loop
from tcomp.ir.kernel.analysis.work import kernel_work
from tcomp.ir.kernel.kernel import Kernel, Program

MIN_PARALLEL_NS = 150_000  # one core's time below which a split loses (module docstring)
OPS_PER_NS = 40  # kernel_work operations per nanosecond, fused loops on one core
BLOCKED_SPEEDUP = 10  # a blocked matmul does this many times more per nanosecond
MIN_PARALLEL_WORK = MIN_PARALLEL_NS * OPS_PER_NS  # 6,000,000


def schedule_cpu(program: Program, min_work: int = MIN_PARALLEL_WORK) -> Program:
    """The pass: clears ``parallel`` in every kernel whose loop cannot be split across
    threads or that does less than ``min_work`` work, and records the column blocks of
    each kernel's column reductions (module docstring)."""
    program.kernels = [
        _with_columns(program, _scheduled(kernel, min_work)) for kernel in program.kernels
    ]
    return program


def _scheduled(kernel: Kernel, min_work: int) -> Kernel:
    if kernel.schedule.parallel is None or splits(kernel, min_work):
        return kernel
    schedule = dataclasses.replace(kernel.schedule, parallel=None)
    return dataclasses.replace(kernel, schedule=schedule)


def _with_columns(program: Program, kernel: Kernel) -> Kernel:
    """``kernel`` with its schedule's ``columns``: the column blocks of its vector loops,
    outside a blocked matmul's row loop (rendered blocked unless its args may overlap,
    as the llvm renderer decides)."""
    blocked = None if overlapping_temps(program, kernel) else blocked_contraction(kernel)
    columns = kernel_column_blocks(kernel, blocked.m_loop if blocked is not None else None)
    if columns == kernel.schedule.columns:
        return kernel
    schedule = dataclasses.replace(kernel.schedule, columns=columns)
    return dataclasses.replace(kernel, schedule=schedule)


def splits(kernel: Kernel, min_work: int = MIN_PARALLEL_WORK) -> bool:
    """Whether ``kernel``'s parallel loop is worth splitting across CPU threads."""
    if parallel_loop(kernel, CPU_MIN_EXTENT) is None:
        return False
    return split_work(kernel) >= min_work


def split_work(kernel: Kernel) -> int:
    """The work :func:`splits` compares with ``min_work``: :func:`kernel_work`, divided by
    :data:`BLOCKED_SPEEDUP` for a blocked matmul (a schedule with a ``tile``, set by
    ``schedule-contractions``)."""
    work = kernel_work(kernel)
    return work // BLOCKED_SPEEDUP if kernel.schedule.tile else work
