"""The gradient transformations the optimisers are chains of (as in optax).

Each follows a documented update rule; the formulas are in the docstrings,
with ``t`` the number of the update (1 at the first), ``g`` the gradient and
``u`` the update passed on. All of them keep their running averages in the
parameter's dtype.
"""

from __future__ import annotations

from functools import reduce
from typing import Any, NamedTuple

import tcomp
from tcomp.ir.errors import TcompArgumentError
from tcomp.optim.base import (
    EmptyState,
    GradientTransformation,
    cast_like,
    check_number,
    increment,
    zero_count,
)


class TraceState(NamedTuple):
    """The momentum buffer of :func:`trace`."""

    trace: Any


class ScaleByAdamState(NamedTuple):
    """Adam's state: the updates made so far and the first and second moment averages."""

    count: Any
    mu: Any
    nu: Any


class ScaleByRssState(NamedTuple):
    """Adagrad's state: the running sum of squared gradients."""

    sum_of_squares: Any


class ScaleByRmsState(NamedTuple):
    """RMSprop's state: the average of squared gradients (and of gradients, centred)."""

    nu: Any
    mu: Any


def _zeros(params: Any) -> Any:
    return tcomp.tree_map(tcomp.zeros_like, params)


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    """Momentum (PyTorch's SGD momentum with no dampening): ``b_t = decay * b_{t-1} + g``
    (``b_0 = 0``); ``u = b_t``, or ``u = g + decay * b_t`` with ``nesterov``."""
    decay = check_number("momentum", decay, 0.0)

    def init(params: Any) -> TraceState:
        return TraceState(trace=_zeros(params))

    def update(grads: Any, state: TraceState, params: Any = None) -> tuple[Any, Any]:
        new_trace = tcomp.tree_map(lambda b, g: cast_like(decay * b + g, b), state.trace, grads)
        if nesterov:
            updates = tcomp.tree_map(lambda g, b: cast_like(g + decay * b, g), grads, new_trace)
        else:
            updates = new_trace
        return updates, TraceState(trace=new_trace)

    return GradientTransformation(init, update)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> GradientTransformation:
    """Adam's direction (Kingma & Ba; PyTorch's and optax's, ``eps`` outside the root):
    ``m_t = b1 m_{t-1} + (1 - b1) g``, ``v_t = b2 v_{t-1} + (1 - b2) g^2``,
    ``u = (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + eps)``."""
    b1 = check_number("b1", b1, 0.0, 1.0)
    b2 = check_number("b2", b2, 0.0, 1.0)
    eps = check_number("eps", eps, 0.0)

    def init(params: Any) -> ScaleByAdamState:
        return ScaleByAdamState(count=zero_count(), mu=_zeros(params), nu=_zeros(params))

    def update(grads: Any, state: ScaleByAdamState, params: Any = None) -> tuple[Any, Any]:
        mu = tcomp.tree_map(lambda m, g: cast_like(b1 * m + (1 - b1) * g, m), state.mu, grads)
        nu = tcomp.tree_map(lambda v, g: cast_like(b2 * v + (1 - b2) * (g * g), v), state.nu, grads)
        count = increment(state.count)
        t = tcomp.astype(count, "float32")
        correction1, correction2 = 1 - b1**t, 1 - b2**t

        def direction(m: Any, v: Any, g: Any) -> Any:
            return cast_like((m / correction1) / (tcomp.sqrt(v / correction2) + eps), g)

        updates = tcomp.tree_map(direction, mu, nu, grads)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: float) -> GradientTransformation:
    """Decoupled weight decay (Loshchilov & Hutter): ``u = u + weight_decay * param``;
    followed by the learning rate this is PyTorch's AdamW ``p -= lr * wd * p``."""
    weight_decay = check_number("weight_decay", weight_decay, 0.0)

    def update(grads: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        if params is None:
            raise TcompArgumentError(
                "weight decay needs the parameters: call update(grads, state, params)"
            )
        updates = tcomp.tree_map(lambda u, p: cast_like(u + weight_decay * p, u), grads, params)
        return updates, state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_rss(
    initial_accumulator_value: float = 0.0, eps: float = 1e-10
) -> GradientTransformation:
    """Adagrad's direction (PyTorch's): ``s_t = s_{t-1} + g^2`` (``s_0`` the initial
    value), ``u = g / (sqrt(s_t) + eps)``."""
    initial = check_number("initial_accumulator_value", initial_accumulator_value, 0.0)
    eps = check_number("eps", eps, 0.0)

    def init(params: Any) -> ScaleByRssState:
        return ScaleByRssState(tcomp.tree_map(lambda p: tcomp.full_like(p, initial), params))

    def update(grads: Any, state: ScaleByRssState, params: Any = None) -> tuple[Any, Any]:
        sums = tcomp.tree_map(lambda s, g: cast_like(s + g * g, s), state.sum_of_squares, grads)
        updates = tcomp.tree_map(lambda g, s: cast_like(g / (tcomp.sqrt(s) + eps), g), grads, sums)
        return updates, ScaleByRssState(sums)

    return GradientTransformation(init, update)


def scale_by_rms(
    decay: float = 0.99, eps: float = 1e-8, centered: bool = False
) -> GradientTransformation:
    """RMSprop's direction (PyTorch's, ``alpha`` = ``decay``): ``v_t = decay v_{t-1} +
    (1 - decay) g^2``, ``u = g / (sqrt(v_t) + eps)``; ``centered`` also averages
    ``m_t = decay m_{t-1} + (1 - decay) g`` and divides by ``sqrt(v_t - m_t^2) + eps``."""
    decay = check_number("decay", decay, 0.0, 1.0)
    eps = check_number("eps", eps, 0.0)

    def init(params: Any) -> ScaleByRmsState:
        return ScaleByRmsState(nu=_zeros(params), mu=_zeros(params) if centered else None)

    def update(grads: Any, state: ScaleByRmsState, params: Any = None) -> tuple[Any, Any]:
        nu = tcomp.tree_map(
            lambda v, g: cast_like(decay * v + (1 - decay) * (g * g), v), state.nu, grads
        )
        if centered:
            mu = tcomp.tree_map(
                lambda m, g: cast_like(decay * m + (1 - decay) * g, m), state.mu, grads
            )
            variance = tcomp.tree_map(lambda v, m: v - m * m, nu, mu)
        else:
            mu, variance = None, nu
        updates = tcomp.tree_map(
            lambda g, s: cast_like(g / (tcomp.sqrt(s) + eps), g), grads, variance
        )
        return updates, ScaleByRmsState(nu=nu, mu=mu)

    return GradientTransformation(init, update)


def global_norm(tree: Any) -> Any:
    """``sqrt(sum of squares of every leaf)``, summed in float32 at least (float64 leaves in
    float64); 0.0 for a tree without leaves."""
    leaves, _ = tcomp.tree_flatten(tree)
    if not leaves:
        return 0.0

    def squares(x: Any) -> Any:
        if str(x.dtype) in ("float16", "bfloat16"):
            x = tcomp.astype(x, "float32")
        return tcomp.sum(x * x)

    return tcomp.sqrt(reduce(tcomp.add, [squares(leaf) for leaf in leaves]))


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """Scales all updates together so their global norm (as if every leaf were one
    vector) is at most ``max_norm``: ``u = g * max_norm / max(norm, max_norm)`` (optax's
    ``clip_by_global_norm``; PyTorch's ``clip_grad_norm_`` without its ``1e-6``)."""
    max_norm = check_number("max_norm", max_norm, 0.0, low_open=True)

    def update(grads: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        if not tcomp.tree_flatten(grads)[0]:
            return grads, state
        factor = max_norm / tcomp.maximum(global_norm(grads), max_norm)
        return tcomp.tree_map(lambda g: cast_like(g * factor, g), grads), state

    return GradientTransformation(lambda params: EmptyState(), update)
