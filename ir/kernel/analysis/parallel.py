"""The loop a kernel's schedule runs in parallel, as every backend reads it.

``schedule.parallel`` names a loop variable; the loop is usable in parallel when it is
the kernel's whole body after nothing but ``Let`` statements (pure, so each thread or
work-item may evaluate them again). How many iterations make a parallel loop worth it
is the backend's choice: a GPU maps even one iteration to a work-item (``min_extent``
1), the CPU splits only loops of two or more iterations across threads
(:data:`CPU_MIN_EXTENT`). :func:`split_problem` says why a schedule's ``parallel`` cannot
be split across CPU threads (the CPU schedule's invariant, checked by
:func:`tcomp.ir.kernel.verifier.verify_cpu_schedule`).
"""

from __future__ import annotations

from tcomp.ir.kernel.kernel import Kernel, Let, Loop

GPU_MIN_EXTENT = 1
CPU_MIN_EXTENT = 2


def parallel_loop(kernel: Kernel, min_extent: int = GPU_MIN_EXTENT) -> Loop | None:
    """The loop ``kernel.schedule.parallel`` names when the body is that loop after nothing
    but ``Let`` statements and it runs at least ``min_extent`` times; else None."""
    name = kernel.schedule.parallel
    if name is None or not kernel.body:
        return None
    *prefix, loop = kernel.body
    if not all(isinstance(stmt, Let) for stmt in prefix):
        return None
    if isinstance(loop, Loop) and loop.var.name == name and loop.extent >= min_extent:
        return loop
    return None


def split_problem(kernel: Kernel, min_extent: int = CPU_MIN_EXTENT) -> str | None:
    """Why the loop ``kernel.schedule.parallel`` names cannot be split across CPU threads
    (``start``/``end`` chunks of its iterations), in words; None when it can, or when the
    schedule names no parallel loop."""
    name = kernel.schedule.parallel
    if name is None or parallel_loop(kernel, min_extent) is not None:
        return None
    top = kernel.body[-1] if kernel.body else None
    if isinstance(top, Loop) and top.var.name == name and parallel_loop(kernel, 0) is not None:
        return (
            f"loop {name} runs {top.extent} time(s); a split across threads needs at least "
            f"{min_extent}"
        )
    return (
        f"loop {name} is not the kernel's outermost loop with nothing but lets before it, "
        "so its iterations cannot be split across threads"
    )
