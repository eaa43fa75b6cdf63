"""Median timing: warm up, then time each call on its own and keep the median.

The frameworks of one case are timed in rounds (each framework a block of
calls per round), so a burst of other work on the machine hits them alike
and the ratios stay fair even when the absolute times drift. Between blocks
the runner pauses (``SETTLE_S``): a BLAS thread pool keeps its worker
threads spinning for a while after a call, and without the pause they would
take a core from the next framework's calls.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Timing:
    """The median and the fastest of ``runs`` timed calls, in seconds."""

    median_s: float
    min_s: float
    runs: int


SETTLE_S = 0.2  # pause between blocks: longer than OpenBLAS's spin-wait (~0.1 s)
MAX_ROUNDS = 3


def measure(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> Timing:
    """Times one callable: ``warmup`` untimed calls, then ``repeats`` timed ones."""
    return measure_all({"fn": fn}, repeats, warmup)["fn"]


def measure_all(
    fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1, self_timed: bool = False
) -> dict[str, Timing]:
    """Times each callable ``repeats`` times, in blocks, framework after framework, over up to three rounds, after ``warmup`` calls.

    A callable must return only when its work is done (callables of
    asynchronous frameworks block on their result themselves). With
    ``self_timed`` each callable returns the seconds it measured itself (the
    first call in a fresh process) and there is no warmup: warming up is
    what is being measured.
    """
    if not self_timed:
        for fn in fns.values():
            for _ in range(warmup):
                fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    repeats = max(repeats, 1)
    if self_timed:
        for _ in range(repeats):
            for name, fn in fns.items():
                samples[name].append(fn())
        return {name: _summary(values) for name, values in samples.items()}
    rounds = min(repeats, MAX_ROUNDS)
    block = math.ceil(repeats / rounds)
    for _ in range(rounds):
        for name, fn in fns.items():
            if len(fns) > 1:
                time.sleep(SETTLE_S)
            for _ in range(block):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return {name: _summary(values) for name, values in samples.items()}


def _summary(samples: list[float]) -> Timing:
    return Timing(statistics.median(samples), min(samples), len(samples))
