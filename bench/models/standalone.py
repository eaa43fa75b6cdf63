"""``python -m bench.models.NAME``: one model's tcomp train step timed on each backend named.

Checks first that every backend's loss and gradients (and the losses of two
steps) agree with the first backend's, then prints the median milliseconds
per step (the state fed back) for each backend; ``--profile`` adds tcomp's
per-kernel table of the step on the last backend
(``step.lower(*args).profile(*args)``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from bench.models import frameworks
from bench.models.spec import Model


def median_ms(train: frameworks.TrainStep, state: Any, batch: tuple, calls: int) -> float:
    """Median wall time of ``calls`` steps, each fed the state of the one before, after one warm-up."""
    _, state = train(state, *batch)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        _, state = train(state, *batch)
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1e3


def main(model: Model, argv: list[str] | None = None) -> None:
    from bench.workloads import Case, check

    parser = argparse.ArgumentParser(
        prog=f"python -m bench.models.{model.name}",
        description=f"{model.ports}: tcomp's train step per backend.",
    )
    parser.add_argument(
        "--backends", default="reference,llvm", help="comma-separated tcomp backends"
    )
    parser.add_argument("--quick", action="store_true", help="the small sizes of --quick")
    parser.add_argument("--calls", type=int, default=10, help="timed steps per backend")
    parser.add_argument(
        "--profile", action="store_true", help="per-kernel table of the last backend"
    )
    options = parser.parse_args(argv)
    state, batch = model.init(np.random.default_rng(0), options.quick)
    backends = options.backends.split(",")
    steps, inputs = {}, {}
    for backend in backends:
        steps[backend] = frameworks.tcomp_step(model, backend)
        inputs[backend] = (steps[backend].convert(state), steps[backend].convert(batch))
    results = {
        backend: lambda b=backend: frameworks.first_steps(steps[b], *inputs[b])
        for backend in backends
    }
    rtol, atol = model.check_tolerance
    check(Case(model.name, "", results, rtol=rtol, atol=atol, reference=backends[0]))
    print(
        f"{model.name} ({model.describe(options.quick)}): loss and gradients agree across "
        f"{', '.join(backends)}",
        flush=True,
    )
    for backend in backends:
        ms = median_ms(steps[backend], *inputs[backend], calls=options.calls)
        print(f"{backend:10s} train step {ms:9.2f} ms", flush=True)
    if options.profile:
        last = backends[-1]
        args = (inputs[last][0], *inputs[last][1])
        print(steps[last].jitted.lower(*args).profile(*args))
