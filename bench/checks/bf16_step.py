"""bfloat16 against float32 weights: the baby GPT's forward+backward on one backend.

``python -m bench.checks.bf16_step [--rounds 15] [--calls 3] [--cpu-time] [--backend llvm]``

Issue 14's target is bfloat16 no slower than float32. One ``jit(value_and_grad(loss))``
of bench/models/gpt.py is called with the float32 parameters and with the same
parameters cast to bfloat16, in alternating rounds of ``--calls`` calls each (load from
other processes hits both alike); prints the medians and the ratio of the medians
bf16 / f32 (below or at 1: the target met). ``--cpu-time`` times with the process's CPU
time instead of the wall clock (steadier on a shared machine; set
``TCOMP_NUM_THREADS=1`` with it, as CPU time adds up the threads).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Callable

import ml_dtypes
import numpy as np


def _step_and_parameters(backend: str | None) -> tuple[Callable[..., Any], dict, dict, tuple]:
    import tcomp
    from bench.models import gpt

    state, batch = gpt.MODEL.init(np.random.default_rng(0), False)
    params = state["params"]

    def loss(p: dict, idx: Any, targets: Any) -> Any:
        value, _ = gpt.tcomp_loss(p, {}, idx, targets)
        return value

    step = tcomp.jit(tcomp.value_and_grad(loss), backend=backend)
    halves = {
        name: value.astype(ml_dtypes.bfloat16) if value.dtype == np.float32 else value
        for name, value in params.items()
    }
    return step, params, halves, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--cpu-time", action="store_true")
    parser.add_argument("--backend", default=None)
    args = parser.parse_args()
    step, params, halves, batch = _step_and_parameters(args.backend)
    clock = time.process_time if args.cpu_time else time.perf_counter

    def milliseconds(p: dict, calls: int) -> float:
        start = clock()
        for _ in range(calls):
            out = step(p, *batch)
        np.asarray(out[0])
        return (clock() - start) / calls * 1e3

    for p in (params, halves):  # compile and warm both
        milliseconds(p, 2)
    f32, bf16 = [], []
    for _ in range(args.rounds):
        f32.append(milliseconds(params, args.calls))
        bf16.append(milliseconds(halves, args.calls))
    kind = "CPU time" if args.cpu_time else "wall time"
    print(
        f"{kind}, load {os.getloadavg()[0]:.2f}: float32 median {np.median(f32):.1f} ms "
        f"(min {min(f32):.1f}), bfloat16 median {np.median(bf16):.1f} ms (min {min(bf16):.1f}); "
        f"bf16/f32 {np.median(bf16) / np.median(f32):.3f} over {args.rounds} rounds"
    )


if __name__ == "__main__":
    main()
