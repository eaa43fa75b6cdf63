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

Control-flow nodes (with regions) are the same computation when their op, inputs,
attributes and regions are (regions compare by structure: :func:`region_key`). A
node whose single region is another's with more nodes and results appended (its
outputs then start with the other's) replaces that other one, at the earlier
position: this is
the forward ``scan`` that a gradient runs again to save its carries
(``ir/primitives/control_flow_vjp.py`` ``scan_forward``), which makes the plain
forward scan of ``value_and_grad`` redundant::

    %5: f32[4], %6: f32[8,4] = scan(%0, %1) {length=8, ...} regions { func @body ... }
    %9: f32[4], %10: f32[8,4], %11: f32[8,4] = scan(%0, %1) {length=8, ...}
        regions { func @body (the same, returning one value more) ... }

becomes the second scan alone, in the first one's place, ``%5`` read as ``%9``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tcomp.ir.graph import Function, Node, Value, attrs_key


def cse(fn: Function) -> Function:
    """Merges identical nodes into their first occurrence (``fn`` itself when there are none)."""
    result = _merge_identical(fn)
    merged = _merge_extended_regions(result)  # needs the inputs merged first
    return result if merged is result else _merge_identical(merged)


def _merge_identical(fn: Function) -> Function:
    canonical: dict[Value, Value] = {}
    seen: dict[tuple[Any, ...], Value] = {}
    nodes: list[Node] = []
    for node in fn.nodes:
        inputs = tuple(canonical.get(v, v) for v in node.inputs)
        # Values hash by identity, so equal keys mean the very same inputs.
        if node.regions:  # control flow: merged by _merge_extended_regions
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


def region_key(fn: Function) -> tuple[tuple[Any, ...], tuple[int, ...]]:
    """``fn``'s structure without value identities, and its results: (the parameter types
    and each node as (op, input positions, attribute key, nested region keys), the
    positions of the returned values). Values are numbered in definition order
    (parameters, then each node's outputs), so two copies of one body match."""
    position: dict[Value, int] = {}
    for value in fn.params:
        position[value] = len(position)
    body: list[Any] = [tuple((v.type.shape, v.type.dtype) for v in fn.params)]
    for node in fn.nodes:
        try:
            inputs = tuple(position[v] for v in node.inputs)
        except KeyError:  # reads a value it does not define: not closed, never merged
            return (("open", id(fn)),), ()
        regions = tuple(region_key(region) for region in node.regions)
        body.append((node.op, inputs, attrs_key(node.attrs), regions,
                     tuple((v.type.shape, v.type.dtype) for v in node.outputs)))
        for value in node.outputs:
            position[value] = len(position)
    results = tuple(position.get(v, -1) for v in fn.outputs)
    return tuple(body), results


def _extends(longer: tuple[Any, ...], shorter: tuple[Any, ...]) -> bool:
    """Whether a region of key ``longer`` computes everything one of key ``shorter`` does,
    in the same order (its nodes and results start with the other's)."""
    (body_l, results_l), (body_s, results_s) = longer, shorter
    return body_l[: len(body_s)] == body_s and results_l[: len(results_s)] == results_s


def _merge_extended_regions(fn: Function) -> Function:
    """Region nodes that compute the same thing, one's nodes and results a prefix of
    another's: the one with the most results replaces the others, at the first one's
    position."""
    groups: dict[tuple[Any, ...], list[tuple[int, Node, Any]]] = {}
    for index, node in enumerate(fn.nodes):
        if len(node.regions) != 1:
            continue
        key = (node.op, node.inputs, attrs_key(node.attrs))
        groups.setdefault(key, []).append((index, node, region_key(node.regions[0])))
    replace: dict[Value, Value] = {}
    moved: dict[int, Node] = {}  # position -> the node that now stands there
    dropped: set[int] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        longest = max(members, key=lambda m: (len(m[2][1]), len(m[2][0])))
        if not all(_extends(longest[2], m[2]) for m in members):
            continue  # different computations, not one and more of it
        first = min(index for index, _, _ in members)
        for index, node, _ in members:
            if node is not longest[1]:
                replace.update(zip(node.outputs, longest[1].outputs))
                dropped.add(index)
        dropped.discard(first)
        dropped.add(longest[0])
        moved[first] = longest[1]
    if not replace:
        return fn
    nodes: list[Node] = []
    for index, node in enumerate(fn.nodes):
        if index in moved:
            node = moved[index]
        elif index in dropped:
            continue
        inputs = tuple(replace.get(v, v) for v in node.inputs)
        nodes.append(dataclasses.replace(node, inputs=inputs) if inputs != node.inputs else node)
    outputs = [replace.get(v, v) for v in fn.outputs]
    return Function(fn.name, list(fn.params), nodes, outputs, dict(fn.metadata))
