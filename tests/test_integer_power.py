"""``int32 ** int32`` stays int32 and is exact on every backend (issue 15).

numpy's promotion keeps integer powers integer; tcomp computes them exactly
(binary exponentiation, wrapping on overflow as numpy does) in the reference,
the LLVM kernels and the OpenCL/CUDA helper. Negative exponents: refused where
their values are known when tracing (a Python int, a numpy array), as numpy
refuses them; a traced exponent gives ``1 / x ** -y`` truncated toward zero.
"""

from __future__ import annotations

import numpy as np
import pytest
from frontend_helpers import MODES, check, run

import tcomp
from tcomp.errors import TcompArgumentError

I32 = np.int32


def _exact(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """tcomp's definition in Python integers: the power wrapped to int32 for y >= 0,
    ``1 / x ** -y`` truncated toward zero for y < 0 (0 when x == 0)."""
    out = []
    for a, b in zip(x.ravel().tolist(), y.ravel().tolist()):
        if b >= 0:
            out.append((pow(a, b, 2**32) + 2**31) % 2**32 - 2**31)
        else:
            out.append(0 if a == 0 else int(1 / a**-b))
    return np.array(out, np.int64).reshape(x.shape)


# wrapping, big exponents, 0 ** 0, (-1) ** big, INT_MIN, and every sign
BASES = np.array([2, 2, 2, 3, -7, 0, 0, 1, -1, -1, 5, -2, 3, -(2**31), 46341, 7], I32)
EXPONENTS = np.array(
    [30, 31, 32, 40, 13, 0, 9, 2**31 - 1, 2**31 - 1, 2**31 - 2, 0, 31, 2**31 - 1, 2, 2, 11], I32
)
NEGATIVE = np.array([-1, -5, -(2**31), -3, -4, -1, -2, -1], I32)
NEGATIVE_BASES = np.array([1, 1, 1, -1, -1, 2, -2, 0], I32)


def test_the_definition_is_numpys_for_non_negative_exponents():
    from tcomp.ir.primitives.elementwise import integer_power  # the reference's

    with np.errstate(all="ignore"):
        expected = np.power(BASES, EXPONENTS)
    np.testing.assert_array_equal(_exact(BASES, EXPONENTS), expected)
    np.testing.assert_array_equal(integer_power(BASES, EXPONENTS), expected)
    np.testing.assert_array_equal(
        integer_power(NEGATIVE_BASES, NEGATIVE), _exact(NEGATIVE_BASES, NEGATIVE)
    )
    np.testing.assert_array_equal(_exact(NEGATIVE_BASES, NEGATIVE), [1, 1, 1, -1, 1, 0, 0, 0])


@pytest.mark.parametrize("mode", ["jit", "eager_array"])
def test_integer_powers_are_exact_on_every_backend(backend, mode):
    got = run(tcomp.power, [BASES, EXPONENTS], mode, backend)
    check(got, _exact(BASES, EXPONENTS), I32, backend)
    # operators, and a constant exponent (which the compilers fold)
    got = run(lambda a: a**3, [BASES], mode, backend)
    with np.errstate(all="ignore"):
        check(got, BASES**3, I32, backend)


@pytest.mark.parametrize("mode", ["jit", "eager_array"])
def test_traced_negative_exponents_truncate_toward_zero(backend, mode):
    got = run(lambda a, b: a**b, [NEGATIVE_BASES, NEGATIVE], mode, backend)
    check(got, [1, 1, 1, -1, 1, 0, 0, 0], I32, backend)


def test_a_big_array_of_powers_vectorises_to_the_same_values(backend):
    rng = np.random.default_rng(3)
    x = rng.integers(-9, 10, 1000).astype(I32)
    y = rng.integers(-3, 64, 1000).astype(I32)
    got = tcomp.jit(lambda a, b: a**b, backend=backend)(x, y)
    check(got, _exact(x, y), I32, backend)


@pytest.mark.parametrize("mode", MODES)
def test_dtypes_follow_numpy(backend, mode):
    ints, bools = np.array([1, 2, 3], I32), np.array([True, False, True])
    check(
        run(lambda a, b: tcomp.power(a, b), [ints, ints], mode, backend), ints**ints, I32, backend
    )
    # bool ** bool: numpy's int8, tcomp's int32; bool ** int likewise
    check(run(tcomp.power, [bools, bools], mode, backend), [1, 1, 1], I32, backend)
    check(run(tcomp.power, [bools, ints], mode, backend), [1, 0, 1], I32, backend)
    # a float on either side makes it float (a Python float: float32)
    check(
        run(lambda a: tcomp.power(a, 0.5), [ints], mode, backend),
        np.sqrt(ints),
        np.float32,
        backend,
    )
    floats = np.array([0.5, 1.0, 2.0], np.float64)
    check(run(tcomp.power, [ints, floats], mode, backend), ints**floats, np.float64, backend)


def test_known_negative_exponents_are_refused_as_numpy_refuses_them(backend):
    ints = np.array([1, 2, 3], I32)
    with pytest.raises(ValueError, match="Integers to negative integer powers"):
        np.power(ints, -1)  # numpy's own rule
    with pytest.raises(TcompArgumentError, match=r"negative integer powers.*exponent is -1"):
        tcomp.jit(lambda a: a**-1, backend=backend)(ints)
    with pytest.raises(TcompArgumentError, match=r"the least is -2"):
        tcomp.power(ints, np.array([0, -2, 1], I32))  # eager, on numpy arrays
    with pytest.raises(TcompArgumentError, match="astype"):
        tcomp.jit(lambda a: a ** np.array([1, -1, 1]), backend=backend)(ints)  # a constant
    assert isinstance(TcompArgumentError("x"), ValueError)  # numpy raises ValueError


def test_integer_power_has_no_gradient_but_float_power_does():
    x = np.array([1.0, 2.0], np.float32)
    grads = tcomp.grad(lambda a: (a**3).sum())(x)  # float ** Python int: float
    np.testing.assert_allclose(np.asarray(grads), 3 * x**2)
    with pytest.raises(TypeError, match="int32"):
        tcomp.grad(lambda a: (a**2).sum())(np.array([1, 2], I32))
