"""A CIFAR-10 ResNet (He et al. 2016, section 4.2) with batch norm, and its SGD step.

The paper's CIFAR network with ``n = 1`` block per stage (ResNet-8): a 3x3
convolution to 16 channels, then three stages of one basic block each at
16, 32 and 64 channels (the second and third stride 2), global average
pooling and a 10-way linear layer. A basic block is conv3x3-BN-ReLU-conv3x3-BN
plus the shortcut, then ReLU; where the shape changes the shortcut is a 1x1
convolution with stride 2 and batch norm (the paper's option B, torchvision's
``downsample``). Convolutions have no bias. Batch norm runs in training mode:
batch statistics, and the running mean and (unbiased) variance updated with
momentum 0.1 and carried from step to step, as ``nn.BatchNorm2d`` does.
``optim.SGD(lr=0.1, momentum=0.9)``; convolution weights start Kaiming-normal
(fan out, as torchvision's ResNet), the linear layer uniform in
``+-1/sqrt(fan_in)``. Changed from the paper: no weight decay, batch 32
instead of 128 (4 with ``--quick``), random images instead of CIFAR-10, the
linear weight stored ``[in, out]``.

    python -m bench.models.resnet [--backends reference,llvm] [--profile]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.models import optim
from bench.models.spec import Batch, Model, State, initial_state

BATCH, QUICK_BATCH = 32, 4
CLASSES = 10
LEARNING_RATE, MOMENTUM = 0.1, 0.9
BN_MOMENTUM, BN_EPS = 0.1, 1e-5
# (name, input channels, output channels, stride) of each basic block
BLOCKS = (("b1", 16, 16, 1), ("b2", 16, 32, 2), ("b3", 32, 64, 2))


def describe(quick: bool) -> str:
    return f"ResNet-8 b{QUICK_BATCH if quick else BATCH} 3x32x32"


def _norms(name: str, c_in: int, c_out: int, stride: int) -> list[str]:
    """The batch norms of a block (one of :data:`BLOCKS`), the shortcut's included."""
    norms = [f"{name}_bn1", f"{name}_bn2"]
    if stride != 1 or c_in != c_out:
        norms.append(f"{name}_down_bn")
    return norms


def init(rng: np.random.Generator, quick: bool) -> tuple[State, Batch]:
    """torchvision's ResNet init; a batch of images and labels; fresh running statistics."""

    def kaiming(c_out: int, c_in: int, size: int) -> np.ndarray:
        std = np.sqrt(2.0 / (c_out * size * size))
        return (rng.standard_normal((c_out, c_in, size, size)) * std).astype(np.float32)

    params = {"conv0": kaiming(16, 3, 3)}
    norms = [("bn0", 16)]
    for name, c_in, c_out, stride in BLOCKS:
        params[f"{name}_conv1"] = kaiming(c_out, c_in, 3)
        params[f"{name}_conv2"] = kaiming(c_out, c_out, 3)
        if stride != 1 or c_in != c_out:
            params[f"{name}_down"] = kaiming(c_out, c_in, 1)
        norms += [(bn, c_out) for bn in _norms(name, c_in, c_out, stride)]
    carry = {}
    for bn, channels in norms:
        params[f"{bn}_w"] = np.ones(channels, np.float32)
        params[f"{bn}_b"] = np.zeros(channels, np.float32)
        carry[f"{bn}_mean"] = np.zeros(channels, np.float32)
        carry[f"{bn}_var"] = np.ones(channels, np.float32)
    bound = 1.0 / np.sqrt(64)
    params["fc_w"] = rng.uniform(-bound, bound, (64, CLASSES)).astype(np.float32)
    params["fc_b"] = rng.uniform(-bound, bound, (CLASSES,)).astype(np.float32)
    batch = QUICK_BATCH if quick else BATCH
    images = rng.uniform(-1.0, 1.0, (batch, 3, 32, 32)).astype(np.float32)
    labels = rng.integers(0, CLASSES, batch).astype(np.int32)
    return initial_state(params, optim.sgd_momentum_init(params), carry), (images, labels)


def update(ops: Any, params: dict, grads: dict, opt: dict) -> tuple[dict, dict]:
    return optim.sgd_momentum(ops, params, grads, opt, LEARNING_RATE, MOMENTUM)


def _network(conv: Any, norm: Any, relu: Any, mean_hw: Any, p: dict, images: Any) -> Any:
    """The forward pass over one framework's ``conv(x, w, stride)``, ``norm(x, name)``
    (training-mode batch norm that records its running statistics), ``relu`` and the
    spatial mean; returns the logits."""
    h = relu(norm(conv(images, p["conv0"], 1), "bn0"))
    for name, c_in, c_out, stride in BLOCKS:
        y = relu(norm(conv(h, p[f"{name}_conv1"], stride), f"{name}_bn1"))
        y = norm(conv(y, p[f"{name}_conv2"], 1), f"{name}_bn2")
        if stride != 1 or c_in != c_out:
            h = norm(conv(h, p[f"{name}_down"], stride), f"{name}_down_bn")
        h = relu(y + h)
    return mean_hw(h) @ p["fc_w"] + p["fc_b"]


def tcomp_loss(p: dict, carry: dict, images: Any, labels: Any) -> tuple[Any, dict]:
    from tcomp import nn

    new_carry: dict = {}

    def conv(x: Any, w: Any, stride: int) -> Any:
        return nn.conv2d(x, w, stride=stride, padding=w.shape[-1] // 2)

    def norm(x: Any, name: str) -> Any:
        y, new_carry[f"{name}_mean"], new_carry[f"{name}_var"] = nn.batch_norm(
            x, carry[f"{name}_mean"], carry[f"{name}_var"], p[f"{name}_w"], p[f"{name}_b"],
            training=True, momentum=BN_MOMENTUM, eps=BN_EPS,
        )
        return y

    logits = _network(conv, norm, nn.relu, lambda h: h.mean(axis=(2, 3)), p, images)
    return nn.cross_entropy(logits, labels), new_carry


def jax_loss(jax: Any) -> Any:
    jnp, lax = jax.numpy, jax.lax

    def loss(p: dict, carry: dict, images: Any, labels: Any) -> tuple[Any, dict]:
        new_carry: dict = {}

        def conv(x: Any, w: Any, stride: int) -> Any:
            pad = w.shape[-1] // 2
            return lax.conv_general_dilated(
                x, w, (stride, stride), ((pad, pad), (pad, pad)),
                dimension_numbers=("NCHW", "OIHW", "NCHW"),
            )

        def norm(x: Any, name: str) -> Any:
            mean = x.mean(axis=(0, 2, 3))
            var = ((x - mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
            n = x.size // x.shape[1]
            stats = lax.stop_gradient
            new_carry[f"{name}_mean"] = (1 - BN_MOMENTUM) * carry[f"{name}_mean"] + (
                BN_MOMENTUM * stats(mean))
            new_carry[f"{name}_var"] = (1 - BN_MOMENTUM) * carry[f"{name}_var"] + (
                BN_MOMENTUM * stats(var) * (n / (n - 1)))
            scale = p[f"{name}_w"] * lax.rsqrt(var + BN_EPS)
            shift = p[f"{name}_b"] - mean * scale
            return x * scale[None, :, None, None] + shift[None, :, None, None]

        logits = _network(conv, norm, jax.nn.relu, lambda h: h.mean(axis=(2, 3)), p, images)
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1)), new_carry

    return loss


def torch_loss(torch: Any) -> Any:
    functional = torch.nn.functional

    def loss(p: dict, carry: dict, images: Any, labels: Any) -> tuple[Any, dict]:
        new_carry: dict = {}

        def conv(x: Any, w: Any, stride: int) -> Any:
            return functional.conv2d(x, w, None, stride, w.shape[-1] // 2)

        def norm(x: Any, name: str) -> Any:
            with torch.no_grad():  # what nn.BatchNorm2d writes into its buffers
                mean = x.mean(dim=(0, 2, 3))
                var = x.var(dim=(0, 2, 3), unbiased=True)
                new_carry[f"{name}_mean"] = (
                    (1 - BN_MOMENTUM) * carry[f"{name}_mean"] + BN_MOMENTUM * mean)
                new_carry[f"{name}_var"] = (
                    (1 - BN_MOMENTUM) * carry[f"{name}_var"] + BN_MOMENTUM * var)
            return functional.batch_norm(
                x, None, None, p[f"{name}_w"], p[f"{name}_b"], training=True, eps=BN_EPS)

        logits = _network(conv, norm, functional.relu, lambda h: h.mean(dim=(2, 3)), p, images)
        return functional.cross_entropy(logits, labels), new_carry

    return loss


MODEL = Model(
    name="resnet",
    ports="He et al.'s CIFAR ResNet (n=1: ResNet-8) with batch norm, SGD with momentum",
    describe=describe,
    init=init,
    tcomp_loss=tcomp_loss,
    jax_loss=jax_loss,
    torch_loss=torch_loss,
    update=update,
    # ReLU after batch norm: an element at its channel's batch mean sits on ReLU's kink,
    # and float32 rounding (each framework's own summation order) decides its side; one
    # flipped element moves its channel's whole input gradient through the batch-norm
    # mean terms (1e-3 to 1e-2 of the gradient at --quick's batch of 4; none seen at 32)
    tolerance=(1e-2, 1e-3),
)


if __name__ == "__main__":
    from bench.models.standalone import main

    main(MODEL)
