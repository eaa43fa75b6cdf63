"""Reductions down columns: which vector loops the CPU renders a block of columns at a time.

A reduction over a leading axis (``x.sum(axis=0)``, a bias gradient, the
mean over a batch) lowers to one accumulator per output element, each
summing a strided column::

    for i0 in 0..512 {                          // vector={i0: 16}
      let acc0: f32 = 0.0:f32
      for r0 in 0..256 { acc0 = acc0 + %x[(r0 * 512) + i0] }
      %out[i0] = %p[i0] - (0.01:f32 * acc0)
    }

Rendered as written, every load jumps a whole row ahead and nothing vectorises.
``schedule-cpu`` records, for each vector loop :func:`column_plan` accepts, the
columns per block (:func:`column_block`: :data:`BLOCK_BYTES` of the widest
accumulator) as ``columns={i0: 1024}`` in the schedule; the llvm renderer
(``backends/llvm/column_reduce.py`` ``render_columns``) then runs the loop a block of
columns at a time, the accumulators of a block in an array, the reduction loops
outside the column loop, so the innermost loop reads a contiguous run of each row.
Each column still sums its rows in order: the same bits as the loop as written.

:func:`column_parts` is the shape the rendering needs (Lets, a reduction loop or
nest updating locals declared before it, the rest): the kernel verifier checks that
every loop a schedule's ``columns`` names has it, so a block edited into a schedule by
hand renders (and computes the same values). :func:`column_plan` adds the decision:
the reduction reads columns (a row reduction, contiguous along its reduction loop,
stays as it is).
"""

from __future__ import annotations

from dataclasses import dataclass

from tcomp.ir.kernel.analysis.affine import affine_terms
from tcomp.ir.kernel.expr import Load, Var, walk
from tcomp.ir.kernel.kernel import Assign, Kernel, Let, Loop, Stmt, statement_exprs
from tcomp.ir.types import numpy_dtype

BLOCK_BYTES = 4096  # accumulator bytes per block and accumulator: a page of each row
MIN_BLOCK = 16  # columns per block at least (16 float64 accumulators: two vectors)
MAX_BLOCK = 1 << 16  # columns per block at most: a block's accumulators live on the stack


@dataclass(frozen=True)
class ColumnPlan:
    """``loop``'s body split as ``prelude`` (Lets), ``accumulators`` (their Lets), the
    reduction loop, and ``rest`` (what runs per column after it).

    ``reduction`` may be a nest (a convolution's ``for c { for kh { let ...; for kw
    { acc = acc + ... } } }``): each loop of it but the innermost holds Lets and then
    the next loop; only the innermost updates the accumulators (:func:`_nest`)."""

    prelude: tuple[Let, ...]
    accumulators: tuple[Let, ...]
    reduction: Loop
    rest: tuple[Stmt, ...]

    @property
    def nest(self) -> tuple[Loop, ...]:
        """The reduction loops, outermost first."""
        return _nest(self.reduction) or ()


def _nest(reduction: Loop) -> tuple[Loop, ...] | None:
    """``reduction`` and the loops nested in it, when each body but the innermost is
    Lets then one Loop and the innermost is Lets and Assigns only; else None."""
    chain = [reduction]
    while True:
        body = chain[-1].body
        if not body:
            return None
        if all(isinstance(s, (Let, Assign)) for s in body):
            return tuple(chain)
        if not isinstance(body[-1], Loop) or not all(isinstance(s, Let) for s in body[:-1]):
            return None
        chain.append(body[-1])


def column_parts(loop: Loop) -> ColumnPlan | None:
    """``loop``'s body split as a :class:`ColumnPlan` when it is Lets, one reduction
    loop (or nest, see :class:`ColumnPlan`) whose innermost body only updates locals
    declared before it, then statements that assign none of them; else None."""
    body = loop.body
    first = next((k for k, stmt in enumerate(body) if not isinstance(stmt, Let)), None)
    reduction = None if first is None else body[first]
    if first is None or not isinstance(reduction, Loop):
        return None
    nest = _nest(reduction)
    if nest is None:
        return None
    assigned = {s.var.name for s in nest[-1].body if isinstance(s, Assign)}
    lets = tuple(s for s in body[:first] if isinstance(s, Let))  # all of them, by `first`
    accumulators = tuple(s for s in lets if s.var.name in assigned)
    if not assigned or len(accumulators) != len(assigned):
        return None
    rest = body[first + 1 :]
    if any(_assigns(stmt, assigned) for stmt in rest):
        return None
    prelude = tuple(s for s in lets if s.var.name not in assigned)
    return ColumnPlan(prelude, accumulators, reduction, rest)


def column_plan(loop: Loop) -> ColumnPlan | None:
    """The plan for ``loop`` (a vector loop) when it has :func:`column_parts` and the
    reduction reads a column: for a single loop, some load steps by 1 along ``loop`` and
    by more along the reduction, and none is contiguous along the reduction (a row sum
    stays as it is); for a nest, some load reads ``loop`` and none is contiguous along an
    innermost reduction longer than ``loop`` (:func:`_nest_reads_columns`)."""
    plan = column_parts(loop)
    if plan is None:
        return None
    nest = plan.nest
    if len(nest) == 1:
        if not _reads_columns(plan.reduction, loop.var.name):
            return None
    elif not _nest_reads_columns(nest[-1], loop):
        return None
    return plan


def column_block(plan: ColumnPlan) -> int:
    """Columns per block for ``plan``: :data:`BLOCK_BYTES` of its widest accumulator, at
    least :data:`MIN_BLOCK`."""
    widest = max(numpy_dtype(acc.var.dtype).itemsize for acc in plan.accumulators)
    return max(MIN_BLOCK, BLOCK_BYTES // widest)


def kernel_column_blocks(kernel: Kernel, skip: Loop | None = None) -> dict[str, int]:
    """The ``columns`` schedule entries of ``kernel``: each vector loop name whose every
    loop :func:`column_plan` accepts, with its :func:`column_block` (the smallest, when
    loops of one name differ). Loops inside ``skip`` (a blocked matmul's row loop, which
    the renderer blocks its own way) are not looked at."""
    blocks: dict[str, int] = {}
    refused: set[str] = set()

    def visit(body: tuple[Stmt, ...]) -> None:
        for stmt in body:
            if not isinstance(stmt, Loop) or stmt is skip:
                continue
            name = stmt.var.name
            plan = column_plan(stmt) if name in kernel.schedule.vector else None
            if plan is None:
                if name in kernel.schedule.vector:
                    refused.add(name)
                visit(stmt.body)
            else:  # the renderer writes the reduction's loops itself; the rest as usual
                block = column_block(plan)
                blocks[name] = min(blocks.get(name, block), block)
                visit(plan.rest)

    visit(kernel.body)
    return {name: block for name, block in blocks.items() if name not in refused}


def column_problem(kernel: Kernel) -> str | None:
    """Why ``kernel``'s schedule's ``columns`` cannot be rendered, in words (a block
    above :data:`MAX_BLOCK`, or a loop it names is not Lets, a reduction and the rest:
    :func:`column_parts`); None when it can."""
    names = kernel.schedule.columns
    if not names:
        return None
    for name, block in names.items():
        if isinstance(block, int) and block > MAX_BLOCK:
            return f"columns[{name}] = {block}: at most {MAX_BLOCK} columns per block"
    problems: list[str] = []

    def visit(body: tuple[Stmt, ...]) -> None:
        for stmt in body:
            if isinstance(stmt, Loop):
                if stmt.var.name in names and column_parts(stmt) is None and not problems:
                    problems.append(
                        f"columns names {stmt.var.name}, whose loop is not lets, then a "
                        "reduction into locals declared before it, then the rest"
                    )
                visit(stmt.body)

    visit(kernel.body)
    return problems[0] if problems else None


def _assigns(stmt: Stmt, names: set[str]) -> bool:
    if isinstance(stmt, Assign):
        return stmt.var.name in names
    if isinstance(stmt, Loop):
        return any(_assigns(s, names) for s in stmt.body)
    return False


def _reads_columns(reduction: Loop, column: str) -> bool:
    strided = False
    for stmt in reduction.body:
        for expr in statement_exprs(stmt):
            for node in walk(expr):
                if not isinstance(node, Load):
                    continue
                affine = affine_terms(node.index)
                if affine is None:
                    continue
                coefficients = affine[0]
                step = abs(coefficients.get(reduction.var.name, 0))
                if step == 1 and coefficients.get(column, 0) != 0:
                    return False  # contiguous along the reduction: a row reduction
                if coefficients.get(column, 0) == 1 and step > 1:
                    strided = True
    return strided


def _nest_reads_columns(innermost: Loop, column: Loop) -> bool:
    """Whether a nest's innermost loads read along ``column`` (some index, affine or
    clamped, uses it) and none runs contiguously along an ``innermost`` loop longer
    than ``column`` (a weight gradient's ``for kw in 0..5 { for r in 0..10 ...}``
    stays a row reduction)."""
    reads = False
    for stmt in innermost.body:
        for expr in statement_exprs(stmt):
            for node in walk(expr):
                if not isinstance(node, Load):
                    continue
                if any(isinstance(n, Var) and n.name == column.var.name for n in walk(node.index)):
                    reads = True
                affine = affine_terms(node.index)
                if (
                    affine is not None
                    and abs(affine[0].get(innermost.var.name, 0)) == 1
                    and innermost.extent > column.extent
                ):
                    return False
    return reads
