"""A kernel's parallel nest on a GPU, and whether a recorded launch fits the kernel.

A GPU launch (:class:`~tcomp.ir.kernel.kernel.GpuLaunch`) records how many loops of
the *parallel nest* fold into the grid (``collapse``). The nest is the schedule's
``parallel`` loop (:func:`~tcomp.ir.kernel.analysis.parallel.parallel_loop`, outermost,
after only ``Let`` statements) and, while a level's body is ``Let`` statements and then
exactly one loop whose iterations are independent (no ``Assign`` in it targets a
variable declared outside it), that loop too (:func:`collapse_nest`). A kernel that both
loads from and stores to one buffer (``scatter_add``), or that reads and writes args that
may share memory, may fold only its parallel loop (:func:`collapse_limit`). Any depth up
to the limit is correct: the loops below it run inside each work-item.

:func:`launch_problem` is the kernel verifier's check of a launch against the kernel's
loops (the depth, and the global size each kind derives from it); whether the kernel
can run as the kind says on a dialect (a contraction for a tiled matmul, tensor cores,
vector accesses, a reduction for a work-group) is the GPU renderer's check
(``backends/cfamily/schedule.py`` ``launch_for``), which knows the dialect.
"""

from __future__ import annotations

from tcomp.ir.kernel.analysis.parallel import parallel_loop
from tcomp.ir.kernel.expr import Load, walk
from tcomp.ir.kernel.kernel import (
    GPU_KINDS,
    Assign,
    GpuLaunch,
    Kernel,
    Let,
    Loop,
    Stmt,
    Store,
    statement_exprs,
    walk_statements,
)

MATMUL_KINDS = ("tiled_matmul", "tensor_core")  # their own grid: collapse 0
NEST_KINDS = ("nest", "coarsened", "vector")  # a collapsed nest, one index per work-item


def declared(body: tuple[Stmt, ...]) -> set[str]:
    """Names of the variables ``body`` declares (``Let`` and loop variables), at any depth."""
    names: set[str] = set()
    for stmt in walk_statements(body):
        if isinstance(stmt, (Let, Loop)):
            names.add(stmt.var.name)
    return names


def assigned_outside(loop: Loop) -> set[str]:
    """Names of the variables ``loop``'s body assigns but does not declare: its
    cross-iteration state (empty: the iterations are independent)."""
    inner = declared(loop.body)
    return {
        stmt.var.name
        for stmt in walk_statements(loop.body)
        if isinstance(stmt, Assign) and stmt.var.name not in inner
    }


def buffers_loaded(body: tuple[Stmt, ...]) -> set[str]:
    names: set[str] = set()
    for stmt in walk_statements(body):
        for expr in statement_exprs(stmt):
            names.update(node.buffer for node in walk(expr) if isinstance(node, Load))
    return names


def buffers_stored(body: tuple[Stmt, ...]) -> set[str]:
    return {stmt.buffer for stmt in walk_statements(body) if isinstance(stmt, Store)}


def reads_what_it_writes(kernel: Kernel, aliased: frozenset[str] = frozenset()) -> bool:
    """Whether ``kernel`` loads from a buffer it stores to (or, with ``aliased`` the
    args that may share memory, loads one of them and stores another)."""
    loaded, stored = buffers_loaded(kernel.body), buffers_stored(kernel.body)
    if loaded & stored:
        return True
    return bool(loaded & aliased) and bool(stored & aliased)


def collapse_nest(outer: Loop) -> tuple[Loop, ...]:
    """``outer`` and the independent loops nested in it that may join it, outermost first."""
    nest = [outer]
    while True:
        *lets, last = nest[-1].body or (None,)
        if not isinstance(last, Loop) or not all(isinstance(s, Let) for s in lets):
            break
        if last.extent < 1 or assigned_outside(last):
            break
        nest.append(last)
    return tuple(nest)


def collapse_limit(kernel: Kernel, aliased: frozenset[str] = frozenset()) -> int:
    """The most loops of ``kernel``'s parallel nest that may fold into the grid: 0
    without a parallel loop, 1 for a kernel that reads what it writes, else the length
    of :func:`collapse_nest`. ``aliased``: the args that may share memory."""
    loop = parallel_loop(kernel)
    if loop is None:
        return 0
    if reads_what_it_writes(kernel, aliased):
        return 1
    return len(collapse_nest(loop))


def folded_nest(kernel: Kernel, collapse: int) -> tuple[Loop, ...]:
    """The first ``collapse`` loops of ``kernel``'s parallel nest (``collapse`` at most
    the length of :func:`collapse_nest`; empty for 0 or without a parallel loop)."""
    loop = parallel_loop(kernel)
    if loop is None or collapse < 1:
        return ()
    return collapse_nest(loop)[:collapse]


def nest_indices(nest: tuple[Loop, ...]) -> int:
    """The number of indices of ``nest`` (1 for no loop)."""
    total = 1
    for loop in nest:
        total *= loop.extent
    return total


def launch_problem(
    kernel: Kernel, launch: GpuLaunch, aliased: frozenset[str] = frozenset()
) -> str | None:
    """Why ``kernel`` cannot run as ``launch`` says, as far as its loops tell (the
    collapse depth and the global size it gives), in words; None when it can.
    ``aliased``: the args that may share memory (as for :func:`collapse_limit`)."""
    kind, collapse, local = launch.kind, launch.collapse, launch.local_size
    if kind not in GPU_KINDS:
        return f"kind {kind!r} is not one of {', '.join(GPU_KINDS)}"
    if launch.coarsen < 1 or launch.global_size < 1:
        return f"global {launch.global_size} and coarsen {launch.coarsen} must be >= 1"
    if (local is None) != (kind in NEST_KINDS or kind == "single"):
        return f"a {kind} launch has local size {local!r}"
    if not isinstance(collapse, int) or isinstance(collapse, bool) or collapse < 0:
        return f"collapse = {collapse!r}, not >= 0"
    if kind != "tiled_matmul" and (launch.tm, launch.tn) != (1, 1):
        return f"a {kind} launch has no register tile, yet tm x tn is {launch.tm} x {launch.tn}"
    if kind not in ("coarsened", "vector") and launch.coarsen != 1:
        return f"a {kind} launch runs one index per work-item, yet coarsen is {launch.coarsen}"
    if kind in MATMUL_KINDS or kind == "single":
        if collapse:
            return f"a {kind} launch folds no loop of the kernel, yet collapse is {collapse}"
        if kind == "single" and launch.global_size != 1:
            return f"a single launch runs one work-item, yet global is {launch.global_size}"
        return None
    limit = collapse_limit(kernel, aliased)
    if kind in NEST_KINDS and collapse < 1:
        return f"a {kind} launch folds at least one loop, yet collapse is 0"
    if collapse > limit:
        return (
            f"collapse {collapse} folds more loops than the kernel's parallel nest has "
            f"({limit}: {_limit_reason(kernel, limit, aliased)})"
        )
    indices = nest_indices(folded_nest(kernel, collapse))
    if kind == "nest":
        expected = indices
    elif kind in ("coarsened", "vector"):
        expected = -(-indices // launch.coarsen)
    else:  # group_reduction
        assert local is not None  # checked above
        if local < 1 or local & (local - 1):
            return f"a work-group reduction's group size must be a power of two, not {local}"
        expected = indices * local
    if launch.global_size != expected:
        return (
            f"global {launch.global_size} is not what {kind} with collapse {collapse} "
            f"gives: {expected}"
        )
    return None


def _limit_reason(kernel: Kernel, limit: int, aliased: frozenset[str]) -> str:
    if limit == 0:
        return f"no parallel loop (parallel={kernel.schedule.parallel})"
    if limit == 1 and reads_what_it_writes(kernel, aliased):
        return "it reads what it writes, so only its parallel loop folds"
    names = ", ".join(loop.var.name for loop in folded_nest(kernel, limit))
    return f"{names}; the next loop is not the only statement after lets, or not independent"
