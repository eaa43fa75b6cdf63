"""Data-parallel SGD on the test MLP, run by ``mpiexec -n N``.

Usage: ``train_mlp.py OUT_DIR STEPS CONFIG...`` with each CONFIG
``backend:dtype:bucket_bytes:accumulation_steps``. For each, every rank writes
``OUT_DIR/<config>.rank<r>.npz``: the losses, the first step's gradients, the final
parameters and the number of MPI calls of each kind made during training.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from counting_comm import CountingComm
from mlp_model import init_params, make_batches, make_steps, train
from mpi4py import MPI

import tcomp.distributed as dist


def run(out_dir: str, steps: int, config: str) -> None:
    backend, dtype, bucket_bytes, accumulation = config.split(":")
    comm = CountingComm(MPI.COMM_WORLD)
    dist.init(comm)
    rank = dist.rank()
    # Every rank but 0 starts from other values: broadcast_parameters must fix that.
    params = dist.broadcast_parameters(init_params(dtype, seed=1 if rank == 0 else 100 + rank))
    grad_step, update = make_steps(backend)
    parallel = dist.data_parallel(
        grad_step, bucket_bytes=int(bucket_bytes), accumulation_steps=int(accumulation), debug=True
    )
    comm.calls.clear()
    result = train(parallel, update, params, make_batches(dtype), steps)
    np.savez(
        os.path.join(out_dir, f"{config.replace(':', '_')}.rank{rank}.npz"),
        losses=result["losses"],
        buckets=len(parallel.buckets),
        calls=np.array(sorted(comm.calls.items()), dtype=object),
        **{f"grad_{k}": v for k, v in result["grads"].items()},
        **{f"param_{k}": v for k, v in result["params"].items()},
    )


if __name__ == "__main__":
    out_dir, steps, *configs = sys.argv[1:]
    for config in configs:
        run(out_dir, int(steps), config)
