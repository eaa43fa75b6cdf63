"""The in-jit data-parallel step with its collectives overlapping the kernel groups, and
without, on every rank, run by ``mpiexec -n N``.

Usage: ``jit_overlap.py OUT_DIR STEPS BACKEND...``. For each backend and each setting of
``TCOMP_MPI_OVERLAP`` (``1``, ``0``) every rank writes
``OUT_DIR/overlap_<backend>_<setting>.rank<r>.npz`` with what
``jit_collectives.train`` returns (losses, first gradients, final parameters, MPI calls,
and on compiled backends the kernels text). The batches of collectives are made as
small as they go (each gradient's all-reduce starts on its own, as soon as it is
computed), so the overlapped schedule differs from the blocking one as much as it can.
On compiled backends ``OUT_DIR/overlap_<backend>_mismatch.rank<r>.npz`` holds the error
of a program run with overlap on rank 0 and without on the others (``error``) and
the result of an all-reduce after it (``after``).
"""

from __future__ import annotations

import os
import sys

import numpy as np
from counting_comm import CountingComm
from jit_collectives import train

import tcomp
import tcomp.distributed as dist
from tcomp.errors import TcompError
from tcomp.frontend import distributed_split


def run(out_dir: str, steps: int, backend: str, comm: CountingComm) -> None:
    distributed_split.FIRST_START_BYTES = 0
    distributed_split.START_BYTES = 0
    for setting in ("1", "0"):
        os.environ["TCOMP_MPI_OVERLAP"] = setting  # read when the step compiles
        out = train(backend, steps, comm)
        name = f"overlap_{backend}_{setting}.rank{dist.rank()}.npz"
        np.savez(os.path.join(out_dir, name), **out)
    if backend != "reference":
        np.savez(
            os.path.join(out_dir, f"overlap_{backend}_mismatch.rank{dist.rank()}.npz"),
            **settings_that_disagree(backend),
        )


def settings_that_disagree(backend: str) -> dict[str, np.ndarray]:
    """Rank 0 overlaps, the others block: two host steps against one, which the first
    call's agreement check must catch before any collective starts."""
    os.environ["TCOMP_MPI_OVERLAP"] = "1" if dist.rank() == 0 else "0"

    def two_collectives(v):
        doubled = v * 2.0
        return dist.all_reduce(doubled), dist.all_reduce(tcomp.exp(doubled) * 3.0)

    try:
        tcomp.jit(two_collectives, backend=backend)(np.ones(3))
        error = "no error"
    except TcompError as caught:
        error = f"{type(caught).__name__}: {caught}"
    os.environ["TCOMP_MPI_OVERLAP"] = "1"
    after = tcomp.jit(lambda v: dist.all_reduce(v, "sum"), backend=backend)(np.ones(2))
    return {"error": np.array(error), "after": np.asarray(after)}


if __name__ == "__main__":
    from mpi4py import MPI

    out_dir, steps, *backends = sys.argv[1:]
    counting = CountingComm(MPI.COMM_WORLD)
    dist.init(counting)
    for backend_name in backends:
        run(out_dir, int(steps), backend_name, counting)
