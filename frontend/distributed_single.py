"""A program traced for one process: its collectives are identities, so nothing is split.

With one rank (``size() == 1`` when the program was traced: ``ranks=1`` on every
collective node) each collective returns its input unchanged: the sum, mean, max or min
over one rank is the rank's own value (the mean divides by 1), gathering or scattering
over one rank keeps the one block, and a broadcast from (or reduction to) rank 0 is the
value itself; :mod:`tcomp.ir.primitives.collectives` defines them so. :func:`single_rank`
rewrites such a function without its collectives, so the compiled backends compile it
as one program (fused across where the split would cut it, no host steps, no MPI)
instead of as kernel groups and host steps. A single-process run of a program written
for ``mpiexec -n N`` then costs what the same program without collectives costs.
"""

from __future__ import annotations

from dataclasses import replace

from tcomp.frontend.distributed_split import has_collectives
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS


def single_rank(function: Function) -> Function | None:
    """``function`` with each collective replaced by its input, when every collective was
    traced for one rank (``ranks == 1``); None when one was traced for more ranks or sits
    inside a loop or branch body (the split refuses those with its own error, the same
    for one rank as for many)."""
    collectives = [node for node in function.nodes if node.op in COLLECTIVE_OPS]
    nested = any(has_collectives(region) for node in function.nodes for region in node.regions)
    if nested or any(node.attrs.get("ranks") != 1 for node in collectives):
        return None
    same: dict[Value, Value] = {}  # a collective's output -> the value it equals
    nodes: list[Node] = []
    for node in function.nodes:
        inputs = tuple(same.get(v, v) for v in node.inputs)
        if node.op in COLLECTIVE_OPS:
            (source,) = inputs
            if source.type != node.output.type:  # pragma: no cover - the shape rules keep it
                return None
            same[node.output] = source
            continue
        nodes.append(node if inputs == node.inputs else replace(node, inputs=inputs))
    outputs = [same.get(v, v) for v in function.outputs]
    return Function(function.name, list(function.params), nodes, outputs, dict(function.metadata))
