"""Recurrent models written with scan: tcomp.scan against jax.lax.scan, side by side.

``python -m bench.checks.scan_rnn [--cells tanh,lstm,gru] [--steps 64] [--rounds 6]
[--calls 5] [--compile-lengths 16,64,256,512]``

Each cell (a tanh RNN, an LSTM and a GRU with PyTorch's gate equations, batch 32,
input 64, hidden 128) is one function of the array module (``tcomp`` or
``jax.numpy``) and the scan function, so both frameworks run the same math: the
loss is the mean square of a linear read-out of every hidden state, and the
timed step is ``value_and_grad`` of it with respect to all parameters (the
backward pass is a reverse scan). Two measurements:

- **step time**: rounds alternate between the frameworks (load from other
  processes on a small machine hits both alike); each round's median of
  ``--calls`` steps; the summary gives jax/tcomp as the median and range of the
  rounds' ratios (above 1: tcomp faster).
- **compile time over the sequence length**: for each length a new jitted
  function's first call (trace, compile, run) with tcomp's disk cache off and a
  fresh jax function; the issue's target is tcomp's time flat within 1.5x from
  T=16 to T=512 (a Python-unrolled loop grows with T).

Needs jax (``pip install jax``) for the jax columns; without it tcomp runs alone.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Callable

import numpy as np

BATCH, INPUT, HIDDEN = 32, 64, 128
CELLS = ("tanh", "lstm", "gru")
GATES = {"tanh": 1, "lstm": 4, "gru": 3}


def init_params(cell: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """PyTorch's layout: ``w_ih`` (gates*H, I), ``w_hh`` (gates*H, H), biases, read-out."""
    gates, scale = GATES[cell], 1.0 / np.sqrt(HIDDEN)

    def uniform(*shape: int) -> np.ndarray:
        return rng.uniform(-scale, scale, shape).astype(np.float32)

    return {
        "w_ih": uniform(gates * HIDDEN, INPUT),
        "w_hh": uniform(gates * HIDDEN, HIDDEN),
        "b_ih": uniform(gates * HIDDEN),
        "b_hh": uniform(gates * HIDDEN),
        "w_out": uniform(HIDDEN, 1),
    }


def step_function(cell: str, ops: Any) -> Callable[[dict, Any, Any], tuple[Any, Any]]:
    """``(params, carry, x) -> (carry, h)`` of ``cell`` in the array module ``ops``."""

    def sigmoid(v: Any) -> Any:
        return 1.0 / (1.0 + ops.exp(-v))

    def tanh_cell(p: dict, h: Any, x: Any) -> tuple[Any, Any]:
        h = ops.tanh(x @ p["w_ih"].T + p["b_ih"] + h @ p["w_hh"].T + p["b_hh"])
        return h, h

    def lstm_cell(p: dict, carry: tuple, x: Any) -> tuple[Any, Any]:
        h, c = carry
        z = x @ p["w_ih"].T + p["b_ih"] + h @ p["w_hh"].T + p["b_hh"]
        i, f = sigmoid(z[:, :HIDDEN]), sigmoid(z[:, HIDDEN : 2 * HIDDEN])
        g, o = ops.tanh(z[:, 2 * HIDDEN : 3 * HIDDEN]), sigmoid(z[:, 3 * HIDDEN :])
        c = f * c + i * g
        h = o * ops.tanh(c)
        return (h, c), h

    def gru_cell(p: dict, h: Any, x: Any) -> tuple[Any, Any]:
        gi = x @ p["w_ih"].T + p["b_ih"]
        gh = h @ p["w_hh"].T + p["b_hh"]
        r = sigmoid(gi[:, :HIDDEN] + gh[:, :HIDDEN])
        u = sigmoid(gi[:, HIDDEN : 2 * HIDDEN] + gh[:, HIDDEN : 2 * HIDDEN])
        n = ops.tanh(gi[:, 2 * HIDDEN :] + r * gh[:, 2 * HIDDEN :])
        h = (1.0 - u) * n + u * h
        return h, h

    return {"tanh": tanh_cell, "lstm": lstm_cell, "gru": gru_cell}[cell]


def loss_function(cell: str, ops: Any, scan: Callable) -> Callable[[dict, Any], Any]:
    """Mean square of the read-out of every hidden state of ``xs`` (T, batch, input)."""
    step = step_function(cell, ops)

    def loss(params: dict, xs: Any) -> Any:
        h0 = ops.zeros((xs.shape[1], HIDDEN), dtype=np.float32)
        carry = (h0, h0) if cell == "lstm" else h0
        _, hs = scan(lambda c, x: step(params, c, x), carry, xs)
        out = hs @ params["w_out"]
        return ops.mean(out * out)

    return loss


def frameworks(cell: str) -> dict[str, Callable[[], Callable]]:
    """Builders of each framework's jitted value-and-grad step (jax when importable)."""
    import tcomp

    builders = {
        "tcomp": lambda: tcomp.jit(tcomp.value_and_grad(loss_function(cell, tcomp, tcomp.scan)))
    }
    try:
        import jax
    except ImportError:
        return builders
    builders["jax"] = lambda: jax.jit(
        jax.value_and_grad(loss_function(cell, jax.numpy, jax.lax.scan))
    )
    return builders


def _block(result: Any) -> None:
    loss, grads = result
    np.asarray(loss)
    for leaf in grads.values():
        np.asarray(leaf)


def _median_seconds(fn: Callable, params: dict, xs: np.ndarray, calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        _block(fn(params, xs))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def check_agreement(cell: str, steps: dict[str, Callable], params: dict, xs: np.ndarray) -> None:
    """The frameworks' losses and gradients agree (float32: rtol 1e-3) before timing."""
    results = {name: fn(params, xs) for name, fn in steps.items()}
    if "jax" not in results:
        return
    (loss_t, grads_t), (loss_j, grads_j) = results["tcomp"], results["jax"]
    np.testing.assert_allclose(np.asarray(loss_t), np.asarray(loss_j), rtol=1e-3)
    for name in grads_j:
        np.testing.assert_allclose(
            np.asarray(grads_t[name]), np.asarray(grads_j[name]), rtol=1e-3, atol=1e-6,
            err_msg=f"{cell}: gradient of {name}",
        )


def step_times(cell: str, length: int, rounds: int, calls: int) -> None:
    rng = np.random.default_rng(0)
    params = init_params(cell, rng)
    xs = rng.standard_normal((length, BATCH, INPUT)).astype(np.float32)
    steps = {name: build() for name, build in frameworks(cell).items()}
    check_agreement(cell, steps, params, xs)
    for fn in steps.values():
        for _ in range(2):
            _block(fn(params, xs))
    ratios, medians = [], {name: [] for name in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            medians[name].append(_median_seconds(fn, params, xs, calls))
        if "jax" in steps:
            ratios.append(medians["jax"][-1] / medians["tcomp"][-1])
    line = f"{cell:5s} T={length}: tcomp {np.median(medians['tcomp']) * 1e3:.3f} ms"
    if ratios:
        line += (f", jax {np.median(medians['jax']) * 1e3:.3f} ms, jax/tcomp median "
                 f"{np.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}) "
                 f"over {rounds} rounds")
    print(line, flush=True)


def compile_times(cell: str, lengths: list[int]) -> None:
    rng = np.random.default_rng(0)
    params = init_params(cell, rng)
    builders = frameworks(cell)
    for name, build in builders.items():
        seconds = []
        for length in lengths:
            xs = rng.standard_normal((length, BATCH, INPUT)).astype(np.float32)
            fn = build()
            start = time.perf_counter()
            _block(fn(params, xs))
            seconds.append(time.perf_counter() - start)
        cells = ", ".join(f"T={n}: {s:.2f} s" for n, s in zip(lengths, seconds))
        print(f"{cell:5s} first call {name:5s} {cells} (T={lengths[-1]} / T={lengths[0]}: "
              f"{seconds[-1] / seconds[0]:.2f}x)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.checks.scan_rnn")
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--steps", type=int, default=64, help="sequence length of the step times")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--compile-lengths", default="16,64,256,512")
    args = parser.parse_args()
    os.environ["TCOMP_CACHE_DIR"] = "off"  # first calls compile; nothing read from disk
    lengths = [int(n) for n in args.compile_lengths.split(",") if n]
    for cell in args.cells.split(","):
        if lengths:
            compile_times(cell, lengths)
        step_times(cell, args.steps, args.rounds, args.calls)


if __name__ == "__main__":
    main()
