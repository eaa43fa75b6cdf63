"""What dead_rank.py and stalled_rank.py share: two data-parallel steps of the MLP, then
the step that must fail, whose timeout error rank 0 reports to a file."""

from __future__ import annotations

import os
import time
from typing import Any

from mlp_model import init_params, make_batches, make_steps

import tcomp.distributed as dist
from tcomp.errors import TcompDistributedTimeoutError


def after_two_steps() -> tuple[Any, dict, Any, Any]:
    """A data-parallel step of the float64 MLP on llvm, run twice: (step, params, x, y)."""
    grad_step, update = make_steps("llvm")
    parallel = dist.data_parallel(grad_step)
    params = init_params("float64", seed=1)
    x, y = make_batches("float64")[0]
    for _ in range(2):
        _, grads = parallel(params, x, y)
        params = update(params, grads)
    return parallel, params, x, y


def step_reporting_the_timeout(parallel: Any, params: dict, x: Any, y: Any, path: str) -> None:
    """Runs one more step; on the timeout error writes the seconds it took and the message
    to ``path`` (atomically), then raises it again."""
    start = time.monotonic()
    try:
        parallel(params, x, y)
    except TcompDistributedTimeoutError as error:
        with open(path + ".tmp", "w") as file:
            file.write(f"{time.monotonic() - start:.3f}\n{error}")
        os.replace(path + ".tmp", path)
        raise
