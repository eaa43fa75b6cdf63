"""The gradient of ``scan``: a reverse scan over what the forward scan saved.

The body's VJP (``vjp_function(body)`` for every float parameter and every float
result) is split in two (:func:`split_body_vjp`): its *primal* nodes, which do not
depend on a cotangent (the body's own forward nodes, and the values the backward
pass computes from them alone, such as ``1 - tanh(z)^2`` or a transposed weight),
and its *tangent* nodes. The values the tangent nodes read from the primal part are
the *residuals*.

Forward (``scan_forward``, run by :func:`tcomp.ir.autodiff.vjp_function` in place of
the plain copy of a differentiated scan): a scan whose body is the primal part,
returning the body's results, then each residual node value and the incoming carries
as extra stacked ``y``s (``[T, ...]`` each). The plain forward scan of the same
body is merged into it by ``cse`` (its nodes and results are a prefix of these).

Backward (``scan_vjp``): one scan in the other direction whose body is the tangent
part::

    carry:  (ct_carry over float carries, acc over float consts)
    xs:     (residuals_t, saved carry c_t, x_t, ct_y_t for the ys that have one)
    step:   the tangent nodes; ct_carry' = grads of the carries,
            acc' = acc + grads of the consts, y = grads of x_t
    result: ct_init = final ct_carry, ct_xs = stacked y, ct_consts = final acc

So the backward pass recomputes nothing of the forward (the memory is the residuals
times ``T``, as jax's ``scan`` keeps them); ``dce`` drops stacked results nobody reads.

A const's gradient that each step computes as ``matmul(p_t, q_t)`` (through
transposes and reshapes: a weight's gradient ``x_t^T @ dz_t``) is not accumulated in a
carry: one matmul after the loop sums the stacked factors, ``sum_t p_t @ q_t =
[p_0 .. p_T-1] @ [q_0; ..; q_T-1]`` (:func:`_summed_gradients`). That is T small
matmuls and T copies of a weight-sized carry less per call. A factor's stack comes
from where it already exists when it can (:class:`Factor`): a factor that is a step's
incoming carry or sequence element, or a transpose of one, is read from the stack of
saved carries or from the scan's own input sequence, and a factor the forward part
computes is saved by the forward scan; only factors that read a cotangent (``dz_t``)
are stacked by the reverse scan. A factor's transpose (``x_t^T``) is taken once of the
stack after the loop, where the matmul reads it in place, rather than copied at every
step.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence, cast

from tcomp.ir.builder import Emitter, FunctionBuilder, copy_node
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.primitives.control_flow import scan_parts
from tcomp.ir.types import is_float


@dataclass
class SplitVJP:
    """A scan body's VJP split into its forward-computable part and the rest."""

    vjp: Function  # params: body params, then one cotangent per ``ct_outputs`` entry
    wrt: list[int]  # body params differentiated: float carries, float xs, float consts
    ct_outputs: list[int]  # body results that may get a cotangent: every float one
    primal: list[Node]  # nodes that read no cotangent, in order
    tangent: list[Node]  # the others, in order, after the invariant primal nodes they need
    residuals: list[Value]  # step-varying primal values the tangent part (or a gradient) reads
    num_results: int  # the body's own results (the first outputs of ``vjp``)
    summed: dict[int, "SummedGradient"]  # float consts summed after the loop, by param index


_SPLITS: dict[tuple[int, int, int], tuple[Function, SplitVJP]] = {}  # memo by body


def split_body_vjp(body: Function, carries: int, xs: int) -> SplitVJP:
    """The split VJP of a scan ``body`` with ``carries`` carries and ``xs`` sequences
    (memoised per body)."""
    key = (id(body), carries, xs)
    found = _SPLITS.get(key)
    if found is not None and found[0] is body:
        return found[1]
    from tcomp.ir.autodiff import vjp_function

    wrt = [i for i, p in enumerate(body.params) if is_float(p.dtype)]
    ct_outputs = [i for i, v in enumerate(body.outputs) if is_float(v.dtype)]
    vjp = vjp_function(body, wrt, ct_outputs, name=f"{body.name}_vjp")
    tainted: set[Value] = set(vjp.params[len(body.params) :])
    primal, tangent = [], []
    for node in vjp.nodes:
        if any(v in tainted for v in node.inputs):
            tainted.update(node.outputs)
            tangent.append(node)
        else:
            primal.append(node)
    # step-varying: reads a carry or a sequence element (else a function of the consts)
    varying: set[Value] = set(vjp.params[: carries + xs])
    for node in primal:
        if any(v in varying for v in node.inputs):
            varying.update(node.outputs)
    defined_by = {v: node for node in primal for v in node.outputs}
    float_consts = [i for i in wrt if i >= carries + xs]
    summed = _summed_gradients(vjp, tangent, wrt, float_consts, len(body.outputs))
    for gradient in summed.values():
        for factor in (gradient.p, gradient.q):
            factor.find_source(vjp.params, carries, xs, defined_by, varying)
    reverse_outputs = _reverse_outputs(vjp, wrt, carries, len(body.outputs), summed)
    tangent = _needed(tangent, reverse_outputs)
    residuals: list[Value] = []
    invariant: set[int] = set()  # ids of primal nodes the reverse body computes again
    reads = deque(
        [v for node in tangent for v in node.inputs]
        + reverse_outputs
        + [f.value for g in summed.values() for f in (g.p, g.q) if f.source == "residual"]
    )
    while reads:
        value = reads.popleft()
        maker = defined_by.get(value)
        if maker is None:
            continue  # a parameter or a tangent value
        if value in varying:
            if value not in residuals:
                residuals.append(value)
        elif id(maker) not in invariant:  # a function of the consts: cheaper to recompute
            invariant.add(id(maker))
            reads.extend(maker.inputs)
    recomputed = [node for node in primal if id(node) in invariant]
    for gradient in summed.values():
        for factor in (gradient.p, gradient.q):
            if factor.source == "residual":
                factor.index = residuals.index(factor.value)
    split = SplitVJP(
        vjp, wrt, ct_outputs, primal, recomputed + tangent, residuals, len(body.outputs), summed
    )
    if len(_SPLITS) > 256:
        _SPLITS.clear()
    _SPLITS[key] = (body, split)
    return split


@dataclass
class Factor:
    """One factor of a summed gradient, ``value_t`` or (``transposed``) ``value_t^T`` at
    step ``t``, and where the stack ``[value_0 .. value_T-1]`` comes from (``source``):

    - ``"carry"`` / ``"x"``: ``value`` is the body's carry or sequence parameter
      ``index``: the forward's stack of saved carries, or the scan's input sequence;
    - ``"residual"``: a step-varying value of the forward part: the forward scan saves it
      (``index`` into the residuals);
    - ``"reverse"``: any other value (one that reads a cotangent, a const): the reverse
      scan stacks it.
    """

    value: Value
    transposed: bool = False
    source: str = "reverse"
    index: int = -1

    def find_source(
        self,
        params: Sequence[Value],
        carries: int,
        xs: int,
        primal_maker: dict[Value, Node],
        varying: set[Value],
    ) -> None:
        """Set ``source`` and ``index`` (a residual's index is set once the residuals are
        chosen): ``params`` are the VJP's, ``primal_maker`` maps the forward part's values
        to their nodes, ``varying`` holds the step-varying values."""
        if self.value in params[: carries + xs]:
            position = list(params).index(self.value)
            self.source, self.index = (
                ("carry", position) if position < carries else ("x", position - carries)
            )
        elif self.value in primal_maker and self.value in varying:
            self.source = "residual"
        # else a cotangent's function, a const or a function of the consts alone: the
        # reverse scan stacks it (an invariant factor is rare: ``P @ sum_t q_t``)


@dataclass
class SummedGradient:
    """A const's gradient that is ``chain(matmul(p, q))`` at every step, ``p`` and ``q``
    factors of values of the VJP, ``chain`` the transposes and reshapes after the
    matmul."""

    p: Factor
    q: Factor
    chain: list[Node]


def _peel_transpose(value: Value, producer: dict[Value, Node]) -> Factor:
    """``value`` as a factor: ``Factor(u, transposed=True)`` when it is ``transpose(u)`` of
    a matrix, else ``Factor(value)``."""
    maker = producer.get(value)
    if maker is not None and maker.op == "transpose" and len(value.shape) == 2:
        return Factor(maker.inputs[0], transposed=True)
    return Factor(value)


def _summed_gradients(
    vjp: Function, tangent: list[Node], wrt: list[int], float_consts: list[int], num_results: int
) -> dict[int, SummedGradient]:
    """The float consts whose per-step gradient is a 2-d matmul (then transposes or
    reshapes), by parameter index: summed after the loop instead of in a carry. A
    gradient whose factor is a function of the consts alone is not summed (its stack
    would be the same matrix T times)."""
    producer = {v: n for n in vjp.nodes for v in n.outputs}
    in_body = {id(n) for n in tangent}
    found: dict[int, SummedGradient] = {}
    for position, index in enumerate(wrt):
        if index not in float_consts:
            continue
        chain: list[Node] = []
        maker = producer.get(vjp.outputs[num_results + position])
        while maker is not None and id(maker) in in_body and maker.op in ("transpose", "reshape"):
            chain.append(maker)
            maker = producer.get(maker.inputs[0])
        if maker is None or maker.op != "matmul" or id(maker) not in in_body:
            continue
        p, q = maker.inputs
        if len(p.shape) == 2 and len(q.shape) == 2:
            found[index] = SummedGradient(
                _peel_transpose(p, producer), _peel_transpose(q, producer), list(reversed(chain))
            )
    return found


def _reverse_outputs(
    vjp: Function, wrt: list[int], carries: int, num_results: int, summed: dict[int, SummedGradient]
) -> list[Value]:
    """The VJP values the reverse body gives back: the gradients of the float carries,
    sequence elements and consts that are not summed, and the factors it stacks."""
    grads = vjp.outputs[num_results:]
    values = [g for i, g in zip(wrt, grads) if i < carries or i not in summed]
    return values + [f.value for g in summed.values() for f in (g.p, g.q) if f.source == "reverse"]


def _needed(nodes: list[Node], outputs: list[Value]) -> list[Node]:
    """The nodes of ``nodes`` that ``outputs`` depend on, in their order."""
    wanted: set[Value] = set(outputs)
    kept: list[Node] = []
    for node in reversed(nodes):
        if any(v in wanted for v in node.outputs):
            kept.append(node)
            wanted.update(node.inputs)
    return list(reversed(kept))


def _factor_stack(
    factor: Factor,
    reverse_stack: Value | None,
    residual_stacks: Sequence[Value],
    saved_carries: Sequence[Value],
    sequences: Sequence[Value],
) -> Value:
    """The ``[T, ...]`` stack of ``factor.value`` (``reverse_stack``: the reverse scan's)."""
    if factor.source == "carry":
        return saved_carries[factor.index]
    if factor.source == "x":
        return sequences[factor.index]
    if factor.source == "residual":
        return residual_stacks[factor.index]
    assert reverse_stack is not None
    return reverse_stack


def _sum_over_steps(
    builder: FunctionBuilder,
    p: Factor,
    p_stack: Value,
    q: Factor,
    q_stack: Value,
    summed: SummedGradient,
    location: Any,
) -> Value:
    """``chain(sum_t p_t @ q_t)`` from the stacks of the factors' values: ``[T, M, K]`` (or
    ``[T, K, M]`` for a transposed ``p``) and ``[T, K, N]`` (or ``[T, N, K]``)."""
    emit = Emitter(builder, location)
    if p.transposed:  # p_t = u_t^T: [u_0; ..; u_T-1]^T, read in place by the matmul
        steps, k, m = p_stack.shape
        rows = emit.emit("transpose", emit.reshape_to(p_stack, (steps * k, m)), perm=(1, 0))
    else:
        steps, m, k = p_stack.shape
        rows = emit.reshape_to(emit.emit("transpose", p_stack, perm=(1, 0, 2)), (m, steps * k))
    if q.transposed:
        q_stack = emit.emit("transpose", q_stack, perm=(0, 2, 1))
    n = q_stack.shape[2]
    columns = emit.reshape_to(q_stack, (steps * k, n))
    value = emit.emit("matmul", rows, columns)
    for node in summed.chain:
        (value,) = copy_node(builder, node, [value])
    return value


def scan_forward(
    builder: FunctionBuilder, node: Node, inputs: Sequence[Value]
) -> tuple[list[Value], list[Value]]:
    """The scan of ``node`` on ``inputs`` whose body is the primal part of its VJP, also
    stacking the residuals and each step's incoming carries (see the module docstring)."""
    (body,) = node.regions
    carries, xs, _ = scan_parts(len(node.inputs), node.attrs)
    split = split_body_vjp(body, carries, xs)
    params = split.vjp.params[: len(body.params)]
    saving = Function(
        body.name,
        list(params),
        list(split.primal),
        list(split.vjp.outputs[: split.num_results]) + split.residuals + list(params[:carries]),
        dict(body.metadata),
    )
    outputs = builder.emit_regions(node.op, inputs, node.attrs, (saving,), node.location)
    kept = len(node.outputs)
    return outputs[:kept], outputs[kept:]


def scan_vjp(
    builder: FunctionBuilder, node: Node, cotangents: Sequence[Value | None], saved: Any
) -> list[Value | None]:
    """One cotangent (or None) per input of the scan ``node`` (see the module docstring)."""
    (body,) = node.regions
    emit = Emitter(builder, node.location)
    carries, xs, consts = scan_parts(len(node.inputs), node.attrs)
    split = split_body_vjp(body, carries, xs)
    if saved is None:  # not made by scan_forward (a rule called directly): save now
        _, saved = scan_forward(builder, node, node.inputs)
    residual_stacks, saved_carries = saved[: len(split.residuals)], saved[len(split.residuals) :]
    params = body.params
    float_carries = [i for i in split.wrt if i < carries]
    float_xs = [i for i in split.wrt if carries <= i < carries + xs]
    float_consts = [i for i in split.wrt if i >= carries + xs]
    ys_cts = [i for i in split.ct_outputs if i >= carries and cotangents[i] is not None]
    summed = split.summed
    accumulated = [i for i in float_consts if i not in summed]
    reverse_body = _reverse_body(
        body, split, carries, xs, float_carries, accumulated, ys_cts, node, summed
    )

    def ct_or_zeros(index: int) -> Value:
        value = cotangents[index]
        return value if value is not None else emit.zeros(node.outputs[index].type)

    init = [ct_or_zeros(i) for i in float_carries]
    init += [emit.zeros(params[i].type) for i in accumulated]
    sequences = list(residual_stacks) + list(saved_carries)
    sequences += list(node.inputs[carries : carries + xs])
    sequences += [cast(Value, cotangents[i]) for i in ys_cts]  # ys_cts: those with one
    attrs = {
        "length": node.attrs["length"],
        "num_carry": len(init),
        "num_xs": len(sequences),
        "reverse": not node.attrs["reverse"],
    }
    outputs = builder.emit_regions(
        "scan",
        init + sequences + list(node.inputs[carries + xs :]),
        attrs,
        (reverse_body,),
        node.location,
    )
    result: list[Value | None] = [None] * len(node.inputs)
    for position, i in enumerate(float_carries):
        result[i] = outputs[position]
    for position, i in enumerate(accumulated):
        result[i] = outputs[len(float_carries) + position]
    for position, i in enumerate(float_xs):
        result[i] = outputs[len(init) + position]
    reverse_stacks = iter(outputs[len(init) + len(float_xs) :])
    for i, gradient in summed.items():
        p, q = gradient.p, gradient.q
        stacks = [
            _factor_stack(
                f,
                next(reverse_stacks) if f.source == "reverse" else None,
                residual_stacks,
                saved_carries,
                node.inputs[carries : carries + xs],
            )
            for f in (p, q)
        ]
        result[i] = _sum_over_steps(builder, p, stacks[0], q, stacks[1], gradient, node.location)
    return result


def _reverse_body(
    body: Function,
    split: SplitVJP,
    carries: int,
    xs: int,
    float_carries: list[int],
    float_consts: list[int],
    ys_cts: list[int],
    node: Node,
    summed: dict[int, SummedGradient],
) -> Function:
    """``(ct_carry, acc, residuals_t, c_t, x_t, ct_y_t, consts) -> (ct_carry', acc', ct_x_t,
    then the p_t, q_t of each summed gradient)``: the tangent nodes of ``split`` on those
    parameters (``float_consts``: the consts accumulated in a carry)."""
    params = body.params
    b = FunctionBuilder(f"{body.name}_reverse")
    emit = Emitter(b, node.location)
    ct_c = [b.add_param(params[i].type) for i in float_carries]
    acc = [b.add_param(params[i].type) for i in float_consts]
    env: dict[Value, Value] = {r: b.add_param(r.type) for r in split.residuals}
    vjp_params = split.vjp.params
    for i in range(carries + xs):
        env[vjp_params[i]] = b.add_param(params[i].type)  # c_t, then x_t
    ct_y = {i: b.add_param(body.outputs[i].type) for i in ys_cts}
    for i in range(carries + xs, len(params)):
        env[vjp_params[i]] = b.add_param(params[i].type)  # the consts
    ct_params = vjp_params[len(params) :]
    for position, output in enumerate(split.ct_outputs):
        if output < carries:
            env[ct_params[position]] = ct_c[float_carries.index(output)]
        elif output in ct_y:
            env[ct_params[position]] = ct_y[output]
        else:  # a y nobody differentiates
            env[ct_params[position]] = emit.zeros(body.outputs[output].type)
    for tangent_node in split.tangent:
        env.update(
            zip(
                tangent_node.outputs,
                copy_node(b, tangent_node, [env[v] for v in tangent_node.inputs]),
            )
        )
    grads = {
        i: env[v]
        for i, v in zip(split.wrt, split.vjp.outputs[split.num_results :])
        if i not in summed
    }
    new_acc = [b.emit("add", [a, grads[i]], {}, node.location) for a, i in zip(acc, float_consts)]
    float_xs = [i for i in split.wrt if carries <= i < carries + xs]
    factors = [
        env[f.value]
        for gradient in summed.values()
        for f in (gradient.p, gradient.q)
        if f.source == "reverse"
    ]
    return b.finish(
        [grads[i] for i in float_carries] + new_acc + [grads[i] for i in float_xs] + factors
    )
