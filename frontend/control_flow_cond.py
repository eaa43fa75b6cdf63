"""``tcomp.cond`` and ``tcomp.switch``: choose a branch on a traced value.

``if x > 0:`` on a traced array cannot run (the value is unknown while
tracing); ``cond(x > 0, f, g, x)`` traces both branches, each once, into one
``switch`` node (:mod:`tcomp.ir.primitives.control_flow`). Values a branch
closes over become operands of every branch.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tcomp.frontend.control_flow import region_name
from tcomp.frontend.dispatch import bind, materialize, operand, user_error
from tcomp.frontend.location import user_location
from tcomp.frontend.pytree import tree_flatten, tree_unflatten
from tcomp.frontend.trace import Tracer, current_trace, new_trace
from tcomp.ir.builder import FunctionBuilder, inline_into
from tcomp.ir.errors import TcompArgumentError, TcompTypeError, with_location
from tcomp.ir.graph import Function
from tcomp.ir.types import TensorType


def _trace_branch(fn: Callable[..., Any], params: list[Tracer], tree: Any, name: str):
    with new_trace(name) as trace:
        inner = [trace.new_param(p.aval, p.weak) for p in params]
        result = fn(*(inner if tree is None else tree_unflatten(tree, inner)))
        leaves, out_tree = tree_flatten(result)
        outputs = [trace.lift(materialize(operand(leaf, "cond"))) for leaf in leaves]
        function = trace.finish(outputs)
    return function, trace.captured, out_tree


def switch(index: Any, branches: Sequence[Callable[..., Any]], *operands: Any) -> Any:
    """``branches[index](*operands)``, with ``index`` a traced int32 scalar (clamped into
    ``0 .. len(branches)-1``, as ``jax.lax.switch``).

    Every branch must return the same tree of the same shapes and dtypes (else
    :class:`TcompTypeError` naming both). Each branch is traced once. On the
    compiled backends (llvm, opencl, cuda) this first lowering computes every
    branch and selects the chosen results: results and gradients are exact (the
    gradient flows only through the taken branch), only the cost is all branches'.
    """
    if current_trace() is None:
        from tcomp.frontend.eager import backend_name_of
        from tcomp.frontend.jit import JitFunction

        backend = backend_name_of(index, operands)
        return JitFunction(lambda i, ops: switch(i, branches, *ops), backend=backend)(index, operands)
    branches = list(branches)
    if not branches or not all(callable(b) for b in branches):
        raise user_error(TcompArgumentError, "switch: branches must be a non-empty list of "
                         "functions")
    trace = current_trace()
    assert trace is not None
    location = user_location()
    index = trace.lift(materialize(operand(index, "switch")))
    if index.shape != ():
        raise user_error(TcompTypeError, f"switch: the index must be a scalar, got {index.aval}")
    if index.aval.dtype != "int32":
        index = bind("convert", [index], dtype="int32")
    leaves, tree = tree_flatten(operands)
    params = [trace.lift(materialize(operand(leaf, "switch"))) for leaf in leaves]
    traced = [_trace_branch(b, params, tree, region_name(b, f"branch{n}"))
              for n, b in enumerate(branches)]
    first_fn, _, first_tree = traced[0]
    for number, (function, _, out_tree) in enumerate(traced):
        if out_tree != first_tree or function.output_types != first_fn.output_types:
            mine = ", ".join(map(str, function.output_types))
            theirs = ", ".join(map(str, first_fn.output_types))
            raise TcompTypeError(with_location(
                f"cond/switch: branch {number} returns {out_tree} of ({mine}) but branch 0 "
                f"returns {first_tree} of ({theirs}); every branch must return the same "
                "structure, shapes and dtypes", location))
    # values a branch closes over: operands of every branch (each ignores the others')
    captured: list[Tracer] = []
    slots: dict[int, int] = {}
    for _, outer, _ in traced:
        for tracer in outer:
            if id(tracer._value) not in slots:
                slots[id(tracer._value)] = len(captured)
                captured.append(trace.lift(tracer))
    regions = [_widen(function, params, captured, outer, slots)
               for function, outer, _ in traced]
    inputs = [index._value] + [t._value for t in params + captured]
    values = trace.builder.emit_regions("switch", inputs, {}, regions, location)
    return tree_unflatten(first_tree, [Tracer(trace, v) for v in values])


def _widen(function: Function, params: list[Tracer], captured: list[Tracer],
           outer: list[Tracer], slots: dict[int, int]) -> Function:
    """``function`` taking every operand and every branch's captures (in ``captured``
    order), its own captures bound to their slots."""
    builder = FunctionBuilder(function.name)
    operands = [builder.add_param(p.aval) for p in params]
    extra = [builder.add_param(c.aval) for c in captured]
    mine = [extra[slots[id(t._value)]] for t in outer]
    return builder.finish(inline_into(builder, function, operands + mine))


def cond(pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any],
         *operands: Any) -> Any:
    """``true_fn(*operands)`` if the traced scalar ``pred`` is true, else
    ``false_fn(*operands)``: :func:`switch` on ``int32(pred)`` over ``(false_fn, true_fn)``.

    Both branches must return the same structure, shapes and dtypes. On the compiled
    backends both branches are computed and the result selected (exact, including
    gradients, which flow only through the taken branch; only the cost is both
    branches'). ``pred`` may be a bool or a number (non-zero is true).
    """
    if current_trace() is None:
        from tcomp.frontend.eager import backend_name_of
        from tcomp.frontend.jit import JitFunction

        backend = backend_name_of(pred, operands)
        return JitFunction(lambda p, ops: cond(p, true_fn, false_fn, *ops), backend=backend)(pred, operands)
    trace = current_trace()
    assert trace is not None
    pred = trace.lift(materialize(operand(pred, "cond")))
    if pred.shape != ():
        raise user_error(TcompTypeError, f"cond: the predicate must be a scalar, got {pred.aval}")
    if pred.aval.dtype != "bool":
        from tcomp.frontend.ops import not_equal

        pred = not_equal(pred, 0)
    return switch(bind("convert", [pred], dtype="int32"), (false_fn, true_fn), *operands)


def while_loop(cond_fun: Callable[[Any], Any], body_fun: Callable[[Any], Any], init: Any) -> Any:
    """``val = body_fun(val)`` while ``cond_fun(val)`` (a bool scalar); returns the last ``val``.

    The trip count is decided at run time, so this is forward only: under ``grad``
    it is a :class:`TcompTypeError` saying to use :func:`tcomp.scan` or
    :func:`tcomp.fori_loop` (static trip counts). The carry keeps its tree,
    shapes and dtypes. ``cond_fun`` and ``body_fun`` are each traced and compiled
    once, whatever the trip count. llvm runs the loop natively (Ctrl-C stops a
    loop that never ends); opencl and cuda read the condition back to the host
    before each iteration (one small device-to-host read, which waits for the
    iteration's kernels: prefer ``fori_loop`` when the count is known). There is no
    cap on the iterations: a ``cond_fun`` that stays true loops forever::

        def while_loop(cond_fun, body_fun, init):
            val = init
            while cond_fun(val):
                val = body_fun(val)
            return val
    """
    if current_trace() is None:
        from tcomp.frontend.eager import backend_name_of
        from tcomp.frontend.jit import JitFunction

        return JitFunction(lambda v: while_loop(cond_fun, body_fun, v), backend=backend_name_of(init))(init)
    trace = current_trace()
    assert trace is not None
    location = user_location()
    leaves, tree = tree_flatten(init)
    carry = [trace.lift(materialize(operand(leaf, "while_loop"))) for leaf in leaves]
    cond_fn, cond_captured, cond_tree = _trace_branch(
        lambda *c: cond_fun(tree_unflatten(tree, list(c))), carry, None, "cond")
    if cond_fn.output_types != [TensorType((), "bool")]:
        shown = ", ".join(map(str, cond_fn.output_types))
        raise TcompTypeError(with_location(
            f"while_loop: cond_fun must return a bool scalar, got ({shown})", location))
    body_fn, body_captured, body_tree = _trace_branch(
        lambda *c: tuple(tree_flatten(body_fun(tree_unflatten(tree, list(c))))[0]), carry, None,
        region_name(body_fun, "body"))
    if body_fn.output_types != [c.aval for c in carry]:
        got = ", ".join(map(str, body_fn.output_types))
        want = ", ".join(str(c.aval) for c in carry)
        raise TcompTypeError(with_location(
            f"while_loop: body_fun returns ({got}) but the carry is ({want}); a carry keeps "
            "its structure, shapes and dtypes", location))
    cond_inputs = [trace.lift(t) for t in cond_captured]
    body_inputs = [trace.lift(t) for t in body_captured]
    inputs = [t._value for t in carry + cond_inputs + body_inputs]
    attrs = {"num_carry": len(carry), "num_cond_consts": len(cond_inputs)}
    values = trace.builder.emit_regions("while", inputs, attrs, (cond_fn, body_fn), location)
    return tree_unflatten(tree, [Tracer(trace, v) for v in values])
