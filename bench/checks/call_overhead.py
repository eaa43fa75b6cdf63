"""The fixed cost of one jitted call on llvm, in microseconds: tcomp against jax.jit.

``python -m bench.checks.call_overhead [--leaves 6] [--calls 2000] [--rounds 5]``
times a train-step-shaped function on tiny arrays (a dict of ``--leaves`` 4x4
parameters and a batch, one output per parameter), so what is measured is the work
around the kernels: binding and checking the arguments, finding the program,
passing the buffers, wrapping the outputs. Three cases per framework: parameters fed
back as the framework's own arrays (a training loop), as numpy arrays, and a
one-argument function. Rounds alternate between the frameworks; medians of the
rounds' medians. Without jax, tcomp runs alone.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import numpy as np


def _median_us(fn: Callable[[], Any], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def cases(ops: Any, jit: Callable, to_own: Callable, leaves: int) -> dict[str, Callable[[], Any]]:
    """The timed calls of one framework (``ops``: its numpy-like module)."""

    def step(params: dict, x: Any) -> dict:
        total = ops.sum(x)
        return {k: v * 0.9 + total for k, v in params.items()}

    def one(x: Any) -> Any:
        return x + 1.0

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 4)).astype(np.float32)
    numpy_params = {f"w{i}": rng.standard_normal((4, 4)).astype(np.float32) for i in range(leaves)}
    own_params = {k: to_own(v) for k, v in numpy_params.items()}
    own_x = to_own(x)
    step_jit, one_jit = jit(step), jit(one)

    def block(tree: Any) -> None:
        for value in (tree.values() if isinstance(tree, dict) else [tree]):
            np.asarray(value)

    return {
        "step, own arrays": lambda: block(step_jit(own_params, own_x)),
        "step, numpy arrays": lambda: block(step_jit(numpy_params, x)),
        "x + 1, numpy array": lambda: block(one_jit(x)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.checks.call_overhead")
    parser.add_argument("--leaves", type=int, default=6)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import tcomp

    frameworks = {"tcomp": cases(tcomp, tcomp.jit, lambda a: tcomp.jit(lambda v: v * 1.0)(a),
                                 args.leaves)}
    try:
        import jax
        import jax.numpy as jnp

        frameworks["jax"] = cases(jnp, jax.jit, jnp.asarray, args.leaves)
    except ImportError:
        pass
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, calls in frameworks.items():
            for case, fn in calls.items():
                for _ in range(20):
                    fn()  # warm: compiled, caches filled
                results.setdefault((case, name), []).append(_median_us(fn, args.calls))
    for case in frameworks["tcomp"]:
        line = f"{case:20s}"
        for name in frameworks:
            values = results[(case, name)]
            line += f"  {name} {np.median(values):7.1f} us ({min(values):.1f}-{max(values):.1f})"
        print(line)


if __name__ == "__main__":
    main()
