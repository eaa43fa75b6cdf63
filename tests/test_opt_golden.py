"""Golden tests of ``tcomp opt``, in the style of LLVM's lit, and a check of the README.

Each ``tests/opt_golden/NAME.tir`` is a graph-IR function whose first line is
the command to run, lit style::

    // RUN: tcomp opt %s -p simplify,cse,dce,fuse
    // One sentence saying what the reader should see in the output.

and ``NAME.expected`` beside it holds that command's exact stdout (``%s`` is
the .tir file). The tests run the command in-process through
``tcomp.cli.main`` and compare stdout with the .expected file exactly, so a
change in a pass shows as a readable diff of printed IR.

To accept new output after an intended change, rewrite the expected files
with the real command and read the diff before committing it::

    TCOMP_UPDATE_GOLDEN=1 python -m pytest tests/test_opt_golden.py

The last test runs the ``tcomp inspect`` command that README.md's "The
command line" section shows on the demo model, and checks that the README's
``--stats`` table has the same header and the same kernel rows (names and op
counts), so the README cannot silently drift from the compiler.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from tcomp.cli import main

GOLDEN = Path(__file__).parent / "opt_golden"
REPO = Path(__file__).parent.parent
README = REPO / "README.md"
UPDATE_ENV = "TCOMP_UPDATE_GOLDEN"
RUN_PREFIX = "// RUN: tcomp opt %s"
INSPECT_DEMO = [
    "inspect", "tcomp/demo.py:loss_fn", "--args", "tcomp/demo.py:example_args",
    "--stage", "kernels", "--stats",
]

CASES = sorted(GOLDEN.glob("*.tir"))


def run_options(path: Path) -> list[str]:
    """The options of ``path``'s ``// RUN: tcomp opt %s OPTIONS`` first line."""
    lines = path.read_text().splitlines()
    first = lines[0] if lines else ""
    if not first.startswith(RUN_PREFIX):
        raise AssertionError(f"{path.name}: the first line must start with {RUN_PREFIX!r}")
    return shlex.split(first[len(RUN_PREFIX):])


def run_opt(capsys: pytest.CaptureFixture, path: Path) -> str:
    """Stdout of ``tcomp opt PATH OPTIONS``; fails on a non-zero exit or any stderr."""
    code = main(["opt", str(path), *run_options(path)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), f"{path.name}: tcomp opt failed: {err}"
    return out


def test_the_golden_folder_is_complete() -> None:
    """Every .tir has a RUN line, a sentence for the reader and a .expected; no orphans."""
    assert len(CASES) >= 9
    for path in CASES:
        lines = path.read_text().splitlines()
        run_options(path)
        assert len(lines) > 1 and lines[1].startswith("// ") and len(lines[1]) > 10, (
            f"{path.name}: the second line should say, in one sentence, what to look for"
        )
        assert path.with_suffix(".expected").is_file(), f"{path.name} has no .expected file"
    orphans = {p.stem for p in GOLDEN.glob("*.expected")} - {p.stem for p in CASES}
    assert not orphans, f"expected files without a .tir: {sorted(orphans)}"


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_opt_golden(capsys: pytest.CaptureFixture, path: Path) -> None:
    out = run_opt(capsys, path)
    expected = path.with_suffix(".expected")
    if os.environ.get(UPDATE_ENV, "") not in ("", "0"):
        expected.write_text(out)
        return
    assert out == expected.read_text(), (
        f"{path.name}: output differs from {expected.name} "
        f"(if the change is intended: {UPDATE_ENV}=1 python -m pytest {Path(__file__).name})"
    )


def test_fuse_prints_the_kernels_inspect_shows(
    capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    """``opt -p simplify,cse,dce,fuse`` on a traced function's IR prints the same kernel
    program as the llvm backend's kernels stage of that function."""
    import numpy as np

    import tcomp

    def softmax(x):
        e = tcomp.exp(x - tcomp.max(x, axis=-1, keepdims=True))
        return e / tcomp.sum(e, axis=-1, keepdims=True)

    try:
        lowered = tcomp.jit(softmax, backend="llvm").lower(np.zeros((4, 8), np.float32))
        kernels = lowered.as_text("kernels")
    except tcomp.TcompError as error:  # no llvmlite here
        pytest.skip(f"the llvm backend is not available: {error}")
    source = tmp_path / "softmax.tir"
    source.write_text(lowered.as_text("traced", locations=False))
    code = main(["opt", str(source), "-p", "simplify,cse,dce,fuse"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out == kernels


def test_graph_passes_come_before_fuse(capsys: pytest.CaptureFixture) -> None:
    path = GOLDEN / "fuse_elementwise_chain.tir"
    code = main(["opt", str(path), "-p", "simplify,fuse,dce"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert err.startswith("tcomp opt: error: graph pass 'dce' works on graph IR: put it before fuse")
    assert main(["opt", str(path), "-p", "fuse"]) == 0  # alone, on the unoptimised graph
    assert capsys.readouterr().out.startswith("program @chain(")


def test_list_passes_shows_both_levels(capsys: pytest.CaptureFixture) -> None:
    from tcomp.ir.kernel.passes import KERNEL_PASSES

    assert main(["opt", "--list-passes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines if line.startswith("  ")]
    assert names[:4] == ["simplify", "cse", "dce", "fuse"]
    assert names[4:4 + len(KERNEL_PASSES)] == list(KERNEL_PASSES)
    fuse = next(line for line in lines if line.split()[0] == "fuse")
    assert "kernel IR" in fuse


# ------------------------------------------------------------------------- README


def stats_table(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The ``--stats`` table in ``text``: its header line and ``(kernel, ops)`` per kernel row."""
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if re.match(r"kernel\s+ops\s", line)]
    assert headers, "no '--stats' table (a 'kernel  ops ...' header line) found"
    start = headers[0]
    rows = []
    for line in lines[start + 1:]:
        match = re.match(r"(k\d+)\s+(\d+)\s", line)
        if not match:
            break
        rows.append((match.group(1), match.group(2)))
    return lines[start].rstrip(), rows


def readme_demo_block() -> str:
    """The text block under the README line that runs ``INSPECT_DEMO``."""
    text = README.read_text()
    command = "tcomp " + " ".join(INSPECT_DEMO)
    assert command in text, f"README.md no longer shows {command!r}"
    after = text[text.index(command):]
    start = after.index("```text")
    return after[start:after.index("\n```\n", start)]


def test_readme_shows_the_real_inspect_output(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    code = main(INSPECT_DEMO)
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    header, rows = stats_table(out)
    readme_header, readme_rows = stats_table(readme_demo_block())
    assert (readme_header, readme_rows) == (header, rows), (
        "README.md's 'tcomp inspect tcomp/demo.py:loss_fn ...' output is out of date: "
        f"the command now prints\n{out}"
    )
    kernels = re.findall(r"^  kernel (k\d+)\(", out, flags=re.MULTILINE)
    assert [name for name, _ in rows] == kernels
