"""How much work one run of a kernel does, roughly: the CPU schedule's measure.

:func:`kernel_work` counts, for every statement, one operation plus one per node of
its expressions, times the trips of the loops around it. It is an estimate, not
data: the ``schedule-cpu`` pass compares it with ``min_work`` to decide whether a
kernel's parallel loop is split across threads (and records only the decision), and
the llvm backend's run plan sums it to decide whether a call is long enough to be
made interruptible.
"""

from __future__ import annotations

from tcomp.ir.kernel.expr import walk
from tcomp.ir.kernel.kernel import Kernel, Loop, Stmt, statement_exprs


def kernel_work(kernel: Kernel) -> int:
    """A rough count of scalar operations one run of ``kernel`` does."""

    def count(body: tuple[Stmt, ...], trips: int) -> int:
        total = 0
        for stmt in body:
            if isinstance(stmt, Loop):
                total += count(stmt.body, trips * stmt.extent)
            else:
                nodes = sum(sum(1 for _ in walk(e)) for e in statement_exprs(stmt))
                total += trips * (1 + nodes)
        return total

    return count(kernel.body, 1)
