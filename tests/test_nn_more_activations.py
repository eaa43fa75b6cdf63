"""``tcomp.nn`` activations of frontend/nn_more_activations.py (celu, selu, hardsigmoid,
hardswish, mish, softsign, quick_gelu, softmin and the PyTorch spellings swish, logsigmoid,
hardtanh) against numpy references of PyTorch's formulas (tests/nn_more_reference.py) on
every backend, in jit and eagerly, with float64 gradient checks (tests/nn_checks.py); plus
PyTorch's gradients at the kinks, extreme inputs and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st
from nn_checks import away_from, case_tests, error_test, seeds, shapes
from nn_more_reference import MoreCase

import tcomp
from tcomp import nn
from tcomp.errors import TcompArgumentError, TcompShapeError, TcompTypeError

KINKS = {"hardsigmoid": (-3.0, 3.0), "hardswish": (-3.0, 3.0), "hardtanh": (-1.0, 1.0)}
ALIASES = {"swish": "silu", "logsigmoid": "log_sigmoid", "hardtanh": "hard_tanh"}


@st.composite
def activation_cases(draw, name: str):
    shape, rng = draw(shapes(0, 3)), draw(seeds())
    kwargs: dict = {}
    if name == "celu":
        kwargs = {"alpha": draw(st.sampled_from([1.0, 0.5, 2.0, -1.5]))}
    if name == "softmin":
        shape = shape or (3,)
        kwargs = {"axis": draw(st.integers(-len(shape), len(shape) - 1))}
    x = away_from(rng, shape, KINKS.get(name, (0.0,)), scale=5.0)
    return MoreCase(name, (x,), kwargs, reference_name=ALIASES.get(name))


NAMES = [
    "celu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "logsigmoid",
    "mish",
    "quick_gelu",
    "selu",
    "softmin",
    "softsign",
    "swish",
]
CASES = {name: activation_cases(name) for name in NAMES}

test_forward_jit, test_forward_eager, test_gradient = case_tests(CASES)


# torch.autograd's derivative of each at these points
KINK_GRADIENTS = {
    "hardsigmoid": (nn.hardsigmoid, [-3.0, 3.0, 0.0, -4.0, 4.0], [0.0, 0.0, 1 / 6, 0.0, 0.0]),
    "hardswish": (nn.hardswish, [-3.0, 3.0, 0.0, -4.0, 4.0], [-0.5, 1.5, 0.5, 0.0, 1.0]),
    "hardtanh": (nn.hardtanh, [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
    "celu": (lambda x: nn.celu(x, 2.0), [0.0], [1.0]),
    "selu": (nn.selu, [0.0], [1.6732632423543772 * 1.0507009873554805]),
    "softsign": (nn.softsign, [0.0], [1.0]),
}


@pytest.mark.parametrize("name", sorted(KINK_GRADIENTS))
def test_gradient_at_kinks_is_pytorchs(backend, name):
    f, points, expected = KINK_GRADIENTS[name]
    grad = tcomp.jit(tcomp.grad(lambda x: tcomp.sum(f(x))), backend=backend)(np.array(points))
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-12)


def test_aliases_are_the_same_functions():
    assert nn.swish is nn.silu and nn.logsigmoid is nn.log_sigmoid and nn.hardtanh is nn.hard_tanh


def test_extreme_inputs_stay_finite(backend):
    x = np.array([-1000.0, -90.0, -30.0, 0.0, 30.0, 90.0, 1000.0], dtype=np.float32)
    import nn_more_reference as ref

    for name in ("celu", "selu", "mish", "softsign", "quick_gelu", "hardswish"):
        f = getattr(nn, name)
        value, grad = tcomp.jit(tcomp.value_and_grad(lambda x: tcomp.sum(f(x))), backend=backend)(x)
        out = np.asarray(tcomp.jit(f, backend=backend)(x))
        assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad))), name
        with np.errstate(over="ignore"):
            want = getattr(ref, name)(x)
        if name == "mish":  # the reference's log1p(exp(x)) overflows at 1000
            want = np.where(x > 50, x.astype(np.float64), want)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-30, err_msg=name)


def test_softmin_of_a_row_of_large_values_does_not_overflow(backend):
    x = np.array([[1000.0, 1001.0, -1000.0]], dtype=np.float32)
    out = np.asarray(tcomp.jit(nn.softmin, backend=backend)(x))
    np.testing.assert_allclose(out, [[0.0, 0.0, 1.0]], atol=1e-30)


@pytest.mark.parametrize("name", NAMES)
def test_integer_inputs_give_float32(name):
    x = np.array([[3, -1, 0, 7]], dtype=np.int32)
    result = getattr(nn, name)(x)
    assert result.dtype == np.float32
    np.testing.assert_allclose(
        np.asarray(result), np.asarray(getattr(nn, name)(x.astype(np.float32)))
    )


ERRORS = {
    "celu-zero-alpha": (
        TcompArgumentError,
        "celu: alpha must not be 0",
        lambda: nn.celu(np.ones(2), 0.0),
    ),
    "celu-array-alpha": (
        TcompTypeError,
        "celu: alpha must be a number",
        lambda: nn.celu(np.ones(2), np.ones(2)),
    ),
    "softmin-axis": (
        TcompShapeError,
        "softmin: axis 2 is out of range",
        lambda: nn.softmin(np.ones((2, 2)), 2),
    ),
}
test_errors = error_test(ERRORS, "test_nn_more_activations.py")
