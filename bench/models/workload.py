"""The ``models`` workload of ``python -m bench``: whole train steps of the ported models.

Per model three rows: ``<model> train step`` (median ms per step, the state
fed back into the next call, all frameworks in one process) and
``<model> first call, cold cache`` / ``warm cache`` (fresh processes, as the
``first_call`` workload does for the MLP; torch.compile's cold first call is
its compile). Columns: tcomp on the chosen backend, PyTorch eager,
torch.compile and ``jax.jit``, each when importable. Before timing, each
framework's loss and gradients at the initial state, and the losses of its
first two steps, are compared with PyTorch eager's (JAX's without PyTorch).

torch.compile is optional: where it fails (no C++ compiler, an unsupported
op) its cells stay empty and a note says why; the run goes on. With
``--quick`` the sizes are small, torch.compile is left out (its compiles
take tens of seconds each) and only the ``mlp`` model gets first-call rows,
for tcomp only: a smoke test of the fresh processes, not a measurement.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import sys
import tempfile
from typing import Any, Callable

import numpy as np

from bench.models import MODEL_NAMES, frameworks, load
from bench.models.spec import CHECK_TOLERANCE, Model
from bench.workloads import BenchError, Case, Config, byte_compile_tcomp, fresh_first_call_seconds

QUICK_FIRST_CALL_MODEL = "mlp"
RTOL, ATOL = CHECK_TOLERANCE


def models(cfg: Config) -> list[Case]:
    """The rows of every model: train step, then the first calls."""
    byte_compile_tcomp()
    cases = []
    for name in MODEL_NAMES:
        model = load(name)
        step_case, ran = train_step_case(cfg, model)
        cases.append(step_case)
        if not cfg.quick or name == QUICK_FIRST_CALL_MODEL:
            cases.extend(first_call_cases(cfg, model, ["tcomp"] if cfg.quick else ran))
    others = [n for f, n in (("torch", "PyTorch eager's"), ("jax", "JAX's")) if f in cfg.frameworks]
    cfg.notes.append(
        f"models: before timing, each framework's loss and gradients at the initial state and "
        f"the losses of its first two steps are checked against "
        f"{others[0] if others else 'nothing (tcomp alone)'} (rtol {RTOL:g}, atol {ATOL:g}"
        f"{_own_tolerances()}); "
        f"first calls (trace + compile + run) are medians of {_first_call_repeats(cfg)} fresh "
        f"processes, with empty (cold) or filled (warm) caches: tcomp's, JAX's persistent "
        f"cache, torch.compile's Inductor cache"
    )
    if cfg.quick:
        cfg.notes.append(
            f"models in --quick: torch.compile left out (its compiles take tens of seconds); "
            f"first-call rows for {QUICK_FIRST_CALL_MODEL} and tcomp only"
        )
    return cases


def _wanted(cfg: Config) -> list[str]:
    """The frameworks to run: tcomp, and the others loaded (torch.compile not in --quick)."""
    wanted = ["tcomp"]
    if "torch" in cfg.frameworks:
        wanted += ["torch"] if cfg.quick else ["torch", "torch.compile"]
    if "jax" in cfg.frameworks:
        wanted.append("jax")
    return wanted


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


def train_step_case(cfg: Config, model: Model) -> tuple[Case, list[str]]:
    """The ``train step`` row of ``model``, and the frameworks that run it."""
    notes = []
    state, batch = model.init(np.random.default_rng(0), cfg.quick)
    steps: dict[str, tuple[frameworks.TrainStep, Any, tuple]] = {}
    for framework in _wanted(cfg):
        try:
            train = frameworks.build(model, framework, cfg.backend)
            args = (train.convert(state), train.convert(batch))
            if framework == "torch.compile":  # compile now: a failure leaves the column empty
                frameworks.first_steps(train, *args)
        except Exception as error:
            if framework != "torch.compile":
                raise
            notes.append(f"torch.compile failed ({_first_line(error)}): no torch.compile cells")
            continue
        steps[framework] = (train, *args)
    reference = next(f for f in ("torch", "jax", "tcomp") if f in steps)
    results = {f: _first_steps(*entry) for f, entry in steps.items()}
    runs = {f: _runner(*entry) for f, entry in steps.items()}
    note = f"{model.ports}; ms per step, state fed back"
    rtol, atol = model.check_tolerance
    case = Case(
        f"{model.name} train step",
        model.describe(cfg.quick),
        runs,
        results=results,
        rtol=rtol,
        atol=atol,
        reference=reference,
        note="; ".join([note, *notes]),
    )
    return case, list(steps)


def _own_tolerances() -> str:
    """``; NAME rtol R, atol A`` for each model that declares its own check tolerance
    (its module says why)."""
    own = [(name, load(name).tolerance) for name in MODEL_NAMES]
    return "".join(f"; {name} rtol {tol[0]:g}, atol {tol[1]:g} (see its module)"
                   for name, tol in own if tol is not None)


def _runner(train: frameworks.TrainStep, state: Any, batch: tuple) -> Callable[[], Any]:
    """A zero-argument call running one step, each fed the state of the one before."""
    current = {"state": state}

    def run() -> Any:
        loss, current["state"] = train(current["state"], *batch)
        return loss

    return run


def _first_steps(train: frameworks.TrainStep, state: Any, batch: tuple) -> Callable[[], Any]:
    return lambda: frameworks.first_steps(train, state, batch)


def _first_call_repeats(cfg: Config) -> int:
    return 1 if cfg.quick else min(cfg.repeats, 3)


def first_call_cases(cfg: Config, model: Model, wanted: list[str]) -> list[Case]:
    """The cold and warm first-call rows of ``model`` for the frameworks ``wanted``."""
    parent = tempfile.mkdtemp(prefix=f"tcomp-bench-{model.name}-")
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    calls = {f: FreshFirstCalls(cfg, model, f, os.path.join(parent, f)) for f in wanted}
    return [
        Case(
            f"{model.name} first call, {kind} cache",
            model.describe(cfg.quick),
            {f: getattr(c, kind) for f, c in calls.items()},
            self_timed=True,
            repeats=_first_call_repeats(cfg),
        )
        for kind in ("cold", "warm")
    ]


class FreshFirstCalls:
    """First calls of one model in one framework, each in a fresh process (``bench.models.first_call``).

    :meth:`cold` starts each process with a new empty cache folder and keeps
    the last one it filled; :meth:`warm` starts with that folder (filling
    one first if no cold call ran). A torch.compile process that fails gives
    NaN (the runner leaves its cell empty, with a note) instead of stopping
    the run; a failure of any other framework raises :class:`BenchError`.
    """

    def __init__(self, cfg: Config, model: Model, framework: str, folder: str) -> None:
        self.cfg, self.model, self.framework, self.folder = cfg, model, framework, folder
        self.filled: str | None = None
        self.failed = False
        self.count = 0

    def cold(self) -> float:
        self.count += 1
        folder = f"{self.folder}-{self.count}"
        seconds = self._run(folder)
        if self.filled is not None:
            shutil.rmtree(self.filled, ignore_errors=True)
        self.filled = folder
        return seconds

    def warm(self) -> float:
        if self.filled is None:
            self.cold()
        return self._run(self.filled)

    def _run(self, cache_dir: str) -> float:
        if self.failed:
            return math.nan
        os.makedirs(cache_dir, exist_ok=True)
        args = ["bench.models.first_call", self.model.name, self.framework]
        args += ["--backend", self.cfg.backend] + (["--quick"] if self.cfg.quick else [])
        what = f"{self.model.name} first call ({self.framework})"
        try:
            return fresh_first_call_seconds(args, cache_dir, what)
        except BenchError as error:
            if self.framework != "torch.compile":
                raise
            print(f"bench: {error}", file=sys.stderr, flush=True)
            self.failed = True
            return math.nan
