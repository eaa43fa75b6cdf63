"""``tcomp.accumulate_gradients``: a big batch's gradients in ``k`` micro-batches, memory flat.

A batch too large for one step's activations is split along its first axis into
``k`` equal micro-batches that run one after another in a :func:`tcomp.scan`; the
carry holds the running sums of the loss and the gradients, so the compiled
program keeps one micro-batch's temporaries alive at a time (its scratch arena is
about one micro-batch's, not ``k`` times that: ``jit(f).lower(...).memory()``).
"""

from __future__ import annotations

from typing import Any, Callable

from tcomp.frontend.control_flow import region_name, scan
from tcomp.frontend.creation import zeros
from tcomp.frontend.dispatch import materialize, operand, shape_of, user_error
from tcomp.frontend.nn_common import is_int
from tcomp.frontend.pytree import tree_flatten, tree_unflatten
from tcomp.frontend.trace import current_trace, new_trace
from tcomp.ir.errors import TcompArgumentError, TcompShapeError
from tcomp.ir.types import TensorType


def _split(batch: tuple[Any, ...], k: int) -> tuple[Any, ...]:
    """Each leaf ``[n, ...]`` of the batch arguments as ``[k, n // k, ...]``."""
    leaves, tree = tree_flatten(batch)
    split = []
    for index, leaf in enumerate(leaves):
        leaf = materialize(operand(leaf, "accumulate_gradients"))
        shape = shape_of(leaf)
        if not shape or shape[0] % k:
            size = "a 0-d array" if not shape else f"shape {shape}"
            raise user_error(
                TcompShapeError,
                f"accumulate_gradients: batch leaf {index} has {size}; each batch argument "
                f"is split along axis 0 into k={k} equal micro-batches, so its first axis "
                f"must be a multiple of {k}",
            )
        split.append(leaf.reshape((k, shape[0] // k) + tuple(shape[1:])))
    return tree_unflatten(tree, split)


def _result_types(grad_fn: Callable[..., Any], params: Any, micro: Any) -> tuple[Any, list[Any]]:
    """The tree and leaf types of ``grad_fn(params, *micro_batch)``, from a trace that is thrown away."""
    param_leaves, param_tree = tree_flatten(params)
    micro_leaves, micro_tree = tree_flatten(micro)
    with new_trace("accumulate_gradients_types") as trace:
        stand_ins = [
            trace.new_param(materialize(operand(leaf, "accumulate_gradients")).aval)
            for leaf in param_leaves
        ]
        slices = [
            trace.new_param(TensorType(leaf.shape[1:], leaf.aval.dtype)) for leaf in micro_leaves
        ]
        result = grad_fn(tree_unflatten(param_tree, stand_ins), *tree_unflatten(micro_tree, slices))
        leaves, tree = tree_flatten(result)
        types = [materialize(operand(leaf, "accumulate_gradients")).aval for leaf in leaves]
    return tree, types


def accumulate_gradients(
    grad_fn: Callable[..., tuple[Any, Any]], k: int
) -> Callable[..., tuple[Any, Any]]:
    """``grad_fn`` over ``k`` micro-batches in a :func:`tcomp.scan`; returns the mean.

    ``grad_fn(params, *batch) -> (loss, grads)`` is what ``tcomp.value_and_grad(loss_fn)``
    returns. The result, ``f(params, *batch)``, splits every leaf of the batch
    arguments along axis 0 into ``k`` equal, consecutive micro-batches (the first
    axis must be a multiple of ``k``), runs ``grad_fn`` on each in turn and returns
    every leaf of its result averaged over the micro-batches::

        def f(params, *batch):
            results = [grad_fn(params, *[b[i * m:(i + 1) * m] for b in batch])
                       for i in range(k)]          # m = len(batch[0]) // k
            return tree_map(lambda *r: sum(r) / k, *results)

    For a loss that is a mean over its batch that is the full batch's loss and
    gradients (up to rounding); for a sum, multiply by ``k``. ``grad_fn`` is traced
    once, and the micro-batches run one after another (the carry: the running sums),
    so a compiled step's scratch memory is about one micro-batch's, whatever ``k``.
    Use it inside ``tcomp.jit`` (outside, each call runs through a ``jit`` of itself)::

        step = tcomp.jit(tcomp.accumulate_gradients(tcomp.value_and_grad(loss), k=4))
        loss, grads = step(params, x, y)   # x, y: 4 micro-batches of x.shape[0] // 4
    """
    if not is_int(k) or k < 1:
        raise user_error(
            TcompArgumentError, f"accumulate_gradients: k must be an int >= 1, got {k!r}"
        )
    k = int(k)
    name = f"accumulate_{region_name(grad_fn, 'grad_fn')}"

    def accumulated(params: Any, *batch: Any) -> tuple[Any, Any]:
        if current_trace() is None:
            from tcomp.frontend.jit import JitFunction

            return JitFunction(accumulated)(params, *batch)
        micro = _split(batch, k)
        tree, types = _result_types(grad_fn, params, micro)

        def step(sums: list[Any], one: Any) -> tuple[list[Any], None]:
            leaves, got = tree_flatten(grad_fn(params, *one))
            if got != tree:
                raise user_error(
                    TcompArgumentError,
                    f"accumulate_gradients: grad_fn's result was {tree} when first traced, "
                    f"then {got}; it must keep its structure",
                )
            return [s + leaf for s, leaf in zip(sums, leaves)], None

        step.__name__ = name
        init = [zeros(t.shape, t.dtype) for t in types]
        sums, _ = scan(step, init, micro)
        return tree_unflatten(tree, [s / k for s in sums])

    accumulated.__name__ = name
    accumulated.__doc__ = f"{region_name(grad_fn, 'grad_fn')} averaged over {k} micro-batches."
    return accumulated
