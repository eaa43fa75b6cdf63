"""The demo: train a small classifier with tcomp and report loss, accuracy and time per step.

A two-layer MLP learns three interleaved spirals (a synthetic data set made
here with numpy, so the demo needs no download). The whole training step,
forward, backward and the SGD update, is one jitted function. With
``optimizer="sgd"`` or ``"adam"`` the update comes from :mod:`tcomp.optim`
(its state passed in and out of the step), fused into the same program.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

import numpy as np

import tcomp
from tcomp import nn, optim
from tcomp.errors import TcompArgumentError


def make_spirals(points_per_class: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved noisy spirals: features ``[N, 2]`` float32, labels ``[N]`` int32."""
    rng = np.random.default_rng(seed)
    features, labels = [], []
    for label in range(classes):
        radius = np.linspace(0.05, 1.0, points_per_class)
        angle = np.linspace(label * 4.0, (label + 1) * 4.0, points_per_class)
        angle = angle + rng.normal(scale=0.2, size=points_per_class)
        features.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
        labels.append(np.full(points_per_class, label))
    return np.concatenate(features).astype(np.float32), np.concatenate(labels).astype(np.int32)


def init_params(hidden: int, classes: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "w1": (rng.normal(size=(2, hidden)) * np.sqrt(2.0 / 2)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": (rng.normal(size=(hidden, classes)) * np.sqrt(1.0 / hidden)).astype(np.float32),
        "b2": np.zeros(classes, np.float32),
    }


def logits_fn(params: dict[str, Any], x: Any) -> Any:
    hidden = nn.relu(x @ params["w1"] + params["b1"])
    return hidden @ params["w2"] + params["b2"]


def loss_fn(params: dict[str, Any], x: Any, labels: Any) -> Any:
    return nn.cross_entropy(logits_fn(params, x), labels)


def example_args(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``(params, x, labels)`` for :func:`loss_fn` as the demo trains it (hidden 64, 3 classes,
    100 points per class; data from ``seed``, weights from ``seed + 1``), for the command line::

        tcomp inspect tcomp/demo.py:loss_fn --args tcomp/demo.py:example_args --stage kernels
        tcomp check tcomp/demo.py:loss_fn --args tcomp/demo.py:example_args --grad
    """
    x, labels = make_spirals(points_per_class=100, classes=3, seed=seed)
    return init_params(64, classes=3, seed=seed + 1), x, labels


def run_demo(
    backend: str | None = None,
    steps: int = 300,
    hidden: int = 64,
    learning_rate: float | None = None,
    report_every: int = 50,
    out: TextIO | None = None,
    optimizer: str | None = None,
) -> dict[str, float]:
    """Trains the classifier and prints progress; returns the final loss, accuracy and ms per step.

    ``optimizer`` None is the hand-written SGD step (the learning rate a traced argument);
    ``"sgd"`` or ``"adam"`` take the update from :mod:`tcomp.optim`. ``learning_rate``
    defaults to the optimiser's entry in :data:`DEFAULT_LEARNING_RATES`.
    """
    import sys

    out = out or sys.stdout
    x, labels = make_spirals(points_per_class=100, classes=3, seed=0)
    params: Any = init_params(hidden, classes=3, seed=1)
    if learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATES[optimizer]
    train_step, state, jitted = _train_step(backend, optimizer, learning_rate, params)

    @tcomp.jit(backend=backend)
    def accuracy(params: Any, x: Any, labels: Any) -> Any:
        predictions = tcomp.argmax(logits_fn(params, x), axis=-1)
        return tcomp.mean((predictions == labels).astype("float32"))

    backend_name = backend or tcomp.default_backend_name()
    using = f", optimizer {optimizer} (learning rate {learning_rate:g})" if optimizer else ""
    print(
        f"tcomp demo: MLP 2-{hidden}-3 on {len(x)} spiral points, backend {backend_name}{using}",
        file=out,
    )
    start = time.perf_counter()
    loss, params, state = train_step(params, state, x, labels)
    first_step_s = time.perf_counter() - start
    print(f"first step (trace + compile + run): {first_step_s * 1e3:.1f} ms", file=out)

    timed_start = time.perf_counter()
    for step in range(2, steps + 1):
        loss, params, state = train_step(params, state, x, labels)
        if step % report_every == 0 or step == steps:
            acc = float(accuracy(params, x, labels))
            print(f"step {step:4d}  loss {float(loss):.4f}  accuracy {acc:.3f}", file=out)
    ms_per_step = (time.perf_counter() - timed_start) * 1e3 / max(steps - 1, 1)
    final_accuracy = float(accuracy(params, x, labels))
    print(
        f"final: loss {float(loss):.4f}, accuracy {final_accuracy:.3f}, "
        f"{ms_per_step:.2f} ms per step, traces: {jitted.trace_count}",
        file=out,
    )
    return {"loss": float(loss), "accuracy": final_accuracy, "ms_per_step": ms_per_step}


OPTIMIZERS = ("sgd", "adam")
DEFAULT_LEARNING_RATES: dict[str | None, float] = {None: 0.5, "sgd": 0.5, "adam": 0.01}


def _train_step(
    backend: str | None, optimizer: str | None, learning_rate: float, params: Any
) -> Any:
    """The step ``(params, state, x, labels) -> (loss, params, state)``, the first state,
    and the jitted function it runs (for its trace count): ``optimizer``'s update from
    :mod:`tcomp.optim`, or for None the hand-written SGD update (its "state" is the
    learning rate, passed as a traced scalar, as the demo always did)."""
    if optimizer is None:

        @tcomp.jit(backend=backend)
        def sgd_step(params: Any, x: Any, labels: Any, learning_rate: Any) -> Any:
            loss, grads = tcomp.value_and_grad(loss_fn)(params, x, labels)
            new_params = tcomp.tree_map(lambda p, g: p - learning_rate * g, params, grads)
            return loss, new_params

        def step(params: Any, rate: Any, x: Any, labels: Any) -> Any:
            return (*sgd_step(params, x, labels, rate), rate)

        return step, learning_rate, sgd_step
    if optimizer not in OPTIMIZERS:
        raise TcompArgumentError(
            f"unknown optimizer {optimizer!r}: the demo knows {', '.join(OPTIMIZERS)}"
        )
    opt = optim.sgd(learning_rate) if optimizer == "sgd" else optim.adam(learning_rate)

    @tcomp.jit(backend=backend)
    def optim_step(params: Any, state: Any, x: Any, labels: Any) -> Any:
        loss, grads = tcomp.value_and_grad(loss_fn)(params, x, labels)
        updates, state = opt.update(grads, state, params)
        return loss, optim.apply_updates(params, updates), state

    return optim_step, opt.init(params), optim_step
