"""Gradients where the calculus leaves a choice: ``x ** y`` at a zero base or exponent
and at a negative base, ``nn.relu`` at 0, ``clip`` at its bounds.

The conventions (README, "Gradients at kinks and singular points"):

- ``d(x ** y)/dx = y * x ** (y - 1)``, but 0 wherever ``y == 0`` (``x ** 0`` is the
  constant 1, even at ``x == 0``, where the formula would give ``0 * inf``);
- ``d(x ** y)/dy = x ** y * log(x)``; at ``x == 0`` it is 0 for ``y >= 0`` (``0 ** y``
  is 0 for every ``y > 0``) and the formula's ``inf * -inf = -inf`` for ``y < 0`` (the
  limit from positive bases; PyTorch's value, +inf at ``-0.0`` and an odd integer ``y``
  as in PyTorch); for ``x < 0`` it is NaN (``x ** y`` is real only at integer ``y``), as
  in JAX and PyTorch;
- ``relu'(0) = 0`` (JAX's and PyTorch's choice);
- ``clip`` passes the gradient to ``x`` on the closed interval ``[a_min, a_max]``
  (PyTorch's choice), to ``a_min`` where ``x < a_min`` and to ``a_max`` where ``x > a_max``;
- ``maximum``/``minimum`` keep splitting a tie half and half (``test_primitive_gradients``).

Each is checked through ``tcomp.grad`` on every backend, first and second order, so no
NaN of an unselected branch leaks through a multiplication by zero.
"""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp import nn

F32 = np.float32
NAN = np.nan


def _grad(fn, backend, argnums=0):
    """``tcomp.grad(fn)`` jitted on ``backend``."""
    return tcomp.jit(tcomp.grad(fn, argnums=argnums), backend=backend)


def _values(result) -> np.ndarray:
    return np.asarray(result).astype(np.float64)


# ---------------------------------------------------------------------------
# power


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_of_x_to_the_zero_is_zero_everywhere(backend, dtype):
    x = np.array([0.0, -0.0, 1.0, -2.0, 3.5, np.inf], dtype)
    got = _grad(lambda a: (a**0.0).sum(), backend)(x)
    np.testing.assert_array_equal(_values(got), np.zeros(6))
    # a traced exponent of 0 too, and the gradient with respect to the base only
    got = _grad(lambda a, e: (a**e).sum(), backend)(x, np.zeros(6, dtype))
    np.testing.assert_array_equal(_values(got), np.zeros(6))


def test_gradient_with_respect_to_the_base(backend):
    x = np.array([0.0, 0.0, 0.0, -3.0, -3.0, 2.0, 0.0], F32)
    e = np.array([1.0, 2.0, 3.0, 2.0, 3.0, 0.5, -1.0], F32)
    got = _grad(lambda a, b: (a**b).sum(), backend)(x, e)
    # at 0 ** -1 (a pole) the formula stands: -1 * 0 ** -2 = -inf
    expected = [1.0, 0.0, 0.0, -6.0, 27.0, 0.5 / np.sqrt(2.0), -np.inf]
    np.testing.assert_allclose(_values(got), expected, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_of_zero_to_the_y(backend, dtype):
    """d(0 ** y)/dy: 0 for y > 0 (0 ** y = 0 around y) and at y == 0, -inf for y < 0
    (the limit of x ** y * log(x) as x -> 0+, and PyTorch's value), NaN for a NaN y."""
    y = np.array([0.5, 1.0, 2.0, 0.0, -1.0, -0.3, -2.0, NAN], dtype)
    expected = [0.0, 0.0, 0.0, 0.0, -np.inf, -np.inf, -np.inf, NAN]
    got = _grad(lambda b: (0.0**b).sum(), backend)(y)
    np.testing.assert_array_equal(_values(got), expected)
    # the same with an array base of zeros
    zeros = np.zeros(8, dtype)
    got = _grad(lambda a, b: (a**b).sum(), backend, argnums=1)(zeros, y)
    np.testing.assert_array_equal(_values(got), expected)
    # the cotangent multiplies the infinity: a negative one flips its sign
    got = _grad(lambda b: (-3.0 * 0.0**b).sum(), backend)(y)
    np.testing.assert_array_equal(_values(got), [0, 0, 0, 0, np.inf, np.inf, np.inf, NAN])


def test_gradient_at_a_negative_zero_base_is_the_formulas(backend):
    """At -0.0 and y < 0 the formula (-0.0) ** y * log(0): +inf where (-0.0) ** y = -inf
    (odd integer y), -inf elsewhere, as PyTorch; the base's gradient is y * x ** (y - 1)."""
    x = np.full(5, -0.0, F32)
    y = np.array([-1.0, -2.0, -0.3, 0.3, 2.0], F32)
    dx, dy = _grad(lambda a, b: (a**b).sum(), backend, argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(_values(dy), [np.inf, -np.inf, -np.inf, 0.0, 0.0])
    np.testing.assert_array_equal(_values(dx), [-np.inf, np.inf, -np.inf, np.inf, -0.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_with_respect_to_the_base_at_zero(backend, dtype):
    """d(x ** y)/dx at x == 0 is y * 0 ** (y - 1) except 0 at y == 0: PyTorch's values."""
    y = np.array([0.0, 0.3, -0.3, 1.0, 2.0, -1.0], dtype)
    got = _grad(lambda a, b: (a**b).sum(), backend)(np.zeros(6, dtype), y)
    np.testing.assert_array_equal(_values(got), [0.0, np.inf, -np.inf, 1.0, 0.0, -np.inf])


def test_gradient_with_respect_to_the_exponent_elsewhere(backend):
    """x ** y * log(x) for x > 0; NaN for x < 0, even at an integer y (as JAX, PyTorch)."""
    x = np.array([2.0, 0.5, 1.0, -2.0, -2.0], F32)
    y = np.array([3.0, -1.0, 7.0, 2.0, 0.5], F32)
    got = _grad(lambda a, b: (a**b).sum(), backend, argnums=1)(x, y)
    expected = [8 * np.log(2.0), 2 * np.log(0.5), 0.0, NAN, NAN]
    np.testing.assert_allclose(_values(got), expected, rtol=1e-6)


def test_second_derivatives_at_zero_have_no_nan(backend):
    x = np.array([0.0, 1.0, -2.0], F32)
    # d2/dx2 x ** 0 = 0, x ** 2 -> 2, x ** 3 -> 6x
    second = lambda f: _grad(_grad_of(f), backend)  # noqa: E731
    np.testing.assert_array_equal(_values(second(lambda a: a**0.0)(x)), [0, 0, 0])
    np.testing.assert_allclose(_values(second(lambda a: a**2.0)(x)), [2, 2, 2])
    np.testing.assert_allclose(_values(second(lambda a: a**3.0)(x)), [0, 6, -12])
    # a cotangent that depends on x: exp(x ** 0) = e, a constant
    np.testing.assert_array_equal(_values(second(lambda a: tcomp.exp(a**0.0))(x)), [0, 0, 0])
    # d2/dy2 0 ** y = 0 for y >= 0
    y = np.array([0.5, 1.0, 2.0, 0.0], F32)
    np.testing.assert_array_equal(_values(second(lambda b: 0.0**b)(y)), [0, 0, 0, 0])


def test_mixed_second_derivative_at_a_zero_base(backend):
    """d/dy (d(x ** y)/dx) = x ** (y - 1) * (1 + y * log(x)): 0 at x == 0 for y > 1."""
    x = np.array([0.0, 0.0, 2.0], F32)
    y = np.array([2.0, 3.0, 2.0], F32)

    def dx(a, b):
        return tcomp.grad(lambda p: (p**b).sum())(a).sum()

    got = _grad(dx, backend, argnums=1)(x, y)
    np.testing.assert_allclose(_values(got), [0.0, 0.0, 2.0 * (1 + 2 * np.log(2.0))], rtol=1e-6)


def _grad_of(f):
    """x -> f'(x), elementwise, as a scalar function of x (its sum) for another grad."""
    return lambda a: tcomp.grad(lambda p: f(p).sum())(a).sum()


# ---------------------------------------------------------------------------
# relu


def test_relu_gradient_at_zero_is_zero(backend):
    x = np.array([0.0, -0.0, 1.0, -1.0, 1e-30, -1e-30], F32)
    got = _grad(lambda a: nn.relu(a).sum(), backend)(x)
    np.testing.assert_array_equal(_values(got), [0, 0, 1, 0, 1, 0])


def test_relu_values_keep_nan_and_infinities(backend):
    x = np.array([NAN, np.inf, -np.inf, 0.0, -2.0, 3.0], F32)
    got = tcomp.jit(nn.relu, backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(got), [NAN, np.inf, 0.0, 0.0, 0.0, 3.0])
    assert np.asarray(got).dtype == F32


@pytest.mark.parametrize(
    "dtype, expected", [("int32", "int32"), ("bool", "int32"), ("float16", "float16")]
)
def test_relu_dtype_is_maximums(backend, dtype, expected):
    """As ``maximum(x, 0)``: int32 stays int32, bool meets the int 0 (int32, as numpy's int)."""
    x = np.array([-2, 0, 3]).astype(dtype)
    got = tcomp.jit(nn.relu, backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(got), np.maximum(x, 0).astype(expected))
    assert np.asarray(got).dtype == np.dtype(expected)


# ---------------------------------------------------------------------------
# clip


def test_clip_gradient_is_one_on_the_closed_interval(backend):
    x = np.array([0.0, 1.0, 0.5, -1.0, 2.0], F32)
    got = _grad(lambda a: tcomp.clip(a, 0.0, 1.0).sum(), backend)(x)
    np.testing.assert_array_equal(_values(got), [1, 1, 1, 0, 0])
    # one bound only
    low = _grad(lambda a: tcomp.clip(a, 0.0, None).sum(), backend)(x)
    np.testing.assert_array_equal(_values(low), [1, 1, 1, 0, 1])
    high = _grad(lambda a: tcomp.clip(a, None, 1.0).sum(), backend)(x)
    np.testing.assert_array_equal(_values(high), [1, 1, 1, 1, 0])
    # the method form
    method = _grad(lambda a: a.clip(0.0, 1.0).sum(), backend)(x)
    np.testing.assert_array_equal(_values(method), [1, 1, 1, 0, 0])


def test_clip_gradient_to_array_bounds(backend):
    x = np.array([0.0, 1.0, 0.5, -1.0, 2.0], F32)
    lo, hi = np.zeros(5, F32), np.ones(5, F32)
    grads = tcomp.jit(
        tcomp.grad(lambda a, b, c: tcomp.clip(a, b, c).sum(), argnums=(0, 1, 2)), backend=backend
    )(x, lo, hi)
    np.testing.assert_array_equal(_values(grads[0]), [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(_values(grads[1]), [0, 0, 0, 1, 0])  # where x < a_min
    np.testing.assert_array_equal(_values(grads[2]), [0, 0, 0, 0, 1])  # where x > a_max


def test_clip_values_are_numpys(backend):
    x = np.array([NAN, -np.inf, np.inf, 0.0, 1.0, 0.5, -3.0, 7.0], F32)
    for lo, hi in [(0.0, 1.0), (1.0, 0.0), (NAN, 1.0), (0.0, NAN)]:
        got = tcomp.jit(lambda a, lo=lo, hi=hi: tcomp.clip(a, lo, hi), backend=backend)(x)
        with np.errstate(invalid="ignore"):
            expected = np.clip(x, F32(lo), F32(hi))
        np.testing.assert_array_equal(np.asarray(got), expected)
    ints = np.array([-5, 0, 3, 9], np.int32)
    got = tcomp.jit(lambda a: tcomp.clip(a, 0, 4), backend=backend)(ints)
    np.testing.assert_array_equal(np.asarray(got), np.clip(ints, 0, 4))
    assert np.asarray(got).dtype == np.int32
    bounds = np.array([NAN, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], F32)
    got = tcomp.jit(lambda a, b: tcomp.clip(a, b, 1.0), backend=backend)(x, bounds)
    np.testing.assert_array_equal(np.asarray(got), np.clip(x, bounds, F32(1.0)))


def test_maximum_still_splits_a_tie(backend):
    """relu and clip changed; maximum/minimum keep their documented half-and-half tie."""
    x = np.array([0.0, 1.0, -1.0], F32)
    got = _grad(lambda a: tcomp.maximum(a, 0.0).sum(), backend)(x)
    np.testing.assert_array_equal(_values(got), [0.5, 1, 0])
    got = _grad(lambda a: tcomp.minimum(a, 0.0).sum(), backend)(x)
    np.testing.assert_array_equal(_values(got), [0.5, 0, 1])
