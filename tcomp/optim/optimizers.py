"""The optimisers: chains of :mod:`tcomp.optim.transforms` ending in the learning rate.

Each follows PyTorch's update rule for the same hyperparameters (and optax's
where it agrees), so ``adam(1e-3)`` steps like ``torch.optim.Adam(lr=1e-3)``.
"""

from __future__ import annotations

from tcomp.ir.errors import TcompArgumentError
from tcomp.optim.base import GradientTransformation, Schedule, chain, scale_by_learning_rate
from tcomp.optim.transforms import (
    add_decayed_weights,
    scale_by_adam,
    scale_by_rms,
    scale_by_rss,
    trace,
)


def sgd(
    learning_rate: float | Schedule, momentum: float = 0.0, nesterov: bool = False
) -> GradientTransformation:
    """Stochastic gradient descent: ``p -= lr * g``; with ``momentum`` ``b_t = momentum *
    b_{t-1} + g`` and ``p -= lr * b_t`` (``nesterov``: ``p -= lr * (g + momentum * b_t)``),
    as ``torch.optim.SGD`` with no dampening."""
    if nesterov and not momentum:
        raise TcompArgumentError("sgd: nesterov=True needs a momentum above 0")
    if momentum:
        return chain(trace(momentum, nesterov), scale_by_learning_rate(learning_rate))
    return scale_by_learning_rate(learning_rate)


def adam(
    learning_rate: float | Schedule, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> GradientTransformation:
    """Adam (``torch.optim.Adam``, ``optax.adam``): ``p -= lr * m_hat / (sqrt(v_hat) + eps)``
    with bias-corrected moment averages (see :func:`tcomp.optim.scale_by_adam`)."""
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adamw(
    learning_rate: float | Schedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
) -> GradientTransformation:
    """AdamW (``torch.optim.AdamW``, ``optax.adamw``): Adam with decoupled weight decay,
    ``p -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * p)``. Its ``update`` needs the
    params: ``update(grads, state, params)``."""
    return chain(
        scale_by_adam(b1, b2, eps),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )


def adagrad(
    learning_rate: float | Schedule, initial_accumulator_value: float = 0.0, eps: float = 1e-10
) -> GradientTransformation:
    """Adagrad (``torch.optim.Adagrad`` without ``lr_decay``): ``s += g^2``,
    ``p -= lr * g / (sqrt(s) + eps)``."""
    return chain(
        scale_by_rss(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate)
    )


def rmsprop(
    learning_rate: float | Schedule,
    decay: float = 0.99,
    eps: float = 1e-8,
    momentum: float = 0.0,
    centered: bool = False,
) -> GradientTransformation:
    """RMSprop (``torch.optim.RMSprop``; ``decay`` is its ``alpha``): ``v = decay v + (1 -
    decay) g^2``, ``p -= lr * g / (sqrt(v) + eps)``; ``momentum`` keeps ``b = momentum b +
    g / (sqrt(v) + eps)`` and steps ``p -= lr * b``; ``centered`` divides by
    ``sqrt(v - m^2) + eps`` with ``m`` the average gradient."""
    transforms = [scale_by_rms(decay, eps, centered)]
    if momentum:
        transforms.append(trace(momentum))
    return chain(*transforms, scale_by_learning_rate(learning_rate))
