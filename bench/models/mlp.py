"""JAX's MNIST example (``examples/mnist_classifier.py``): an MLP trained with momentum SGD.

``stax.serial(Dense(1024), Relu, Dense(1024), Relu, Dense(10), LogSoftmax)``
on 784-pixel images, batch 128, loss ``-mean(sum(log_softmax * one_hot))``
(the mean cross-entropy), ``optimizers.momentum(step_size=0.001,
mass=0.9)``. The example uses ReLU, not tanh; so does this port.
Initialisation as stax's ``Dense``: Glorot-normal weights (here plain
normal with Glorot's variance, not truncated) and normal(0, 0.01) biases.

Changed from the example: random images uniform in [0, 1] and random labels
instead of MNIST; the labels are class indices (each framework's
cross-entropy of them) rather than one-hot rows, the same number.
``--quick`` shrinks it to 784-64-64-10, batch 16. (``bench/mlp.py``, the
older ``mlp`` workload, is a separate 784-512-512-10 SGD step.)

    python -m bench.models.mlp [--backends reference,llvm] [--profile]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.models import optim
from bench.models.spec import Batch, Model, State, initial_state

SIZES, QUICK_SIZES = (784, 1024, 1024, 10), (784, 64, 64, 10)
BATCH, QUICK_BATCH = 128, 16
STEP_SIZE, MASS = 0.001, 0.9


def describe(quick: bool) -> str:
    sizes, batch = (QUICK_SIZES, QUICK_BATCH) if quick else (SIZES, BATCH)
    return f"{'-'.join(map(str, sizes))} b{batch}"


def init(rng: np.random.Generator, quick: bool) -> tuple[State, Batch]:
    """stax ``Dense`` initialisation; a batch of images and labels."""
    sizes, batch = (QUICK_SIZES, QUICK_BATCH) if quick else (SIZES, BATCH)
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        std = np.sqrt(2.0 / (fan_in + fan_out))
        params[f"w{i}"] = (rng.standard_normal((fan_in, fan_out)) * std).astype(np.float32)
        params[f"b{i}"] = (rng.standard_normal(fan_out) * 0.01).astype(np.float32)
    images = rng.uniform(0.0, 1.0, (batch, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], batch).astype(np.int32)
    return initial_state(params, optim.sgd_momentum_init(params)), (images, labels)


def update(ops: Any, params: dict, grads: dict, opt: dict) -> tuple[dict, dict]:
    return optim.sgd_momentum(ops, params, grads, opt, STEP_SIZE, MASS)


def tcomp_loss(p: dict, carry: dict, images: Any, labels: Any) -> tuple[Any, dict]:
    from tcomp import nn

    h = nn.relu(images @ p["w1"] + p["b1"])
    h = nn.relu(h @ p["w2"] + p["b2"])
    return nn.cross_entropy(h @ p["w3"] + p["b3"], labels), carry


def jax_loss(jax: Any) -> Any:
    jnp = jax.numpy

    def loss(p: dict, carry: dict, images: Any, labels: Any) -> tuple[Any, dict]:
        h = jax.nn.relu(images @ p["w1"] + p["b1"])
        h = jax.nn.relu(h @ p["w2"] + p["b2"])
        preds = jax.nn.log_softmax(h @ p["w3"] + p["b3"], axis=-1)
        targets = jax.nn.one_hot(labels, preds.shape[-1])
        return -jnp.mean(jnp.sum(preds * targets, axis=1)), carry

    return loss


def torch_loss(torch: Any) -> Any:
    functional = torch.nn.functional

    def loss(p: dict, carry: dict, images: Any, labels: Any) -> tuple[Any, dict]:
        h = functional.relu(images @ p["w1"] + p["b1"])
        h = functional.relu(h @ p["w2"] + p["b2"])
        return functional.cross_entropy(h @ p["w3"] + p["b3"], labels), carry

    return loss


MODEL = Model(
    name="mlp",
    ports="JAX MNIST example MLP (stax), momentum SGD",
    describe=describe,
    init=init,
    tcomp_loss=tcomp_loss,
    jax_loss=jax_loss,
    torch_loss=torch_loss,
    update=update,
)


if __name__ == "__main__":
    from bench.models.standalone import main

    main(MODEL)
