"""What a jitted train step pays for its collectives: the benchmark MLP's step without
collectives, with ``all_reduce`` inside jit in one process, and on 2 MPI processes.

    python -m bench.checks.split_step [--batch 32] [--rounds 9] [--steps 10] [--ranks 2]

In this process (``size()`` 1, every collective the identity), alternating rounds of
``--steps`` calls each:

- ``plain``: the step of ``overlap_collectives`` (MLP 256-1024-1024-10, float32, the
  loss's gradient, then the SGD update) jitted without collectives;
- ``in-jit``: the same step with the loss and the gradients ``all_reduce(..., "mean")``
  inside jit, as a user of ``mpiexec -n N`` writes it, run in one process;
- ``split``: the same, forced through the split (kernel groups and host steps) as on
  more ranks (``distributed_split_exec.SPLIT_AT_ONE_RANK``; absent before it existed).

Then ``mpiexec -n RANKS python -m bench.checks.split_step --worker`` times, on each rank's
shard of ``--batch`` examples (the global batch is RANKS times larger), the in-jit step
(its all-reduces between ranks), the plain step (compute alone) and ``comm``, a host
all-reduce of as many bytes as the loss and the gradients (communication alone),
alternating. Each
line gives the median of the rounds' medians and the range of the rounds' medians.
``TCOMP_NUM_THREADS=1`` unless set. Needs tcomp[mpi].
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Any, Callable

import numpy as np

from bench.checks.data_parallel_scaling import SIZES, median_seconds, params_and_batch
from bench.checks.overlap_collectives import step_function


def _rounds(
    cases: dict[str, Callable[[], Any]],
    rounds: int,
    steps: int,
    barrier: Callable[[], None] = lambda: None,
) -> dict[str, list[float]]:
    """Each case's per-round median seconds, the cases alternating within each round."""
    for fn in cases.values():
        fn()  # compile, warm
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(median_seconds(fn, steps, barrier))
    return samples


def _data(batch: int, rank: int = 0) -> tuple[Any, Any, Any]:
    params, x, labels = params_and_batch()
    if (rank + 1) * batch > len(x):
        raise SystemExit(f"--batch {batch} on {rank + 1} ranks needs more than {len(x)} examples")
    mine = slice(rank * batch, (rank + 1) * batch)
    return params, x[mine], labels[mine]


def one_process(batch: int, rounds: int, steps: int) -> dict[str, list[float]]:
    """The plain, in-jit and forced-split steps in this process."""
    from tcomp.frontend import distributed_split_exec

    params, x, labels = _data(batch)
    plain = step_function(collectives=False)
    in_jit = step_function(collectives=True)
    cases: dict[str, Callable[[], Any]] = {
        "plain": lambda: plain(params, x, labels),
        "in-jit": lambda: in_jit(params, x, labels),
    }
    if hasattr(distributed_split_exec, "SPLIT_AT_ONE_RANK"):
        distributed_split_exec.SPLIT_AT_ONE_RANK = True
        split = step_function(collectives=True)
        split(params, x, labels)  # compiled while the flag is set
        distributed_split_exec.SPLIT_AT_ONE_RANK = False
        cases["split"] = lambda: split(params, x, labels)
    return _rounds(cases, rounds, steps)


def worker(batch: int, rounds: int, steps: int) -> None:
    from mpi4py import MPI

    import tcomp.distributed as dist

    comm = MPI.COMM_WORLD
    params, x, labels = _data(batch, dist.rank())
    plain = step_function(collectives=False)
    in_jit = step_function(collectives=True)
    flat = {"all": np.zeros(sum(p.size for p in params.values()) + 1, np.float32)}
    cases = {
        "in-jit": lambda: in_jit(params, x, labels),
        "plain": lambda: plain(params, x, labels),
        "comm": lambda: dist.all_reduce(flat, "mean"),
    }
    samples = _rounds(cases, rounds, steps, comm.Barrier)
    if dist.rank() == 0:
        print(json.dumps({"ranks": dist.size(), "samples": samples}))


def _print(title: str, samples: dict[str, list[float]]) -> None:
    print(title)
    for name, values in samples.items():
        ms = [v * 1e3 for v in values]
        print(f"  {name:7s} {statistics.median(ms):8.2f} ms  ({min(ms):.2f}-{max(ms):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="examples per rank")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--ranks", type=int, default=2, help="0: skip the MPI run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TCOMP_NUM_THREADS", "1")
    if args.worker:
        worker(args.batch, args.rounds, args.steps)
        return
    what = (
        f"MLP {'-'.join(map(str, SIZES))}, float32, TCOMP_NUM_THREADS="
        f"{os.environ['TCOMP_NUM_THREADS']}, median of {args.rounds} rounds of {args.steps} "
        "steps (range of the rounds)"
    )
    samples = one_process(args.batch, args.rounds, args.steps)
    _print(f"{what}\none process, batch {args.batch}:", samples)
    if args.ranks < 1:
        return
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    command = [mpiexec, "-n", str(args.ranks), sys.executable, "-m", "bench.checks.split_step"]
    command += ["--worker", "--batch", str(args.batch), "--rounds", str(args.rounds)]
    command += ["--steps", str(args.steps)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=900)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    _print(
        f"{result['ranks']} ranks, {args.batch} examples per rank "
        f"(global batch {args.batch * result['ranks']}):",
        result["samples"],
    )


if __name__ == "__main__":
    main()
