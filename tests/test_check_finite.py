"""``tcomp.jit(..., check_finite=True)``: a NaN or infinity named by op, line and pass.

The models below mark the lines the errors must name (``# LOG LINE``, ``# SQRT LINE``);
the tests find those line numbers in this file, so editing the file keeps them right.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import tcomp
from tcomp.errors import TcompError, TcompFloatingPointError, TcompNonFiniteError

SOURCE = Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    (line,) = [i + 1 for i, text in enumerate(SOURCE) if text.rstrip().endswith(f"# {marker}")]
    return line


def forward_loss(params, x):
    h = tcomp.tanh(x @ params["w1"] + params["b1"])
    z = tcomp.log(h - params["shift"])  # LOG LINE
    return tcomp.mean(z @ params["w2"])


def sqrt_loss(w, x):
    h = x @ w
    r = tcomp.sqrt(h * h)  # SQRT LINE
    return tcomp.mean(r)


def forward_params(shift: float) -> dict:
    rng = np.random.default_rng(0)
    return {
        "w1": rng.standard_normal((3, 4)).astype(np.float32),
        "b1": np.zeros(4, np.float32),
        "shift": np.float32(shift),  # -2: log's argument in (1, 3); 2: in (-3, -1), NaN
        "w2": rng.standard_normal((4, 2)).astype(np.float32),
    }


X = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
# The second column of x @ W is 0 in each row: sqrt(h * h) at 0, whose gradient is
# 0.5 / sqrt(0) = inf (times the chain rule's 2h = 0: NaN)
W = np.array([[1.0, 0.0], [0.5, 0.0], [0.0, 0.0]], np.float32)
XS = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], np.float32)


def test_error_classes():
    assert issubclass(TcompFloatingPointError, FloatingPointError)
    assert issubclass(TcompFloatingPointError, TcompError)
    assert issubclass(TcompFloatingPointError, TcompNonFiniteError)
    assert tcomp.TcompFloatingPointError is TcompFloatingPointError


def test_forward_nan_names_the_log_line(backend):
    step = tcomp.jit(tcomp.value_and_grad(forward_loss), backend=backend, check_finite=True)
    loss, grads = step(forward_params(-2.0), X)  # finite: runs as usual
    assert np.isfinite(np.asarray(loss))
    with pytest.raises(TcompFloatingPointError) as caught:
        step(forward_params(2.0), X)
    report = caught.value.report
    message = str(caught.value)
    line = f"test_check_finite.py:{line_of('LOG LINE')}"
    first = message.splitlines()[0]
    assert first.startswith("forward_loss: log at ")
    assert first.endswith(f"{line} (forward pass) produced NaN from finite inputs")
    assert report.kind == "op" and report.op == "log" and report.pass_name == "forward"
    assert report.location.endswith(line)
    (arg,) = report.inputs  # h - shift: all negative, finite
    assert arg.non_finite == 0 and arg.high < 0 and arg.type == "f32[5,4]"
    assert report.output.nan == 20 and report.output.type == "f32[5,4]"
    if backend == "reference":
        assert report.kernel is None
    else:
        assert report.kernel is not None and any("log" in op for op in report.fused_ops)
        assert re.search(rf"^  kernel +{report.kernel} \({backend}\)$", message, re.MULTILINE)


def test_backward_inf_names_the_sqrt_line(backend):
    gradient = tcomp.jit(tcomp.grad(sqrt_loss), backend=backend, check_finite=True)
    with pytest.raises(TcompFloatingPointError) as caught:
        gradient(W, XS)
    report = caught.value.report
    assert report.kind == "op" and report.pass_name == "backward"
    assert report.location.endswith(f"test_check_finite.py:{line_of('SQRT LINE')}")
    assert report.output.posinf > 0
    assert all(value.non_finite == 0 for value in report.inputs)
    assert "(backward pass)" in str(caught.value).splitlines()[0]
    # the forward pass alone is finite
    assert np.isfinite(np.asarray(tcomp.jit(sqrt_loss, backend=backend, check_finite=True)(W, XS)))


def test_checked_results_equal_unchecked_and_the_unchecked_program_is_untouched(backend):
    step = tcomp.value_and_grad(forward_loss)
    plain = tcomp.jit(step, backend=backend)
    checked = tcomp.jit(step, backend=backend, check_finite=True)
    params = forward_params(-2.0)
    expected = tcomp.tree_flatten(plain(params, X))[0]
    got = tcomp.tree_flatten(checked(params, X))[0]
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    plain_program = next(iter(plain._programs.values()))
    checked_program = next(iter(checked._programs.values()))
    assert plain_program.finite_check is None and not plain_program.options.check_finite
    assert len(plain_program.optimized.outputs) == len(plain_program.traced.outputs)
    assert len(checked_program.optimized.outputs) > len(plain_program.optimized.outputs)
    # the unchecked optimised graph is what the graph passes make of the traced one
    fresh = tcomp.jit(step, backend=backend, check_finite=False).lower(params, X)
    assert plain.lower(params, X).as_text("optimized") == fresh.as_text("optimized")


def test_non_finite_argument_is_named(backend):
    fn = tcomp.jit(forward_loss, backend=backend, check_finite=True)
    x = X.copy()
    x[2, 1] = np.nan
    with pytest.raises(TcompFloatingPointError) as caught:
        fn(forward_params(-2.0), x)
    report = caught.value.report
    assert report.kind == "argument" and report.argument == "x"
    assert "argument x already holds non-finite values (1 NaN of 15 elements)" in str(caught.value)


def test_a_non_finite_argument_that_no_kernel_writes_is_fine(backend):
    fn = tcomp.jit(lambda x: tcomp.where(tcomp.isnan(x), 0.0, x) * 2, backend=backend,
                   check_finite=True)
    x = np.array([1.0, np.nan, 3.0], np.float32)
    np.testing.assert_array_equal(np.asarray(fn(x)), [2.0, 0.0, 6.0])


def masked_log(x, y):
    a = tcomp.where(x > 0, tcomp.log(x), 0.0)  # log's NaN at x < 0 is dropped here
    return tcomp.sum(a / y)  # DIV LINE


def test_a_nan_that_a_select_drops_is_not_blamed(backend):
    fn = tcomp.jit(masked_log, backend=backend, check_finite=True)
    x = np.array([1.0, -1.0, 2.0], np.float32)
    assert np.isfinite(np.asarray(fn(x, np.ones(3, np.float32))))
    with pytest.raises(TcompFloatingPointError) as caught:
        fn(x, np.array([1.0, 1.0, 0.0], np.float32))
    report = caught.value.report
    assert (report.op, report.kind, report.output.posinf) == ("div", "op", 1)
    assert report.location.endswith(f"test_check_finite.py:{line_of('DIV LINE')}")


def test_a_kernel_whose_replay_stays_finite_is_named():
    from tcomp.frontend.finite_report import build_report

    fn = tcomp.jit(masked_log, backend="llvm", check_finite=True)
    x, y = np.array([1.0, 2.0], np.float32), np.ones(2, np.float32)
    fn(x, y)
    program = next(iter(fn._programs.values()))
    (value,) = program.finite_check.values
    # as if the compiled kernel had written a NaN that numpy's arithmetic does not make
    report = build_report(program, value, {value: np.array(np.nan, np.float32)}, [x, y])
    assert report.kind == "kernel" and report.op == "reduce_sum"
    assert report.headline().startswith(f"masked_log: kernel {report.kernel} wrote NaN into %")
    assert "replayed with numpy stay finite" in report.message()


def test_environment_switch_and_explicit_false(monkeypatch):
    monkeypatch.setenv("TCOMP_CHECK_FINITE", "1")
    with pytest.raises(TcompFloatingPointError, match="log at"):
        tcomp.jit(forward_loss, backend="reference")(forward_params(2.0), X)
    loss = tcomp.jit(forward_loss, backend="reference", check_finite=False)(forward_params(2.0), X)
    assert np.isnan(np.asarray(loss))
    monkeypatch.setenv("TCOMP_CHECK_FINITE", "0")
    assert np.isnan(np.asarray(tcomp.jit(forward_loss, backend="reference")(forward_params(2.0), X)))


@pytest.mark.parametrize("text, expected", [("", False), ("0", False), (" 0 ", False),
                                            ("1", True), ("yes", True)])
def test_check_finite_option_from_environment(monkeypatch, text, expected):
    from tcomp.backends.options import CompileOptions

    monkeypatch.setenv("TCOMP_CHECK_FINITE", text)
    assert CompileOptions.from_environment().check_finite is expected


def test_no_float_values_and_int_outputs():
    fn = tcomp.jit(lambda a: (a * 2, a > 1), backend="llvm", check_finite=True)
    doubled, bigger = fn(np.arange(4, dtype=np.int32))
    np.testing.assert_array_equal(np.asarray(doubled), [0, 2, 4, 6])
    np.testing.assert_array_equal(np.asarray(bigger), [False, False, True, True])


def test_cli_check_finite(capsys, tmp_path, monkeypatch):
    from tcomp.cli import main

    (tmp_path / "m.py").write_text(
        "import numpy as np\nimport tcomp\n\n"
        "def loss(w, x):\n    h = x @ w\n    return tcomp.mean(tcomp.sqrt(h * h))\n\n"
        "def make_args():\n"
        f"    return np.array({W.tolist()}, np.float32), np.array({XS.tolist()}, np.float32)\n"
    )
    monkeypatch.chdir(tmp_path)
    base = ["inspect", "m.py:loss", "--args", "m.py:make_args", "--check-finite",
            "--backend", "reference"]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert out.startswith("check-finite: loss on reference: no NaN or infinity")
    assert "out     float32[]" in out
    assert main([*base, "--stage", "grad"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("check-finite: grad_loss: div at m.py:6 (backward pass)")
    rows = dict(line.split(None, 1) for line in out.splitlines()[1:] if line.strip())
    assert rows["line"] == "m.py:6" and rows["pass"].startswith("backward")
    assert main([*base, "--stats"]) == 2
    assert "--check-finite" in capsys.readouterr().err
