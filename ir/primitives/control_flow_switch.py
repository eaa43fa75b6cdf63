"""``switch``: run one of several regions, chosen by an int32 index.

    %r... = switch(%index, %operands...) regions { branch 0 ... branch N-1 }

Every branch takes the operands' types and returns the same types (the
node's results); the index is clamped into ``0 .. N-1`` (``jax.lax.switch``).
``tcomp.cond`` is a switch on ``int32(pred)`` over ``(false_fn, true_fn)``.
The gradient is a switch, on the same index, over the branches' VJPs: only the
taken branch contributes. The compiled backends lower a switch by
:func:`expand_switches` (every branch computed, results chosen by ``select``):
results and gradients are exact, only the cost is that of all branches.
"""

from __future__ import annotations

from typing import Any, Sequence, cast

from tcomp.ir.builder import Emitter, FunctionBuilder, copy_node, inline_into
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.types import is_float

SWITCH = "switch"


def switch_vjp(
    builder: FunctionBuilder, node: Node, cotangents: Sequence[Value | None], saved: Any
) -> list[Value | None]:
    from tcomp.ir.autodiff import vjp_function

    operands = node.inputs[1:]
    wrt = [i for i, v in enumerate(operands) if is_float(v.dtype)]
    with_ct = [i for i, ct in enumerate(cotangents) if ct is not None]
    branches = []
    for branch in node.regions:
        vjp = vjp_function(branch, wrt, with_ct, name=f"{branch.name}_vjp")
        b = FunctionBuilder(vjp.name)
        params = [b.add_param(p.type) for p in vjp.params]
        results = inline_into(b, vjp, params)
        branches.append(b.finish(results[len(branch.outputs):]))
    cts = [cast(Value, cotangents[i]) for i in with_ct]  # with_ct: the outputs that have one
    grads = builder.emit_regions(SWITCH, [node.inputs[0], *operands, *cts], {}, branches,
                                 node.location)
    result: list[Value | None] = [None] * len(node.inputs)
    for position, i in enumerate(wrt):
        result[1 + i] = grads[position]
    return result



def expand_switches(fn: Function) -> Function:
    """``fn`` with every ``switch`` replaced by all its branches inlined and a ``select``
    per result (the compiled backends' lowering: see the module docstring)."""
    if not any(node.op == SWITCH for node in fn.nodes):
        return fn
    builder = FunctionBuilder(fn.name)
    env: dict[Value, Value] = {p: builder.add_param(p.type) for p in fn.params}
    for node in fn.nodes:
        inputs = [env[v] for v in node.inputs]
        if node.op != SWITCH:
            env.update(zip(node.outputs, copy_node(builder, node, inputs)))
            continue
        emit = Emitter(builder, node.location)
        last = len(node.regions) - 1
        index = emit.min(emit.max(inputs[0], emit.full(0, inputs[0].type)),
                         emit.full(last, inputs[0].type))
        chosen = inline_into(builder, expand_switches(node.regions[last]), inputs[1:])
        for number in range(last - 1, -1, -1):
            results = inline_into(builder, expand_switches(node.regions[number]), inputs[1:])
            taken = emit.eq(index, emit.full(number, index.type))
            chosen = [emit.select(emit.broadcast_value(taken, r.shape), r, c)
                      for r, c in zip(results, chosen)]
        env.update(zip(node.outputs, chosen))
    return builder.finish([env[v] for v in fn.outputs], dict(fn.metadata))
