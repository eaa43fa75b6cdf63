"""Splitting a graph-IR function at its collectives, for the compiled backends.

The compiled backends lower graph IR to kernels; a collective (``all_reduce_sum`` ...,
:mod:`tcomp.ir.primitives.collectives`) is not a kernel but a host call of MPI. So a
function with collectives is cut into *kernel groups* (graph-IR functions compiled by
the backend as they are) and *host steps* (the collectives, started non-blocking by
:func:`tcomp.frontend.distributed_traced.start_host_step`), each waited on by a
:class:`HostWait` placed before the first part that reads its results:

    group 0, host step 0, group 1, wait 0, group 2, host step 1, ..., group K, wait 1

Each value gets a *level*: parameters 0; a node's output the highest level among its
inputs, plus one past a collective. A plain node of level k runs before host step k's
collectives, which read values of level k; so every collective starts as early as its
input allows. With overlap (the default; ``TCOMP_MPI_OVERLAP=0`` turns it off) the
collectives of level k are started in the order their inputs are computed, in
batches: a batch closes once it holds ``FIRST_START_BYTES`` (the level's first batch)
or ``START_BYTES`` (``DEFAULT_BUCKET_BYTES``) and the next collective's input comes
later. The nodes of
level k are cut into one kernel group per batch (what that batch's inputs need and no
earlier group computed), then one for the rest; so in a backward pass the all-reduce of
the last layers' gradients travels while the earlier layers' gradients are computed
(PyTorch DDP's gradient buckets, fixed at compile time). Collectives that read only
constants (the cotangent of an all-reduced loss: ``all_reduce_mean(1.0)``) start before
the level's first kernel group, in a host step of their own, so that the backward pass
waits only for them and not for the loss's all-reduce, which only the outputs read (a
rank that is late with its forward pass no longer holds up the other's backward pass).
A level whose collectives are
one batch of less than ``FIRST_START_BYTES`` (a loss) is not cut: a kernel group
boundary costs more than such a message can hide. Without overlap a level's
nodes are one kernel group, its collectives one host step, waited on at once.

A move (``transpose``, ``reshape``, ``broadcast_to`` ...) runs at the latest level its
readers allow: a weight's transpose that only the backward pass reads runs there, fused
into the matmul that reads it, instead of being written out by the forward group. Nodes that read no parameter (``constant``,
``iota``, and what reads only them, such as a constant broadcast to a weight's shape)
are copied into each group that reads them instead of being passed between groups. The values a group reads from earlier
groups and host steps are its parameters; those later parts read from it are its
outputs (device buffers passed along, never copied to the host except into a host step).
The plan is a function of the graph alone, so every rank that traced the same program
starts the same collectives in the same order.

Collectives inside a control-flow region (a ``scan`` body ...) cannot be split out
and are refused for the compiled backends (the reference backend runs them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tcomp.frontend.distributed_buckets import DEFAULT_BUCKET_BYTES
from tcomp.ir.builder import FunctionBuilder, copy_node
from tcomp.ir.errors import TcompArgumentError, with_location
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS

# Moves that a reading kernel does for free (an index map) but that cost a pass over
# memory when written out: planned at the level of their first reader.
SINKING_OPS = frozenset({"reshape", "transpose", "broadcast_to", "slice", "rev", "convert"})
FIRST_START_BYTES = 1 << 20  # 1 MiB: PyTorch DDP's first gradient bucket
START_BYTES = DEFAULT_BUCKET_BYTES  # the later batches of a level


@dataclass(eq=False)
class KernelGroup:
    """Nodes compiled together: ``function`` reads ``inputs`` (values of the whole
    function, bound to its parameters in order) and defines ``outputs``; ``level`` is
    the level of its nodes."""

    index: int
    function: Function
    inputs: list[Value]
    outputs: list[Value]
    level: int = 0

    @property
    def node_count(self) -> int:
        return len(self.function.nodes)


@dataclass(eq=False)
class HostStep:
    """Collectives started together on the host (non-blocking). ``needed_by``: the
    kernel groups that depend on their results, directly or through other groups (in
    run order); ``wait_before``: the kernel group before which the step is waited on
    (None: before a later host step that reads it, or at the end)."""

    index: int
    nodes: list[Node]
    level: int = 0
    needed_by: list[int] = field(default_factory=list)
    wait_before: int | None = None

    @property
    def nbytes(self) -> int:
        return _batch_bytes(self.nodes)


@dataclass(eq=False)
class HostWait:
    """Waiting on the collectives of ``step`` (up to ``TCOMP_MPI_TIMEOUT``)."""

    step: HostStep


Part = KernelGroup | HostStep | HostWait


@dataclass
class SplitPlan:
    """The parts of ``function`` in the order they run, its nodes that read no parameter
    (``free``: made on the host where a host step or the function's outputs read them),
    and whether the collectives overlap the kernel groups."""

    function: Function
    parts: list[Part]
    free: dict[Value, Node] = field(default_factory=dict)
    overlap: bool = True

    @property
    def groups(self) -> list[KernelGroup]:
        return [part for part in self.parts if isinstance(part, KernelGroup)]

    @property
    def steps(self) -> list[HostStep]:
        return [part for part in self.parts if isinstance(part, HostStep)]

    @property
    def collectives(self) -> list[Node]:
        """Every collective, in the order the ranks start them."""
        return [node for step in self.steps for node in step.nodes]


def is_collective(node: Node) -> bool:
    return node.op in COLLECTIVE_OPS


def has_collectives(function: Function) -> bool:
    """Whether ``function`` (or a region inside it) holds a collective."""
    return any(
        is_collective(node) or any(has_collectives(region) for region in node.regions)
        for node in function.nodes
    )


def plan_split(
    function: Function,
    overlap: bool = True,
    first_start_bytes: int | None = None,
    start_bytes: int | None = None,
) -> SplitPlan:
    """``function`` cut at its collectives (see the module docstring); ``overlap`` False
    waits on each host step as soon as it started. A level's first batch of collectives
    closes at ``first_start_bytes``, the later ones at ``start_bytes`` (defaults: the
    module's ``FIRST_START_BYTES`` and ``START_BYTES``, read at each call)."""
    first = FIRST_START_BYTES if first_start_bytes is None else first_start_bytes
    later = START_BYTES if start_bytes is None else start_bytes
    free = _free_nodes(function)
    groups, steps = _levels(function, free)
    segments: list[tuple[int, list[Node], bool]] = []  # (level, nodes, is a host step)
    for k in range(max([*groups, *(k + 1 for k in steps)], default=0) + 1):
        nodes, collectives = groups.get(k, []), steps.get(k, [])
        if overlap:  # what reads only constants starts before the level's kernels
            early = [c for c in collectives if all(v in free for v in c.inputs)]
            if early:
                segments.append((k, early, True))
                collectives = [c for c in collectives if c not in early]
        batches = _start_batches(nodes, collectives, first, later) if overlap else [collectives]
        worth_cutting = len(batches) > 1 or _batch_bytes(collectives) >= first
        cuts = _cut(nodes, batches) if collectives and overlap and worth_cutting else [nodes]
        for cut, batch in zip(cuts, [*batches, []]):
            if cut:
                segments.append((k, cut, False))
            if batch:
                segments.append((k, batch, True))
    parts = _parts(function, segments, free)
    return SplitPlan(function, _with_waits(parts, overlap), free, overlap)


def _free_nodes(function: Function) -> dict[Value, Node]:
    """The nodes that read no parameter: ``constant`` and ``iota``, and the nodes (no
    regions, no collectives) that read only such values, like a constant broadcast to a
    weight's shape. Each group that reads one makes it again, fused into its kernels."""
    free: dict[Value, Node] = {}
    for node in function.nodes:
        if node.regions or is_collective(node) or len(node.outputs) != 1:
            continue
        if all(v in free for v in node.inputs):
            free[node.output] = node
    return free


def _levels(
    function: Function, free: dict[Value, Node]
) -> tuple[dict[int, list[Node]], dict[int, list[Node]]]:
    """The plain nodes and the collectives of each level, in the function's order.

    A node's level is the highest level of its inputs (a collective starts as early as
    they allow; plain nodes run as early, so that they can overlap the collectives of
    their level), except for the moves of ``SINKING_OPS``, which run at the latest
    level their readers allow: the lowest level among the nodes that read them (the last
    level for a function output). So a weight's transpose that only the backward pass
    reads is fused into the matmul that reads it instead of being written out by the
    forward group and passed on as a buffer."""
    earliest: dict[Value, int] = {param: 0 for param in function.params}
    for node in function.nodes:
        if node.output in free:
            earliest[node.output] = 0
            continue
        if any(has_collectives(region) for region in node.regions):
            raise TcompArgumentError(
                with_location(
                    f"a tcomp.distributed collective inside {node.op} (a loop or branch body) "
                    "cannot run on a compiled backend, which runs collectives between kernel "
                    "groups; call it outside the loop, or use backend='reference'",
                    node.location,
                )
            )
        at = max((earliest[v] for v in node.inputs), default=0)
        for value in node.outputs:
            earliest[value] = at + 1 if is_collective(node) else at
    last = max(earliest.values(), default=0)
    latest: dict[Value, int] = {v: last for v in function.outputs}
    placed: dict[int, int] = {}  # id(node) -> level
    for node in reversed(function.nodes):
        if node.output in free:
            continue
        level = max((earliest[v] for v in node.inputs), default=0)
        if node.op in SINKING_OPS and not node.regions:
            level = max(level, latest.get(node.output, last))
        placed[id(node)] = level
        for value in node.inputs:
            latest[value] = min(latest.get(value, level), level)
    groups: dict[int, list[Node]] = {}
    steps: dict[int, list[Node]] = {}
    for node in function.nodes:
        if node.output in free:
            continue
        target = steps if is_collective(node) else groups
        target.setdefault(placed[id(node)], []).append(node)
    return groups, steps


def _nbytes(value: Value) -> int:
    return value.type.size * np.dtype(value.dtype).itemsize


def _batch_bytes(collectives: list[Node]) -> int:
    return sum(_nbytes(v) for node in collectives for v in node.inputs)


def _start_batches(
    nodes: list[Node], collectives: list[Node], first: int, later: int
) -> list[list[Node]]:
    """A level's collectives in the order their inputs are computed (stable), cut into
    batches that start together (see the module docstring)."""
    position = {v: i for i, node in enumerate(nodes) for v in node.outputs}

    def ready(node: Node) -> int:
        return max((position.get(v, -1) for v in node.inputs), default=-1)

    batches: list[list[Node]] = []
    current: list[Node] = []
    filled, cap = 0, first
    for node in sorted(collectives, key=ready):
        if current and filled >= cap and ready(node) > ready(current[-1]):
            batches.append(current)
            current, filled, cap = [], 0, later
        current.append(node)
        filled += _batch_bytes([node])
    return [*batches, current] if current else batches


def _cut(nodes: list[Node], batches: list[list[Node]]) -> list[list[Node]]:
    """``nodes`` (one level's) cut into one list per batch, what that batch's inputs
    need and no earlier list holds, and one last list with the rest; each in order."""
    producer = {v: node for node in nodes for v in node.outputs}
    assigned: dict[int, int] = {}  # id(node) -> cut
    for index, batch in enumerate(batches):
        stack = [v for node in batch for v in node.inputs]
        while stack:
            node = producer.get(stack.pop())
            if node is None or id(node) in assigned:
                continue
            assigned[id(node)] = index
            stack.extend(node.inputs)
    cuts: list[list[Node]] = [[] for _ in range(len(batches) + 1)]
    for node in nodes:
        cuts[assigned.get(id(node), len(batches))].append(node)
    return cuts


def _parts(
    function: Function, segments: list[tuple[int, list[Node], bool]], free: dict[Value, Node]
) -> list[KernelGroup | HostStep]:
    """Kernel groups and host steps of ``segments``, numbered in run order."""
    home: dict[Value, int] = {}
    for position, (_, nodes, is_step) in enumerate(segments):
        if not is_step:
            home.update((v, position) for node in nodes for v in node.outputs)
    needed: dict[Value, None] = {}  # read outside the segment that defines them
    for position, (_, nodes, is_step) in enumerate(segments):
        for node in nodes:
            for value in node.inputs:
                if is_step or (value in home and home[value] != position):
                    needed[value] = None
    needed.update((v, None) for v in function.outputs)
    parts: list[KernelGroup | HostStep] = []
    groups = steps = 0  # numbered separately, each in run order
    for position, (level, nodes, is_step) in enumerate(segments):
        if is_step:
            parts.append(HostStep(steps, nodes, level))
            steps += 1
        else:
            outputs = [v for v in needed if home.get(v) == position]
            group = _kernel_group(function, groups, nodes, outputs, free)
            group.level = level
            parts.append(group)
            groups += 1
    return parts


def _with_waits(parts: list[KernelGroup | HostStep], overlap: bool) -> list[Part]:
    """``parts`` with each host step's wait before the first part that reads its
    results (right after the step without ``overlap``; the rest at the end), and each
    step's ``needed_by`` and ``wait_before``."""
    made_by: dict[Value, HostStep] = {}
    depends: dict[Value, set[int]] = {}  # value -> the host steps it depends on
    steps = {part.index: part for part in parts if isinstance(part, HostStep)}
    waited: set[int] = set()
    ordered: list[Part] = []

    def wait(step: HostStep) -> None:
        if step.index not in waited:
            waited.add(step.index)
            ordered.append(HostWait(step))

    for part in parts:
        reads = part.inputs if isinstance(part, KernelGroup) else _step_inputs(part)
        for index in sorted({made_by[v].index for v in reads if v in made_by}):
            wait(steps[index])
        ordered.append(part)
        deps = set().union(*(depends.get(v, set()) for v in reads))
        if isinstance(part, KernelGroup):
            depends.update((v, deps) for v in part.outputs)
            for index in sorted(deps):
                steps[index].needed_by.append(part.index)
        else:
            for node in part.nodes:
                made_by[node.output] = part
                depends[node.output] = deps | {part.index}
            if not overlap:
                wait(part)
    for remaining in steps.values():
        wait(remaining)
    for position, placed in enumerate(ordered):
        if isinstance(placed, HostWait):
            after = (p for p in ordered[position:] if isinstance(p, KernelGroup))
            placed.step.wait_before = next((group.index for group in after), None)
    return ordered


def _step_inputs(step: HostStep) -> list[Value]:
    return [v for node in step.nodes for v in node.inputs]


def _kernel_group(
    function: Function, index: int, nodes: list[Node], outputs: list[Value], free: dict[Value, Node]
) -> KernelGroup:
    builder = FunctionBuilder(f"{function.name}_group{index}")
    env: dict[Value, Value] = {}
    inputs: list[Value] = []

    def read(value: Value) -> Value:
        if value not in env:
            if value in free:  # a constant, iota or what reads only them: made here again
                node = free[value]
                env[value] = copy_node(builder, node, [read(v) for v in node.inputs])[0]
            else:  # a parameter, or a value of an earlier group or host step
                env[value] = builder.add_param(value.type)
                inputs.append(value)
        return env[value]

    for node in nodes:
        made = copy_node(builder, node, [read(v) for v in node.inputs])
        env.update(zip(node.outputs, made))
    group = builder.finish([env[v] for v in outputs], {"split_from": function.name})
    return KernelGroup(index, group, inputs, list(outputs))
