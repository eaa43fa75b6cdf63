"""The CPU thread split as schedule data: which kernels run their parallel loop on threads.

``fuse`` (and the passes that make kernels) name a *candidate* parallel loop in each
kernel's schedule: the outermost output loop, which a GPU maps to work-items whatever
its size. On a CPU, waking threads costs about what a small kernel saves, and only a
loop that is the kernel's whole body after ``let`` statements can be cut into
``start``/``end`` chunks. :func:`schedule_cpu` keeps ``parallel`` where both hold and
clears it elsewhere, so the schedule says what the llvm renderer does:

- the loop can be split (:func:`~tcomp.ir.kernel.analysis.parallel_loop` with
  ``CPU_MIN_EXTENT``: the body's last statement after lets only, two iterations or more);
- the kernel does at least ``min_work`` scalar operations per run
  (:func:`~tcomp.ir.kernel.analysis.kernel_work`, an estimate; :data:`MIN_PARALLEL_WORK`).

Only ``parallel`` changes; the vector, unroll and tile hints stay::

    schedule {parallel=i0, vector={i1: 16}}     // softmax of f32[8,32]: 8 x 32 elements
    ->
    schedule {vector={i1: 16}}                   // far below MIN_PARALLEL_WORK: one thread

The renderer then splits exactly the kernels whose schedule names ``parallel`` (across
``TCOMP_NUM_THREADS`` threads; with one thread the chunk is the whole loop).
It runs last in the llvm pipeline, so it measures the kernels as rendered (after
``split-reductions``, which only splits kernels with no parallel loop, and
``reuse-reduction-terms``).
"""

from __future__ import annotations

import dataclasses

from tcomp.ir.kernel.analysis.parallel import CPU_MIN_EXTENT, parallel_loop
from tcomp.ir.kernel.analysis.work import kernel_work
from tcomp.ir.kernel.kernel import Kernel, Program

MIN_PARALLEL_WORK = 2**20  # below this, waking threads costs about what it saves


def schedule_cpu(program: Program, min_work: int = MIN_PARALLEL_WORK) -> Program:
    """The pass: clears ``parallel`` in every kernel whose loop cannot be split across
    threads or that does less than ``min_work`` work (module docstring)."""
    program.kernels = [_scheduled(kernel, min_work) for kernel in program.kernels]
    return program


def _scheduled(kernel: Kernel, min_work: int) -> Kernel:
    if kernel.schedule.parallel is None or splits(kernel, min_work):
        return kernel
    schedule = dataclasses.replace(kernel.schedule, parallel=None)
    return dataclasses.replace(kernel, schedule=schedule)


def splits(kernel: Kernel, min_work: int = MIN_PARALLEL_WORK) -> bool:
    """Whether ``kernel``'s parallel loop is worth splitting across CPU threads."""
    return parallel_loop(kernel, CPU_MIN_EXTENT) is not None and kernel_work(kernel) >= min_work
