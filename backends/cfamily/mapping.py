"""How a kernel's loops map onto a GPU's work-items and work-groups (pure analysis).

:func:`mapping_decision` decides, for the ``map-gpu`` pass
(:mod:`tcomp.backends.cfamily.schedule`), how many loops collapse and whether a
reduction gets a work-group, and of what size; the pass records both in the kernel's
launch (``collapse``, ``local``). :func:`build_mapping` rebuilds the structure the
renderer (:mod:`tcomp.backends.cfamily.render`) writes from those recorded decisions,
whatever decided them (a hand-edited launch too); :func:`map_kernel` is both at once.
The parallel nest itself (which loops may collapse) is
:mod:`tcomp.ir.kernel.analysis.gpu_nest`, which the kernel verifier shares. The rules of
the decision:

1. **Collapse.** The schedule's ``parallel`` loop (outermost, after only
   ``Let`` statements) is the first level of the *parallel nest*. While a
   level's body is ``Let`` statements and then exactly one loop whose
   iterations are independent (no ``Assign`` in it targets a variable
   declared outside it), that loop joins the nest. The nest becomes one
   global index, the loop variables recovered by div/mod, innermost fastest,
   so adjacent work-items touch adjacent addresses; the ``Let`` statements
   between levels are recomputed by every work-item (they are pure). A kernel
   that both loads from and stores to one buffer (``scatter_add``), or that
   reads and writes arena temps that may overlap, is not collapsed below its
   parallel loop. Example: ``for i0 in 0..64 { for i1 in 0..100 { %t[i0*100+i1]
   = ... } }`` runs as 6400 work-items with ``i0 = g / 100`` and ``i1 = g % 100``;
   a matmul (``for i0 { for i1 { let acc; for r0 {...}; store } }``) as one
   work-item per output element.

2. **Work-group reductions.** When the per-work-item body (what is left
   inside the nest; the whole body of a kernel without a parallel loop)
   holds a reduction over at least :data:`MIN_GROUP_REDUCTION` elements (a
   loop whose only cross-iteration state is accumulators declared just before
   it, each updated as ``acc = acc OP term`` with OP one of add, mul, max,
   min, and, or and ``term`` free of accumulators), each index of the nest
   gets one work-group of ``L`` work-items (a power of two, at most
   :data:`MAX_GROUP_SIZE`) instead of one work-item. In the body,
   reductions accumulate strided partials (``r = lid, lid + L, ...``) that a
   tree in local memory combines (every work-item then holds the result);
   independent loops are strided across the group the same way; top-level
   stores are done by work-item 0; everything else (``Let``, ``Assign``,
   serial loops without stores) is recomputed by every work-item. Row
   softmax, layer_norm and sums over a long axis become one group per row.
   A collapsed nest that already has :data:`ENOUGH_WORK_ITEMS` indices keeps
   one work-item per index (a big matmul), and a store inside a serial loop,
   or a buffer both loaded and stored, rules groups out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from tcomp.ir.kernel.analysis.gpu_nest import (
    assigned_outside,
    collapse_limit,
    declared,
    folded_nest,
    reads_what_it_writes,
)
from tcomp.ir.kernel.expr import Binary, Const, Expr, Var, free_vars
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    Let,
    Loop,
    Stmt,
    Store,
    statement_exprs,
    walk_statements,
)

MIN_GROUP_REDUCTION = 64  # reduced extents from which a reduction gets a work-group
MAX_GROUP_SIZE = 256  # the largest work-group the renderer asks for
ENOUGH_WORK_ITEMS = 16384  # a collapsed nest this large keeps one work-item per index
COMBINE_OPS = ("add", "mul", "max", "min", "and", "or")


@dataclass(frozen=True)
class Accumulator:
    """A local scalar that a reduction loop combines into with ``op``."""

    var: Var
    op: str


@dataclass(frozen=True)
class GroupStep:
    """One top-level statement of a work-group body and how the group runs it.

    ``kind``:

    - ``"all"``: every work-item runs it (a ``Let``, ``Assign`` or serial loop);
    - ``"partial"``: the ``Let`` of an accumulator (``accumulators[0]``): work-item 0
      starts from its value, the others from the identity of the op;
    - ``"reduce"``: a reduction loop, ``levels`` its flattened perfect nest strided
      over the group, then a tree combine of each of ``accumulators``;
    - ``"strided"``: an independent loop, ``levels`` strided over the group;
    - ``"once"``: a store, by work-item 0 only.
    """

    kind: str
    stmt: Stmt
    levels: tuple[Loop, ...] = ()
    accumulators: tuple[Accumulator, ...] = ()

    @property
    def extent(self) -> int:
        """The number of iterations of the flattened ``levels``."""
        return _product(loop.extent for loop in self.levels)


@dataclass(frozen=True)
class KernelMapping:
    """Where a kernel's statements run on the GPU (see the module docstring).

    ``prefix``: the kernel-level ``Let`` statements before the parallel nest (the
    whole body when there is no nest); ``nest``: the collapsed loops, outermost
    first (each level's body is its ``Let`` statements and the next level);
    ``body``: what one index of the nest runs; ``local_size``: None for one
    work-item per index, ``L`` for one work-group of ``L`` per index, then
    ``steps`` says how the group runs ``body``.
    """

    prefix: tuple[Stmt, ...]
    nest: tuple[Loop, ...]
    body: tuple[Stmt, ...]
    local_size: int | None = None
    steps: tuple[GroupStep, ...] = ()

    @property
    def outer(self) -> int:
        """The number of indices of the nest (1 without one)."""
        return _product(loop.extent for loop in self.nest)

    @property
    def global_size(self) -> int:
        """Work-items in all: one per index, or ``local_size`` per index."""
        return self.outer * (self.local_size or 1)


def _product(values: Iterable[int]) -> int:
    result = 1
    for value in values:
        result *= value
    return result


# ---------------------------------------------------------------------------
# Facts about statements


def has_store(body: tuple[Stmt, ...]) -> bool:
    return any(isinstance(stmt, Store) for stmt in walk_statements(body))


# ---------------------------------------------------------------------------
# Rule 1: the parallel nest


def perfect_prefix(loop: Loop, allowed: set[str]) -> tuple[Loop, ...]:
    """``loop`` and the loops that are each the last statement of the previous one's body
    after only ``Let`` statements, as long as the inner loop assigns no variable outside
    it but ``allowed``: the loops one strided index can flatten."""
    levels = [loop]
    while True:
        *lets, last = levels[-1].body or (None,)
        if not isinstance(last, Loop) or not all(isinstance(s, Let) for s in lets):
            break
        if last.extent < 1 or not assigned_outside(last) <= allowed:
            break
        levels.append(last)
    return tuple(levels)


# ---------------------------------------------------------------------------
# Rule 2: reductions


def combine_op(assign: Assign) -> str | None:
    """``op`` when ``assign`` is ``acc = op(acc, term)`` (or ``op(term, acc)``) with
    ``term`` not reading ``acc``; else None."""
    value, acc = assign.value, assign.var
    if not isinstance(value, Binary) or value.op not in COMBINE_OPS:
        return None
    if value.a == acc:
        term: Expr = value.b
    elif value.b == acc:
        term = value.a
    else:
        return None
    if acc.name in {v.name for v in free_vars(term)}:
        return None
    return value.op


def reduction_accumulators(body: tuple[Stmt, ...], position: int) -> tuple[Accumulator, ...] | None:
    """The accumulators when ``body[position]`` is a reduction loop whose accumulators
    are declared by the run of ``Let`` statements just before it; else None."""
    loop = body[position]
    if not isinstance(loop, Loop) or loop.extent < 1 or has_store(loop.body):
        return None
    state = assigned_outside(loop)
    if not state:
        return None
    lets: dict[str, int] = {}
    start = position
    while start > 0 and isinstance(body[start - 1], Let):
        start -= 1
    for index in range(start, position):
        stmt = body[index]
        assert isinstance(stmt, Let)
        lets[stmt.var.name] = index
    if not state <= set(lets):
        return None
    # no later Let of the run reads an accumulator (it would see a partial value)
    for name in state:
        for stmt in body[lets[name] + 1 : position]:
            assert isinstance(stmt, Let)
            if name in {v.name for v in free_vars(stmt.value)}:
                return None
    ops: dict[str, str] = {}
    inner = declared(loop.body)
    for stmt in walk_statements(loop.body):
        exprs = statement_exprs(stmt)
        if isinstance(stmt, Assign) and stmt.var.name in state:
            op = combine_op(stmt)
            if op is None or ops.setdefault(stmt.var.name, op) != op:
                return None
            assert isinstance(stmt.value, Binary)
            exprs = (stmt.value.b if stmt.value.a == stmt.var else stmt.value.a,)
        elif isinstance(stmt, Assign) and stmt.var.name not in inner:
            return None
        for expr in exprs:
            if state & {v.name for v in free_vars(expr)}:
                return None  # an accumulator read outside its own combine
    accumulators = []
    for index in range(start, position):
        let = body[index]
        assert isinstance(let, Let)
        if let.var.name in state:
            accumulators.append(Accumulator(let.var, ops[let.var.name]))
    return tuple(accumulators)


def group_steps(body: tuple[Stmt, ...]) -> tuple[GroupStep, ...] | None:
    """How one work-group runs ``body`` (see :class:`GroupStep`); None when it cannot
    (a store inside a serial loop)."""
    steps: list[GroupStep] = []
    partial: dict[str, Accumulator] = {}
    plans: dict[int, GroupStep] = {}
    for position, stmt in enumerate(body):
        if not isinstance(stmt, Loop) or stmt.extent < 1:
            continue
        accumulators = reduction_accumulators(body, position)
        if accumulators is not None:
            names = {acc.var.name for acc in accumulators}
            levels = perfect_prefix(stmt, names)
            plans[position] = GroupStep("reduce", stmt, levels, accumulators)
            partial.update({acc.var.name: acc for acc in accumulators})
        elif not assigned_outside(stmt):
            plans[position] = GroupStep("strided", stmt, perfect_prefix(stmt, set()))
        elif has_store(stmt.body):
            return None
    for position, stmt in enumerate(body):
        if position in plans:
            steps.append(plans[position])
        elif isinstance(stmt, Let) and stmt.var.name in partial:
            steps.append(GroupStep("partial", stmt, accumulators=(partial[stmt.var.name],)))
        elif isinstance(stmt, Store):
            steps.append(GroupStep("once", stmt))
        elif isinstance(stmt, Loop) and stmt.extent < 1:
            continue
        else:
            steps.append(GroupStep("all", stmt))
    return tuple(steps)


def group_size(extent: int) -> int:
    """The work-group size for a reduction over ``extent`` elements: the largest power
    of two not above it, at most :data:`MAX_GROUP_SIZE`."""
    size = 1
    while size * 2 <= min(extent, MAX_GROUP_SIZE):
        size *= 2
    return size


# ---------------------------------------------------------------------------
# The mapping


def mapping_decision(
    kernel: Kernel, aliased: frozenset[str] = frozenset()
) -> tuple[int, int | None]:
    """``(collapse, group)``: how many loops of ``kernel``'s parallel nest collapse (all
    that may, :func:`~tcomp.ir.kernel.analysis.gpu_nest.collapse_limit`) and the
    work-group size of a work-group reduction (None: one work-item per index), by the
    rules of the module docstring; ``aliased``: its args that may share memory
    (:func:`tcomp.ir.kernel.analysis.overlap.overlapping_temps`)."""
    collapse = collapse_limit(kernel, aliased)
    if reads_what_it_writes(kernel, aliased):
        return collapse, None
    plain = build_mapping(kernel, collapse)
    steps = group_steps(plain.body)
    if steps is None:
        return collapse, None
    extents = [step.extent for step in steps if step.kind == "reduce"]
    if not extents or max(extents) < MIN_GROUP_REDUCTION:
        return collapse, None
    if len(plain.nest) > 1 and plain.outer >= ENOUGH_WORK_ITEMS:
        return collapse, None
    return collapse, group_size(max(extents))


def build_mapping(kernel: Kernel, collapse: int, group: int | None = None) -> KernelMapping:
    """The mapping of ``kernel`` with its parallel nest's first ``collapse`` loops in the
    grid (0: none, the whole body per work-item) and, when ``group`` is an int, one
    work-group of that size per index (``steps`` rebuilt from the body; ``()`` when the
    body cannot run as a group, :func:`group_steps`). The caller checks ``collapse``
    (:func:`~tcomp.ir.kernel.analysis.gpu_nest.launch_problem`)."""
    nest = folded_nest(kernel, collapse)
    if nest:
        prefix, body = kernel.body[:-1], nest[-1].body
    else:
        prefix, body = (), kernel.body
    if group is None:
        return KernelMapping(prefix, nest, body)
    return KernelMapping(prefix, nest, body, group, group_steps(body) or ())


def map_kernel(kernel: Kernel, aliased: frozenset[str] = frozenset()) -> KernelMapping:
    """Where ``kernel``'s statements run (see the module docstring): the mapping
    :func:`mapping_decision` decides."""
    return build_mapping(kernel, *mapping_decision(kernel, aliased))


def identity(op: str, dtype: str) -> Const:
    """The identity element of combine ``op`` on ``dtype`` (a partial's start value)."""
    if dtype == "bool":
        return Const(op in ("mul", "min", "and"), "bool")
    if dtype in ("float32", "float64", "float16", "bfloat16"):
        values = {"add": 0.0, "mul": 1.0, "max": float("-inf"), "min": float("inf")}
        return Const(values[op], dtype)
    bits = 31 if dtype == "int32" else 63
    values_int = {"add": 0, "mul": 1, "max": -(2**bits), "min": 2**bits - 1}
    return Const(values_int[op], dtype)
