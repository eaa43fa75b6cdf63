"""The results: a markdown table, the environment it was measured in, and a speedup chart.

A speedup is the other framework's median time divided by tcomp's: above 1
tcomp is faster. The chart needs matplotlib; without it :func:`write_chart`
says so and writes nothing (the table carries every number anyway).
"""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.timing import Timing

BASELINES = ("numpy", "torch", "jax")


@dataclass
class Row:
    """One measured case: median timings per framework, plus what to derive from them."""

    name: str
    size: str
    timings: dict[str, Timing]
    unit: str = ""
    work: float = 0.0
    note: str = ""

    def speedup(self, baseline: str) -> float | None:
        """``baseline`` median / tcomp median, or None when the baseline was not run."""
        if baseline not in self.timings:
            return None
        return self.timings[baseline].median_s / self.timings["tcomp"].median_s

    def rate(self) -> str:
        """tcomp's throughput (``work`` per second) with its unit, or an empty string."""
        if not self.unit:
            return ""
        scale = 1e9  # GB/s and GFLOP/s
        return f"{self.work / self.timings['tcomp'].median_s / scale:.3g} {self.unit}"


@dataclass
class Report:
    """The rows of a run and the lines describing the run."""

    rows: list[Row]
    backend: str
    baselines: list[str]  # baselines that ran ("numpy" first)
    header: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def format_time(seconds: float) -> str:
    """Milliseconds with three significant digits (seconds from 1 s on)."""
    if seconds >= 1:
        return f"{seconds:.3g} s"
    return f"{seconds * 1e3:.3g} ms"


def format_table(report: Report) -> str:
    """The markdown table: times per framework, tcomp's rate, speedups against each baseline."""
    frameworks = ["tcomp", *report.baselines]
    columns = [
        "workload",
        "size",
        *frameworks,
        "tcomp rate",
        *(f"vs {b}" for b in report.baselines),
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in report.rows:
        cells = [row.name, row.size]
        cells += [
            format_time(row.timings[f].median_s) if f in row.timings else "-" for f in frameworks
        ]
        cells.append(row.rate())
        for baseline in report.baselines:
            ratio = row.speedup(baseline)
            cells.append("-" if ratio is None else f"{ratio:.3g}x")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment_lines(
    backend: str, repeats: int, warmup: int, versions: dict[str, str]
) -> list[str]:
    """Where and how the numbers were measured."""
    blas = _blas_name()
    lines = [
        f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
        f"Python {platform.python_version()}",
        f"tcomp backend: {backend}; numpy {np.__version__}" + (f" ({blas})" if blas else ""),
        "others: " + (", ".join(f"{k} {v}" for k, v in versions.items()) or "none"),
        f"timing: median of {repeats} calls after {warmup} warmup calls, frameworks in alternating blocks with a pause between (a BLAS pool must not spin into the next block)",
    ]
    if hasattr(os, "getloadavg"):
        lines.append(
            f"load average at the start: {os.getloadavg()[0]:.2f} (other work skews timings)"
        )
    if os.environ.get("OPENBLAS_CORETYPE"):
        lines.append("warning: OPENBLAS_CORETYPE is set, which can slow numpy's BLAS")
    return lines


def format_report(report: Report) -> str:
    """The whole markdown text: environment, table, notes."""
    parts = [
        "# tcomp benchmarks",
        "",
        *(f"- {line}" for line in report.header),
        "",
        format_table(report),
        "",
    ]
    notes = [
        "Times are medians. `vs X` is X's time divided by tcomp's: above 1, tcomp is faster.",
        "tcomp's inputs are `tcomp.Array` already on the backend (steady state: no host copy "
        "of the inputs per call); its results stay on the backend.",
        "Each framework's result is checked against numpy's (allclose) before timing.",
        *report.notes,
    ]
    parts += [f"- {note}" for note in notes]
    return "\n".join(parts) + "\n"


def write_chart(report: Report, path: Path) -> str:
    """Writes a bar chart of the speedups to ``path``; returns a line saying what happened."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install matplotlib for the PNG)"
    names = [row.name for row in report.rows]
    y = np.arange(len(names))
    height = 0.8 / max(len(report.baselines), 1)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    for i, baseline in enumerate(report.baselines):
        ratios = [row.speedup(baseline) or np.nan for row in report.rows]
        ax.barh(y + i * height, ratios, height, label=f"vs {baseline}")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y + height * (len(report.baselines) - 1) / 2, names)
    ax.invert_yaxis()
    ax.set_xlabel("speedup of tcomp (other's time / tcomp's time; > 1: tcomp faster)")
    ax.set_title(f"tcomp ({report.backend} backend) speedups")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"chart written to {path}"


def _blas_name() -> str:
    try:
        config = np.show_config(mode="dicts")  # numpy >= 1.26
        return str(config["Build Dependencies"]["blas"]["name"])
    except Exception:
        return ""
