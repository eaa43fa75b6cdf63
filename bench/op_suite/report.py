"""The tally and the table of non-passing tests, as text and as JSON."""

from __future__ import annotations

import collections
import json
from dataclasses import asdict
from typing import Any

from bench.op_suite.classify import OUTCOMES
from bench.op_suite.runner import Result


def tally(results: list[Result]) -> dict[str, int]:
    counts = collections.Counter(r.kind for r in results)
    return {kind: counts.get(kind, 0) for kind in OUTCOMES}


def pass_rate(counts: dict[str, int]) -> float:
    """Passing tests over runnable ones (all but skipped and unsupported)."""
    runnable = sum(counts.values()) - counts["skip"] - counts["unsupported"]
    return counts["pass"] / runnable if runnable else 0.0


def missing_features(results: list[Result]) -> list[tuple[str, int]]:
    """tcomp features the unsupported tests lack, by how many tests each blocks."""
    counts = collections.Counter(r.reason for r in results if r.kind == "unsupported")
    return counts.most_common()


def as_text(results: list[Result], backend: str) -> str:
    counts = tally(results)
    lines = [
        f"backend {backend}: {len(results)} tests; "
        + ", ".join(f"{counts[k]} {k}" for k in OUTCOMES)
        + f"; runnable pass rate {pass_rate(counts):.1%}",
        "",
    ]
    shown = [r for r in results if r.kind not in ("pass", "skip", "unsupported")]
    if shown:
        width = max(len(r.test) for r in shown)
        lines.append("not passing (fail, differs, refused, crash, error, timeout):")
        for r in sorted(shown, key=lambda r: (OUTCOMES.index(r.kind), r.test)):
            lines.append(f"  {r.kind:8} {r.test:{width}}  {r.reason}")
        lines.append("")
    stood_in = [r for r in results if r.kind == "pass" and r.reason]
    if stood_in:
        lines.append(
            f"passing with tcomp's error in place of torch's exception class for bad input "
            f"({len(stood_in)}):"
        )
        lines.extend(f"  {r.test}  {r.reason}" for r in sorted(stood_in, key=lambda r: r.test))
        lines.append("")
    missing = missing_features(results)
    if missing:
        lines.append("unsupported (tcomp lacks), by tests blocked:")
        lines.extend(f"  {n:3d}  {feature}" for feature, n in missing)
    return "\n".join(lines)


def as_json(results: list[Result], backend: str, suite: str) -> dict[str, Any]:
    counts = tally(results)
    return {
        "backend": backend,
        "suite": suite,
        "tally": counts,
        "runnable_pass_rate": pass_rate(counts),
        "passes_with_tcomp_error_standing_in": sum(
            1 for r in results if r.kind == "pass" and r.reason
        ),
        "missing_features": dict(missing_features(results)),
        "tests": [asdict(r) for r in results],
    }


def write_json(path: str, results: list[Result], backend: str, suite: str) -> None:
    with open(path, "w") as f:
        json.dump(as_json(results, backend, suite), f, indent=1)
