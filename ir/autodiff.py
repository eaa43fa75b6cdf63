"""Reverse-mode automatic differentiation as a graph-to-graph transformation.

:func:`vjp_function` turns ``f(x1, ..., xn) -> (y1, ..., ym)`` into a new
graph-IR function::

    f_vjp(x1, ..., xn, ct_y[i] for i in cotangent_outputs)
        -> (y1, ..., ym, grad_x[j] for j in wrt)

It copies ``f``'s nodes, then walks them backwards applying each
primitive's VJP rule and summing cotangents where a value has several uses.
Only *active* nodes get gradients: those that depend on a ``wrt`` parameter
and lead to an output that receives a cotangent; what a rule emits for an
inactive input (``y``'s half of ``d(x*y)`` when only ``x`` is wanted) is
dropped again. The result is ordinary IR:
it prints, verifies, optimises and compiles like any other function, and it
can be differentiated again.

Nodes the reverse pass makes (each rule's output and the sums of cotangents)
carry the forward op's ``file:line`` as a :class:`BackwardLocation`: equal to
the plain :class:`~tcomp.ir.graph.Location`, so printing, passes and
structural equality ignore the mark, but analyses can tell the backward pass
apart (the memory report's residuals: :mod:`tcomp.frontend.memory_report`).
The text form does not keep the mark.

Example (``f(x) = sum(exp(x))``, gradient with respect to ``x``)::

    func @f_vjp(%0: f32[3], %1: f32[]) -> (f32[], f32[3]) {
      %2: f32[3] = exp(%0)
      %3: f32[] = reduce_sum(%2) {axes=(0,)}
      %4: f32[1] = reshape(%1) {shape=(1,)}
      %5: f32[3] = broadcast_to(%4) {shape=(3,)}
      %6: f32[3] = mul(%5, %2)
      return %3, %6
    }
"""

from __future__ import annotations

from typing import Sequence

from tcomp.ir.builder import Emitter, FunctionBuilder, copy_node
from tcomp.ir.errors import TcompTypeError
from tcomp.ir.graph import Function, Location, Node, Value
from tcomp.ir.primitives import get_primitive
from tcomp.ir.types import is_float


class BackwardLocation(Location):
    """The ``file:line`` of the forward op whose gradient rule made a node (see the module
    docstring): equal to, and hashed like, the plain :class:`Location` of that line."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Location):
            return NotImplemented
        return (self.file, self.line) == (other.file, other.line)

    __hash__ = Location.__hash__


def backward_location(location: Location | None) -> Location | None:
    """``location`` marked as the backward pass's (None stays None: nothing to mark)."""
    if location is None or isinstance(location, BackwardLocation):
        return location
    return BackwardLocation(location.file, location.line)


def vjp_function(
    function: Function,
    wrt: Sequence[int],
    cotangent_outputs: Sequence[int],
    name: str | None = None,
) -> Function:
    """The VJP of ``function`` with respect to parameters ``wrt`` (see the module docstring).

    ``cotangent_outputs`` lists the outputs that receive a cotangent input;
    the others (auxiliary results, integer outputs) count as constants.
    Raises :class:`TcompTypeError` when a ``wrt`` parameter or a cotangent
    output is not a float.
    """
    for index in wrt:
        param = function.params[index]
        if not is_float(param.dtype):
            raise TcompTypeError(
                f"cannot differentiate with respect to input {index} of dtype {param.dtype}: "
                "gradients need float inputs (convert with .astype('float32'))"
            )
    for index in cotangent_outputs:
        if not is_float(function.outputs[index].dtype):
            raise TcompTypeError(
                f"output {index} has dtype {function.outputs[index].dtype}: "
                "only float outputs can be differentiated"
            )

    builder = FunctionBuilder(name or f"{function.name}_vjp")
    copy_of: dict[Value, Value] = {p: builder.add_param(p.type) for p in function.params}
    cotangent_params = [builder.add_param(function.outputs[i].type) for i in cotangent_outputs]
    active = _active_values(function, wrt, cotangent_outputs)
    residuals: dict[int, object] = {}  # control-flow node -> what its forward saved
    for node in function.nodes:
        inputs = [copy_of[v] for v in node.inputs]
        forward = get_primitive(node.op).vjp_forward if node.regions else None
        if forward is not None and any(v in active for v in node.outputs):
            outputs, residuals[id(node)] = forward(builder, node, inputs)
        else:
            outputs = copy_node(builder, node, inputs)
        copy_of.update(zip(node.outputs, outputs))

    cotangents: dict[Value, Value] = {}

    def accumulate(value: Value, contribution: Value, location) -> None:
        if value in cotangents:
            cotangents[value] = builder.emit("add", [cotangents[value], contribution], {}, location)
        else:
            cotangents[value] = contribution

    for index, seed in zip(cotangent_outputs, cotangent_params):
        if function.outputs[index] in active:
            accumulate(function.outputs[index], seed, None)

    for node in reversed(function.nodes):
        if node.regions:
            cts = [cotangents.get(v) if v in active else None for v in node.outputs]
            if all(ct is None for ct in cts):
                continue
            contributions = _apply_region_vjp(builder, node, copy_of, cts,
                                              residuals.get(id(node)))
        else:
            ct = cotangents.get(node.output)
            if ct is None or node.output not in active:
                continue
            contributions = _apply_vjp_rule(builder, node, copy_of, ct)
        for value, contribution in zip(node.inputs, contributions):
            if contribution is not None and value in active:
                accumulate(value, contribution, backward_location(node.location))

    emitter = Emitter(builder)
    grads = []
    for index in wrt:
        param = function.params[index]
        gradient = cotangents.get(param)
        grads.append(gradient if gradient is not None else emitter.zeros(param.type))
    outputs = [copy_of[v] for v in function.outputs] + grads
    builder.nodes = _without_unused_backward_nodes(builder.nodes, len(function.nodes), outputs)
    return builder.finish(outputs, dict(function.metadata))


def _without_unused_backward_nodes(
    nodes: list[Node], num_forward: int, outputs: Sequence[Value]
) -> list[Node]:
    """Drops backward nodes (those after the first ``num_forward``) that nothing reads.

    They come from rules that give every input a cotangent, wanted or not.
    The forward copies all stay: the VJP function keeps ``f``'s program.
    """
    live: set[Value] = set(outputs)
    kept: list[Node] = []
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if index < num_forward or any(value in live for value in node.outputs):
            live.update(node.inputs)
            kept.append(node)
    kept.reverse()
    return kept


def _apply_vjp_rule(
    builder: FunctionBuilder, node: Node, copy_of: dict[Value, Value], ct: Value
) -> Sequence[Value | None]:
    """Runs the node's VJP rule on the copied forward values."""
    primitive = get_primitive(node.op)
    if primitive.vjp is None:
        return [None] * len(node.inputs)
    copied = Node(node.op, tuple(copy_of[v] for v in node.inputs), node.attrs, copy_of[node.output])
    contributions = primitive.vjp(Emitter(builder, backward_location(node.location)), copied, ct)
    if len(contributions) != len(node.inputs):
        raise TcompTypeError(
            f"internal error: the gradient rule of {node.op} gave {len(contributions)} "
            f"cotangents for {len(node.inputs)} inputs"
        )
    return _checked_contributions(node, contributions)


def _checked_contributions(
    node: Node, contributions: Sequence[Value | None]
) -> Sequence[Value | None]:
    """``contributions``, after checking each has its input's type (a rule's bug)."""
    for value, contribution in zip(node.inputs, contributions):
        if contribution is not None and contribution.type != value.type:
            raise TcompTypeError(
                f"internal error: the gradient rule of {node.op} gave {contribution.type} "
                f"for an input of type {value.type}"
            )
    return contributions


def _apply_region_vjp(
    builder: FunctionBuilder,
    node: Node,
    copy_of: dict[Value, Value],
    cts: list[Value | None],
    residual: object,
) -> Sequence[Value | None]:
    """Runs a control-flow node's VJP rule (``Primitive.vjp_regions``) on the copied values."""
    primitive = get_primitive(node.op)
    if primitive.vjp_regions is None:
        where = f"\n  at {node.location}" if node.location is not None else ""
        raise TcompTypeError(
            f"{node.op}: cannot be differentiated in reverse mode (a while_loop's trip count "
            "is known only at run time, so there is nothing to save its steps in); use "
            f"tcomp.scan or tcomp.fori_loop, whose trip count is static{where}")
    outputs = [copy_of[v] for v in node.outputs]
    copied = Node(node.op, tuple(copy_of[v] for v in node.inputs), node.attrs, outputs[0],
                  backward_location(node.location), tuple(outputs[1:]), node.regions)
    contributions = primitive.vjp_regions(builder, copied, cts, residual)
    return _checked_contributions(node, contributions)


def _active_values(function: Function, wrt: Sequence[int], outputs: Sequence[int]) -> set[Value]:
    """Values on a path from a ``wrt`` parameter to a differentiated output, floats only."""
    depends: set[Value] = {function.params[i] for i in wrt}
    for node in function.nodes:
        if any(v in depends for v in node.inputs):
            depends.update(v for v in node.outputs if is_float(v.dtype))
    reaches: set[Value] = {function.outputs[i] for i in outputs}
    for node in reversed(function.nodes):
        if any(v in reaches for v in node.outputs):
            reaches.update(node.inputs)
    return depends & reaches
