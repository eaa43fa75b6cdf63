"""``tcomp.debug.print`` and ``tcomp.debug.callback``: run-time values, once per call, in order."""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp.errors import TcompArgumentError, TcompTracerError


def loss_with_prints(w, x):
    h = tcomp.tanh(x @ w)
    tcomp.debug.print("sum {s:.4f}", s=tcomp.sum(h))
    out = tcomp.mean(h * h)
    tcomp.debug.print("{} then {name}", out, name="mean")
    return out


def numpy_loss(w, x):
    h = np.tanh(x.astype(np.float64) @ w)
    return h.sum(), (h * h).mean()


W = np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2)
X1 = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
X2 = X1 * -3


def printed_numbers(out: str) -> list[tuple[float, float]]:
    lines = out.splitlines()
    assert len(lines) % 2 == 0, out
    pairs = []
    for first, second in zip(lines[::2], lines[1::2]):
        assert first.startswith("sum ") and second.endswith(" then mean"), out
        pairs.append((float(first[4:]), float(second.split()[0])))
    return pairs


def test_prints_run_time_values_once_per_call_in_order(backend, capsys):
    fn = tcomp.jit(loss_with_prints, backend=backend)
    assert capsys.readouterr().out == ""
    results = [float(np.asarray(fn(W, x))) for x in (X1, X2, X1)]
    pairs = printed_numbers(capsys.readouterr().out)
    assert len(pairs) == 3 and fn.trace_count == 1
    for (total, mean), x, result in zip(pairs, (X1, X2, X1), results):
        want_total, want_mean = numpy_loss(W, x)
        assert total == pytest.approx(want_total, abs=1e-4)
        assert mean == pytest.approx(want_mean, rel=1e-5)
        assert result == pytest.approx(want_mean, rel=1e-5)


def test_print_inside_grad_prints_the_forward_values(backend, capsys):
    step = tcomp.jit(tcomp.value_and_grad(loss_with_prints), backend=backend)
    for x in (X1, X2):
        value, grad = step(W, x)
        assert grad.shape == W.shape
    pairs = printed_numbers(capsys.readouterr().out)
    assert len(pairs) == 2
    for (total, mean), x in zip(pairs, (X1, X2)):
        assert (total, mean) == pytest.approx(numpy_loss(W, x), rel=1e-4)
    # no gradient flows through a print: the same gradient as without the prints
    plain = tcomp.jit(tcomp.grad(lambda w, x: tcomp.mean(tcomp.tanh(x @ w) ** 2)), backend=backend)
    np.testing.assert_allclose(np.asarray(step(W, X1)[1]), np.asarray(plain(W, X1)), rtol=1e-6)
    capsys.readouterr()


def test_callback_gets_numpy_values_in_program_order(backend):
    seen = []

    @tcomp.jit(backend=backend)
    def f(x):
        tcomp.debug.callback(lambda a: seen.append(("first", a.copy())), x * 2)
        y = x + 1
        tcomp.debug.print("between {}", y[0])
        tcomp.debug.callback(lambda a, b, scale: seen.append(("second", a + b * scale)),
                             y, x, scale=10)
        return y

    x = np.array([1.0, 2.0], np.float32)
    result = f(x)
    np.testing.assert_array_equal(np.asarray(result), [2.0, 3.0])
    assert [name for name, _ in seen] == ["first", "second"]
    assert isinstance(seen[0][1], np.ndarray)
    np.testing.assert_array_equal(seen[0][1], [2.0, 4.0])
    np.testing.assert_array_equal(seen[1][1], [12.0, 23.0])


def test_hidden_outputs_are_not_returned_and_jit_inside_jit_prints(capsys):
    @tcomp.jit(backend="llvm")
    def inner(x):
        tcomp.debug.print("inner {}", x)
        return x * 2

    @tcomp.jit(backend="llvm")
    def outer(x):
        return {"y": inner(x) + 1}

    out = outer(np.array([1.0, 2.0], np.float32))
    assert list(out) == ["y"]
    np.testing.assert_array_equal(np.asarray(out["y"]), [3.0, 5.0])
    assert capsys.readouterr().out == "inner [1. 2.]\n"


def test_eager_prints_at_once(capsys):
    tcomp.debug.print("now {x} {n}", x=tcomp.sum(np.ones(3, np.float32)), n="text")
    assert capsys.readouterr().out == "now 3.0 text\n"
    got = []
    tcomp.debug.callback(got.append, np.float32(2.5))
    assert got == [2.5]


def test_print_and_check_finite_together(capsys):
    def f(x):
        tcomp.debug.print("x {}", x)
        return tcomp.log(x) * 2

    fn = tcomp.jit(f, backend="llvm", check_finite=True)
    with pytest.raises(tcomp.TcompFloatingPointError):
        fn(np.array([1.0, -1.0], np.float32))
    assert capsys.readouterr().out == "x [ 1. -1.]\n"  # printed before the check raised


def test_bad_format_fails_at_the_users_line():
    def f(x):
        tcomp.debug.print("{missing}", x=x)  # BAD FORMAT
        return x

    with pytest.raises(TcompArgumentError, match="no argument 'missing'") as caught:
        tcomp.jit(f)(np.ones(2, np.float32))
    assert "test_debug_print.py" in str(caught.value)
    with pytest.raises(TypeError, match="format must be a str"):
        tcomp.debug.print(3)


def test_print_where_values_cannot_come_back():
    from tcomp.frontend.trace import new_trace

    with new_trace("loop_body") as trace:  # a trace nobody collects effects of
        x = trace.new_param(tcomp.jit(lambda a: a).lower(np.ones(2, np.float32))
                            .function().params[0].type)
        with pytest.raises(TcompTracerError, match="inside loop_body"):
            tcomp.debug.print("{}", x)
