"""``python -m bench.gpu``: tcomp's GPU backends against PyTorch on the same GPU, as ratios.

Run on a machine with an NVIDIA GPU and PyTorch (the lent device machine):
``python -m bench.gpu --backend cuda``. Each row times tcomp and its
baseline side by side in this process (medians; the device is synchronised
around every timed call), checks tcomp's result against the baseline first,
and prints one markdown table last:

- ``copy``: PyTorch's device-to-device copy of 2**28 float32, the bandwidth
  ceiling (bytes read plus written per second);
- ``gelu``: a fused elementwise chain on 2**28 float32, as a fraction of that
  copy bandwidth (the issue's target: 80%);
- ``softmax`` rows and ``sum``: memory-bound, GB/s against PyTorch's;
- ``matmul N`` (float32, 4096 and 8192 cubed): GFLOP/s against PyTorch's
  float32 with TF32 off (target: 50%); ``matmul N bf16``: bfloat16 inputs
  and output, float32 accumulation (tcomp's tensor-core kernel) against
  PyTorch's bfloat16 matmul (target: 30%);
- ``mlp step``: the 784-512-512-10 SGD step (batch 256) against PyTorch eager
  (target: faster) and, with ``--compile``, torch.compile.

``--quick`` shrinks every size (a smoke test of the script itself; any
backend, even without a GPU: the baseline is then numpy on the host).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable

import ml_dtypes
import numpy as np

import tcomp
from bench import mlp
from tcomp import nn


def _median_seconds(fn: Callable[[], Any], sync: Callable[[], None], repeats: int) -> float:
    fn()
    sync()  # warm: compile, module load, first allocations
    samples = []
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        fn()
        sync()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


class Bench:
    """The run's state: the tcomp backend, torch (or None) and the rows measured so far."""

    def __init__(self, backend: str, quick: bool, repeats: int) -> None:
        self.backend = backend
        self.quick = quick
        self.repeats = repeats
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.failures: list[str] = []
        self.put = tcomp.jit(lambda x: x, backend=backend)
        self.torch = _cuda_torch()
        backend_object = tcomp.backends.registry.get_backend(backend)
        self.tcomp_sync: Callable[[], None] = getattr(backend_object, "synchronize", lambda: None)
        self.base_sync: Callable[[], None] = (
            self.torch.cuda.synchronize if self.torch is not None else (lambda: None)
        )
        self.copy_gbs: float | None = None

    def baseline_array(self, x: np.ndarray) -> Any:
        return self.torch.from_numpy(x).cuda() if self.torch is not None else x

    def time_pair(
        self,
        name: str,
        ours: Callable[[], Any],
        theirs: Callable[[], Any],
        work: float,
        unit: str,
        rtol: float,
    ) -> tuple[float, float]:
        """Checks ``ours`` against ``theirs``, times both, and records a row."""
        mine, base = np.asarray(ours()).astype(np.float64), _host(theirs())
        scale = float(np.max(np.abs(base))) or 1.0
        error = float(np.max(np.abs(mine.astype(np.float64) - base))) / scale if base.size else 0.0
        ok = np.all(np.isfinite(mine) == np.isfinite(base)) and error <= rtol
        if not ok:
            self.failures.append(f"{name}: max error {error:.2e} (relative to max |x|) > {rtol}")
        t_ours = _median_seconds(ours, self.tcomp_sync, self.repeats)
        t_base = _median_seconds(theirs, self.base_sync, self.repeats)
        rate = f"{work / t_ours / 1e9:.1f} {unit}" if work else ""
        self.rows.append(
            (
                name,
                f"{t_ours * 1e3:.3f} ms",
                f"{t_base * 1e3:.3f} ms",
                rate,
                f"{t_base / t_ours:.2f}x" + ("" if ok else " WRONG"),
            )
        )
        print(f"{name}: tcomp {t_ours * 1e3:.3f} ms, baseline {t_base * 1e3:.3f} ms", file=sys.stderr)
        return t_ours, t_base

    def copy_and_gelu(self) -> None:
        n = 2**16 if self.quick else 2**28
        x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
        xb = self.baseline_array(x)
        if self.torch is not None:
            out = self.torch.empty_like(xb)
            t = _median_seconds(lambda: out.copy_(xb), self.base_sync, self.repeats)
            self.copy_gbs = 2 * 4 * n / t / 1e9
            self.rows.append(("copy (torch, d2d)", "", f"{t * 1e3:.3f} ms", f"{self.copy_gbs:.0f} GB/s", ""))
        xa = self.put(x)
        gelu = tcomp.jit(lambda v: nn.gelu(v, approximate="tanh"), backend=self.backend)
        if self.torch is not None:
            functional = self.torch.nn.functional
            theirs = lambda: functional.gelu(xb, approximate="tanh")  # noqa: E731
        else:
            theirs = lambda: np.asarray(nn.gelu(x, approximate="tanh"))  # noqa: E731
        t_ours, _ = self.time_pair("gelu 2^%d" % (n.bit_length() - 1), lambda: gelu(xa), theirs, 8.0 * n, "GB/s", 1e-5)
        if self.copy_gbs:
            fraction = 8.0 * n / t_ours / 1e9 / self.copy_gbs
            self.rows.append(("gelu / copy bandwidth", "", "", f"{fraction:.0%}", "target 80%"))

    def memory_bound(self) -> None:
        rows, cols = (64, 1024) if self.quick else (16384, 4096)
        x = np.random.default_rng(1).standard_normal((rows, cols), dtype=np.float32)
        xa, xb = self.put(x), self.baseline_array(x)
        softmax = tcomp.jit(lambda v: nn.softmax(v, axis=-1), backend=self.backend)
        total = tcomp.jit(lambda v: v.sum(), backend=self.backend)
        row_sum = tcomp.jit(lambda v: v.sum(axis=1), backend=self.backend)
        torch = self.torch
        size = f"{rows}x{cols}"
        if torch is not None:
            their_softmax = lambda: torch.softmax(xb, dim=-1)  # noqa: E731
            their_total = lambda: xb.sum()  # noqa: E731
            their_rows = lambda: xb.sum(dim=1)  # noqa: E731
        else:
            their_softmax = lambda: np.asarray(nn.softmax(x, axis=-1))  # noqa: E731
            their_total = lambda: x.sum()  # noqa: E731
            their_rows = lambda: x.sum(axis=1)  # noqa: E731
        nbytes = 4.0 * x.size
        self.time_pair(f"softmax {size}", lambda: softmax(xa), their_softmax, 2 * nbytes, "GB/s", 1e-5)
        self.time_pair(f"sum {size}", lambda: total(xa), their_total, nbytes, "GB/s", 1e-4)
        self.time_pair(f"row sums {size}", lambda: row_sum(xa), their_rows, nbytes, "GB/s", 1e-4)

    def matmul(self) -> None:
        torch = self.torch
        if torch is not None:
            torch.backends.cuda.matmul.allow_tf32 = False  # the float32 baseline, no TF32
        for n in (256,) if self.quick else (4096, 8192):
            rng = np.random.default_rng(n)
            a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
            f = tcomp.jit(tcomp.matmul, backend=self.backend)
            aa, ba = self.put(a), self.put(b)
            ab, bb = self.baseline_array(a), self.baseline_array(b)
            theirs = (lambda: torch.matmul(ab, bb)) if torch is not None else (lambda: a @ b)
            self.time_pair(f"matmul {n} f32", lambda: f(aa, ba), theirs, 2.0 * n**3, "GFLOP/s", 1e-4)
            a16, b16 = a.astype(ml_dtypes.bfloat16), b.astype(ml_dtypes.bfloat16)
            a16a, b16a = self.put(a16), self.put(b16)
            if torch is not None:
                a16b, b16b = ab.to(torch.bfloat16), bb.to(torch.bfloat16)
                theirs16 = lambda: torch.matmul(a16b, b16b)  # noqa: E731
            else:
                theirs16 = lambda: (a16.astype(np.float32) @ b16.astype(np.float32))  # noqa: E731
            self.time_pair(f"matmul {n} bf16", lambda: f(a16a, b16a), theirs16, 2.0 * n**3,
                           "GFLOP/s", 2e-2)

    def mlp_step(self, compile_torch: bool) -> None:
        sizes, batch = (mlp.QUICK_SIZES, mlp.QUICK_BATCH) if self.quick else (mlp.FULL_SIZES, 256)
        params = mlp.init_params(sizes)
        x, labels = mlp.make_data(sizes, batch)
        step = mlp.tcomp_step(self.backend)
        pa = {k: self.put(v) for k, v in params.items()}
        xa, la = self.put(x), self.put(labels)
        torch = self.torch
        if torch is None:
            self.time_pair("mlp step", lambda: step(pa, xa, la)[0], lambda: mlp.numpy_step(params, x, labels)[0], 0, "", 1e-4)
            return
        pt = {k: self.baseline_array(v) for k, v in params.items()}
        xt, lt = self.baseline_array(x), self.torch.from_numpy(labels.astype(np.int64)).cuda()
        eager = mlp.torch_step(torch)
        self.time_pair("mlp step vs eager", lambda: step(pa, xa, la)[0], lambda: eager(pt, xt, lt)[0], 0, "", 1e-4)
        if compile_torch:
            compiled = torch.compile(eager)
            self.time_pair("mlp step vs torch.compile", lambda: step(pa, xa, la)[0], lambda: compiled(pt, xt, lt)[0], 0, "", 1e-4)

    def table(self) -> str:
        header = "| workload | tcomp | baseline | tcomp rate | baseline time / tcomp time |"
        lines = [header, "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def _host(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().float().cpu().numpy().astype(np.float64)
    return np.asarray(value, dtype=np.float64)


def _cuda_torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="cuda")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile's MLP step")
    parser.add_argument("--only", default="copy,memory,matmul,mlp")
    args = parser.parse_args(argv)
    bench = Bench(args.backend, args.quick, args.repeats)
    only = set(args.only.split(","))
    steps = {"copy": bench.copy_and_gelu, "memory": bench.memory_bound, "matmul": bench.matmul}
    for name, run in steps.items():
        if name in only:
            run()
    if "mlp" in only:
        bench.mlp_step(args.compile)
    device = tcomp.backends.registry.get_backend(args.backend)
    info = getattr(getattr(device, "driver", None), "info", None)
    print(f"\n{args.backend}: {info.describe() if info else 'host'}; baseline: "
          f"{'PyTorch ' + bench.torch.__version__ if bench.torch else 'numpy (no CUDA PyTorch here)'}")
    print(bench.table())
    for failure in bench.failures:
        print("WRONG:", failure)
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
