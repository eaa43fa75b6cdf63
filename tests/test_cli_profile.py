"""``tcomp inspect --memory`` and ``--trace OUT.json`` on the fixtures' model."""

from __future__ import annotations

import pytest
from cli_helpers import assert_one_line_error, in_fixtures, run  # noqa: F401
from trace_checks import check_trace, containing, spans

LOSS = ["inspect", "model.py:loss", "--args", "model.py:make_args"]
RELU_LINE = 11  # h = nn.relu(x @ params["w1"] + params["b1"]) in cli_fixtures/model.py


def test_memory_of_the_gradient_lists_the_residuals(capsys):
    code, out, err = run(capsys, *LOSS, "--stage", "grad", "--memory")
    assert code == 0 and err == ""
    ir, memory = out.split("\nmemory of ", 1)
    assert ir.startswith("func @grad_loss(")
    assert memory.startswith("grad_loss on llvm (one call)")
    assert "residuals saved by the forward pass for the backward pass" in memory
    rows = [line.split() for line in memory.splitlines() if line.startswith("  %")]
    assert rows and all(row[-1].startswith("model.py:") for row in rows)
    assert f"model.py:{RELU_LINE}" in {row[-1] for row in rows}  # the first layer's output
    sizes = [int(row[3]) for row in rows]
    assert sizes == sorted(sizes, reverse=True)


def test_memory_on_another_stage_and_backend(capsys):
    code, out, _ = run(capsys, *LOSS, "--memory", "--backend", "reference")
    assert code == 0
    assert "memory of loss on reference" in out and "no memory plan" in out
    assert "residuals: none" in out


def test_trace_writes_one_call(capsys, tmp_path):
    path = tmp_path / "loss.json"
    code, out, err = run(capsys, *LOSS, "--trace", str(path))
    assert code == 0 and out.startswith("func @loss(")
    assert f"trace: wrote {path}" in err and "ui.perfetto.dev" in err
    data = check_trace(path.read_text())
    (call,) = spans(data, "call")
    assert call["args"]["function"] == "loss" and call["args"]["backend"] == "llvm"
    kernels = spans(data, "kernel")
    assert kernels and all(containing(k, [call]) for k in kernels)


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        ([*LOSS, "--memory", "--format", "json"], ["--memory prints a table"]),
        ([*LOSS, "--trace", "no/such/folder/t.json"], ["--trace", "does not exist"]),
    ],
)
def test_memory_and_trace_errors(capsys, argv, fragments):
    code, out, err = run(capsys, *argv)
    assert out == ""
    assert_one_line_error(code, err, "tcomp inspect: error: ", *fragments)
