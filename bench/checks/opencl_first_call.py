"""How much of the first call of the CIFAR CNN train step on ``opencl`` its
``compile_stats()`` accounts for (issue 14), cold and warm, a fresh process each.

Cold: empty PoCL kernel cache (``POCL_CACHE_DIR``) and tcomp cache; warm: a new
process on the caches the cold run left. ``--no-warm-up`` restores the old
behaviour (PoCL builds each kernel at its first launch, inside the first call).

    python -m bench.checks.opencl_first_call [--runs 3] [--no-warm-up]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np


def wait_for(tree: Any) -> None:
    """Reads every leaf of ``tree`` back to the host (so every kernel has finished)."""
    import tcomp

    for leaf in tcomp.tree_flatten(tree)[0]:
        np.asarray(leaf)


def measure(warm_up: bool) -> dict[str, float]:
    """The first and second call of the train step and what compile_stats says."""
    import tcomp
    from bench.checks.cnn_step import loss, make_model

    if not warm_up:
        from tcomp.backends.opencl.driver import OpenCLDriver

        OpenCLDriver.warm_up_size = lambda self, function, global_size, local_size: None
    params, x, labels = make_model(np.random.default_rng(0))
    step = tcomp.jit(tcomp.value_and_grad(loss), backend="opencl")
    started = time.perf_counter()
    wait_for(step(params, x, labels))
    first = time.perf_counter() - started
    started = time.perf_counter()
    wait_for(step(params, x, labels))
    second = time.perf_counter() - started
    stats = step.compile_stats()[0]
    accounted = stats["trace_seconds"] + stats["passes_seconds"] + stats["backend_seconds"]
    return {"first": first, "accounted": accounted, "build": stats["build_s"],
            "device_build": stats.get("device_build_s", 0.0), "second": second}


def run_child(caches: str, warm_up: bool) -> dict[str, float]:
    """:func:`measure` in a new process whose PoCL and tcomp caches live under ``caches``."""
    env = dict(os.environ, POCL_CACHE_DIR=os.path.join(caches, "pocl"),
               TCOMP_CACHE_DIR=os.path.join(caches, "tcomp"))
    command = [sys.executable, "-m", "bench.checks.opencl_first_call", "--child"]
    if not warm_up:
        command.append("--no-warm-up")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def report(label: str, row: dict[str, float]) -> str:
    """One line of the table."""
    return (f"{label:5s} first call {row['first']:7.2f} s  compile_stats {row['accounted']:7.2f} s "
            f"({row['accounted'] / row['first']:4.0%})  build_s {row['build']:6.2f}  "
            f"device_build_s {row['device_build']:6.2f}  second call {row['second']:6.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-warm-up", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    warm_up = not options.no_warm_up
    if options.child:
        print(json.dumps(measure(warm_up)))
        return
    print(f"CNN train step on opencl, {'with' if warm_up else 'without'} the warm-up at load")
    for _ in range(options.runs):
        with tempfile.TemporaryDirectory(prefix="tcomp-first-call-") as caches:
            print(report("cold", run_child(caches, warm_up)), flush=True)
            print(report("warm", run_child(caches, warm_up)), flush=True)


if __name__ == "__main__":
    main()
