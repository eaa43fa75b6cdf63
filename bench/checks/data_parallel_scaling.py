"""Data-parallel step time of an MLP on 1, 2 and 4 MPI processes, beside the prediction of
the scaling model of docs/scaling.md (strong scaling: the global batch stays the same).

    python -m bench.checks.data_parallel_scaling [--ranks 1,2,4] [--steps 30]

launches ``mpiexec -n N python -m bench.checks.data_parallel_scaling --worker`` for each
N; each worker times (median over ``--steps``) the single-process step on the whole
batch (only N=1 reports it), the gradient computation on its shard, the all-reduce of
the gradients alone, and the full data-parallel step (gradients + all-reduce + update).
The link is measured by the same workers: the time of an all-reduce of 8 bytes (latency)
and of 16 MiB (bandwidth). Needs tcomp[mpi].
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np

SIZES = (256, 1024, 1024, 10)  # input, hidden, hidden, classes: 1.3 M parameters, 5.3 MB
BATCH = 512


def params_and_batch() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    params = {}
    for i, (a, b) in enumerate(zip(SIZES, SIZES[1:])):
        params[f"w{i}"] = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        params[f"b{i}"] = np.zeros(b, np.float32)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    labels = rng.integers(0, SIZES[-1], BATCH).astype(np.int32)
    return params, x, labels


def loss_fn(params: Any, x: Any, labels: Any) -> Any:
    import tcomp
    from tcomp import nn

    h = x
    layers = len(SIZES) - 1
    for i in range(layers):
        h = h @ params[f"w{i}"] + params[f"b{i}"]
        if i < layers - 1:
            h = nn.relu(h)
    return tcomp.mean(nn.cross_entropy(h, labels))


def median_seconds(fn: Callable[[], Any], steps: int, barrier: Callable[[], None]) -> float:
    fn()  # compile, warm
    times = []
    for _ in range(steps):
        barrier()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker(steps: int) -> None:
    from mpi4py import MPI

    import tcomp
    import tcomp.distributed as dist

    comm = MPI.COMM_WORLD
    size, rank = dist.size(), dist.rank()
    params, x, labels = params_and_batch()
    grad_fn = tcomp.jit(tcomp.value_and_grad(loss_fn))
    parallel = dist.data_parallel(grad_fn)

    @tcomp.jit
    def update(params: Any, grads: Any) -> Any:
        return tcomp.tree_map(lambda p, g: p - 0.01 * g, params, grads)

    shard = BATCH // size
    mine = (x[rank * shard : (rank + 1) * shard], labels[rank * shard : (rank + 1) * shard])
    _, grads = grad_fn(params, *mine)
    host_grads = {k: np.asarray(v) for k, v in grads.items()}
    nbytes = sum(g.nbytes for g in host_grads.values()) + 4

    def step() -> None:
        _, g = parallel(params, x, labels)
        update(params, g)

    result = {
        "ranks": size,
        "gradient_bytes": nbytes,
        "compute_shard_s": median_seconds(lambda: grad_fn(params, *mine), steps, comm.Barrier),
        "allreduce_s": median_seconds(lambda: dist.all_reduce(host_grads, "mean"), steps, comm.Barrier),
        "step_s": median_seconds(step, steps, comm.Barrier),
        "latency_s": median_seconds(lambda: dist.all_reduce(np.zeros(2, np.float32)), steps, comm.Barrier),
        "big_allreduce_s": median_seconds(
            lambda: dist.all_reduce(np.zeros(4 * 2**20, np.float32)), max(steps // 3, 3), comm.Barrier
        ),
    }
    if size == 1:
        result["single_step_s"] = median_seconds(
            lambda: update(params, grad_fn(params, x, labels)[1]), steps, comm.Barrier
        )
    if rank == 0:
        print(json.dumps(result), flush=True)


def predict(
    single_step_s: float, overhead_s: float, ranks: int, cores: int, nbytes: int,
    latency_s: float, bandwidth: float,
) -> float:
    """docs/scaling.md: compute T1 / min(N, cores), plus the host work of data_parallel
    (packing and unpacking the gradients: O1 per rank, slowed N / cores times when the
    ranks outnumber the cores), plus the ring all-reduce
    2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency."""
    compute = single_step_s / min(ranks, cores)
    overhead = overhead_s * max(1.0, ranks / cores)
    ring = 2 * (ranks - 1) / ranks * nbytes / bandwidth + 2 * (ranks - 1) * latency_s
    return compute + overhead + ring


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", default="1,2,4")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps)
        return
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    env = dict(os.environ, TCOMP_NUM_THREADS="1")
    rows = []
    for ranks in [int(r) for r in args.ranks.split(",")]:
        command = [mpiexec, "-n", str(ranks), sys.executable, "-m", "bench.checks.data_parallel_scaling",
                   "--worker", "--steps", str(args.steps)]
        out = subprocess.run(command, capture_output=True, text=True, env=env, check=True, timeout=600)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    one = next(r for r in rows if r["ranks"] == 1)
    single, overhead = one["single_step_s"], one["step_s"] - one["single_step_s"]
    link = next((r for r in rows if r["ranks"] == 2), None)
    cores = os.cpu_count() or 1
    nbytes = rows[0]["gradient_bytes"]
    print(f"MLP {'-'.join(map(str, SIZES))}, global batch {BATCH}, float32, {nbytes / 1e6:.1f} MB of "
          f"gradients, {cores} cores, TCOMP_NUM_THREADS=1; single-process step {single * 1e3:.2f} ms, "
          f"data_parallel's host work at 1 rank {overhead * 1e3:.2f} ms")
    if link is not None:
        # the 2-rank all-reduce of B bytes moves B bytes each way: 2 (N-1)/N = 1
        latency = link["latency_s"] / 2
        bandwidth = 16 * 2**20 / max(link["big_allreduce_s"] - link["latency_s"], 1e-9)
        print(f"link (2 ranks): latency {latency * 1e6:.1f} us per message, bandwidth {bandwidth / 1e9:.2f} GB/s")
    print("ranks  step ms  predicted ms  shard compute ms  all-reduce ms (measured)")
    for r in rows:
        predicted = (
            predict(single, overhead, r["ranks"], cores, nbytes, latency, bandwidth) if link else float("nan")
        )
        print(f"{r['ranks']:5d}  {r['step_s'] * 1e3:7.2f}  {predicted * 1e3:12.2f}  "
              f"{r['compute_shard_s'] * 1e3:16.2f}  {r['allreduce_s'] * 1e3:13.2f}")


if __name__ == "__main__":
    main()
