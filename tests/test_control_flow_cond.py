"""``tcomp.cond``, ``tcomp.switch`` and ``tcomp.while_loop``: values and gradients equal
the Python branch or loop; mismatched branches and ``grad`` of a while loop are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp.ir.errors import TcompTypeError
from tcomp.ir.text import parse_function, print_function


def _tolerance(backend: str) -> dict:
    return {"rtol": 1e-5, "atol": 1e-6} if backend == "opencl" else {"rtol": 1e-12}


def _branchy(x, p):
    return tcomp.cond(p > 0, lambda x: tcomp.sin(x) * 2.0, lambda x: x * x, x)


@pytest.mark.parametrize("p", [1.0, -1.0])
def test_cond_values_and_gradients(backend, p):
    x = np.array([0.3, -1.2], np.float32 if backend == "opencl" else np.float64)
    value = tcomp.jit(_branchy, backend=backend)(x, p)
    grad = tcomp.jit(tcomp.grad(lambda x, p: tcomp.sum(_branchy(x, p))), backend=backend)(x, p)
    want, want_grad = (np.sin(x) * 2, np.cos(x) * 2) if p > 0 else (x * x, 2 * x)
    np.testing.assert_allclose(np.asarray(value), want, **_tolerance(backend))
    np.testing.assert_allclose(np.asarray(grad), want_grad, **_tolerance(backend))


def test_switch_clamps_the_index_and_closes_over_values(backend):
    x = np.array([0.5, -2.0], np.float32)
    w = np.array([1.0, 2.0], np.float32)
    branches = [lambda x: x + w, lambda x: x * w, lambda x: -x]
    f = tcomp.jit(lambda x, i: tcomp.switch(i, branches, x), backend=backend)
    for index in (-3, 0, 1, 2, 7):
        want = [x + w, x * w, -x][min(max(index, 0), 2)]
        np.testing.assert_allclose(np.asarray(f(x, np.int32(index))), want, rtol=1e-6)


def test_branches_of_different_types_are_an_error():
    f = tcomp.jit(lambda x: tcomp.cond(x.sum() > 0, lambda x: x, lambda x: x[:1], x))
    with pytest.raises(TcompTypeError, match=r"branch 1 returns .*f64\[2\].*branch 0 returns .*f64\[1\]"):
        f(np.ones(2))


def test_cond_text_round_trips():
    text = print_function(tcomp.jit(_branchy).lower(np.ones(2), 1.0).function("optimized"))
    assert "switch(" in text and "regions {" in text
    assert print_function(parse_function(text)) == text


def _collatz_steps(n):
    def cond(carry):
        value, _ = carry
        return value != 1

    def body(carry):
        value, steps = carry
        odd = value % 2 == 1
        return tcomp.where(odd, 3 * value + 1, value // 2), steps + 1

    return tcomp.while_loop(cond, body, (n, tcomp.zeros((), dtype="int32")))


def test_while_loop_matches_python_loop():
    value, steps = tcomp.jit(_collatz_steps, backend="reference")(np.int32(27))
    n, count = 27, 0
    while n != 1:
        n, count = (3 * n + 1 if n % 2 else n // 2), count + 1
    assert int(np.asarray(value)) == 1 and int(np.asarray(steps)) == count


def test_while_loop_under_grad_says_to_use_scan():
    def loss(x):
        return tcomp.while_loop(lambda v: v.sum() < 10.0, lambda v: v * 2.0, x).sum()

    with pytest.raises(TcompTypeError, match="use tcomp.scan or tcomp.fori_loop"):
        tcomp.jit(tcomp.grad(loss), backend="reference")(np.ones(2))


def test_while_loop_runs_on_llvm_too():  # more in test_control_flow_while.py
    value, steps = tcomp.jit(_collatz_steps, backend="llvm")(np.int32(6))
    assert int(np.asarray(value)) == 1 and int(np.asarray(steps)) == 8  # 6 3 10 5 16 8 4 2 1
