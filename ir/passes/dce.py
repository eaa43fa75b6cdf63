"""Dead-code elimination: drop nodes whose values never reach an output.

Before::

    func @f(%0: f32[3]) -> (f32[3]) {
      %1: f32[3] = exp(%0)
      %2: f32[3] = neg(%0)
      return %2
    }

After (``exp`` is unused)::

    func @f(%0: f32[3]) -> (f32[3]) {
      %2: f32[3] = neg(%0)
      return %2
    }
"""

from __future__ import annotations

import dataclasses

from tcomp.ir.graph import Function, Node, Value


def dce(fn: Function) -> Function:
    """Removes the nodes that do not contribute to ``fn``'s outputs (``fn`` itself if none)."""
    live: set[Value] = set(fn.outputs)
    kept: list[Node] = []
    for node in reversed(fn.nodes):
        if any(value in live for value in node.outputs):
            live.update(node.inputs)
            kept.append(node)
    if len(kept) == len(fn.nodes):
        return fn
    kept.reverse()
    # Fresh Node objects, so that rewriting the result in place leaves ``fn`` alone.
    nodes = [dataclasses.replace(n, attrs=dict(n.attrs)) for n in kept]
    return Function(fn.name, list(fn.params), nodes, list(fn.outputs), dict(fn.metadata))
