"""Algebraic simplification and constant folding.

One forward walk rebuilds the function; each node's inputs are already
simplified, so chains (``neg(neg(neg(x)))``) collapse in one walk. The walk
repeats until nothing changes (at most ``MAX_ROUNDS`` times). Rewritten nodes
are dropped; the nodes they read stay for :mod:`dce` to remove.

- Constant folding: a node whose inputs are all ``constant`` nodes and whose
  result has at most ``FOLD_LIMIT`` elements becomes a ``constant`` computed
  with the primitive's numpy reference (bigger results stay, so that
  ``broadcast_to`` of a scalar never turns into a big constant; nodes
  without inputs, ``iota`` and ``constant``, stay as they are; nor are the
  collectives, ``Primitive.communicates``: their reference talks to other ranks).
- Identities, where "0"/"1" is a constant, or a ``reshape``/``broadcast_to``
  of one, whose every element is 0/1 (see :func:`uniform_value`)::

      x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 -> x
      neg(neg(x)) -> x                     stop_gradient(x) -> x
      reshape(x) to x's shape -> x         reshape(reshape(x)) -> reshape(x)
      transpose(x) {identity} -> x         transpose(transpose(x)) -> transpose(x)
      broadcast_to(x) to x's shape -> x    broadcast_to(broadcast_to(x)) -> broadcast_to(x)
      convert(x) to x's dtype -> x         select(p, x, x) -> x
      select(true, x, y) -> x              select(false, x, y) -> y
      slice(x) of all of x, step 1 -> x    rev(x) {axes=()} -> x
      rev(rev(x)) on the same axes -> x    pad(x) with no padding -> x
      reduce_*(x) {axes=()} -> x           concatenate(x) -> x

  A rewrite applies only when the replacement has exactly the replaced
  value's type. ``x * 0 -> 0`` is *not* done: ``nan * 0`` is ``nan``.

Before::

    func @f(%0: f32[3]) -> (f32[3]) {
      %1: f32[] = constant() {value=dense<f32[] 1.0>}
      %2: f32[1] = reshape(%1) {shape=(1,)}
      %3: f32[3] = broadcast_to(%2) {shape=(3,)}
      %4: f32[3] = mul(%0, %3)
      %5: f32[3] = neg(%4)
      %6: f32[3] = neg(%5)
      return %6
    }

After (the constant chain folded, ``x * 1`` and ``neg(neg(x))`` gone; the
nodes left dead, the inner ``neg`` among them, are for ``dce``)::

    func @f(%0: f32[3]) -> (f32[3]) {
      %1: f32[] = constant() {value=dense<f32[] 1.0>}
      %2: f32[1] = constant() {value=dense<f32[1] [1.0]>}
      %3: f32[3] = constant() {value=dense<f32[3] [1.0, 1.0, 1.0]>}
      %4: f32[3] = neg(%0)
      return %0
    }
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tcomp.ir.builder import FunctionBuilder, copy_node
from tcomp.ir.graph import Function, Location, Node, Value
from tcomp.ir.primitives import get_primitive
from tcomp.ir.types import TensorType, canonical_dtype

MAX_ROUNDS = 8  # forward walks before giving up on a fixed point
FOLD_LIMIT = 64  # largest result (in elements) that constant folding creates


def simplify(fn: Function) -> Function:
    """Folds small constants and applies the identities of the module docstring until none applies.

    Returns ``fn`` itself when nothing changes, else a new function.
    """
    current = fn
    for _ in range(MAX_ROUNDS):
        result, rewrites = _simplify_once(current)
        if rewrites == 0:
            return current
        current = result
    return current


def uniform_value(value: Value, producers: Mapping[Value, Node]) -> Any:
    """The one element value of ``value`` when it is a constant with all elements equal.

    Looks through ``reshape`` and ``broadcast_to`` to the ``constant``.
    Returns a Python scalar (``-0.0`` compares equal to ``0``), or None when
    ``value`` is not such a constant, is empty or holds a NaN.
    """
    node = producers.get(value)
    while node is not None and node.op in ("reshape", "broadcast_to"):
        node = producers.get(node.inputs[0])
    if node is None or node.op != "constant":
        return None
    array = node.attrs["value"]
    if array.size == 0:
        return None
    first = array.reshape(-1)[0]
    if not np.all(array == first):  # also rejects NaN
        return None
    return first.item()


class _Context:
    """What a rule sees: producers of the rebuilt values and a way to emit new nodes."""

    def __init__(self, builder: FunctionBuilder) -> None:
        self.builder = builder
        self.location: Location | None = None
        self._producers: dict[Value, Node] = {}
        self._synced = 0

    @property
    def producers(self) -> dict[Value, Node]:
        for node in self.builder.nodes[self._synced :]:
            self._producers[node.output] = node
        self._synced = len(self.builder.nodes)
        return self._producers

    def producer(self, value: Value) -> Node | None:
        return self.producers.get(value)

    def uniform(self, value: Value) -> Any:
        return uniform_value(value, self.producers)

    def emit(self, op: str, inputs: Sequence[Value], attrs: Mapping[str, Any]) -> Value:
        return self.builder.emit(op, inputs, attrs, self.location)


Rule = Callable[[_Context, tuple[Value, ...], Mapping[str, Any]], "Value | None"]
_RULES: dict[str, list[Rule]] = {}


def _rule(*ops: str) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        for op in ops:
            _RULES.setdefault(op, []).append(rule)
        return rule

    return register


def _simplify_once(fn: Function) -> tuple[Function, int]:
    """One forward walk; returns the rebuilt function and how many nodes it rewrote."""
    builder = FunctionBuilder(fn.name)
    env: dict[Value, Value] = {p: builder.add_param(p.type) for p in fn.params}
    context = _Context(builder)
    rewrites = 0
    for node in fn.nodes:
        inputs = tuple(env[v] for v in node.inputs)
        if node.regions:  # control flow: copied as it is (run_pipeline simplifies its regions)
            env.update(zip(node.outputs, copy_node(builder, node, inputs)))
            continue
        context.location = node.location
        replacement = _rewrite(context, node.op, inputs, node.attrs, node.output.type)
        if replacement is not None and replacement.type == node.output.type:
            env[node.output] = replacement
            rewrites += 1
        else:
            env[node.output] = builder.emit(node.op, inputs, node.attrs, node.location)
    return builder.finish([env[v] for v in fn.outputs], dict(fn.metadata)), rewrites


def _rewrite(
    context: _Context,
    op: str,
    inputs: tuple[Value, ...],
    attrs: Mapping[str, Any],
    out_type: TensorType,
) -> Value | None:
    for rule in _RULES.get(op, ()):
        replacement = rule(context, inputs, attrs)
        if replacement is not None and replacement.type == out_type:
            return replacement
    return _fold(context, op, inputs, attrs, out_type)


def _fold(
    context: _Context,
    op: str,
    inputs: tuple[Value, ...],
    attrs: Mapping[str, Any],
    out_type: TensorType,
) -> Value | None:
    """op(constants) -> constant, for results of at most FOLD_LIMIT elements."""
    if not inputs or out_type.size > FOLD_LIMIT:
        return None
    primitive = get_primitive(op)
    if primitive.communicates:  # a collective: folding it would talk to the other ranks
        return None
    producers = [context.producer(v) for v in inputs]
    if any(p is None or p.op != "constant" for p in producers):
        return None
    arrays = [p.attrs["value"] for p in producers if p is not None]
    with np.errstate(all="ignore"):
        result = primitive.evaluate(arrays, attrs, out_type.dtype)
        array = result.reshape(out_type.shape)
    return context.emit("constant", (), {"value": array})


# ---------------------------------------------------------------------------
# Arithmetic identities. Binary inputs share one type, so x has the result's type.


@_rule("add")
def _add_zero(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    # Exact up to the sign of a zero result: -0.0 + 0.0 is +0.0.
    x, y = inputs
    if context.uniform(y) == 0:
        return x  # x + 0 -> x
    if context.uniform(x) == 0:
        return y  # 0 + x -> x
    return None


@_rule("sub")
def _sub_zero(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    x, y = inputs
    return x if context.uniform(y) == 0 else None  # x - 0 -> x


@_rule("mul")
def _mul_one(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    x, y = inputs
    if context.uniform(y) == 1:
        return x  # x * 1 -> x
    if context.uniform(x) == 1:
        return y  # 1 * x -> x
    return None


@_rule("div")
def _div_one(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    x, y = inputs
    return x if context.uniform(y) == 1 else None  # x / 1 -> x


@_rule("neg")
def _neg_neg(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    inner = context.producer(inputs[0])
    return inner.inputs[0] if inner is not None and inner.op == "neg" else None  # --x -> x


@_rule("stop_gradient")
def _stop_gradient(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    return inputs[0]  # stop_gradient(x) -> x (simplify runs after autodiff)


@_rule("select")
def _select(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    pred, x, y = inputs
    if x is y:
        return x  # select(p, x, x) -> x
    condition = context.uniform(pred)
    if condition is True:
        return x  # select(true, x, y) -> x
    if condition is False:
        return y  # select(false, x, y) -> y
    return None


@_rule("convert")
def _convert_same(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    x = inputs[0]
    return x if canonical_dtype(attrs["dtype"]) == x.dtype else None  # convert(x) to x.dtype -> x


# ---------------------------------------------------------------------------
# Layout identities


@_rule("reshape")
def _reshape(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    x = inputs[0]
    shape = tuple(attrs["shape"])
    if x.shape == shape:
        return x  # reshape(x) to x.shape -> x
    inner = context.producer(x)
    if inner is not None and inner.op == "reshape":
        source = inner.inputs[0]  # reshape(reshape(x)) -> reshape(x)
        return source if source.shape == shape else context.emit("reshape", (source,), attrs)
    return None


@_rule("transpose")
def _transpose(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    x = inputs[0]
    perm = tuple(attrs["perm"])
    if perm == tuple(range(len(perm))):
        return x  # transpose(x) {identity} -> x
    inner = context.producer(x)
    if inner is not None and inner.op == "transpose":
        # transpose(transpose(x, p), q) -> transpose(x, r) with r[i] = p[q[i]]
        composed = tuple(inner.attrs["perm"][q] for q in perm)
        source = inner.inputs[0]
        if composed == tuple(range(len(composed))):
            return source
        return context.emit("transpose", (source,), {"perm": composed})
    return None


@_rule("broadcast_to")
def _broadcast(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    x = inputs[0]
    shape = tuple(attrs["shape"])
    if x.shape == shape:
        return x  # broadcast_to(x) to x.shape -> x
    inner = context.producer(x)
    if inner is not None and inner.op == "broadcast_to":
        # broadcast_to(broadcast_to(x, s), t) -> broadcast_to(x, t): x's axes are t's or 1
        return context.emit("broadcast_to", (inner.inputs[0],), attrs)
    return None


@_rule("slice")
def _full_slice(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    x = inputs[0]
    whole = (
        all(s == 0 for s in attrs["start"])
        and tuple(attrs["stop"]) == x.shape
        and all(s == 1 for s in attrs["step"])
    )
    return x if whole else None  # x[0:n:1, ...] -> x


@_rule("rev")
def _rev(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    x = inputs[0]
    axes = set(attrs["axes"])
    if not axes:
        return x  # rev(x) {axes=()} -> x
    inner = context.producer(x)
    if inner is not None and inner.op == "rev" and set(inner.attrs["axes"]) == axes:
        return inner.inputs[0]  # rev(rev(x, a), a) -> x
    return None


@_rule("pad")
def _no_pad(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    widths = tuple(attrs["low"]) + tuple(attrs["high"]) + tuple(attrs["interior"])
    return inputs[0] if all(w == 0 for w in widths) else None  # pad(x) by nothing -> x


@_rule("reduce_sum", "reduce_max", "reduce_min")
def _reduce_nothing(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    return inputs[0] if tuple(attrs["axes"]) == () else None  # reduce(x) {axes=()} -> x


@_rule("concatenate")
def _concatenate_one(context: _Context, inputs: tuple[Value, ...], attrs: Mapping[str, Any]):
    return inputs[0] if len(inputs) == 1 else None  # concatenate(x) -> x
