"""``tcomp demo``: the default run and ``--optimizer {sgd,adam}`` (tcomp.optim's update)."""

from __future__ import annotations

import re

import pytest
from cli_helpers import in_fixtures, run  # noqa: F401

from tcomp.cli import main

pytest.importorskip("llvmlite")


def losses(out: str) -> list[float]:
    return [float(v) for v in re.findall(r"^step +\d+  loss (\S+)", out, re.M)]


def test_demo_default_is_the_hand_written_sgd_step(capsys):
    code, out, err = run(capsys, "demo", "--steps", "100", "--backend", "llvm")
    assert code == 0 and err == ""
    assert out.startswith("tcomp demo: MLP 2-64-3 on 300 spiral points, backend llvm\n")
    assert out.rstrip().endswith("traces: 1")


def test_demo_optimizer_sgd_takes_the_same_steps_as_the_default(capsys):
    default = run(capsys, "demo", "--steps", "100", "--backend", "llvm")[1]
    code, out, _ = run(capsys, "demo", "--steps", "100", "--backend", "llvm", "--optimizer", "sgd")
    assert code == 0
    assert "backend llvm, optimizer sgd (learning rate 0.5)" in out.splitlines()[0]
    assert losses(out) == losses(default) and len(losses(out)) == 2


def test_demo_optimizer_adam_trains_with_one_trace(capsys):
    code, out, _ = run(capsys, "demo", "--steps", "100", "--backend", "llvm", "--optimizer", "adam")
    assert code == 0
    assert "optimizer adam (learning rate 0.01)" in out.splitlines()[0]
    first, last = losses(out)
    assert last < first / 2, out  # 0.41 at step 50, 0.16 at step 100 when written
    final = re.search(r"^final: loss (\S+), accuracy (\S+), .* traces: 1$", out, re.M)
    assert final is not None and float(final.group(2)) > 0.9, out


def test_demo_rejects_an_unknown_optimizer(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--optimizer", "lbfgs"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'lbfgs'" in capsys.readouterr().err
