"""The CIFAR-10 tutorial CNN (batch 32): one conv, the forward pass and a train step
(value_and_grad), median of 10 calls each, on each backend named (default: reference,
llvm), in one process. ``--profile`` adds the llvm train step's per-kernel table.

    python -m bench.checks.cnn_step [--backends reference,llvm] [--profile]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tcomp
from tcomp import nn


def make_model(rng: np.random.Generator):
    def init(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    params = dict(c1=init(6, 3, 5, 5), b1=init(6), c2=init(16, 6, 5, 5), b2=init(16),
                  f1=init(400, 120), g1=init(120), f2=init(120, 84), g2=init(84),
                  f3=init(84, 10), g3=init(10))
    x = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
    labels = rng.integers(0, 10, 32).astype(np.int32)
    return params, x, labels


def forward(p, x):
    h = nn.max_pool2d(nn.relu(nn.conv2d(x, p["c1"], p["b1"])), 2)
    h = nn.max_pool2d(nn.relu(nn.conv2d(h, p["c2"], p["b2"])), 2)
    h = h.reshape(x.shape[0], 400)
    h = nn.relu(h @ p["f1"] + p["g1"])
    h = nn.relu(h @ p["f2"] + p["g2"])
    return h @ p["f3"] + p["g3"]


def loss(p, x, labels):
    return nn.cross_entropy(forward(p, x), labels)


def median_ms(fn, *args, calls: int = 10) -> float:
    """Median wall time of ``calls`` calls after one warm-up, results waited for."""
    np.asarray(tcomp.tree_flatten(fn(*args))[0][0])
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        np.asarray(tcomp.tree_flatten(fn(*args))[0][0])
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="reference,llvm")
    parser.add_argument("--profile", action="store_true")
    options = parser.parse_args()
    params, x, labels = make_model(np.random.default_rng(0))
    w = params["c1"]
    for backend in options.backends.split(","):
        conv = tcomp.jit(lambda x, w: nn.conv2d(x, w), backend=backend)
        fwd = tcomp.jit(forward, backend=backend)
        step = tcomp.jit(tcomp.value_and_grad(loss), backend=backend)
        print(f"{backend:10s} conv2d 32x3x32x32*6x3x5x5 {median_ms(conv, x, w):8.2f} ms  "
              f"forward {median_ms(fwd, params, x):8.2f} ms  "
              f"train step {median_ms(step, params, x, labels):8.2f} ms", flush=True)
    if options.profile:
        step = tcomp.jit(tcomp.value_and_grad(loss), backend="llvm")
        print(step.lower(params, x, labels).profile(params, x, labels))


if __name__ == "__main__":
    main()
