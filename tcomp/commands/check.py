"""``tcomp check FILE.py:FUNC``: run a function on every backend and compare with ``reference``.

Each backend runs ``tcomp.jit(FUNC, backend=NAME)`` on the same example
arguments; every output leaf is compared with the reference backend's within
a tolerance set by its dtype (NaNs must sit where the reference has NaNs).
``--grad`` adds a second section for ``tcomp.grad(FUNC)`` (w.r.t. the first
argument). A backend that fails to compile or run is a FAIL row with the
error's first line; the other backends still run. The output has no timings,
so it is the same from run to run.

Exit status: 0 when every backend matches, 1 when one does not, 2 for usage
errors (including a function that fails on the reference backend).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any, Callable

import ml_dtypes
import numpy as np

from tcomp.commands import CliError, subparser
from tcomp.commands.inspect_fn import (
    DTYPES,
    as_jit,
    example_args,
    grad_jit,
    load_callable,
    require_scalar_loss,
)

REFERENCE = "reference"
HEADER = ("backend", "outputs", "max abs err", "max rel err", "tolerance", "result")
_SHORT_DTYPES = {np.dtype(dtype).name: short for short, dtype in DTYPES.items()}
BFLOAT16 = np.dtype(ml_dtypes.bfloat16)


@dataclass(frozen=True)
class Tolerance:
    """``|out - ref| <= atol + rtol * |ref|`` per element; ``exact``: equality."""

    rtol: float
    atol: float
    exact: bool = False


EXACT = Tolerance(0.0, 0.0, exact=True)


@dataclass(frozen=True)
class Output:
    """One output leaf of one backend, as a host array, with its pytree path."""

    path: str
    value: np.ndarray


@dataclass
class Row:
    """One backend's line of the table."""

    backend: str
    outputs: int | None = None
    max_abs: float = 0.0
    max_rel: float = 0.0
    tolerance: str = "-"
    failures: list[str] | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and not self.failures

    def cells(self) -> tuple[str, ...]:
        if self.error is not None:
            return (self.backend, "-", "-", "-", "-", f"FAIL  {self.error}")
        result = "PASS" if self.passed else "FAIL  " + "; ".join(self.failures or [])
        return (
            self.backend, str(self.outputs), f"{self.max_abs:.2e}", f"{self.max_rel:.2e}",
            self.tolerance, result,
        )


# ---------------------------------------------------------------------------- tolerances


def is_float_dtype(dtype: np.dtype) -> bool:
    """numpy's floats and ml_dtypes' bfloat16 (whose kind is ``V``)."""
    return dtype.kind == "f" or dtype == BFLOAT16


def tolerance_for(dtype: np.dtype) -> Tolerance:
    """float64: rtol 1e-9 atol 1e-12; float32: 1e-4, 1e-5; float16: 1e-2, 1e-3;
    bfloat16 (8 significant bits): 2e-2, 1e-2; else exact."""
    if dtype == BFLOAT16:
        return Tolerance(2e-2, 1e-2)
    if dtype.kind != "f":
        return EXACT
    if dtype.itemsize >= 8:
        return Tolerance(1e-9, 1e-12)
    if dtype.itemsize >= 4:
        return Tolerance(1e-4, 1e-5)
    return Tolerance(1e-2, 1e-3)


def dtype_name(dtype: np.dtype) -> str:
    """``f32``, ``i32``, ``bool`` ... (numpy's name for the others)."""
    return _SHORT_DTYPES.get(dtype.name, dtype.name)


def describe_tolerances(reference: list[Output]) -> str:
    """The tolerance of each distinct output dtype, e.g. ``f32 rtol=1e-04 atol=1e-05``."""
    parts: list[str] = []
    for dtype in sorted({output.value.dtype for output in reference}, key=lambda d: d.name):
        tol = tolerance_for(dtype)
        rule = "exact" if tol.exact else f"rtol={tol.rtol:.0e} atol={tol.atol:.0e}"
        parts.append(f"{dtype_name(dtype)} {rule}")
    return ", ".join(parts) or "-"


# ---------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class LeafResult:
    """The errors of one output leaf and, when it fails, why."""

    max_abs: float
    max_rel: float
    failure: str | None


def _errors(out: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per element: |out - ref| (0 where equal, NaN-for-NaN included; inf where only one
    side is NaN) and the same over |ref| (0 where ref is 0)."""
    a, r = out.astype(np.float64), ref.astype(np.float64)
    same = (a == r) | (np.isnan(a) & np.isnan(r))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(same, 0.0, np.abs(a - r))
    diff = np.where(np.isnan(diff), np.inf, diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(r != 0, diff / np.abs(r), 0.0)
    return diff, np.where(np.isnan(rel), np.inf, rel)


def compare_leaf(out: np.ndarray, ref: np.ndarray, path: str) -> LeafResult:
    """Compares one output with the reference's at the tolerance of the reference's dtype."""
    if out.dtype != ref.dtype:
        return LeafResult(np.inf, np.inf, f"{path}: dtype {out.dtype} != reference {ref.dtype}")
    if out.shape != ref.shape:
        return LeafResult(np.inf, np.inf, f"{path}: shape {out.shape} != reference {ref.shape}")
    diff, rel = _errors(out, ref)
    max_abs = float(diff.max(initial=0.0))
    max_rel = float(rel.max(initial=0.0))
    tol = tolerance_for(ref.dtype)
    if is_float_dtype(ref.dtype):
        nan_mismatch = int(np.count_nonzero(np.isnan(out.astype(np.float32))
                                            != np.isnan(ref.astype(np.float32))))
        if nan_mismatch:
            return LeafResult(max_abs, max_rel, f"{path}: NaN positions differ at {nan_mismatch} of {ref.size}")
        bad = diff > tol.atol + tol.rtol * np.abs(ref.astype(np.float64))
    else:
        bad = diff != 0
    count = int(np.count_nonzero(bad))
    failure = f"{path}: {count} of {ref.size} values outside tolerance" if count else None
    return LeafResult(max_abs, max_rel, failure)


def compare(backend: str, outputs: list[Output], reference: list[Output]) -> Row:
    """The table row of ``backend``: its outputs against the reference backend's."""
    row = Row(backend, outputs=len(outputs), tolerance=describe_tolerances(reference), failures=[])
    if [o.path for o in outputs] != [r.path for r in reference]:
        row.failures = [f"outputs {[o.path for o in outputs]} != reference {[r.path for r in reference]}"]
        return row
    for out, ref in zip(outputs, reference):
        leaf = compare_leaf(out.value, ref.value, out.path)
        row.max_abs = max(row.max_abs, leaf.max_abs)
        row.max_rel = max(row.max_rel, leaf.max_rel)
        if leaf.failure is not None:
            row.failures.append(leaf.failure)
    return row


# ---------------------------------------------------------------------------- running


def first_line(error: BaseException) -> str:
    """``TypeName: first line of the message``."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _copy_leaf(leaf: Any) -> Any:
    return leaf.copy() if isinstance(leaf, np.ndarray) else leaf


def run_on(make: Callable[[str], Any], backend: str, positional: tuple, keywords: dict) -> list[Output]:
    """Runs ``make(backend)`` (a JitFunction) on copies of the arguments; the outputs on the host."""
    from tcomp.frontend.pytree import leaf_paths, tree_flatten, tree_map

    fn = make(backend)
    result = fn(*tree_map(_copy_leaf, positional), **tree_map(_copy_leaf, keywords))
    leaves, tree = tree_flatten(result)
    return [Output("out" + path, np.asarray(leaf)) for leaf, path in zip(leaves, leaf_paths(tree))]


def check_section(
    make: Callable[[str], Any], backends: list[str], positional: tuple, keywords: dict
) -> tuple[list[Output], list[Row]]:
    """The reference outputs (errors propagate: nothing to compare with) and one row per backend."""
    reference = run_on(make, REFERENCE, positional, keywords)
    rows = []
    for backend in backends:
        try:
            outputs = run_on(make, backend, positional, keywords)
        except Exception as error:  # a backend's failure is a FAIL row, not the end
            rows.append(Row(backend, error=first_line(error)))
            continue
        rows.append(compare(backend, outputs, reference))
    return reference, rows


def format_table(rows: list[Row]) -> str:
    """Columns padded to their widest cell (numbers right-aligned); the last one free."""
    table = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER) - 1)]
    numeric = {1, 2, 3}
    lines = []
    for line in table:
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths))
        ]
        lines.append("  ".join([*cells, line[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def format_section(title: str, reference: list[Output], rows: list[Row]) -> str:
    count = len(reference)
    heading = f"{title}: against the reference backend ({count} output{'s' if count != 1 else ''})"
    return heading + "\n" + format_table(rows)


# ---------------------------------------------------------------------------- arguments


def select_backends(text: str | None) -> list[str]:
    """``--backends a,b`` (each available here), or every available backend but reference."""
    from tcomp.backends.registry import available_backends, check_backend_name

    available = available_backends()
    if REFERENCE not in available:
        raise CliError("the reference backend is not available here; nothing to compare with")
    if text is None:
        chosen = [name for name in available if name != REFERENCE]
    else:
        chosen = [name.strip() for name in text.split(",") if name.strip()]
        for name in chosen:
            check_backend_name(name)
            if name.split(":", 1)[0] not in available:
                raise CliError(
                    f"--backends: {name!r} is not available here (available: "
                    f"{', '.join(available)}; `tcomp backends` says why)"
                )
        if len(set(chosen)) != len(chosen):
            raise CliError(f"--backends {text!r}: a backend is named twice")
    if not chosen:
        raise CliError(
            f"no backend to compare with the reference (available here: {', '.join(available)})"
        )
    return chosen


def random_like(value: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seeded values of ``value``'s shape and dtype: floats ~ N(0, 1), ints in [0, 8), bools."""
    if is_float_dtype(value.dtype):
        return rng.standard_normal(value.shape).astype(value.dtype)
    if value.dtype.kind == "b":
        return rng.random(value.shape) < 0.5
    return rng.integers(0, 8, value.shape).astype(value.dtype)


def check_arguments(fn: Any, args: argparse.Namespace) -> tuple[tuple, dict]:
    """``--args`` as MAKE_ARGS returns them (given ``seed`` when it takes one), or the
    ``--arg`` specs filled with seeded random values (zeros would hide most errors)."""
    if not args.args and not args.arg:
        raise CliError("give the example arguments: --args FILE.py:MAKE_ARGS or --arg NAME=f32[2,3]")
    positional, keywords = example_args(fn, args, seed=args.seed)
    if args.args:
        return positional, keywords
    rng = np.random.default_rng(0 if args.seed is None else args.seed)
    return positional, {name: random_like(value, rng) for name, value in keywords.items()}


# ---------------------------------------------------------------------------- command


def run(args: argparse.Namespace) -> int:
    backends = select_backends(args.backends)
    _, _, name = args.target.rpartition(":")
    value = load_callable(args.target, "target")
    forward = as_jit(value, name, REFERENCE)
    positional, keywords = check_arguments(forward, args)
    sections: list[tuple[str, Callable[[str], Any]]] = [
        ("forward", lambda backend: as_jit(value, name, backend)),
    ]
    if args.grad:
        require_scalar_loss(forward, positional, keywords, "--grad")
        sections.append(("grad", lambda backend: grad_jit(value, name, backend)))
    failed: list[str] = []
    texts = []
    for title, make in sections:
        reference, rows = check_section(make, backends, positional, keywords)
        texts.append(format_section(title, reference, rows))
        failed += [f"{row.backend} ({title})" for row in rows if not row.passed]
    sys.stdout.write("\n".join(texts))
    if failed:
        print(f"\nFAIL: {', '.join(failed)}")
        return 1
    print(f"\nPASS: {', '.join(backends)} match the reference")
    return 0


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparser(
        commands, common, "check",
        "run a function on every backend and compare its outputs with the reference backend's",
        "tcomp check model.py:loss --args model.py:make_args --grad\n"
        "  tcomp check model.py:predict --arg x=f32[2,3] --arg w=f32[3,5] --backends llvm",
    )
    parser.epilog += (
        "\n\ntolerance per element, |out - ref| <= atol + rtol * |ref|, by dtype: f64 rtol 1e-9\n"
        "atol 1e-12; f32 rtol 1e-4 atol 1e-5; f16 rtol 1e-2 atol 1e-3; ints and bools exact;\n"
        "NaNs must sit where the reference has NaNs. max rel err is over nonzero reference values.\n"
        "exit status: 0 all match, 1 a backend fails (or errors), 2 usage error."
    )
    parser.add_argument("target", metavar="FILE.py:FUNC", help="the function to check")
    parser.add_argument(
        "--args", metavar="FILE.py:MAKE_ARGS",
        help="a function returning the example arguments as a tuple (pytrees allowed); "
        "given --seed N when it has a seed parameter",
    )
    parser.add_argument(
        "--arg", action="append", metavar="NAME=DTYPE[SHAPE]",
        help="a flat argument of seeded random values (floats ~ N(0,1), ints in [0,8)), "
        f"e.g. x=f32[2,3] (dtypes: {' '.join(DTYPES)})",
    )
    parser.add_argument(
        "--grad", action="store_true",
        help="also check tcomp.grad(FUNC), the gradient w.r.t. the first argument "
        "(FUNC must return a float scalar)",
    )
    parser.add_argument(
        "--backends", metavar="A,B",
        help="the backends to compare (default: every available one but reference)",
    )
    parser.add_argument(
        "--seed", type=int, default=None,
        help="seed of the --arg values (default 0), passed to MAKE_ARGS if it takes seed",
    )
    parser.set_defaults(run=run)
