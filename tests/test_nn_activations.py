"""``tcomp.nn`` activations (silu, softplus, log_sigmoid, leaky_relu, elu, hard_tanh, relu6)
against numpy references of PyTorch's formulas on every backend, in jit and eagerly, with
float64 gradient checks (tests/nn_checks.py), plus what the references alone would not
pin down: PyTorch's gradients at the kinks, stability at extreme inputs, and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nn_checks import Case, away_from, fixture_ok, run_forward, run_gradient, seeds, shapes

import tcomp
from tcomp import nn


@st.composite
def activation_cases(draw, name: str):
    shape, rng = draw(shapes(0, 3)), draw(seeds())
    kwargs: dict = {}
    kinks: tuple[float, ...] = (0.0,)
    if name == "softplus":
        kwargs = {
            "beta": draw(st.sampled_from([1.0, 0.5, 2.0])),
            "threshold": draw(st.sampled_from([20.0, 3.0, 1.0])),
        }
        kinks = (kwargs["threshold"] / kwargs["beta"],)  # where it switches to x
    elif name == "leaky_relu":
        kwargs = {"negative_slope": draw(st.sampled_from([0.01, 0.2, -0.5]))}
    elif name == "elu":
        kwargs = {"alpha": draw(st.sampled_from([1.0, 0.5, 2.0]))}
    elif name == "hard_tanh":
        low = draw(st.sampled_from([-1.0, -2.0, 0.5]))
        kwargs = {"min_val": low, "max_val": low + draw(st.sampled_from([0.5, 2.0]))}
        kinks = (kwargs["min_val"], kwargs["max_val"])
    elif name == "relu6":
        kinks = (0.0, 6.0)
    scale = 8.0 if name in ("relu6", "softplus") else 3.0
    return Case(name, (away_from(rng, shape, kinks, scale=scale),), kwargs)


NAMES = ["elu", "hard_tanh", "leaky_relu", "log_sigmoid", "relu6", "silu", "softplus"]
CASES = {name: activation_cases(name) for name in NAMES}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
@fixture_ok
@given(data=st.data())
def test_forward_jit(backend, name, dtype, data):
    run_forward(data.draw(CASES[name], label="case"), dtype, backend)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_forward_eager(name, dtype, data):
    run_forward(data.draw(CASES[name], label="case"), dtype, None)


@pytest.mark.parametrize("name", sorted(CASES))
@fixture_ok
@given(data=st.data())
def test_gradient(backend, name, data):
    run_gradient(data.draw(CASES[name], label="case"), backend, data.draw(seeds(), label="rng"))


# PyTorch's derivative at the kinks (torch.autograd of F.relu6, F.hardtanh, F.leaky_relu,
# F.elu, F.softplus, F.logsigmoid at these points).
KINK_GRADIENTS = {
    "relu6": (lambda x: nn.relu6(x), [0.0, 6.0, 3.0, -1.0, 7.0], [0.0, 0.0, 1.0, 0.0, 0.0]),
    "hard_tanh": (lambda x: nn.hard_tanh(x, -2.0, 0.5), [-2.0, 0.5, 0.0], [0.0, 0.0, 1.0]),
    "leaky_relu": (lambda x: nn.leaky_relu(x, 0.2), [0.0, -1.0, 1.0], [0.2, 0.2, 1.0]),
    "elu": (lambda x: nn.elu(x, 2.0), [0.0, 1.0], [2.0, 1.0]),
    "softplus": (lambda x: nn.softplus(x), [0.0], [0.5]),
    "log_sigmoid": (lambda x: nn.log_sigmoid(x), [0.0], [0.5]),
}


@pytest.mark.parametrize("name", sorted(KINK_GRADIENTS))
def test_gradient_at_kinks_is_pytorchs(backend, name):
    f, points, expected = KINK_GRADIENTS[name]
    x = np.array(points)
    grad = tcomp.jit(tcomp.grad(lambda x: tcomp.sum(f(x))), backend=backend)(x)
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-12)


def test_extreme_inputs_stay_finite(backend):
    """softplus, log_sigmoid and elu of huge inputs: no overflow, and no nan gradient."""
    x = np.array([-1000.0, -90.0, -30.0, 0.0, 30.0, 90.0, 1000.0], dtype=np.float32)
    for name, kwargs in (
        ("softplus", {"threshold": 1e9}),
        ("softplus", {}),
        ("log_sigmoid", {}),
        ("elu", {}),
        ("silu", {}),
    ):
        f = getattr(nn, name)
        value, grad = tcomp.jit(
            tcomp.value_and_grad(lambda x: tcomp.sum(f(x, **kwargs))), backend=backend
        )(x)
        out = np.asarray(tcomp.jit(lambda x: f(x, **kwargs), backend=backend)(x))
        assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad))), name
        from nn_reference import elu, log_sigmoid, silu, softplus

        want = {"softplus": softplus, "log_sigmoid": log_sigmoid, "elu": elu, "silu": silu}[name]
        np.testing.assert_allclose(out, want(x, **kwargs), rtol=1e-6, atol=1e-30, err_msg=name)


@pytest.mark.parametrize("name", NAMES)
def test_integer_inputs_give_float32(name):
    x = np.array([[3, -1, 0, 7]], dtype=np.int32)
    result = getattr(nn, name)(x)
    assert result.dtype == np.float32
    np.testing.assert_allclose(
        np.asarray(result), np.asarray(getattr(nn, name)(x.astype(np.float32)))
    )


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: nn.softplus(np.ones(2), beta=0), ValueError, "softplus: beta must be positive"),
        (lambda: nn.softplus(np.ones(2), beta="1"), TypeError, "softplus: beta must be a number"),
        (lambda: nn.leaky_relu(np.ones(2), None), TypeError, "leaky_relu: negative_slope"),
        (
            lambda: nn.hard_tanh(np.ones(2), 1.0, -1.0),
            ValueError,
            "hard_tanh: max_val must be >= 1.0",
        ),
        (lambda: nn.elu(np.ones(2), alpha=np.ones(2)), TypeError, "elu: alpha must be a number"),
    ],
)
def test_bad_arguments(call, error, words):
    with pytest.raises(error, match=words) as info:
        call()
    assert isinstance(info.value, tcomp.TcompError)
