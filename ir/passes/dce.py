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

A ``scan`` whose stacked results (its ``y`` outputs after the carries) are partly
unused loses those results and the body computes only the rest: a gradient's
reverse scan, for one, stacks the gradient of every float sequence it reads, wanted
or not. Carries always stay (the next step reads them).
"""

from __future__ import annotations

import dataclasses

from tcomp.ir.graph import Function, Node, Value


def dce(fn: Function) -> Function:
    """Removes the nodes that do not contribute to ``fn``'s outputs (``fn`` itself if none)."""
    live: set[Value] = set(fn.outputs)
    kept: list[Node] = []
    trimmed = False
    for node in reversed(fn.nodes):
        if any(value in live for value in node.outputs):
            if node.op == "scan" and not all(value in live for value in node.outputs):
                node = _without_unused_ys(node, live)
                trimmed = True
            live.update(node.inputs)
            kept.append(node)
    if len(kept) == len(fn.nodes) and not trimmed:
        return fn
    kept.reverse()
    # Fresh Node objects, so that rewriting the result in place leaves ``fn`` alone.
    nodes = [dataclasses.replace(n, attrs=dict(n.attrs)) for n in kept]
    return Function(fn.name, list(fn.params), nodes, list(fn.outputs), dict(fn.metadata))


def _without_unused_ys(node: Node, live: set[Value]) -> Node:
    """The scan ``node`` without its stacked results that are not in ``live``; its body
    returns only the rest (and loses what only they needed)."""
    (body,) = node.regions
    carries = node.attrs["num_carry"]
    keep = [i for i, value in enumerate(node.outputs) if i < carries or value in live]
    if len(keep) == len(node.outputs):
        return node
    trimmed = Function(body.name, list(body.params), list(body.nodes),
                       [body.outputs[i] for i in keep], dict(body.metadata))
    outputs = [node.outputs[i] for i in keep]
    return dataclasses.replace(node, attrs=dict(node.attrs), output=outputs[0],
                               extra_outputs=tuple(outputs[1:]), regions=(dce(trimmed),))
