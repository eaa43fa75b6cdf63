"""How much work one run of a kernel does, roughly: the CPU schedule's measure.

:func:`kernel_work` counts, for every statement, one operation plus one per node of
its expressions, times the trips of the loops around it. It is an estimate, not
data: the ``schedule-cpu`` pass compares it with ``min_work`` to decide whether a
kernel's parallel loop is split across threads (and records only the decision), and
the llvm backend's run plan sums it to decide whether a call is long enough to be
made interruptible.

A node of a math-library function (``exp``, ``tanh``, ``erf``, float ``pow``, a
Threefry call ...) counts :data:`LIBRARY_CALL_WORK` operations rather than one: a
vectorised ``tanh`` is a polynomial of about twenty instructions, and counted as one
node a GELU over 2**18 floats (0.4 ms on one core) looked like a quarter of that.
"""

from __future__ import annotations

from tcomp.ir.kernel.call import Call
from tcomp.ir.kernel.expr import FLOAT_TYPES, Binary, Expr, Unary, walk
from tcomp.ir.kernel.kernel import Kernel, Loop, Stmt, statement_exprs
from tcomp.ir.kernel.ops import MATH_OPS

LIBRARY_CALL_WORK = 20  # operations counted for one math-library function (see above)
_LIBRARY_UNARY = MATH_OPS | {"exp", "log", "tanh", "sin", "cos", "logistic"}


def kernel_work(kernel: Kernel) -> int:
    """A rough count of scalar operations one run of ``kernel`` does."""

    def count(body: tuple[Stmt, ...], trips: int) -> int:
        total = 0
        for stmt in body:
            if isinstance(stmt, Loop):
                total += count(stmt.body, trips * stmt.extent)
            else:
                nodes = sum(sum(_node_work(n) for n in walk(e)) for e in statement_exprs(stmt))
                total += trips * (1 + nodes)
        return total

    return count(kernel.body, 1)


def _node_work(node: Expr) -> int:
    if isinstance(node, Unary) and node.op in _LIBRARY_UNARY:
        return LIBRARY_CALL_WORK
    if isinstance(node, Binary) and node.op == "pow" and node.dtype in FLOAT_TYPES:
        return LIBRARY_CALL_WORK
    if isinstance(node, Call):
        return LIBRARY_CALL_WORK
    return 1
