"""The loop a kernel's schedule runs in parallel, as every backend reads it.

``schedule.parallel`` names a loop variable; the loop is usable in parallel when it is
the kernel's whole body after nothing but ``Let`` statements (pure, so each thread or
work-item may evaluate them again). How many iterations make a parallel loop worth it
is the backend's choice: a GPU maps even one iteration to a work-item (``min_extent``
1), the CPU splits only loops of two or more iterations across threads
(:data:`CPU_MIN_EXTENT`).
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
