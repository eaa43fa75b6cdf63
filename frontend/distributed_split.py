"""Splitting a graph-IR function at its collectives, for the compiled backends.

The compiled backends lower graph IR to kernels; a collective (``all_reduce_sum`` ...,
:mod:`tcomp.ir.primitives.collectives`) is not a kernel but a host call of MPI. So a
function with collectives is cut into *kernel groups* (graph-IR functions compiled by
the backend as they are) and *host steps* (the collectives, run by
:func:`tcomp.frontend.distributed_traced.run_host_step`) between them:

    group 0, host step 0, group 1, host step 1, ..., group K

Each value gets a *level*: parameters 0; a node's output the highest level among its
inputs, plus one past a collective. A plain node of level k goes in group k; a
collective whose input has level k in host step k. So group k holds everything that can
run before host step k (as early as possible), and every collective of one level runs
in one host step, together (their all-reduces share buckets). Nodes without inputs
(``constant``, ``iota``) are copied into each group that reads them instead of being
passed between groups. The values a group reads from earlier groups and host steps are
its parameters; those later parts read from it are its outputs (device buffers passed
along, never copied to the host except into a host step).

Collectives inside a control-flow region (a ``scan`` body ...) cannot be split out
and are refused for the compiled backends (the reference backend runs them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcomp.ir.builder import FunctionBuilder, copy_node
from tcomp.ir.errors import TcompArgumentError, with_location
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS


@dataclass
class KernelGroup:
    """Nodes compiled together: ``function`` reads ``inputs`` (values of the whole
    function, bound to its parameters in order) and defines ``outputs``."""

    index: int
    function: Function
    inputs: list[Value]
    outputs: list[Value]

    @property
    def node_count(self) -> int:
        return len(self.function.nodes)


@dataclass
class HostStep:
    """Collectives run on the host after kernel group ``index``, together."""

    index: int
    nodes: list[Node]


@dataclass
class SplitPlan:
    """The parts of ``function`` in the order they run, and its nodes without inputs
    (made on the host where a host step or the function's outputs read them)."""

    function: Function
    parts: list[KernelGroup | HostStep]
    free: dict[Value, Node] = field(default_factory=dict)

    @property
    def collectives(self) -> list[Node]:
        return [node for part in self.parts if isinstance(part, HostStep) for node in part.nodes]


def is_collective(node: Node) -> bool:
    return node.op in COLLECTIVE_OPS


def has_collectives(function: Function) -> bool:
    """Whether ``function`` (or a region inside it) holds a collective."""
    return any(
        is_collective(node) or any(has_collectives(region) for region in node.regions)
        for node in function.nodes
    )


def plan_split(function: Function) -> SplitPlan:
    """``function`` cut at its collectives (see the module docstring)."""
    free = {node.output: node for node in function.nodes if not node.inputs and not node.regions}
    level: dict[Value, int] = {param: 0 for param in function.params}
    groups: dict[int, list[Node]] = {}
    steps: dict[int, list[Node]] = {}
    for node in function.nodes:
        if node.output in free:
            level[node.output] = 0
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
        at = max((level[v] for v in node.inputs), default=0)
        if is_collective(node):
            steps.setdefault(at, []).append(node)
            level[node.output] = at + 1
        else:
            groups.setdefault(at, []).append(node)
            for value in node.outputs:
                level[value] = at
    last = max([*groups, *(k + 1 for k in steps)], default=0)
    placed = {v: k for k, nodes in groups.items() for n in nodes for v in n.outputs}
    needed = _values_needed_outside(function, groups, steps)
    parts: list[KernelGroup | HostStep] = []
    for k in range(last + 1):
        if groups.get(k):
            outputs = [v for v in needed if placed.get(v) == k]
            parts.append(_kernel_group(function, k, groups[k], outputs, free))
        if steps.get(k):
            parts.append(HostStep(k, steps[k]))
    return SplitPlan(function, parts, free)


def _values_needed_outside(
    function: Function, groups: dict[int, list[Node]], steps: dict[int, list[Node]]
) -> list[Value]:
    """The values read outside the group that defines them, in first-read order."""
    home = {v: k for k, nodes in groups.items() for n in nodes for v in n.outputs}
    needed: dict[Value, None] = {}
    for k, nodes in groups.items():
        for node in nodes:
            for value in node.inputs:
                if value in home and home[value] != k:
                    needed[value] = None
    for nodes in steps.values():
        for node in nodes:
            needed.update((v, None) for v in node.inputs)
    needed.update((v, None) for v in function.outputs)
    return list(needed)


def _kernel_group(
    function: Function, index: int, nodes: list[Node], outputs: list[Value], free: dict[Value, Node]
) -> KernelGroup:
    builder = FunctionBuilder(f"{function.name}_group{index}")
    env: dict[Value, Value] = {}
    inputs: list[Value] = []

    def read(value: Value) -> Value:
        if value not in env:
            if value in free:  # a constant or iota: made here again
                env[value] = copy_node(builder, free[value], [])[0]
            else:  # a parameter, or a value of an earlier group or host step
                env[value] = builder.add_param(value.type)
                inputs.append(value)
        return env[value]

    for node in nodes:
        made = copy_node(builder, node, [read(v) for v in node.inputs])
        env.update(zip(node.outputs, made))
    group = builder.finish([env[v] for v in outputs], {"split_from": function.name})
    return KernelGroup(index, group, inputs, list(outputs))
