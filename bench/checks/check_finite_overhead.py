"""The cost of ``tcomp.jit(..., check_finite=True)`` on the model zoo's MLP train step.

The unchecked and the checked step (the same Python function, jitted twice) run side
by side: each round times ``--calls`` steps of each, alternating step by step (so a
busy machine slows both alike); the ratio is the median over rounds of checked /
unchecked median step times. The issue's target is under 1.3x. The two
are also checked to give the same loss and state.

    python -m bench.checks.check_finite_overhead [--backends llvm,opencl] [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import numpy as np

import tcomp
from bench.models import mlp

TARGET = 1.3


def make_steps(backend: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The MLP train step (momentum SGD) jitted unchecked and checked on ``backend``."""
    value_and_grad = tcomp.value_and_grad(mlp.MODEL.tcomp_loss, has_aux=True)

    def train(state: dict, images: Any, labels: Any) -> tuple[Any, dict]:
        (loss, carry), grads = value_and_grad(state["params"], state["carry"], images, labels)
        params, opt = mlp.MODEL.update(tcomp, state["params"], grads, state["opt"])
        return loss, {"params": params, "opt": opt, "carry": carry}

    plain = tcomp.jit(train, backend=backend, check_finite=False)
    checked = tcomp.jit(train, backend=backend, check_finite=True)
    return plain, checked


def _wait(out: Any) -> Any:
    """Waits for the step's results (GPU backends enqueue and return)."""
    leaves = tcomp.tree_flatten(out)[0]
    sync = getattr(getattr(leaves[0], "_backend", None), "synchronize", None)
    if sync is not None:
        sync()
    return out


def time_step(step: Callable[..., Any], state: Any, batch: tuple) -> float:
    """Seconds of one step, its results waited for."""
    started = time.perf_counter()
    _wait(step(state, *batch))
    return time.perf_counter() - started


def measure(backend: str, quick: bool, rounds: int, calls: int) -> tuple[float, float, float]:
    """(unchecked ms, checked ms, ratio): each round times ``calls`` steps of each variant,
    alternating step by step (so both see the same machine load); the ratio is the median
    over rounds of the rounds' median checked / median unchecked times."""
    state, batch = mlp.MODEL.init(np.random.default_rng(0), quick)
    plain, checked = make_steps(backend)
    loss_a, state_a = plain(state, *batch)
    loss_b, state_b = checked(state, *batch)  # compiles both; the same numbers
    np.testing.assert_allclose(np.asarray(loss_a), np.asarray(loss_b), rtol=1e-6)
    for a, b in zip(tcomp.tree_flatten(state_a)[0], tcomp.tree_flatten(state_b)[0]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    plains, checks, ratios = [], [], []
    for _ in range(rounds):
        times: dict[Any, list[float]] = {plain: [], checked: []}
        for call in range(calls):
            for step in (plain, checked) if call % 2 == 0 else (checked, plain):
                times[step].append(time_step(step, state_a, batch))
        plains.append(float(np.median(times[plain])) * 1e3)
        checks.append(float(np.median(times[checked])) * 1e3)
        ratios.append(checks[-1] / plains[-1])
    return float(np.median(plains)), float(np.median(checks)), float(np.median(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="llvm")
    parser.add_argument("--quick", action="store_true", help="mlp's --quick sizes (784-64-64-10)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10, help="timed steps per round and variant")
    options = parser.parse_args()
    print(f"mlp train step ({mlp.describe(options.quick)}), {options.rounds} rounds of "
          f"{options.calls} steps each, median ms per step")
    for backend in options.backends.split(","):
        plain, checked, ratio = measure(backend, options.quick, options.rounds, options.calls)
        verdict = "ok" if ratio < TARGET else f"over the {TARGET}x target"
        print(f"{backend:8s} unchecked {plain:8.2f}  checked {checked:8.2f}  "
              f"ratio {ratio:.2f}x ({verdict})", flush=True)


if __name__ == "__main__":
    main()
