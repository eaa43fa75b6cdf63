"""The numpy boundary on one backend: numpy in / numpy out against tcomp.Array in / out.

``python -m bench.numpy_boundary [--backend llvm] [--runs 3] [--calls 20]``

For GELU over 2**24 float32 and a row softmax of 4096 x 1024 float32, times
(median of ``--calls`` calls of each, the two variants interleaved call by
call in this one process, repeated ``--runs`` times):

- ``array``: a ``tcomp.Array`` in (moved to the backend once), the result
  kept as a ``tcomp.Array``: the steady state of a program feeding itself;
- ``numpy``: a numpy array in and ``np.asarray(result)`` out, as the README's
  usage is written.

Prints each run's medians and the ratio numpy / array, then the median
ratio over the runs. On ``llvm`` numpy inputs are read in place and
``np.asarray`` of a result is a read-only view, so the ratio should be
close to 1 (the target: at most 1.15).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any, Callable

import numpy as np

import tcomp
from tcomp import nn


def _interleaved_medians(
    first: Callable[[], Any], second: Callable[[], Any], calls: int
) -> tuple[float, float]:
    """Median seconds of ``calls`` calls of each, timed alternately (first, second, first,
    ...) so that a change in the machine's load hits both alike."""
    first(), second()  # warm: compile, page in
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(calls):
        for fn, kept in zip((first, second), times):
            start = time.perf_counter()
            fn()
            kept.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def workloads(backend: str) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """Per workload: (numpy in / numpy out, Array in / Array out) callables."""
    rng = np.random.default_rng(0)
    cases = {
        "gelu 2^24": (
            lambda v: nn.gelu(v, approximate="tanh"), rng.standard_normal(2**24, dtype=np.float32)
        ),
        "softmax 4096x1024": (
            lambda v: nn.softmax(v, axis=-1),
            rng.standard_normal((4096, 1024), dtype=np.float32),
        ),
    }
    out = {}
    for name, (fn, x) in cases.items():
        f = tcomp.jit(fn, backend=backend)
        xa = tcomp.jit(lambda v: v + 0.0, backend=backend)(x)  # an Array of this backend
        np.testing.assert_array_equal(np.asarray(f(x)), np.asarray(f(xa)))
        out[name] = (
            lambda f=f, x=x: np.asarray(f(x)),
            lambda f=f, xa=xa: f(xa),
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="llvm")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args(argv)
    cases = workloads(args.backend)
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    for run in range(args.runs):
        for name, (numpy_io, array_io) in cases.items():
            gc.collect()
            numpy_s, array_s = _interleaved_medians(numpy_io, array_io, args.calls)
            ratios[name].append(numpy_s / array_s)
            print(
                f"run {run + 1}  {name:<18} numpy in/out {numpy_s * 1e3:7.2f} ms   "
                f"Array in/out {array_s * 1e3:7.2f} ms   ratio {numpy_s / array_s:5.2f}"
            )
    for name, values in ratios.items():
        print(f"{name:<18} median ratio numpy/Array over {args.runs} runs: "
              f"{statistics.median(values):.2f}")


if __name__ == "__main__":
    main()
