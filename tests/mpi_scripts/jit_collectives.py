"""Collectives inside ``jit`` on every rank, run by ``mpiexec -n N``.

Usage: ``jit_collectives.py OUT_DIR STEPS BACKEND...``. For each backend every rank
writes ``OUT_DIR/jit_<backend>.rank<r>.npz`` with

- ``losses``, ``grad_*``, ``param_*``: ``STEPS`` SGD steps of the test MLP in one jitted
  step per call, the loss being ``all_reduce(local_loss, "mean")`` on this rank's shard
  of the batch and the gradients averaged by ``all_reduce(grads, "mean")`` inside the same
  step; ``calls``: the MPI calls the steps made;
- ``fwd_*``: each collective of :func:`forward` on :func:`collective_inputs` of its rank;
- ``grad_of_*``: the gradient of ``sum(weights(rank) * collective(x))`` with respect to
  ``x`` (the test checks them against the transposes written out in numpy);
- ``error_*``: the messages of the errors each rank was expected to raise.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from counting_comm import CountingComm
from mlp_model import LEARNING_RATE, ROWS, init_params, loss_fn, make_batches

import tcomp
import tcomp.distributed as dist
from tcomp.errors import TcompError


def collective_inputs(rank: int) -> dict[str, np.ndarray]:
    """Rank ``rank``'s inputs (the test computes the expected results from these)."""
    rng = np.random.default_rng(rank)
    x = rng.normal(size=(4, 3))
    x[0, 0] = 5.0  # every rank holds the same maximum here: a tie
    return {"x": x, "i32": np.array([rank, 3 - 2 * rank, 7], np.int32), "s": np.float64(rank + 0.5)}


def weights(rank: int) -> np.ndarray:
    """The per-rank cotangent weights of the gradient checks, shape (4, 3)."""
    return np.arange(12.0).reshape(4, 3) * (rank + 1) - 3 * rank


def forward(x, i32, s, size):
    return {
        "sum": dist.all_reduce(x, "sum"),
        "mean": dist.all_reduce(x, "mean"),
        "max": dist.all_reduce(x, "max"),
        "min": dist.all_reduce(x, "min"),
        "sum_i32": dist.all_reduce(i32, "sum"),
        "gather0": dist.all_gather(x),
        "gather1": dist.all_gather(x, axis=1),
        "gather_scalar": dist.all_gather(s),
        "broadcast": dist.broadcast(x, root=size - 1),
        "scatter_sum": dist.reduce_scatter(x, "sum"),
        "scatter_mean1": dist.reduce_scatter(np.ones((3, 2 * size)) * s, "mean", axis=1),
        "chain": dist.all_reduce(tcomp.exp(dist.all_reduce(x, "max") - x), "sum"),
    }


GRADIENT_CASES = {
    "sum": lambda x, size: dist.all_reduce(x, "sum"),
    "mean": lambda x, size: dist.all_reduce(x, "mean"),
    "max": lambda x, size: dist.all_reduce(x, "max"),
    "gather": lambda x, size: (
        dist.all_gather(x, axis=1)[:, :3] * 2.0 + dist.all_gather(x, axis=1)[:, 3:]
    ),
    "scatter": lambda x, size: tcomp.concatenate([dist.reduce_scatter(x, "sum")] * size),
    "broadcast": lambda x, size: dist.broadcast(x, root=size - 1),
}


def train(backend: str, steps: int, comm: CountingComm) -> dict[str, np.ndarray]:
    rank, size = dist.rank(), dist.size()
    rows = slice(rank * ROWS // size, (rank + 1) * ROWS // size)

    @tcomp.jit(backend=backend)
    def step(params, x, y):
        def global_loss(p):
            return dist.all_reduce(loss_fn(p, x, y), "mean")

        loss, grads = tcomp.value_and_grad(global_loss)(params)
        grads = dist.all_reduce(grads, "mean")  # parameters are replicated: average
        new = tcomp.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)
        return loss, grads, new

    params = init_params("float64", seed=1)
    batches = make_batches("float64")
    losses, first = [], None
    comm.calls.clear()
    for index in range(steps):
        x, y = batches[index % len(batches)]
        loss, grads, params = step(params, x[rows], y[rows])
        losses.append(float(loss))
        first = first or {k: np.asarray(v) for k, v in grads.items()}
    out = {"losses": np.array(losses), "calls": np.array(sorted(comm.calls.items()), dtype=object)}
    out.update({f"grad_{k}": v for k, v in first.items()})
    out.update({f"param_{k}": np.asarray(v) for k, v in params.items()})
    if backend != "reference":
        x, y = batches[0]
        out["kernels"] = np.array(step.lower(params, x[rows], y[rows]).as_text("kernels"))
    return out


def run(out_dir: str, steps: int, backend: str, comm: CountingComm) -> None:
    rank, size = dist.rank(), dist.size()
    out = train(backend, steps, comm)
    inputs = collective_inputs(rank)
    results = tcomp.jit(forward, backend=backend, static_argnames=("size",))(**inputs, size=size)
    out.update({f"fwd_{k}": np.asarray(v) for k, v in results.items()})
    w = weights(rank)
    for name, fn in GRADIENT_CASES.items():
        grad = tcomp.jit(tcomp.grad(lambda x: tcomp.sum(w * fn(x, size))), backend=backend)(
            inputs["x"]
        )
        out[f"grad_of_{name}"] = np.asarray(grad)
    errors = {
        # the ranks trace different shapes: the first call compares the collectives
        "mismatch": lambda: tcomp.jit(lambda v: dist.all_reduce(v * 2.0), backend=backend)(
            np.ones(3 + rank)
        ),
        "scatter_shape": lambda: tcomp.jit(lambda v: dist.reduce_scatter(v), backend=backend)(
            np.ones(2 * size + 1)
        ),
    }
    for name, call in errors.items():
        try:
            call()
            out[f"error_{name}"] = np.array("no error")
        except TcompError as error:
            out[f"error_{name}"] = np.array(f"{type(error).__name__}: {error}")
    out["after_errors"] = np.asarray(
        tcomp.jit(lambda v: dist.all_reduce(v, "sum"), backend=backend)(np.ones(2))
    )
    np.savez(os.path.join(out_dir, f"jit_{backend}.rank{rank}.npz"), **out)


if __name__ == "__main__":
    from mpi4py import MPI  # here: the tests import this module's inputs without MPI

    out_dir, steps, *backends = sys.argv[1:]
    counting = CountingComm(MPI.COMM_WORLD)
    dist.init(counting)
    for name in backends:
        run(out_dir, int(steps), name, counting)
