"""Optimisers and gradient clipping as plain array arithmetic, one copy for every framework.

tcomp has no optimiser library yet, so each model's update is written out
here, and the same code runs inside ``tcomp.jit``, ``jax.jit``,
``torch.compile`` and eagerly. Each function takes ``ops``, an array
namespace with ``sqrt``, ``sum`` and ``clip`` (the ``tcomp`` module,
``jax.numpy``, or :class:`TorchOps`), and dicts of arrays keyed by parameter
name, and returns new dicts: nothing is updated in place.

Scalars of an optimiser's state (Adam's running powers of the betas) are
0-d float32 arrays fed back with the rest of the state, so a step never
depends on a changing Python number (which would retrace a jitted step).
The ``*_init`` functions build the initial state as numpy arrays.
"""

from __future__ import annotations

from typing import Any, Collection

import numpy as np

Arrays = dict[str, Any]


class TorchOps:
    """The three functions the optimisers need, as PyTorch spells them."""

    def __init__(self, torch: Any) -> None:
        self.sqrt = torch.sqrt
        self.sum = torch.sum
        self.clip = torch.clamp


def _zeros_like(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.zeros_like(p) for name, p in params.items()}


def _scalar(value: float) -> np.ndarray:
    return np.array(value, dtype=np.float32)


def clip_by_value(ops: Any, grads: Arrays, low: float, high: float) -> Arrays:
    """Each gradient element limited to ``[low, high]`` (min-char-rnn's ``np.clip(dparam, -5, 5)``)."""
    return {name: ops.clip(g, low, high) for name, g in grads.items()}


def clip_by_global_norm(ops: Any, grads: Arrays, max_norm: float) -> Arrays:
    """All gradients scaled by ``min(1, max_norm / (norm + 1e-6))``, ``norm`` the 2-norm of them all.

    What ``torch.nn.utils.clip_grad_norm_`` does (nanoGPT's ``grad_clip``).
    """
    norm = ops.sqrt(sum(ops.sum(g * g) for g in grads.values()))
    scale = ops.clip(max_norm / (norm + 1e-6), None, 1.0)
    return {name: g * scale for name, g in grads.items()}


def sgd_momentum_init(params: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"velocity": _zeros_like(params)}


def sgd_momentum(
    ops: Any, params: Arrays, grads: Arrays, state: dict[str, Any], lr: float, momentum: float
) -> tuple[Arrays, dict[str, Any]]:
    """``v = momentum * v + g; p -= lr * v``.

    ``torch.optim.SGD(lr, momentum)`` (no dampening, no Nesterov) and
    ``jax.example_libraries.optimizers.momentum`` are both this update.
    """
    velocity = {n: momentum * state["velocity"][n] + g for n, g in grads.items()}
    new = {n: p - lr * velocity[n] for n, p in params.items()}
    return new, {"velocity": velocity}


def adam_init(params: dict[str, np.ndarray]) -> dict[str, Any]:
    """Zero moments; ``beta1_power`` and ``beta2_power`` are ``beta ** step``, starting at 1."""
    return {
        "m": _zeros_like(params),
        "v": _zeros_like(params),
        "beta1_power": _scalar(1.0),
        "beta2_power": _scalar(1.0),
    }


def _moments(
    grads: Arrays, state: dict[str, Any], beta1: float, beta2: float
) -> tuple[Arrays, Arrays, Any, Any]:
    m = {n: beta1 * state["m"][n] + (1 - beta1) * g for n, g in grads.items()}
    v = {n: beta2 * state["v"][n] + (1 - beta2) * (g * g) for n, g in grads.items()}
    return m, v, state["beta1_power"] * beta1, state["beta2_power"] * beta2


def adamw(
    ops: Any,
    params: Arrays,
    grads: Arrays,
    state: dict[str, Any],
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
    decay: Collection[str],
    eps: float = 1e-8,
) -> tuple[Arrays, dict[str, Any]]:
    """``torch.optim.AdamW``'s update (its for-loop form), weight decay on the names in ``decay``.

    ``p *= 1 - lr * wd`` first, then ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """
    m, v, beta1_power, beta2_power = _moments(grads, state, *betas)
    step_size = lr / (1 - beta1_power)
    root_correction = ops.sqrt(1 - beta2_power)
    new = {}
    for n, p in params.items():
        if n in decay:
            p = p * (1 - lr * weight_decay)
        new[n] = p - step_size * m[n] / (ops.sqrt(v[n]) / root_correction + eps)
    return new, {"m": m, "v": v, "beta1_power": beta1_power, "beta2_power": beta2_power}


def adam_keras(
    ops: Any,
    params: Arrays,
    grads: Arrays,
    state: dict[str, Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-7,
) -> tuple[Arrays, dict[str, Any]]:
    """Keras's ``Adam()`` with its defaults: ``p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.

    Keras adds ``eps`` to the uncorrected ``sqrt(v)`` (the paper's
    "epsilon hat") where PyTorch adds it after the bias correction.
    """
    m, v, beta1_power, beta2_power = _moments(grads, state, *betas)
    alpha = lr * ops.sqrt(1 - beta2_power) / (1 - beta1_power)
    new = {n: p - alpha * m[n] / (ops.sqrt(v[n]) + eps) for n, p in params.items()}
    return new, {"m": m, "v": v, "beta1_power": beta1_power, "beta2_power": beta2_power}


def adagrad_init(params: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"memory": _zeros_like(params)}


def adagrad(
    ops: Any, params: Arrays, grads: Arrays, state: dict[str, Any], lr: float, eps: float = 1e-8
) -> tuple[Arrays, dict[str, Any]]:
    """min-char-rnn's Adagrad: ``mem += g * g; p -= lr * g / sqrt(mem + eps)``."""
    memory = {n: state["memory"][n] + g * g for n, g in grads.items()}
    new = {n: p - lr * grads[n] / ops.sqrt(memory[n] + eps) for n, p in params.items()}
    return new, {"memory": memory}
