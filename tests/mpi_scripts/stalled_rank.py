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

from rank_failure import after_two_steps, step_reporting_the_timeout

import tcomp.distributed as dist

STALL_S = 20.0  # far beyond the test's TCOMP_MPI_TIMEOUT


def main(out_dir: str) -> None:
    rank = dist.rank()
    path = os.path.join(out_dir, "stalled_rank.txt")
    parallel, params, x, y = after_two_steps()
    if rank == 1:
        time.sleep(STALL_S)  # rank 0's MPI_Abort at exit ends this sooner
        return
    step_reporting_the_timeout(parallel, params, x, y, path)


if __name__ == "__main__":
    main(sys.argv[1])
