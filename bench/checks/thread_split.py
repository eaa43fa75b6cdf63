"""When does a CPU thread split pay? One kernel run on one thread and split in two.

``python -m bench.checks.thread_split [--threads 2] [--calls 30] [--rounds 3]``
builds single-kernel programs of growing size (matmuls, a GELU, an add) through the
llvm pipeline twice, once with ``schedule-cpu{min_work=0}`` (every kernel whose loop
can be split is) and once with a threshold no kernel reaches (none is), runs each on
``--threads`` threads, and prints the median call time of both beside the
``schedule-cpu`` pass's estimate (``split_work``) and the decision it takes by default.
Rounds alternate serial and split, so other load hits both alike; the medians of
the rounds are shown. The pass's constants (``ir/kernel/lowering/schedule_cpu.py``)
come from this table: a split should be chosen exactly where the split column wins.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

import numpy as np

from bench.checks.call_overhead import _median_us


def workloads() -> list[tuple[str, Callable[..., Any], list[np.ndarray]]]:
    """``(name, function, arguments)`` of the kernels timed, small to large."""
    from tcomp import nn

    rng = np.random.default_rng(0)

    def floats(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    cases: list[tuple[str, Callable[..., Any], list[np.ndarray]]] = []
    for n in (32, 64, 96, 128, 192, 256, 384):
        cases.append((f"matmul {n}", lambda a, b: a @ b, [floats(n, n), floats(n, n)]))
    for k in (14, 16, 17, 18, 19, 20, 22):
        cases.append((f"gelu 2^{k}", lambda x: nn.gelu(x, approximate="tanh"), [floats(2**k)]))
        cases.append((f"add 2^{k}", lambda x: x * 2.0 + 1.0, [floats(2**k)]))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.checks.thread_split")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import tcomp
    from tcomp.backends.llvm.backend import LLVMExecutable
    from tcomp.backends.llvm.runtime import host_vector_bits
    from tcomp.ir.kernel.lowering.schedule_cpu import split_work, splits
    from tcomp.ir.kernel.passes import llvm_pipeline, lower

    base = [name for name in llvm_pipeline(host_vector_bits()) if name != "schedule-cpu"]
    print(f"{'kernel':12s} {'estimate':>12s} {'default':>8s} {'1 thread':>10s} "
          f"{f'{args.threads} threads':>10s}")
    for name, fn, inputs in workloads():
        graph = tcomp.jit(fn, backend="reference").lower(*inputs).function("optimized")
        runs = {}
        for mode, min_work in (("serial", 2**62), ("split", 0)):
            program = lower(graph, (*base, f"schedule-cpu{{min_work={min_work}}}"))
            executable = LLVMExecutable(program, args.threads)
            runs[mode] = (executable, program)
            executable(inputs)  # compiled, warm
        times: dict[str, list[float]] = {"serial": [], "split": []}
        for _ in range(args.rounds):
            for mode, (executable, _) in runs.items():
                times[mode].append(_median_us(lambda e=executable: e(inputs), args.calls))
        kernel = max(runs["split"][1].kernels, key=split_work)
        decision = "split" if splits(kernel) else "serial"
        print(f"{name:12s} {split_work(kernel):12,d} {decision:>8s} "
              f"{np.median(times['serial']):8.1f}us {np.median(times['split']):8.1f}us")


if __name__ == "__main__":
    main()
