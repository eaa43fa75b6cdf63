"""``tcomp demo --data-parallel``: the demo classifier trained data-parallel over MPI.

Launch it with ``mpiexec -n 2 tcomp demo --data-parallel``. Every rank makes the same
spirals and the same initial weights (broadcast from rank 0 all the same, as a real
script would), computes the gradient of its share of the 300 points, and
:func:`tcomp.distributed.data_parallel` averages the gradients (and the loss) over the
ranks; every rank then applies the same update. Each rank prints its own loss lines,
prefixed with its rank: they are identical on every rank, and equal (up to rounding) to
the single-process demo's.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import tcomp
import tcomp.distributed as dist
from tcomp import optim
from tcomp.demo import DEFAULT_LEARNING_RATES, init_params, logits_fn, loss_fn, make_spirals


def run_data_parallel_demo(
    backend: str | None = None,
    steps: int = 300,
    hidden: int = 64,
    report_every: int = 50,
    out: TextIO | None = None,
    optimizer: str | None = None,
) -> dict[str, float]:
    """Trains the demo classifier over the MPI ranks; returns this rank's final loss,
    accuracy and ms per step."""
    out = out or sys.stdout
    rank, size = dist.rank(), dist.size()
    x, labels = make_spirals(points_per_class=100, classes=3, seed=0)
    params: Any = dist.broadcast_parameters(init_params(hidden, classes=3, seed=1))
    rate = DEFAULT_LEARNING_RATES[optimizer]
    opt = optim.adam(rate) if optimizer == "adam" else optim.sgd(rate)
    state = opt.init(params)
    grad_step = dist.data_parallel(tcomp.jit(tcomp.value_and_grad(loss_fn), backend=backend))

    @tcomp.jit(backend=backend)
    def update(params: Any, grads: Any, state: Any) -> Any:
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    @tcomp.jit(backend=backend)
    def accuracy(params: Any, x: Any, labels: Any) -> Any:
        predictions = tcomp.argmax(logits_fn(params, x), axis=-1)
        return tcomp.mean((predictions == labels).astype("float32"))

    tag = f"[rank {rank}/{size}]"
    print(
        f"{tag} tcomp demo --data-parallel: MLP 2-{hidden}-3 on {len(x)} spiral points, "
        f"{len(x) // size} per rank, backend {backend or tcomp.default_backend_name()}, "
        f"optimizer {optimizer or 'sgd'} (learning rate {rate:g})",
        file=out,
    )
    start = time.perf_counter()
    for step in range(1, steps + 1):
        loss, grads = grad_step(params, x, labels)
        params, state = update(params, grads, state)
        if step == 1:
            start = time.perf_counter()
        if step % report_every == 0 or step == steps:
            print(f"{tag} step {step:4d}  loss {float(loss):.6f}", file=out, flush=True)
    ms_per_step = (time.perf_counter() - start) * 1e3 / max(steps - 1, 1)
    final_accuracy = float(accuracy(params, x, labels))
    dist.check_parameters(params)  # every rank ends with the same weights
    print(
        f"{tag} final: loss {float(loss):.6f}, accuracy {final_accuracy:.3f}, "
        f"{ms_per_step:.2f} ms per step, parameters identical on all {size} ranks",
        file=out,
        flush=True,
    )
    return {"loss": float(loss), "accuracy": final_accuracy, "ms_per_step": ms_per_step}
