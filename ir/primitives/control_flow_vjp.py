"""The gradient of ``scan``: a reverse scan over the carries the forward scan saved.

Forward (``scan_forward``, run by :func:`tcomp.ir.autodiff.vjp_function` in place
of the plain copy of a differentiated scan): the same scan whose body also returns
its incoming carries as extra ``y``s, so the results end with the carry *before*
each step, stacked ``[T, *carry]`` (the residuals).

Backward (``scan_vjp``): with ``body_vjp = vjp_function(body)`` (float
parameters and float outputs that get a cotangent), one scan in the other
direction over ``(saved carries, xs, ct_ys)``::

    carry:  (ct_carry over float carries, acc over float consts)
    step:   grads = body_vjp(c_t, x_t, consts, ct_carry, ct_y_t)
            ct_carry' = grads of the carries; acc' = acc + grads of the consts
            y = grads of x_t
    result: ct_init = final ct_carry, ct_xs = stacked y, ct_consts = final acc

``body_vjp`` recomputes the body's forward from the saved carry (what the
step needs besides the carry, ``x_t`` and the consts, is all recomputed), so a
scan's memory is its carries times ``T``, not every value of every step.
"""

from __future__ import annotations

from typing import Any, Sequence

from tcomp.ir.builder import Emitter, FunctionBuilder, inline_into
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.primitives.control_flow import scan_parts
from tcomp.ir.types import is_float


def scan_forward(builder: FunctionBuilder, node: Node, inputs: Sequence[Value]) -> tuple[list[Value], list[Value]]:
    """The scan of ``node`` on ``inputs``, also stacking each step's incoming carries."""
    (body,) = node.regions
    carries, _, _ = scan_parts(len(node.inputs), node.attrs)
    saving = Function(body.name, list(body.params), list(body.nodes),
                      list(body.outputs) + list(body.params[:carries]), dict(body.metadata))
    outputs = builder.emit_regions(node.op, inputs, node.attrs, (saving,), node.location)
    kept = len(node.outputs)
    return outputs[:kept], outputs[kept:]


def scan_vjp(
    builder: FunctionBuilder, node: Node, cotangents: Sequence[Value | None], saved: Any
) -> list[Value | None]:
    """One cotangent (or None) per input of the scan ``node`` (see the module docstring)."""
    from tcomp.ir.autodiff import vjp_function

    (body,) = node.regions
    emit = Emitter(builder, node.location)
    carries, xs, consts = scan_parts(len(node.inputs), node.attrs)
    length = node.attrs["length"]
    if saved is None:  # not made by scan_forward (a rule called directly): save now
        _, saved = scan_forward(builder, node, node.inputs)
    params = body.params
    float_carries = [i for i in range(carries) if is_float(params[i].dtype)]
    float_xs = [carries + i for i in range(xs) if is_float(params[carries + i].dtype)]
    float_consts = [carries + xs + i for i in range(consts)
                    if is_float(params[carries + xs + i].dtype)]
    ys_cts = [i for i in range(len(body.outputs) - carries)
              if cotangents[carries + i] is not None and is_float(body.outputs[carries + i].dtype)]
    wrt = float_carries + float_xs + float_consts
    ct_outputs = float_carries + [carries + i for i in ys_cts]
    body_vjp = vjp_function(body, wrt, ct_outputs, name=f"{body.name}_vjp")

    # the reverse body: (ct_carry, acc, c_t, x_t, ct_y_t, consts) -> (ct_carry', acc', ct_x_t)
    b = FunctionBuilder(f"{body.name}_reverse")
    ct_c = [b.add_param(params[i].type) for i in float_carries]
    acc = [b.add_param(params[i].type) for i in float_consts]
    c_t = [b.add_param(params[i].type) for i in range(carries)]
    x_t = [b.add_param(params[carries + i].type) for i in range(xs)]
    ct_y = [b.add_param(body.outputs[carries + i].type) for i in ys_cts]
    k = [b.add_param(params[carries + xs + i].type) for i in range(consts)]
    results = inline_into(b, body_vjp, c_t + x_t + k + ct_c + ct_y)
    grads = dict(zip(wrt, results[len(body.outputs):]))
    new_acc = [b.emit("add", [a, grads[i]], {}, node.location) for a, i in zip(acc, float_consts)]
    reverse_body = b.finish([grads[i] for i in float_carries] + new_acc
                            + [grads[i] for i in float_xs])

    def ct_or_zeros(index: int) -> Value:
        value = cotangents[index]
        return value if value is not None else emit.zeros(node.outputs[index].type)

    init = [ct_or_zeros(i) for i in float_carries]
    init += [emit.zeros(params[i].type) for i in float_consts]
    sequences = list(saved) + list(node.inputs[carries : carries + xs])
    sequences += [cotangents[carries + i] for i in ys_cts]
    attrs = {"length": length, "num_carry": len(init), "num_xs": len(sequences),
             "reverse": not node.attrs["reverse"]}
    outputs = builder.emit_regions(
        "scan", init + sequences + list(node.inputs[carries + xs :]), attrs, (reverse_body,),
        node.location,
    )
    result: list[Value | None] = [None] * len(node.inputs)
    for position, i in enumerate(float_carries):
        result[i] = outputs[position]
    for position, i in enumerate(float_consts):
        result[i] = outputs[len(float_carries) + position]
    for position, i in enumerate(float_xs):
        result[i] = outputs[len(init) + position]
    return result

