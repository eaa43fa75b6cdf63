"""A rank that stalls or dies while the others run an in-jit data-parallel step whose
collectives overlap its kernel groups, run by ``mpiexec -n 2`` with a short
``TCOMP_MPI_TIMEOUT``.

Usage: ``jit_rank_failure.py OUT_DIR stall|kill``. After two steps rank 1 sleeps
(``stall``) or kills itself with SIGKILL (``kill``; launch with
``-disable-auto-cleanup``); rank 0's third step must fail with the timeout error (or,
for ``kill``, be ended by MPICH noticing the dead peer first). Rank 0 writes its pid to
``OUT_DIR/jit_<mode>.txt.pid`` and, on the timeout error, the seconds the step took and
the message to ``OUT_DIR/jit_<mode>.txt``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from mlp_model import LEARNING_RATE, init_params, loss_fn, make_batches
from rank_failure import step_reporting_the_timeout

import tcomp
import tcomp.distributed as dist
from tcomp.frontend import distributed_split

STALL_S = 20.0  # far beyond the test's TCOMP_MPI_TIMEOUT


def main(out_dir: str, mode: str) -> None:
    distributed_split.FIRST_START_BYTES = 0  # each gradient's all-reduce on its own
    distributed_split.START_BYTES = 0
    rank = dist.rank()
    path = os.path.join(out_dir, f"jit_{mode}.txt")
    if rank == 0:
        with open(path + ".pid", "w") as file:
            file.write(str(os.getpid()))

    @tcomp.jit(backend="llvm")
    def step(params, x, y):
        loss, grads = tcomp.value_and_grad(lambda p: dist.all_reduce(loss_fn(p, x, y), "mean"))(
            params
        )
        grads = dist.all_reduce(grads, "mean")
        return tcomp.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)

    params = init_params("float64", seed=1)
    x, y = make_batches("float64")[0]
    for _ in range(2):
        params = step(params, x, y)
    if rank == 1:
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(STALL_S)  # rank 0's MPI_Abort at exit ends this sooner
        return
    step_reporting_the_timeout(step, params, x, y, path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
