"""A rank that stalls (a hung or slow rank, or one running another program), run by
``mpiexec -n 2`` with a short ``TCOMP_MPI_TIMEOUT``: after two data-parallel steps rank 1
sleeps instead of taking part in the third; rank 0's third step must fail with the
timeout error. Unlike a killed rank (``dead_rank.py``), nothing here lets MPI itself
notice a failure, so the timeout is the only way out and the outcome is deterministic.
Rank 0 writes the seconds the failing step took and the message to
``OUT_DIR/stalled_rank.txt``."""

from __future__ import annotations

import os
import sys
import time

from mlp_model import init_params, make_batches, make_steps

import tcomp.distributed as dist
from tcomp.errors import TcompDistributedTimeoutError

STALL_S = 20.0  # far beyond the test's TCOMP_MPI_TIMEOUT


def main(out_dir: str) -> None:
    rank = dist.rank()
    path = os.path.join(out_dir, "stalled_rank.txt")
    grad_step, update = make_steps("llvm")
    parallel = dist.data_parallel(grad_step)
    params = init_params("float64", seed=1)
    x, y = make_batches("float64")[0]
    for _ in range(2):
        _, grads = parallel(params, x, y)
        params = update(params, grads)
    if rank == 1:
        time.sleep(STALL_S)  # rank 0's MPI_Abort at exit ends this sooner
        return
    start = time.monotonic()
    try:
        parallel(params, x, y)
    except TcompDistributedTimeoutError as error:
        with open(path + ".tmp", "w") as file:
            file.write(f"{time.monotonic() - start:.3f}\n{error}")
        os.replace(path + ".tmp", path)
        raise


if __name__ == "__main__":
    main(sys.argv[1])
