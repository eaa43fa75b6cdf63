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

from rank_failure import after_two_steps, step_reporting_the_timeout

import tcomp.distributed as dist


def main(out_dir: str) -> None:
    rank = dist.rank()
    path = os.path.join(out_dir, "dead_rank.txt")
    if rank == 0:
        with open(path + ".pid", "w") as file:
            file.write(str(os.getpid()))
    parallel, params, x, y = after_two_steps()
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    step_reporting_the_timeout(parallel, params, x, y, path)


if __name__ == "__main__":
    main(sys.argv[1])
