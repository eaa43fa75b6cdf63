"""Compile time and warm time of ``tcomp.sort`` over the row length: the bitonic
network unrolled (every stage traced and compiled on its own) against the same stages
in one loop (frontend/sort_network.py).

``python -m bench.checks.sort_compile [--lengths 256,4096,65536] [--rows 4]
[--paths unrolled,loop] [--backend llvm] [--calls 20]``

For each path and length: a new ``tcomp.jit(lambda v: tcomp.sort(v, axis=-1))`` on
float32 ``(rows, n)`` normal data; its first call (trace, graph passes, compile, run)
with tcomp's disk cache off, the number of kernels in ``as_text("kernels")`` (a loop's
body counts once), and the median and minimum of ``--calls`` warm calls, taken in
alternation between the paths and ``np.sort`` of the same data. The path is chosen with ``sort_network.LOOP_MIN_LENGTH`` (unrolled: never
loop; loop: always). The issue's target: the loop's first call flat within 1.5x from
n=256 to n=65536, and its warm call no slower than the unrolled network's.
"""

from __future__ import annotations

import argparse
import os
import re
import time

import numpy as np

PATHS = {"unrolled": 2**62, "loop": 2}


def first_call(path: str, x: np.ndarray, backend: str) -> tuple[object, float, int]:
    """A new jitted sort on ``path``: the function, its first call (s) and its kernels."""
    import tcomp
    from tcomp.frontend import sort_network

    sort_network.LOOP_MIN_LENGTH = PATHS[path]
    f = tcomp.jit(lambda v: tcomp.sort(v, axis=-1), backend=backend)
    start = time.perf_counter()
    got = f(x)
    first = time.perf_counter() - start
    np.testing.assert_array_equal(np.asarray(got), np.sort(x, axis=-1))
    kernels = len(re.findall(r"^\s*kernel k", f.lower(x).as_text("kernels"), re.M))
    return f, first, kernels


def warm_calls(functions: dict[str, object], x: np.ndarray, calls: int) -> dict[str, list]:
    """Each function's warm call times (ms), taken in alternation (load from other
    processes hits every path alike), with ``np.sort`` as one more entry."""
    functions = {**functions, "numpy": lambda v: np.sort(v, axis=-1, kind="stable")}
    times: dict[str, list] = {name: [] for name in functions}
    for _ in range(calls):
        for name, f in functions.items():
            start = time.perf_counter()
            np.asarray(f(x))
            times[name].append((time.perf_counter() - start) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default="256,4096,65536")
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--paths", default="unrolled,loop")
    parser.add_argument("--backend", default="llvm")
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    os.environ["TCOMP_CACHE_DIR"] = "off"  # first calls compile; nothing read from disk
    import tcomp

    # the process's one-time start-up (LLVM, thread pool) is not any length's cost
    tcomp.jit(lambda v: v + 1, backend=args.backend)(np.zeros(3, np.float32))
    print(f"sort of float32 ({args.rows}, n) on {args.backend}, first call with the disk cache off")
    print(
        f"{'path':>9} {'n':>7} {'first call':>11} {'kernels':>8} {'warm median':>12} "
        f"{'warm min':>10} {'numpy':>9}"
    )
    for n in (int(v) for v in args.lengths.split(",")):
        x = np.random.default_rng(n).standard_normal((args.rows, n)).astype(np.float32)
        made = {path: first_call(path, x, args.backend) for path in args.paths.split(",")}
        times = warm_calls({path: f for path, (f, _, _) in made.items()}, x, args.calls)
        numpy = float(np.median(times["numpy"]))
        for path, (_, first, kernels) in made.items():
            warm = times[path]
            print(
                f"{path:>9} {n:>7} {first:>9.2f} s {kernels:>8d} {np.median(warm):>9.3f} ms "
                f"{min(warm):>7.3f} ms {numpy:>6.3f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
