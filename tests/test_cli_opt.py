"""``tcomp opt``: graph and kernel pipelines over IR text, their listing and errors."""

from __future__ import annotations

import io
import re
import sys

import pytest
from cli_helpers import FIXTURES, assert_one_line_error, in_fixtures, run  # noqa: F401 (autouse fixture)

SMALL_OPTIMIZED = """\
func @f(%0: f32[4]) -> (f32[4]) {
  %4: f32[4] = add(%0, %0)
  return %4
}
"""


def test_opt_file_default_pipeline_and_named_passes(capsys):
    assert run(capsys, "opt", "small.tir") == (0, SMALL_OPTIMIZED, "")
    assert run(capsys, "opt", "small.tir", "-p", "simplify,cse,dce")[1] == SMALL_OPTIMIZED
    code, out, _ = run(capsys, "opt", "small.tir", "-p", "dce")
    assert code == 0 and "exp" not in out and out.count("mul(") == 2
    code, out, _ = run(capsys, "opt", "small.tir", "-p", "cse")
    assert code == 0 and "exp(" in out and out.count("mul(") == 1


def test_opt_reads_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO((FIXTURES / "small.tir").read_text()))
    assert run(capsys, "opt", "-", "-p", "simplify,cse,dce") == (0, SMALL_OPTIMIZED, "")


def test_opt_list_passes(capsys):
    code, out, _ = run(capsys, "opt", "--list-passes")
    lines = out.splitlines()
    names = [line.split()[0] for line in lines if line.startswith("  ")]
    assert code == 0 and names[:4] == ["simplify", "cse", "dce", "fuse"]
    assert re.match(r"  cse +Merges identical nodes", lines[2])


def test_opt_parse_error_names_line_and_column(capsys, monkeypatch):
    text = "func @f(%0: f32[4]) -> (f32[4]) {\n  %1: f32[4] = exp(%0\n  return %1\n}\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, out, err = run(capsys, "opt", "-")
    assert out == ""
    assert_one_line_error(code, err, "tcomp opt: error: <stdin>: line 2, column ")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["opt", "missing.tir"], "missing.tir: no such file"),
        (["opt", "small.tir", "-p", "simplify,fold"], "unknown pass 'fold'"),
        (["opt"], "--list-passes"),
    ],
)
def test_opt_errors(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, fragment)


def test_opt_list_passes_shows_both_levels_and_the_pipelines(capsys):
    from tcomp.ir.kernel.passes import KERNEL_PASSES, LLVM_PIPELINE

    code, out, _ = run(capsys, "opt", "--list-passes")
    lines = out.splitlines()
    headers = [line for line in lines if not line.startswith("  ")]
    assert code == 0 and [h.split()[0] for h in headers] == ["graph", "kernel", "backend", "kernel"]
    rows = {line.split()[0]: line.split(None, 1)[1] for line in lines if line.startswith("  ")}
    for name in ["simplify", "cse", "dce", "fuse", *KERNEL_PASSES]:
        assert len(rows[name]) > 20 and rows[name].endswith("."), name
    assert rows["reuse-reduction-terms"].startswith("Stores a reduction's terms")
    assert rows["llvm"] == ",".join(LLVM_PIPELINE)
    assert rows["gpu"].startswith("fuse,") and "split-reductions{parts=1024}" in rows["gpu"]
    assert rows["map-gpu-opencl"].startswith("map-gpu for OpenCL") and "map-gpu-cuda" in rows


def test_opt_runs_a_graph_then_a_kernel_pipeline(capsys):
    code, out, err = run(capsys, "opt", "small.tir", "-p", "simplify,cse,dce,fuse")
    assert (code, err) == (0, "") and out.startswith("program @f(")
    assert run(capsys, "opt", "small.tir", "-p",
               "simplify,cse,dce,fuse,schedule-contractions,split-reductions,plan-memory,"
               "reuse-reduction-terms,split-regions,schedule-cpu") == (0, out, "")  # fuse alone: llvm's
    code, only_fused, _ = run(capsys, "opt", "small.tir", "-p", "fuse,reuse-reduction-terms")
    assert code == 0 and only_fused.startswith("program @f(") and "exp(" not in only_fused
    code, split, _ = run(capsys, "opt", "small.tir", "-p",
                         "simplify,fuse,split-reductions{parts=4}, plan-memory")
    assert code == 0 and split.startswith("program @f(")


@pytest.mark.parametrize(
    ("passes", "fragment"),
    [
        ("simplify,plan-memory", "kernel pass 'plan-memory' works on kernel IR: put it after fuse"),
        ("fuse,cse", "graph pass 'cse' works on graph IR: put it before fuse"),
        ("fuse,plan-memory,fuse", "fuse is named twice"),
        ("fuse,tile", "unknown pass 'tile': graph passes are simplify, cse, dce; kernel passes "
                      "are fuse, flatten-contractions, split-contractions, schedule-contractions"),
        ("fuse,split-reductions{chunks=4}", "split-reductions takes no option 'chunks'"),
        ("cse{n=1},fuse", "graph pass 'cse' takes no options"),
        ("fuse{n=1}", "fuse takes no options"),
    ],
)
def test_opt_pipeline_errors(capsys, passes, fragment):
    code, out, err = run(capsys, "opt", "missing.tir", "-p", passes)  # checked before reading
    assert out == ""
    assert_one_line_error(code, err, fragment)


def test_opt_names_the_kernel_pass_that_broke_the_ir(capsys, monkeypatch):
    from tcomp.ir.kernel import passes

    def drop_stores(program):
        """Leaves the output unwritten (a broken pass)."""
        program.kernels = []
        return program

    monkeypatch.setitem(passes.KERNEL_PASSES, "drop-stores", drop_stores)
    code, out, err = run(capsys, "opt", "small.tir", "-p", "fuse,plan-memory,drop-stores")
    assert out == ""
    assert_one_line_error(code, err, "verify failed after pass 'drop-stores'")


