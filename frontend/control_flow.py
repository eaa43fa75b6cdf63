"""``tcomp.scan`` and ``tcomp.fori_loop``: loops that trace their body once.

A Python loop inside ``jit`` unrolls: 64 steps of an RNN make a graph, and a
compile, 64 times as big. ``scan`` traces the step function once into a
sub-function (values it closes over become extra operands, as ``grad`` does)
and records one ``scan`` node that holds it (:mod:`tcomp.ir.primitives.control_flow`);
the backends run the body's kernels in a loop, and ``grad`` differentiates it
as a reverse scan. Outside ``jit`` each call runs through a ``jit`` of itself.
"""

from __future__ import annotations

from typing import Any, Callable

from tcomp.frontend.dispatch import materialize, operand, user_error
from tcomp.frontend.location import user_location
from tcomp.frontend.pytree import tree_flatten, tree_unflatten
from tcomp.frontend.trace import Tracer, current_trace, new_trace
from tcomp.ir.errors import TcompArgumentError, TcompError, TcompTypeError, with_location
from tcomp.ir.types import TensorType


def _lift_all(leaves: list[Any], what: str) -> list[Tracer]:
    trace = current_trace()
    assert trace is not None
    return [trace.lift(materialize(operand(leaf, what))) for leaf in leaves]


def region_name(fn: Callable[..., Any], default: str) -> str:
    """A name for the region traced from ``fn`` (its ``__name__``, lambdas as ``lambda``)."""
    name = getattr(fn, "__name__", default)
    return name.replace("<lambda>", "lambda").replace("<", "").replace(">", "") or default


def _sequence_length(xs_leaves: list[Tracer], length: int | None) -> int:
    lengths = {leaf.shape[0] for leaf in xs_leaves if leaf.shape}
    if any(not leaf.shape for leaf in xs_leaves):
        raise user_error(TcompArgumentError, "scan: each leaf of xs needs a leading axis to scan "
                         "over; a 0-d array has none")
    if length is not None:
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise user_error(TcompArgumentError, f"scan: length must be an int >= 0, got {length!r}")
        lengths.add(length)
    if len(lengths) > 1:
        shown = ", ".join(str(leaf.shape) for leaf in xs_leaves)
        given = f" and length={length}" if length is not None else ""
        raise user_error(TcompArgumentError,
                         f"scan: the leading axes of xs differ ({shown}){given}")
    if not lengths:
        raise user_error(TcompArgumentError, "scan: with xs=None, give length=")
    return lengths.pop()


def scan(
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
) -> tuple[Any, Any]:
    """Loops ``f(carry, x) -> (carry, y)`` over the leading axis of ``xs``; returns
    ``(final carry, stacked ys)``, as ``jax.lax.scan``.

    ``init`` (the first carry) and ``xs`` are pytrees of arrays; every leaf of
    ``xs`` has the same leading axis, ``length`` (``xs=None`` scans ``length``
    steps with ``x=None``). Step ``t`` gets the ``t``-th slice of each leaf of
    ``xs`` (counting down from the end with ``reverse=True``); its ``y``s are
    stacked along a new leading axis at index ``t``. The carry keeps its tree,
    shapes and dtypes from step to step (else :class:`TcompTypeError` naming
    both types). In Python::

        def scan(f, init, xs, length=None):
            carry, ys = init, []
            for x in xs:
                carry, y = f(carry, x)
                ys.append(y)
            return carry, np.stack(ys)

    ``f`` is traced once, whatever the length: inside ``jit`` one ``scan``
    node, compiled once and run as a loop; ``grad`` through it is a reverse
    scan over the carries it saves (memory: the carries times the length).
    """
    if current_trace() is None:
        from tcomp.frontend.eager import backend_name_of
        from tcomp.frontend.jit import JitFunction

        def eager(init: Any, xs: Any) -> Any:
            return scan(f, init, xs, length=length, reverse=reverse)

        eager.__name__ = f"scan_{region_name(f, 'f')}"
        return JitFunction(eager, backend=backend_name_of(init, xs))(init, xs)
    if not isinstance(reverse, bool):
        raise user_error(TcompArgumentError, f"scan: reverse must be True or False, got {reverse!r}")
    init_leaves, carry_tree = tree_flatten(init)
    xs_leaves, xs_tree = tree_flatten(xs)
    carries = _lift_all(init_leaves, "scan")
    sequences = _lift_all(xs_leaves, "scan")
    steps = _sequence_length(sequences, length)
    slice_types = [TensorType(s.shape[1:], s.aval.dtype) for s in sequences]
    location = user_location()

    with new_trace(region_name(f, "body")) as trace:
        carry_params = [trace.new_param(c.aval, c.weak) for c in carries]
        x_params = [trace.new_param(t) for t in slice_types]
        result = f(tree_unflatten(carry_tree, carry_params), tree_unflatten(xs_tree, x_params))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TcompTypeError(with_location(
                f"scan: the step function must return a pair (carry, y), got "
                f"{type(result).__name__}", location))
        new_carry, ys = result
        new_leaves, new_tree = tree_flatten(new_carry)
        if new_tree != carry_tree:
            raise TcompTypeError(with_location(
                f"scan: the step function returns a carry of structure {new_tree}, but the "
                f"initial carry is {carry_tree}; the carry keeps its structure", location))
        y_leaves, y_tree = tree_flatten(ys)
        outputs = [trace.lift(materialize(operand(leaf, "scan"))) for leaf in new_leaves]
        for index, (before, after) in enumerate(zip(carries, outputs)):
            if before.aval != after.aval:
                raise TcompTypeError(with_location(
                    f"scan: the step function changes carry {index} from {before.aval} to "
                    f"{after.aval}; a carry keeps its shape and dtype from step to step "
                    "(cast it, e.g. with .astype, or start from an init of the new type)",
                    location))
        outputs += [trace.lift(materialize(operand(leaf, "scan"))) for leaf in y_leaves]
        body = trace.finish(outputs)
    outer = current_trace()
    assert outer is not None
    captured = [outer.lift(c) for c in trace.captured]
    inputs = [t._value for t in carries + sequences + captured]
    attrs = {"length": steps, "num_carry": len(carries), "num_xs": len(sequences),
             "reverse": reverse}
    try:
        values = outer.builder.emit_regions("scan", inputs, attrs, (body,), location)
    except TcompError:
        raise
    final = [Tracer(outer, v, c.weak) for v, c in zip(values, carries)]
    stacked = [Tracer(outer, v) for v in values[len(carries):]]
    return tree_unflatten(carry_tree, final), tree_unflatten(y_tree, stacked)


def fori_loop(lower: int, upper: int, body: Callable[[Any, Any], Any], init: Any) -> Any:
    """``val = body(i, val)`` for ``i`` in ``range(lower, upper)``; returns the last ``val``.

    The bounds are Python ints (static); ``i`` reaches the body as an int32
    scalar array. It is a :func:`scan` without ``xs`` (the index rides in the
    carry), so it traces ``body`` once and differentiates like a scan::

        def fori_loop(lower, upper, body, init):
            val = init
            for i in range(lower, upper):
                val = body(i, val)
            return val
    """
    for name, bound in (("lower", lower), ("upper", upper)):
        if not isinstance(bound, int) or isinstance(bound, bool):
            raise user_error(
                TcompArgumentError,
                f"fori_loop: {name} must be a Python int (static bounds), got "
                f"{type(bound).__name__}; a loop whose trip count is only known at run time is "
                "tcomp.while_loop",
            )
    if upper <= lower:
        return init
    from tcomp.frontend.creation import full

    def step(carry: Any, _: Any) -> tuple[Any, None]:
        i, val = carry
        return (i + 1, body(i, val)), None

    start = full((), lower, dtype="int32")
    (_, val), _ = scan(step, (start, init), None, length=upper - lower)
    return val
