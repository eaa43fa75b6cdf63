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

A control-flow node with some unused outputs asks its primitive to drop what it can
(``Primitive.without_outputs``): a ``scan`` loses its unused stacked results and its
body computes only the rest (a gradient's reverse scan, for one, stacks the gradient
of every float sequence it reads, wanted or not); carries always stay.
"""

from __future__ import annotations

import dataclasses

from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.primitives import get_primitive


def dce(fn: Function) -> Function:
    """Removes the nodes that do not contribute to ``fn``'s outputs (``fn`` itself if none)."""
    live: set[Value] = set(fn.outputs)
    kept: list[Node] = []
    trimmed = False
    for node in reversed(fn.nodes):
        if any(value in live for value in node.outputs):
            trim = get_primitive(node.op).without_outputs if node.regions else None
            if trim is not None and not all(value in live for value in node.outputs):
                node = trim(node, live)
                node = dataclasses.replace(node, regions=tuple(dce(r) for r in node.regions))
                trimmed = True
            live.update(node.inputs)
            kept.append(node)
    if len(kept) == len(fn.nodes) and not trimmed:
        return fn
    kept.reverse()
    # Fresh Node objects, so that rewriting the result in place leaves ``fn`` alone.
    nodes = [dataclasses.replace(n, attrs=dict(n.attrs)) for n in kept]
    return Function(fn.name, list(fn.params), nodes, list(fn.outputs), dict(fn.metadata))

