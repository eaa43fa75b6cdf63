"""The workloads: one small function each, returning the cases (table rows) to compare.

A :class:`Case` holds one zero-argument callable per framework (``tcomp``
and ``numpy`` always, ``torch`` and ``jax`` when importable). tcomp's inputs
are ``tcomp.Array`` already on the backend (moved there once, as a program's
own results would be), so the timings are steady-state calls without host
copies of the inputs; the other frameworks get their own array types. Every
callable returns its result, which :func:`check` compares with numpy's
before anything is timed. The ``models`` workload (``bench/models/``) has
no numpy column: it compares with PyTorch's result instead.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

import tcomp
from bench import mlp
from tcomp import nn

REPO_ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A framework computed a wrong result, or a fresh process failed."""


@dataclass
class Config:
    """What a run asked for: the tcomp backend, quick sizes, and the other frameworks loaded."""

    backend: str
    quick: bool
    repeats: int
    frameworks: dict[str, Any] = field(default_factory=dict)  # "torch" / "jax" -> module
    notes: list[str] = field(default_factory=list)  # lines a workload adds under the table


@dataclass
class Case:
    """One table row: callables to time per framework and how to judge them."""

    name: str
    size: str
    runs: dict[str, Callable[[], Any]]
    unit: str = ""  # "GB/s" or "GFLOP/s": ``work`` per second, shown for tcomp
    work: float = 0.0  # bytes or floating-point operations per call
    rtol: float = 1e-5
    atol: float = 1e-6
    results: dict[str, Callable[[], Any]] | None = None  # what check() compares (default: runs)
    self_timed: bool = False  # the callables return seconds they measured (fresh processes)
    repeats: int | None = None  # overrides the run's repeats (fresh processes are slow)
    note: str = ""
    reference: str = "numpy"  # the framework whose result check() compares the others with


def _seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _sync_tcomp(out: Any) -> Any:
    """Waits for a tcomp result (a no-op on synchronous CPU backends)."""
    for leaf in tcomp.tree_flatten(out)[0]:
        sync = getattr(getattr(leaf, "_backend", None), "synchronize", None)
        if sync is not None:
            sync()
        break
    return out


def _put(backend: str) -> Callable[[np.ndarray], Any]:
    """Moves a numpy array onto the backend once: a ``tcomp.Array`` to pass to jitted calls."""
    identity = tcomp.jit(lambda x: x, backend=backend)
    return identity


def _elementwise(cfg: Config, name: str, size: str, x: np.ndarray, ops: dict, **kw: Any) -> Case:
    """A case applying one function per framework to the same array ``x``."""
    xa = _put(cfg.backend)(x)
    f = tcomp.jit(ops["tcomp"], backend=cfg.backend)
    runs: dict[str, Callable[[], Any]] = {
        "tcomp": lambda: _sync_tcomp(f(xa)),
        "numpy": partial(ops["numpy"], x),
    }
    if "torch" in cfg.frameworks:
        xt = cfg.frameworks["torch"].from_numpy(x)
        runs["torch"] = partial(ops["torch"], xt)
    if "jax" in cfg.frameworks:
        jax = cfg.frameworks["jax"]
        xj, fj = jax.device_put(x), jax.jit(ops["jax"])
        runs["jax"] = lambda: fj(xj).block_until_ready()
    return Case(name, size, runs, **kw)


def gelu(cfg: Config) -> list[Case]:
    """GELU (tanh form) on 2**24 float32 elements; GB/s counts one read and one write."""
    n = 2**16 if cfg.quick else 2**24
    x = _seeded(0).standard_normal(n, dtype=np.float32)
    c = math.sqrt(2.0 / math.pi)
    torch = cfg.frameworks.get("torch")
    jax = cfg.frameworks.get("jax")
    ops = {
        "tcomp": lambda v: nn.gelu(v, approximate="tanh"),
        "numpy": lambda v: 0.5 * v * (1.0 + np.tanh(c * (v + 0.044715 * v * v * v))),
        "torch": lambda v: torch.nn.functional.gelu(v, approximate="tanh"),
        "jax": lambda v: jax.nn.gelu(v, approximate=True),
    }
    return [
        _elementwise(
            cfg, "gelu", f"2^{n.bit_length() - 1}", x, ops, unit="GB/s", work=2 * 4 * n, atol=1e-5
        )
    ]


def matmul(cfg: Config) -> list[Case]:
    """Square float32 matmuls, 1024 and 2048 cubed; GFLOP/s counts 2 n^3."""
    cases = []
    for n in (128, 256) if cfg.quick else (1024, 2048):
        rng = _seeded(n)
        a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        put, f = _put(cfg.backend), tcomp.jit(tcomp.matmul, backend=cfg.backend)
        aa, ba = put(a), put(b)
        runs: dict[str, Callable[[], Any]] = {
            "tcomp": lambda f=f, aa=aa, ba=ba: _sync_tcomp(f(aa, ba)),
            "numpy": partial(np.matmul, a, b),
        }
        if "torch" in cfg.frameworks:
            torch = cfg.frameworks["torch"]
            runs["torch"] = partial(torch.matmul, torch.from_numpy(a), torch.from_numpy(b))
        if "jax" in cfg.frameworks:
            jax = cfg.frameworks["jax"]
            fj, aj, bj = jax.jit(jax.numpy.matmul), jax.device_put(a), jax.device_put(b)
            runs["jax"] = lambda fj=fj, aj=aj, bj=bj: fj(aj, bj).block_until_ready()
        cases.append(
            Case(
                f"matmul {n}",
                f"{n}^3",
                runs,
                unit="GFLOP/s",
                work=2.0 * n**3,
                rtol=1e-3,
                atol=1e-3 * math.sqrt(n),
            )
        )
    return cases


def softmax(cfg: Config) -> list[Case]:
    """Softmax over the rows of a 4096 x 1024 float32 matrix; GB/s counts one read and one write."""
    rows, cols = (256, 128) if cfg.quick else (4096, 1024)
    x = _seeded(1).standard_normal((rows, cols), dtype=np.float32)
    torch = cfg.frameworks.get("torch")
    jax = cfg.frameworks.get("jax")

    def numpy_softmax(v: np.ndarray) -> np.ndarray:
        e = np.exp(v - v.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    ops = {
        "tcomp": lambda v: nn.softmax(v, axis=-1),
        "numpy": numpy_softmax,
        "torch": lambda v: torch.softmax(v, dim=-1),
        "jax": lambda v: jax.nn.softmax(v, axis=-1),
    }
    return [
        _elementwise(
            cfg,
            "softmax",
            f"{rows}x{cols}",
            x,
            ops,
            unit="GB/s",
            work=2 * 4 * x.size,
            atol=1e-6,
            rtol=1e-4,
        )
    ]


def sums(cfg: Config) -> list[Case]:
    """The sum of 2**24 float32 elements and the row sums of 4096 x 4096; GB/s counts the read."""
    n, side = (2**16, 256) if cfg.quick else (2**24, 4096)
    flat = _seeded(2).standard_normal(n, dtype=np.float32)
    square = _seeded(3).standard_normal((side, side), dtype=np.float32)
    torch = cfg.frameworks.get("torch")
    jax = cfg.frameworks.get("jax")
    total_ops = {
        "tcomp": tcomp.sum,
        "numpy": np.sum,
        "torch": lambda v: torch.sum(v),
        "jax": lambda v: jax.numpy.sum(v),
    }
    row_ops = {
        "tcomp": lambda v: tcomp.sum(v, axis=1),
        "numpy": lambda v: v.sum(axis=1),
        "torch": lambda v: torch.sum(v, dim=1),
        "jax": lambda v: jax.numpy.sum(v, axis=1),
    }
    # Summation order differs between frameworks: allow a rounding error relative to sum |x|.
    return [
        _elementwise(
            cfg,
            "sum",
            f"2^{n.bit_length() - 1}",
            flat,
            total_ops,
            unit="GB/s",
            work=4 * n,
            rtol=1e-5,
            atol=1e-6 * float(np.abs(flat).sum()),
        ),
        _elementwise(
            cfg,
            "row sums",
            f"{side}x{side}",
            square,
            row_ops,
            unit="GB/s",
            work=4 * square.size,
            rtol=1e-5,
            atol=1e-6 * float(np.abs(square[0]).sum()),
        ),
    ]


def mlp_step(cfg: Config) -> list[Case]:
    """One MLP training step (forward, backward, SGD), fed its own updated parameters."""
    sizes = mlp.QUICK_SIZES if cfg.quick else mlp.FULL_SIZES
    batch = mlp.QUICK_BATCH if cfg.quick else mlp.FULL_BATCH
    params, (x, labels) = mlp.init_params(sizes), mlp.make_data(sizes, batch)
    put = _put(cfg.backend)
    steps: dict[str, tuple[Callable, tuple]] = {
        "tcomp": (mlp.tcomp_step(cfg.backend), (tcomp.tree_map(put, params), put(x), put(labels))),
        "numpy": (mlp.numpy_step, (params, x, labels)),
    }
    if "torch" in cfg.frameworks:
        torch = cfg.frameworks["torch"]
        tparams = {k: torch.from_numpy(v) for k, v in params.items()}
        steps["torch"] = (
            mlp.torch_step(torch),
            (tparams, torch.from_numpy(x), torch.from_numpy(labels).long()),
        )
    if "jax" in cfg.frameworks:
        jax = cfg.frameworks["jax"]
        steps["jax"] = (mlp.jax_step(jax), jax.device_put((params, x, labels)))

    def runner(step: Callable, args: tuple) -> Callable[[], Any]:
        state = {"params": args[0]}

        def run() -> Any:
            loss, state["params"] = _sync_tcomp(step(state["params"], *args[1:]))
            return loss

        return run

    results = {name: partial(step, *args) for name, (step, args) in steps.items()}
    runs = {name: runner(step, args) for name, (step, args) in steps.items()}
    layers = "-".join(map(str, sizes))
    return [
        Case(
            "mlp step",
            f"{layers} b{batch}",
            runs,
            results=results,
            rtol=1e-3,
            atol=1e-4,
            note="ms per step, parameters fed back",
        )
    ]


def first_call(cfg: Config) -> list[Case]:
    """First-call latency of the MLP step in fresh processes, cold and warm disk cache.

    Cold: ``TCOMP_CACHE_DIR`` is a new empty folder for each process. Warm:
    one process fills a folder, then each timed process starts with it. tcomp's
    modules are byte-compiled first, as ``pip install`` leaves them: where
    ``PYTHONDONTWRITEBYTECODE`` is set (this project's machines set it), every
    process would otherwise compile the sources of the modules the first call
    imports (about 60 ms, counted in the first call).
    """
    byte_compile_tcomp()
    frameworks = ["tcomp", "numpy", *cfg.frameworks]
    repeats = 1 if cfg.quick else min(cfg.repeats, 5)
    note = f"fresh processes, median of {repeats}; trace + compile + run"
    cold = {f: partial(_fresh_first_call, cfg, f, None) for f in frameworks}
    parent = tempfile.mkdtemp(prefix="tcomp-bench-warm-")
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    warm_dirs = {f: os.path.join(parent, f) for f in frameworks}
    for f, folder in warm_dirs.items():
        _fresh_first_call(cfg, f, folder)  # fills the cache
    warm = {f: partial(_fresh_first_call, cfg, f, warm_dirs[f]) for f in frameworks}
    return [
        Case(
            "first call, cold cache", "mlp step", cold, self_timed=True, repeats=repeats, note=note
        ),
        Case(
            "first call, warm cache", "mlp step", warm, self_timed=True, repeats=repeats, note=note
        ),
    ]


def byte_compile_tcomp() -> None:
    """Writes tcomp's ``.pyc`` files, as ``pip install`` would (see :func:`first_call`)."""
    import compileall

    import tcomp.backends
    import tcomp.frontend
    import tcomp.ir

    for package in (tcomp, tcomp.ir, tcomp.frontend, tcomp.backends):
        compileall.compile_dir(os.path.dirname(package.__file__), quiet=2)


def _fresh_first_call(cfg: Config, framework: str, cache_dir: str | None) -> float:
    """Runs ``bench.first_call`` in a new Python process and returns its first-call seconds."""
    args = ["bench.first_call", framework, "--backend", cfg.backend]
    return fresh_first_call_seconds(
        args + (["--quick"] if cfg.quick else []), cache_dir, f"first call ({framework})"
    )


def fresh_first_call_seconds(module_args: list[str], cache_dir: str | None, what: str) -> float:
    """Runs ``python -m MODULE ARGS...`` in a new process and returns the ``first_call_s`` it prints.

    ``TCOMP_CACHE_DIR`` is ``cache_dir``, or a new empty folder (removed
    afterwards) when None; the module prints JSON with ``first_call_s`` as
    its last line.
    """
    with tempfile.TemporaryDirectory(prefix="tcomp-bench-cold-") as cold_dir:
        env = dict(os.environ, TCOMP_CACHE_DIR=cache_dir or cold_dir)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        done = subprocess.run(
            [sys.executable, "-m", *module_args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if done.returncode != 0:
        raise BenchError(f"{what}: the fresh process failed:\n{done.stderr}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["first_call_s"])


def _models(cfg: Config) -> list[Case]:
    """Whole train steps of five public models (``bench/models/``), imported only when asked for."""
    from bench.models.workload import models

    return models(cfg)


WORKLOADS: dict[str, Callable[[Config], list[Case]]] = {
    "gelu": gelu,
    "matmul": matmul,
    "softmax": softmax,
    "sum": sums,
    "mlp": mlp_step,
    "first_call": first_call,
    "models": _models,
}


def host_leaves(result: Any) -> list[np.ndarray]:
    """The arrays of a result (nested tuples, lists and dicts) as host numpy arrays."""
    if isinstance(result, dict):
        return [leaf for key in sorted(result) for leaf in host_leaves(result[key])]
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in host_leaves(item)]
    if hasattr(result, "detach"):  # a torch tensor
        result = result.detach().numpy()
    return [np.asarray(result)]


def check(case: Case) -> None:
    """Compares each framework's result with the reference's (numpy's unless the case names
    another); raises :class:`BenchError` on a mismatch."""
    if case.self_timed:
        return
    calls = case.results or case.runs
    reference = case.reference
    want = host_leaves(calls[reference]())
    for framework, call in calls.items():
        if framework == reference:
            continue
        got = host_leaves(call())
        if len(got) != len(want):
            raise BenchError(
                f"{case.name}: {framework} returned {len(got)} arrays, {reference} {len(want)}"
            )
        for g, w in zip(got, want):
            if g.shape != w.shape or not np.allclose(g, w, rtol=case.rtol, atol=case.atol):
                diff = np.max(np.abs(g.astype(np.float64) - w)) if g.shape == w.shape else "n/a"
                raise BenchError(
                    f"{case.name}: the {framework} result differs from {reference}'s "
                    f"(shapes {g.shape} vs {w.shape}, max abs diff {diff}, "
                    f"rtol {case.rtol}, atol {case.atol:.3g})"
                )
