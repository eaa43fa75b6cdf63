"""``grad``, ``value_and_grad`` and ``vjp``: differentiation as graph transformations.

Inside a trace, the function to differentiate is traced into a sub-function
of its own (outer values it closes over become extra parameters), the
sub-function is differentiated by ``tcomp.ir.autodiff.vjp_function``, and
the resulting gradient function is inlined into the enclosing trace. So the
backward pass is ordinary IR, optimised and compiled with the rest, and
gradients nest (``grad(grad(f))``).

Outside any trace, each transform runs through a cached ``jit`` of itself
on the default backend.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from tcomp.frontend.array import Array
from tcomp.frontend.buckets import pass_lengths
from tcomp.frontend.debug_effects import Effect, collect_effects, forward_effects, take_effects
from tcomp.frontend.dispatch import materialize, operand, user_error
from tcomp.frontend.jit import JitFunction
from tcomp.frontend.pytree import tree_flatten, tree_unflatten
from tcomp.frontend.trace import Tracer, current_trace, inline, new_trace
from tcomp.ir.autodiff import vjp_function
from tcomp.ir.errors import TcompArgumentError, TcompCallError, TcompTypeError
from tcomp.ir.graph import Function
from tcomp.ir.types import is_float


def _trace_sub_function(
    fn: Callable[..., Any], primals: Sequence[Tracer], in_tree: Any, name: str
) -> tuple[Function, list[Tracer], Any, list[Effect]]:
    """Traces ``fn`` on fresh parameters shaped like ``primals``; returns (function, captured
    outer values, out tree, its debug effects, whose values are the last outputs)."""
    with new_trace(name) as trace:
        collect_effects(trace)  # tcomp.debug.print inside: see forward_effects below
        params = [trace.new_param(p.aval, p.weak) for p in primals]
        pass_lengths(primals, params)  # jit(buckets=...): valid_length inside grad too
        result = fn(*tree_unflatten(in_tree, params))
        out_leaves, out_tree = tree_flatten(result)
        outputs = [trace.lift(leaf) for leaf in out_leaves]
        effects = take_effects(trace)
        # the effects' values: outputs after the function's own, which get no cotangent
        outputs += [tracer for _, tracers in effects for tracer in tracers]
        function = trace.finish(outputs)
    return function, trace.captured, out_tree, [effect for effect, _ in effects]


def _lift_primals(primals: Sequence[Any], what: str) -> tuple[list[Tracer], Any]:
    leaves, tree = tree_flatten(tuple(primals))
    trace = current_trace()
    return [trace.lift(materialize(operand(leaf, what))) for leaf in leaves], tree


def _vjp_traced(fn: Callable[..., Any], primals: Sequence[Any], has_aux: bool = False):
    """``vjp`` inside a trace; returns (out, vjp_fn, aux)."""
    trace = current_trace()
    flat_primals, in_tree = _lift_primals(primals, "vjp")
    for index, p in enumerate(flat_primals):
        if not is_float(p.aval.dtype):
            raise user_error(
                TcompTypeError,
                f"cannot differentiate with respect to an argument of dtype {p.aval.dtype} "
                f"(leaf {index}); gradients need float inputs",
            )

    def flat_fn(*args: Any) -> Any:
        result = fn(*args)
        if has_aux:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise user_error(
                    TcompTypeError, "has_aux=True needs the function to return a pair (output, aux)"
                )
            return result
        return (result, None)

    function, captured, out_tree, effects = _trace_sub_function(
        flat_fn, flat_primals, in_tree, getattr(fn, "__name__", "fn").replace("<lambda>", "lambda")
    )
    # out_tree is a pair (main output, aux); only the main output gets cotangents.
    main_tree, aux_tree = out_tree.children
    num_main = main_tree.num_leaves
    differentiable = [i for i in range(num_main) if is_float(function.outputs[i].dtype)]
    inputs = flat_primals + captured
    forward = inline(function, trace, inputs)
    num_own = out_tree.num_leaves
    forward_effects(trace, effects, forward[num_own:])  # printed once, with forward values
    main = tree_unflatten(main_tree, forward[:num_main])
    aux = tree_unflatten(aux_tree, forward[num_main:num_own])
    gradient_function = vjp_function(
        function, wrt=range(len(flat_primals)), cotangent_outputs=differentiable
    )

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        cotangent_leaves, cotangent_tree = tree_flatten(cotangent)
        if cotangent_tree != main_tree:
            raise user_error(
                TcompArgumentError,
                f"vjp: the cotangent's structure {cotangent_tree} differs from the output's {main_tree}",
            )
        current = current_trace()
        if current is None:
            raise user_error(TcompArgumentError, "vjp_fn: called outside the trace that made it")
        cts = []
        for i in differentiable:
            value = materialize(operand(cotangent_leaves[i], "vjp"))
            expected = function.outputs[i].type
            if value.aval != expected:
                raise user_error(
                    TcompArgumentError,
                    f"vjp: cotangent {i} must be {expected}, got {value.aval}",
                )
            cts.append(current.lift(value))
        lifted = [current.lift(v) for v in inputs]
        results = inline(gradient_function, current, lifted + cts)
        grads = results[len(function.outputs) :]
        return tree_unflatten(in_tree, grads)

    return main, vjp_fn, aux


def vjp(fn: Callable[..., Any], *primals: Any, has_aux: bool = False):
    """``(fn(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` gives a tuple with one gradient per primal.

    The cotangent has the structure and shapes of ``fn``'s output. With
    ``has_aux=True``, ``fn`` returns ``(output, aux)`` and ``vjp`` returns
    ``(output, vjp_fn, aux)``.
    """
    if current_trace() is not None:
        out, vjp_fn, aux = _vjp_traced(fn, primals, has_aux)
        return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)

    # Eagerly: the forward pass now, the backward pass when vjp_fn is called.
    def forward(*args: Any) -> Any:
        out, _, aux = _vjp_traced(fn, args, has_aux)
        return (out, aux)

    out, aux = JitFunction(forward)(*primals)

    def backward(args: tuple, cotangent: Any) -> Any:
        _, vjp_fn, _ = _vjp_traced(fn, args, has_aux)
        return vjp_fn(cotangent)

    compiled_backward = JitFunction(backward)
    vjp_fn = lambda cotangent: compiled_backward(tuple(primals), cotangent)
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


class _GradTransform:
    """Shared by ``grad`` and ``value_and_grad``."""

    def __init__(self, fn: Callable[..., Any], argnums: int | Sequence[int], has_aux: bool, with_value: bool) -> None:
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._argnums = argnums
        self._has_aux = has_aux
        self._with_value = with_value
        # Called eagerly: one cached jit, made here so that threads share it
        self._eager = JitFunction(self._eager_call, static_argnums=0)
        self._eager.__name__ = getattr(fn, "__name__", "fn")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if current_trace() is None:
            # Leaves that are not numbers or arrays (a string option, a function) are
            # static values of the eager jit, as they would be in Python.
            leaves, tree = tree_flatten((args, kwargs))
            statics = tuple((i, leaf) for i, leaf in enumerate(leaves) if not _is_data(leaf))
            static_positions = {i for i, _ in statics}
            # Static leaves become None (an empty subtree), so error messages keep the
            # user's argument paths (args[0], kwargs['scale']).
            holes = [None if i in static_positions else leaf for i, leaf in enumerate(leaves)]
            dynamic_args, dynamic_kwargs = tree_unflatten(tree, holes)
            return self._eager((tree, statics), dynamic_args, dynamic_kwargs)
        return self._traced_call(*args, **kwargs)

    def _eager_call(self, spec: tuple, args: tuple, kwargs: dict) -> Any:
        tree, statics = spec
        fill = dict(statics)
        dynamic = iter(tree_flatten((args, kwargs))[0])
        merged = [fill[i] if i in fill else next(dynamic) for i in range(tree.num_leaves)]
        args, kwargs = tree_unflatten(tree, merged)
        return self._traced_call(*args, **kwargs)

    def _traced_call(self, *args: Any, **kwargs: Any) -> Any:
        argnums = (self._argnums,) if isinstance(self._argnums, int) else tuple(self._argnums)
        for n in argnums:
            if not -len(args) <= n < len(args):
                raise user_error(
                    TcompCallError,
                    f"argnums {self._argnums!r}: the function got {len(args)} positional arguments",
                )
        argnums = tuple(n % len(args) for n in argnums)

        def partial(*diff_args: Any) -> Any:
            full = list(args)
            for n, value in zip(argnums, diff_args):
                full[n] = value
            return self._fn(*full, **kwargs)

        value, vjp_fn, aux = _vjp_traced(partial, [args[n] for n in argnums], self._has_aux)
        if not isinstance(value, Tracer) or value.shape != () or not is_float(value.aval.dtype):
            shown = getattr(value, "aval", type(value).__name__)
            raise user_error(
                TcompTypeError,
                f"grad needs a function that returns a float scalar, got {shown}"
                + (" (with has_aux=True, return (scalar, aux))" if not self._has_aux else ""),
            )
        grads = vjp_fn(_ones_like(value))
        grads = grads[0] if isinstance(self._argnums, int) else grads
        if self._with_value:
            return ((value, aux), grads) if self._has_aux else (value, grads)
        return (grads, aux) if self._has_aux else grads


def _is_data(leaf: Any) -> bool:
    """Numbers and arrays are traced; other leaves (strings, functions ...) are static."""
    return isinstance(leaf, (Array, np.ndarray, np.generic, bool, int, float, complex))


def _ones_like(value: Tracer) -> Any:
    from tcomp.frontend.creation import ones_like

    return ones_like(value)


def grad(fn: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of scalar-valued ``fn`` with respect to argument(s) ``argnums``.

    The gradient has the pytree structure of the argument (a tuple of them
    when ``argnums`` is a tuple). With ``has_aux=True``, ``fn`` returns
    ``(scalar, aux)`` and the result is ``(grads, aux)``.
    """
    return _GradTransform(fn, argnums, has_aux, with_value=False)


def value_and_grad(fn: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """Like :func:`grad`, returning ``(value, grads)`` (``((value, aux), grads)`` with has_aux)."""
    return _GradTransform(fn, argnums, has_aux, with_value=True)
