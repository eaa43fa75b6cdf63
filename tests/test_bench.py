"""The benchmark runner (``bench/``) in ``--quick`` mode on the reference backend, in-process.

Checks the table's rows and that every speedup is a positive number, that
``tcomp bench`` reaches the same runner, that ``--write`` writes the table,
and that a wrong result stops the run before anything is timed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.__main__ import main  # noqa: E402
from bench.workloads import BenchError, Case, check  # noqa: E402
from tcomp.backends.registry import KNOWN_BACKENDS, available_backends  # noqa: E402
from tcomp.cli import main as tcomp_main  # noqa: E402


def table_rows(text: str) -> dict[str, dict[str, str]]:
    """The markdown table's data rows as {workload: {column: cell}}."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells))
    return rows


def speedups(row: dict[str, str]) -> list[float]:
    return [float(cell.rstrip("x")) for column, cell in row.items() if column.startswith("vs ")]


def test_quick_run_reports_each_row_with_positive_speedups(capsys):
    args = ["--quick", "--backend", "reference", "--only", "gelu,sum", "--repeats", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert list(rows) == ["gelu", "sum", "row sums"]
    for name, row in rows.items():
        assert "vs numpy" in row, name
        ratios = speedups(row)
        assert ratios and all(np.isfinite(r) and r > 0 for r in ratios), (name, ratios)
        assert row["tcomp rate"].endswith("GB/s")
    assert "tcomp backend: reference" in out
    assert "`tcomp.Array` already on the backend" in out


def test_tcomp_bench_subcommand_writes_results(tmp_path, capsys):
    args = ["bench", "--quick", "--only", "sum", "--repeats", "1", "--write", "--out", str(tmp_path)]
    assert tcomp_main(args) == 0
    written = (tmp_path / "RESULTS.md").read_text()
    assert list(table_rows(written)) == ["sum", "row sums"]
    assert "| sum |" in capsys.readouterr().out


def test_writing_results_keeps_sections_recorded_elsewhere(tmp_path, capsys):
    (tmp_path / "RESULTS.md").write_text("# old table\n\n## GPU (bench/gpu.py)\n| kept |\n")
    args = ["bench", "--quick", "--only", "sum", "--repeats", "1", "--write", "--out", str(tmp_path)]
    assert tcomp_main(args) == 0
    written = (tmp_path / "RESULTS.md").read_text()
    assert "# old table" not in written and written.endswith("\n## GPU (bench/gpu.py)\n| kept |\n")


def test_unknown_workload_and_backend_fail_clearly(capsys):
    assert main(["--quick", "--only", "nope"]) == 1
    assert "unknown workload(s) nope" in capsys.readouterr().err
    missing = [name for name in KNOWN_BACKENDS if name not in available_backends()]
    if not missing:
        pytest.skip("every backend is available on this machine: none to be missing")
    assert main(["--quick", "--only", "sum", "--backend", missing[-1]]) == 1
    assert f"backend '{missing[-1]}' is not available here" in capsys.readouterr().err


def test_a_wrong_result_stops_the_run():
    x = np.arange(4, dtype=np.float32)
    case = Case("double", "4", {"tcomp": lambda: x * 2 + 1e-3, "numpy": lambda: x * 2})
    with pytest.raises(BenchError, match="double: the tcomp result differs from numpy's"):
        check(case)
    check(Case("double", "4", {"tcomp": lambda: x * 2, "numpy": lambda: x * 2}))


def test_models_quick_run_checks_and_times_every_model(capsys):
    from bench.models import MODEL_NAMES

    args = ["--quick", "--backend", "reference", "--only", "models", "--repeats", "1"]
    assert main(args) == 0
    rows = table_rows(capsys.readouterr().out)
    for name in MODEL_NAMES:
        assert rows[f"{name} train step"]["tcomp"].endswith("ms"), name
    # --quick times the fresh processes of one model only (a smoke test of them)
    assert rows["mlp first call, cold cache"]["tcomp"].endswith(("ms", "s"))
    assert rows["mlp first call, warm cache"]["tcomp"].endswith(("ms", "s"))


def test_model_module_runs_alone(capsys):
    from bench.models import rnn
    from bench.models.standalone import main as model_main

    model_main(rnn.MODEL, ["--quick", "--backends", "reference", "--calls", "1"])
    out = capsys.readouterr().out
    assert "loss and gradients agree across reference" in out
    assert "reference  train step" in out


def test_a_failed_fresh_process_leaves_its_cell_empty(monkeypatch, capsys):
    from bench.workloads import WORKLOADS

    runs = {"tcomp": lambda: 0.5, "numpy": lambda: 0.25, "torch.compile": lambda: float("nan")}
    case = Case("first call", "x", runs, self_timed=True, repeats=1)
    monkeypatch.setitem(WORKLOADS, "fake", lambda cfg: [case])
    assert main(["--quick", "--backend", "reference", "--only", "fake"]) == 0
    out = capsys.readouterr().out
    assert table_rows(out)["first call"]["vs numpy"] == "0.5x"
    assert "first call: torch.compile failed (see stderr); no time for it" in out
