"""``python -m bench`` (or ``tcomp bench``): time tcomp against numpy, PyTorch and JAX.

Run from the repository root. Prints a markdown table; ``--write`` also
writes ``bench/RESULTS.md`` and ``bench/speedups.png`` (the chart needs
matplotlib). Progress goes to stderr, the table to stdout. Exit status 1
when a framework computes a wrong result or a fresh process fails.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from pathlib import Path
from typing import Any, Sequence, TextIO

from bench.report import Report, Row, environment_lines, format_report, write_chart
from bench.timing import measure_all
from bench.workloads import WORKLOADS, BenchError, Config, check

BENCH_DIR = Path(__file__).resolve().parent


def build_parser(prog: str = "python -m bench") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Time tcomp against numpy, PyTorch and JAX."
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options, shared with ``tcomp bench``."""
    parser.add_argument("--backend", default=None, help="tcomp backend (default: tcomp's default)")
    parser.add_argument(
        "--only", default=None, help=f"comma-separated workloads out of {', '.join(WORKLOADS)}"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, few repeats (smoke test)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed calls per measurement (default 10, 3 with --quick)",
    )
    parser.add_argument(
        "--write", action="store_true", help="also write RESULTS.md and speedups.png into --out"
    )
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR, help="folder for --write (default: bench/)"
    )


def load_frameworks() -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """PyTorch and JAX when importable: modules, versions, and notes for the missing ones."""
    modules, versions, notes = {}, {}, []
    for name in ("torch", "jax"):
        try:
            module = importlib.import_module(name)
        except Exception as error:  # not installed, or a broken install
            reason = "is not installed" if isinstance(error, ImportError) else f"failed ({error})"
            notes.append(f"{name} {reason} here: its columns are skipped")
            continue
        modules[name], versions[name] = module, getattr(module, "__version__", "?")
    return modules, versions, notes


def run(args: argparse.Namespace, progress: TextIO = sys.stderr) -> Report:
    """Builds, checks and times the selected workloads."""
    import tcomp

    backend = args.backend or tcomp.default_backend_name()
    if backend not in tcomp.available_backends():
        raise BenchError(
            f"backend {backend!r} is not available here; "
            f"available: {', '.join(tcomp.available_backends())}"
        )
    names = args.only.split(",") if args.only else list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise BenchError(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    repeats = args.repeats or (3 if args.quick else 10)
    warmup = 1 if args.quick else 2
    modules, versions, notes = load_frameworks()
    config = Config(backend, args.quick, repeats, modules)
    rows = []
    for name in names:
        print(f"bench: {name} ...", file=progress, flush=True)
        for case in WORKLOADS[name](config):
            check(case)
            timings = measure_all(case.runs, case.repeats or repeats, warmup, case.self_timed)
            for framework in [f for f, t in timings.items() if math.isnan(t.median_s)]:
                del timings[framework]  # a self-timed call that reported a failure (NaN)
                notes.append(f"{case.name}: {framework} failed (see stderr); no time for it")
            rows.append(Row(case.name, case.size, timings, case.unit, case.work, case.note))
            if case.note:
                notes.append(f"{case.name}: {case.note}")
    notes.extend(config.notes)
    header = environment_lines(backend, repeats, warmup, versions)
    if args.quick:
        header.append("quick mode: small sizes, not representative")
    return Report(rows, backend, baselines(modules, rows), header, notes)


def baselines(modules: dict[str, Any], rows: list[Row]) -> list[str]:
    """The columns besides tcomp: numpy, the frameworks loaded, then any other a row timed
    (``torch.compile`` of the ``models`` workload, placed after ``torch``)."""
    names = ["numpy", *modules]
    for row in rows:
        for name in row.timings:
            if name not in names and name != "tcomp":
                after = name.split(".")[0]
                names.insert(names.index(after) + 1 if after in names else len(names), name)
    return names


def main(argv: Sequence[str] | None = None, prog: str = "python -m bench") -> int:
    args = build_parser(prog).parse_args(argv)
    return run_and_print(args)


def kept_sections(text: str) -> str:
    """The ``## `` sections of an existing RESULTS.md (recorded elsewhere, such as the GPU
    table from ``python -m bench.gpu``): ``--write`` keeps them after the new table."""
    at = text.find("\n## ")
    return "" if at < 0 else "\n" + text[at + 1 :]


def run_and_print(args: argparse.Namespace) -> int:
    """Runs, prints the report, and writes it with ``--write``; returns the exit status."""
    from tcomp.errors import TcompError

    try:
        report = run(args)
    except (BenchError, TcompError) as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 1
    text = format_report(report)
    print(text)
    if args.write:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / "RESULTS.md"
        kept = kept_sections(path.read_text()) if path.exists() else ""
        path.write_text(text + kept)
        print(f"bench: table written to {args.out / 'RESULTS.md'}", file=sys.stderr)
        print("bench: " + write_chart(report, args.out / "speedups.png"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
