"""Common-subexpression elimination: one node per distinct computation.

Two nodes are the same computation when they apply the same op to the same
(already deduplicated) inputs with equal attributes (``attrs_key``:
constants compare by dtype, shape and bytes). The first one stays; later
ones are replaced by it. Locations do not matter; the first node's stays.

Before::

    func @f(%0: f32[3]) -> (f32[3]) {
      %1: f32[3] = exp(%0)
      %2: f32[3] = exp(%0)
      %3: f32[3] = add(%1, %2)
      return %3
    }

After (``%2`` is ``%1``)::

    func @f(%0: f32[3]) -> (f32[3]) {
      %1: f32[3] = exp(%0)
      %3: f32[3] = add(%1, %1)
      return %3
    }
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tcomp.ir.graph import Function, Node, Value, attrs_key


def cse(fn: Function) -> Function:
    """Merges identical nodes into their first occurrence (``fn`` itself when there are none)."""
    canonical: dict[Value, Value] = {}
    seen: dict[tuple[Any, ...], Value] = {}
    nodes: list[Node] = []
    for node in fn.nodes:
        inputs = tuple(canonical.get(v, v) for v in node.inputs)
        # Values hash by identity, so equal keys mean the very same inputs.
        if node.regions:  # control flow: kept as it is (its regions are not compared)
            nodes.append(dataclasses.replace(node, inputs=inputs, attrs=dict(node.attrs)))
            continue
        key = (node.op, inputs, attrs_key(node.attrs))
        first = seen.get(key)
        if first is not None:
            canonical[node.output] = first  # op(a, b) twice -> once
            continue
        seen[key] = node.output
        nodes.append(dataclasses.replace(node, inputs=inputs, attrs=dict(node.attrs)))
    if not canonical:
        return fn
    outputs = [canonical.get(v, v) for v in fn.outputs]
    return Function(fn.name, list(fn.params), nodes, outputs, dict(fn.metadata))
