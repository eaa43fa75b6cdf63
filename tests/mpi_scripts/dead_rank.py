"""A rank that dies, run by ``mpiexec -disable-auto-cleanup -n 2`` (the launcher leaves
the survivor running) with a short ``TCOMP_MPI_TIMEOUT``: after two data-parallel steps
rank 1 kills itself (SIGKILL). Rank 0's next step then ends, by tcomp's timeout error or
by MPICH noticing the dead peer first (a race inside MPICH); it must not wait forever.
Rank 0 writes its pid at the start and, when the timeout error comes, the message and the
seconds the failing step took, to ``OUT_DIR/dead_rank.txt`` (``stalled_rank.py`` is the
deterministic test of the timeout)."""

from __future__ import annotations

import os
import signal
import sys
import time

from mlp_model import init_params, make_batches, make_steps

import tcomp.distributed as dist
from tcomp.errors import TcompDistributedTimeoutError


def main(out_dir: str) -> None:
    rank = dist.rank()
    path = os.path.join(out_dir, "dead_rank.txt")
    if rank == 0:
        with open(path + ".pid", "w") as file:
            file.write(str(os.getpid()))
    grad_step, update = make_steps("llvm")
    parallel = dist.data_parallel(grad_step)
    params = init_params("float64", seed=1)
    x, y = make_batches("float64")[0]
    for _ in range(2):
        _, grads = parallel(params, x, y)
        params = update(params, grads)
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
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
