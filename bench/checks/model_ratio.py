"""Side by side in one process: tcomp's and jax.jit's train step of one model, round by round.

``python -m bench.checks.model_ratio MODEL [--rounds N] [--calls N] [--backend NAME]``
builds both steps (``bench.models.frameworks``), warms them up, then in each
round times ``--calls`` steps of each framework in turn and prints the
medians and jax's median over tcomp's (above 1: tcomp faster). Rounds
alternate so that load from other processes on a small machine hits both
alike; the summary line gives the median and the range of the ratios, which
is what a claim about "at or below jax.jit's time" should quote on a noisy
machine. Needs jax (``pip install jax``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.models import MODEL_NAMES, frameworks, load


def _median_step_seconds(train, state, batch, calls: int):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        loss, state = train(state, *batch)
        np.asarray(loss)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), state


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.checks.model_ratio")
    parser.add_argument("model", choices=MODEL_NAMES)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--backend", default=None, help="tcomp backend (default: tcomp's)")
    args = parser.parse_args()
    model = load(args.model)
    state, batch = model.init(np.random.default_rng(0), False)
    steps = {}
    for framework in ("tcomp", "jax"):
        train = frameworks.build(model, framework, args.backend)
        framework_state, framework_batch = train.convert(state), train.convert(batch)
        for _ in range(3):
            _, framework_state = train(framework_state, *framework_batch)
        steps[framework] = [train, framework_state, framework_batch]
    ratios = []
    for round_number in range(args.rounds):
        medians = {}
        for framework, step in steps.items():
            medians[framework], step[1] = _median_step_seconds(step[0], step[1], step[2],
                                                               args.calls)
        ratios.append(medians["jax"] / medians["tcomp"])
        print(f"round {round_number}: tcomp {medians['tcomp'] * 1e3:.3f} ms, "
              f"jax {medians['jax'] * 1e3:.3f} ms, jax/tcomp {ratios[-1]:.2f}")
    print(f"{args.model}: jax/tcomp median {np.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}) over {args.rounds} rounds")


if __name__ == "__main__":
    main()
