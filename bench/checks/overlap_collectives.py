"""The in-jit data-parallel step with its collectives overlapping the backward pass, and
blocking (``TCOMP_MPI_OVERLAP=0``), on 2 MPI processes.

    python -m bench.checks.overlap_collectives [--ranks 2] [--rounds 7] [--steps 10]
        [--async-progress] [--first-start-bytes N]

launches ``mpiexec -n RANKS python -m bench.checks.overlap_collectives --worker``. Each
worker compiles the step of the benchmark MLP of ``data_parallel_scaling`` (float32,
global batch 512 or ``--batch``, 5.3 MB of gradients; the loss and the gradients all-reduced inside
the jitted step, then the SGD update) twice, with overlap and without, and times them
in alternating rounds (``--steps`` calls per round; the median of the rounds' medians is
reported, with the spread). For the model it also times the step without collectives on
its shard (compute alone) and a host all-reduce of the gradients' bytes (communication
alone). ``--async-progress`` sets ``MPICH_ASYNC_PROGRESS=1`` (a progress thread per
rank, so a collective advances while the rank computes). Needs tcomp[mpi].
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Any

import numpy as np

from bench.checks.data_parallel_scaling import (
    BATCH,
    SIZES,
    loss_fn,
    median_seconds,
    params_and_batch,
)


def step_function(collectives: bool) -> Any:
    import tcomp
    import tcomp.distributed as dist

    def step(params: Any, x: Any, labels: Any) -> Any:
        def global_loss(p: Any) -> Any:
            loss = loss_fn(p, x, labels)
            return dist.all_reduce(loss, "mean") if collectives else loss

        loss, grads = tcomp.value_and_grad(global_loss)(params)
        if collectives:
            grads = dist.all_reduce(grads, "mean")
        return loss, tcomp.tree_map(lambda p, g: p - 0.01 * g, params, grads)

    return tcomp.jit(step)


def worker(rounds: int, steps: int, first_start_bytes: int | None, batch: int) -> None:
    from mpi4py import MPI

    import tcomp.distributed as dist
    from tcomp.frontend import distributed_split

    if first_start_bytes is not None:
        distributed_split.FIRST_START_BYTES = first_start_bytes
    comm = MPI.COMM_WORLD
    size, rank = dist.size(), dist.rank()
    params, x, labels = params_and_batch()
    shard = batch // size
    mine = (x[rank * shard : (rank + 1) * shard], labels[rank * shard : (rank + 1) * shard])
    steps_by_name: dict[str, Any] = {}
    texts = {}
    for name, setting in (("overlap", "1"), ("blocking", "0")):
        os.environ["TCOMP_MPI_OVERLAP"] = setting  # read when the step compiles
        steps_by_name[name] = step_function(collectives=True)
        steps_by_name[name](params, *mine)  # compile, warm
        texts[name] = steps_by_name[name].lower(params, *mine).as_text("kernels")
    compute = step_function(collectives=False)
    compute(params, *mine)
    nbytes = sum(a * b + b for a, b in zip(SIZES, SIZES[1:])) * 4 + 4
    flat = {"all": np.zeros(nbytes // 4, np.float32)}
    samples: dict[str, list[float]] = {
        "overlap": [],
        "blocking": [],
        "compute": [],
        "allreduce": [],
    }
    for _ in range(rounds):
        for name, fn in steps_by_name.items():
            samples[name].append(median_seconds(lambda fn=fn: fn(params, *mine), steps, comm.Barrier))
        samples["compute"].append(median_seconds(lambda: compute(params, *mine), steps, comm.Barrier))
        samples["allreduce"].append(
            median_seconds(lambda: dist.all_reduce(flat, "mean"), steps, comm.Barrier)
        )
    if rank == 0:
        plans = {
            name: [line for line in text.splitlines() if line.startswith("// ---- ")]
            for name, text in texts.items()
        }
        print(json.dumps({"ranks": size, "bytes": nbytes, "samples": samples, "plans": plans}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--async-progress", action="store_true")
    parser.add_argument("--first-start-bytes", type=int, default=None)
    parser.add_argument("--batch", type=int, default=BATCH, help="global batch (at most 512)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.rounds, args.steps, args.first_start_bytes, args.batch)
        return
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    env = dict(os.environ, TCOMP_NUM_THREADS="1")
    if args.async_progress:
        env["MPICH_ASYNC_PROGRESS"] = "1"
    command = [
        mpiexec,
        "-n",
        str(args.ranks),
        sys.executable,
        "-m",
        "bench.checks.overlap_collectives",
        "--worker",
        "--rounds",
        str(args.rounds),
        "--steps",
        str(args.steps),
        "--batch",
        str(args.batch),
    ]
    if args.first_start_bytes is not None:
        command += ["--first-start-bytes", str(args.first_start_bytes)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True, timeout=600)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"MLP {'-'.join(map(str, SIZES))}, global batch {args.batch}, float32, "
        f"{result['bytes'] / 1e6:.1f} MB all-reduced per step, {result['ranks']} ranks, "
        f"TCOMP_NUM_THREADS=1{', MPICH_ASYNC_PROGRESS=1' if args.async_progress else ''}; "
        f"median of {args.rounds} rounds of {args.steps} steps (min-max of the rounds)"
    )
    for name in ("overlap", "blocking", "compute", "allreduce"):
        values = [v * 1e3 for v in result["samples"][name]]
        print(
            f"  {name:9s} {statistics.median(values):8.2f} ms  ({min(values):.2f}-{max(values):.2f})"
        )
    for name, lines in result["plans"].items():
        print(f"plan ({name}):")
        for line in lines:
            print("  " + line[len("// ---- ") :])


if __name__ == "__main__":
    main()
