"""One 3x3 conv layer's gradients at the widths of ResNets and VGGs, against jax.jit.

``python -m bench.checks.conv_layers [--rounds 5] [--calls 8] [--backend NAME]``

The bench models are narrow (the ResNet-8's convs have 16-64 channels, the CIFAR CNN's
6 and 16), so a wide CNN a user brings (ResNet-18's 64-512 channels at 32x32 down to 4x4
images) runs shapes they never reach: a weight gradient of 512 output channels, 4608
taps and 128 image positions; an im2col of 9.4M elements. For each layer of
:data:`LAYERS`, ``value_and_grad`` of ``sum(relu(conv2d(x, w, stride, padding=1))**2)``
with respect to ``x`` and ``w`` is built in tcomp and in jax.jit (NCHW, OIHW), then
timed in alternating rounds of ``--calls`` calls each; prints each framework's median,
the GFLOP/s tcomp reaches (three convs' multiply-adds: forward, input and weight
gradient) and jax's median over tcomp's (above 1: tcomp faster). Needs jax.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from bench.timing import measure

# (batch, in channels, out channels, image size, stride)
LAYERS = (
    (32, 64, 64, 32, 1),
    (32, 64, 128, 32, 2),
    (32, 128, 128, 16, 1),
    (16, 256, 256, 8, 1),
    (8, 512, 512, 4, 1),
)


def _steps(layer: tuple[int, ...], backend: str | None):
    """tcomp's and jax's gradient calls of ``layer`` on fixed random data."""
    import jax
    import jax.numpy as jnp

    import tcomp
    from tcomp import nn

    batch, channels, filters, size, stride = layer
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    w = (rng.standard_normal((filters, channels, 3, 3)) * 0.05).astype(np.float32)

    def tcomp_loss(x: Any, w: Any) -> Any:
        return (nn.relu(nn.conv2d(x, w, stride=stride, padding=1)) ** 2).sum()

    def jax_loss(x: Any, w: Any) -> Any:
        y = jax.lax.conv_general_dilated(x, w, (stride, stride), ((1, 1), (1, 1)),
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return (jax.nn.relu(y) ** 2).sum()

    tcomp_grad = tcomp.jit(tcomp.value_and_grad(tcomp_loss, argnums=(0, 1)), backend=backend)
    jax_grad = jax.jit(jax.value_and_grad(jax_loss, argnums=(0, 1)))
    jx, jw = jnp.asarray(x), jnp.asarray(w)

    def run_tcomp() -> None:
        loss, grads = tcomp_grad(x, w)
        np.asarray(loss), [np.asarray(g) for g in grads]

    def run_jax() -> None:
        jax.block_until_ready(jax_grad(jx, jw))

    run_tcomp(), run_jax()  # compile
    out = size // stride
    flops = 3 * 2 * batch * filters * channels * 9 * out * out
    return run_tcomp, run_jax, flops


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.checks.conv_layers")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--backend", default=None, help="tcomp backend (default: tcomp's)")
    args = parser.parse_args()
    for layer in LAYERS:
        run_tcomp, run_jax, flops = _steps(layer, args.backend)
        tcomp_ms, jax_ms = [], []
        for _ in range(args.rounds):
            tcomp_ms.append(measure(run_tcomp, args.calls, warmup=0).median_s * 1e3)
            jax_ms.append(measure(run_jax, args.calls, warmup=0).median_s * 1e3)
        ratios = np.array(jax_ms) / np.array(tcomp_ms)
        batch, channels, filters, size, stride = layer
        print(f"{batch}x{channels}x{size}x{size}, {filters} 3x3 filters, stride {stride}: "
              f"tcomp {np.median(tcomp_ms):.2f} ms "
              f"({flops / np.median(tcomp_ms) / 1e6:.0f} GFLOP/s), "
              f"jax {np.median(jax_ms):.2f} ms, jax/tcomp {np.median(ratios):.2f} "
              f"(min {ratios.min():.2f}, max {ratios.max():.2f})", flush=True)


if __name__ == "__main__":
    main()
