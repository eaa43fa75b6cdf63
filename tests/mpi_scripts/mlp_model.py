"""The small MLP the MPI tests train: its data, parameters, loss and SGD steps.

Shared by the scripts that ``mpiexec`` runs (data-parallel) and by the tests (the
single-process run on the whole batch that the data-parallel run must equal).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tcomp

FEATURES, HIDDEN, OUTPUTS = 4, 8, 3
ROWS = 16  # rows per global batch: divides by 1, 2 and 4 ranks and by 2 micro-batches
BATCHES = 4  # the steps cycle through this many batches
LEARNING_RATE = 0.1


def make_batches(dtype: str) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        (
            rng.normal(size=(ROWS, FEATURES)).astype(dtype),
            rng.normal(size=(ROWS, OUTPUTS)).astype(dtype),
        )
        for _ in range(BATCHES)
    ]


def init_params(dtype: str, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "w1": (rng.normal(size=(FEATURES, HIDDEN)) * 0.5).astype(dtype),
        "b1": (rng.normal(size=HIDDEN) * 0.1).astype(dtype),
        "w2": (rng.normal(size=(HIDDEN, OUTPUTS)) * 0.5).astype(dtype),
        "b2": np.zeros(OUTPUTS, dtype),
    }


def loss_fn(params: dict[str, Any], x: Any, y: Any) -> Any:
    hidden = tcomp.tanh(x @ params["w1"] + params["b1"])
    out = hidden @ params["w2"] + params["b2"]
    return tcomp.mean((out - y) ** 2)  # a mean over the batch: data_parallel's contract


def make_steps(backend: str) -> tuple[Any, Any]:
    """``(grad_step, update)``: the jitted value-and-grad and the jitted SGD update."""
    grad_step = tcomp.jit(tcomp.value_and_grad(loss_fn), backend=backend)

    @tcomp.jit(backend=backend)
    def update(params: Any, grads: Any) -> Any:
        return tcomp.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)

    return grad_step, update


def train(grad_step: Any, update: Any, params: Any, batches: list, steps: int) -> dict[str, Any]:
    """``steps`` SGD steps; the losses, the first step's gradients and the final params."""
    losses, first_grads = [], None
    for step in range(steps):
        x, y = batches[step % len(batches)]
        loss, grads = grad_step(params, x, y)
        if first_grads is None:
            first_grads = {k: np.asarray(v) for k, v in grads.items()}
        losses.append(float(loss))
        params = update(params, grads)
    return {
        "losses": np.array(losses),
        "grads": first_grads,
        "params": {k: np.asarray(v) for k, v in params.items()},
    }


def single_process_run(backend: str, dtype: str, steps: int) -> dict[str, Any]:
    """The reference: one process, the whole batch at each step."""
    grad_step, update = make_steps(backend)
    return train(grad_step, update, init_params(dtype, seed=1), make_batches(dtype), steps)
