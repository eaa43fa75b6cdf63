"""The Keras blog's simplest autoencoder ("Building Autoencoders in Keras"), trained with Adam.

``Dense(32, activation="relu")`` then ``Dense(784, activation="sigmoid")`` on
784-pixel images in [0, 1], ``compile(optimizer="adam",
loss="binary_crossentropy")``, ``fit(batch_size=256)``: Keras's Adam
defaults (lr 0.001, betas 0.9 / 0.999, epsilon 1e-7 added to the
uncorrected ``sqrt(v)``), Glorot-uniform weights and zero biases.

The binary cross-entropy is computed from the logits before the sigmoid, in
the stable form ``max(z, 0) - z * x + log(1 + exp(-|z|))`` (what tf.keras
does for a sigmoid output layer, and what PyTorch's
``binary_cross_entropy_with_logits`` computes), averaged over pixels and
batch. Changed from the blog: random images uniform in [0, 1] instead of
MNIST. ``--quick`` uses batch 16.

    python -m bench.models.autoencoder [--backends reference,llvm] [--profile]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.models import optim
from bench.models.spec import Batch, Model, State, initial_state

PIXELS, CODE = 784, 32
BATCH, QUICK_BATCH = 256, 16


def describe(quick: bool) -> str:
    return f"{PIXELS}-{CODE}-{PIXELS} b{QUICK_BATCH if quick else BATCH}"


def init(rng: np.random.Generator, quick: bool) -> tuple[State, Batch]:
    """Keras's Glorot-uniform weights and zero biases; a batch of images."""

    def glorot(fan_in: int, fan_out: int) -> np.ndarray:
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)

    params = {
        "w1": glorot(PIXELS, CODE),
        "b1": np.zeros(CODE, np.float32),
        "w2": glorot(CODE, PIXELS),
        "b2": np.zeros(PIXELS, np.float32),
    }
    images = rng.uniform(0.0, 1.0, (QUICK_BATCH if quick else BATCH, PIXELS)).astype(np.float32)
    return initial_state(params, optim.adam_init(params)), (images,)


def update(ops: Any, params: dict, grads: dict, opt: dict) -> tuple[dict, dict]:
    return optim.adam_keras(ops, params, grads, opt)


def tcomp_loss(p: dict, carry: dict, images: Any) -> tuple[Any, dict]:
    import tcomp
    from tcomp import nn

    z = nn.relu(images @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]  # logits of the sigmoid
    terms = tcomp.maximum(z, 0) - z * images + tcomp.log(1 + tcomp.exp(-tcomp.abs(z)))
    return tcomp.mean(terms), carry


def jax_loss(jax: Any) -> Any:
    jnp = jax.numpy

    def loss(p: dict, carry: dict, images: Any) -> tuple[Any, dict]:
        z = jax.nn.relu(images @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        terms = jnp.maximum(z, 0) - z * images + jnp.log1p(jnp.exp(-jnp.abs(z)))
        return jnp.mean(terms), carry

    return loss


def torch_loss(torch: Any) -> Any:
    functional = torch.nn.functional

    def loss(p: dict, carry: dict, images: Any) -> tuple[Any, dict]:
        z = functional.relu(images @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return functional.binary_cross_entropy_with_logits(z, images), carry

    return loss


MODEL = Model(
    name="autoencoder",
    ports="Keras blog autoencoder, Adam",
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
