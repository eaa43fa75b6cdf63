"""The PyTorch CIFAR-10 tutorial's CNN ("Training a Classifier", the ``Net`` class) and its SGD step.

conv2d(3, 6, 5), ReLU, 2x2 max-pool, conv2d(6, 16, 5), ReLU, 2x2 max-pool,
fully connected 400-120-84-10 with ReLU between, cross-entropy, and
``optim.SGD(lr=0.001, momentum=0.9)``. Weights and biases start uniform in
``+-1/sqrt(fan_in)``, as PyTorch's ``Conv2d`` and ``Linear`` initialise
them. Changed from the tutorial: batch 32 instead of 4 (4 with ``--quick``),
random images uniform in [-1, 1] (the tutorial's normalised range) instead
of CIFAR-10, and the linear weights stored ``[in, out]`` (``h @ w``) rather
than PyTorch's ``[out, in]``. The tcomp forward is the one of
``bench/checks/cnn_step.py``.

    python -m bench.models.cnn [--backends reference,llvm] [--profile]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.models import optim
from bench.models.spec import Batch, Model, State, initial_state

BATCH, QUICK_BATCH = 32, 4
CLASSES = 10
LEARNING_RATE, MOMENTUM = 0.001, 0.9


def describe(quick: bool) -> str:
    return f"b{QUICK_BATCH if quick else BATCH} 3x32x32"


def init(rng: np.random.Generator, quick: bool) -> tuple[State, Batch]:
    """PyTorch's default init for the layers; a batch of images and labels."""

    def uniform(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    params = {
        "conv1_w": uniform((6, 3, 5, 5), 3 * 25),
        "conv1_b": uniform((6,), 3 * 25),
        "conv2_w": uniform((16, 6, 5, 5), 6 * 25),
        "conv2_b": uniform((16,), 6 * 25),
    }
    for i, (fan_in, fan_out) in enumerate([(400, 120), (120, 84), (84, CLASSES)], start=1):
        params[f"fc{i}_w"] = uniform((fan_in, fan_out), fan_in)
        params[f"fc{i}_b"] = uniform((fan_out,), fan_in)
    batch = QUICK_BATCH if quick else BATCH
    images = rng.uniform(-1.0, 1.0, (batch, 3, 32, 32)).astype(np.float32)
    labels = rng.integers(0, CLASSES, batch).astype(np.int32)
    return initial_state(params, optim.sgd_momentum_init(params)), (images, labels)


def update(ops: Any, params: dict, grads: dict, opt: dict) -> tuple[dict, dict]:
    return optim.sgd_momentum(ops, params, grads, opt, LEARNING_RATE, MOMENTUM)


def tcomp_loss(p: dict, carry: dict, images: Any, labels: Any) -> tuple[Any, dict]:
    from tcomp import nn

    h = nn.max_pool2d(nn.relu(nn.conv2d(images, p["conv1_w"], p["conv1_b"])), 2)
    h = nn.max_pool2d(nn.relu(nn.conv2d(h, p["conv2_w"], p["conv2_b"])), 2)
    h = h.reshape(images.shape[0], 400)
    h = nn.relu(h @ p["fc1_w"] + p["fc1_b"])
    h = nn.relu(h @ p["fc2_w"] + p["fc2_b"])
    return nn.cross_entropy(h @ p["fc3_w"] + p["fc3_b"], labels), carry


def jax_loss(jax: Any) -> Any:
    jnp, lax = jax.numpy, jax.lax

    def conv(x: Any, w: Any, b: Any) -> Any:
        y = lax.conv_general_dilated(
            x, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        return y + b[None, :, None, None]

    def pool(x: Any) -> Any:
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss(p: dict, carry: dict, images: Any, labels: Any) -> tuple[Any, dict]:
        h = pool(jax.nn.relu(conv(images, p["conv1_w"], p["conv1_b"])))
        h = pool(jax.nn.relu(conv(h, p["conv2_w"], p["conv2_b"])))
        h = h.reshape(images.shape[0], 400)
        h = jax.nn.relu(h @ p["fc1_w"] + p["fc1_b"])
        h = jax.nn.relu(h @ p["fc2_w"] + p["fc2_b"])
        logp = jax.nn.log_softmax(h @ p["fc3_w"] + p["fc3_b"], axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1)), carry

    return loss


def torch_loss(torch: Any) -> Any:
    functional = torch.nn.functional

    def loss(p: dict, carry: dict, images: Any, labels: Any) -> tuple[Any, dict]:
        h = functional.max_pool2d(
            functional.relu(functional.conv2d(images, p["conv1_w"], p["conv1_b"])), 2
        )
        h = functional.max_pool2d(
            functional.relu(functional.conv2d(h, p["conv2_w"], p["conv2_b"])), 2
        )
        h = torch.flatten(h, 1)
        h = functional.relu(h @ p["fc1_w"] + p["fc1_b"])
        h = functional.relu(h @ p["fc2_w"] + p["fc2_b"])
        return functional.cross_entropy(h @ p["fc3_w"] + p["fc3_b"], labels), carry

    return loss


MODEL = Model(
    name="cnn",
    ports="PyTorch CIFAR-10 tutorial CNN, SGD with momentum",
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
