"""tcomp.trunc_divide (division rounded toward zero: C's integer ``/``, PyTorch's
``rounding_mode="trunc"``) against its definition written in numpy, on every backend,
inside ``jit`` and eagerly: integers of each width exactly (zero divisors give 0,
``INT_MIN / -1`` wraps), floats as ``trunc(x / y)``; its gradient is 0; bool is refused."""

from __future__ import annotations

import numpy as np
import pytest
from frontend_helpers import MODES, broadcast_shape_pairs, check, fixture_settings, run, seeds
from hypothesis import given
from hypothesis import strategies as st

import tcomp
from tcomp.errors import TcompTypeError

INTS = ("int8", "uint8", "int32", "uint32")  # numpy int64 arrays come in as int32


def trunc_divide_reference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rounded toward zero, computed exactly in Python integers (or float64 for floats)."""
    if np.issubdtype(x.dtype, np.floating):
        with np.errstate(all="ignore"):
            return np.trunc(x / y)
    dtype = np.result_type(x, y)
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=dtype)
    xs, ys = np.broadcast_arrays(x, y)
    info = np.iinfo(dtype)
    for index in np.ndindex(out.shape):
        a, b = int(xs[index]), int(ys[index])
        q = 0 if b == 0 else abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
        out[index] = (q - info.min) % (info.max - info.min + 1) + info.min  # wraps
    return out


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(pair=broadcast_shape_pairs(), dtype=st.sampled_from(INTS), seed=seeds)
def test_integers_match_the_definition(backend, mode, pair, dtype, seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    low, high = max(info.min, -1000), min(info.max, 1000)
    x = rng.integers(low, high, size=pair[0], endpoint=True).astype(dtype)
    y = rng.integers(max(low, -9), min(high, 9), size=pair[1], endpoint=True).astype(dtype)
    got = run(tcomp.trunc_divide, [x, y], mode, backend)
    assert np.asarray(got).dtype == np.dtype(dtype)
    np.testing.assert_array_equal(np.asarray(got), trunc_divide_reference(x, y))


def test_integer_edges(backend):
    x = np.array([-7, 7, -7, 7, 0, 5, -5, 2**31 - 1, -(2**31), -(2**31)], dtype=np.int32)
    y = np.array([2, 2, -2, -2, 4, 0, 0, 7, -1, 3], dtype=np.int32)
    got = tcomp.jit(tcomp.trunc_divide, backend=backend)(x, y)
    expected = [-3, 3, 3, -3, 0, 0, 0, 306783378, -(2**31), -715827882]
    np.testing.assert_array_equal(np.asarray(got), np.array(expected, np.int32))
    np.testing.assert_array_equal(np.asarray(got), trunc_divide_reference(x, y))


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(pair=broadcast_shape_pairs(), dtype=st.sampled_from(("float32", "float64")), seed=seeds)
def test_floats_match_the_definition(backend, mode, pair, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.uniform(-40, 40, size=pair[0])).astype(dtype)
    y = (rng.uniform(-6, 6, size=pair[1])).astype(dtype)
    got = run(tcomp.trunc_divide, [x, y], mode, backend)
    check(got, trunc_divide_reference(x, y), dtype, backend)


def test_float_specials_and_zero_gradient():
    x = np.array([1.0, -1.0, 0.0, np.inf, np.nan, 5.5], np.float32)
    y = np.array([0.0, 0.0, 0.0, 2.0, 1.0, -2.0], np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.asarray(tcomp.trunc_divide(x, y)), np.trunc(x / y))
    grad = tcomp.grad(lambda a, b: tcomp.sum(tcomp.trunc_divide(a, b)), argnums=(0, 1))
    gx, gy = grad(np.float32([5.5, -3.0]), np.float32([2.0, 4.0]))
    np.testing.assert_array_equal(np.asarray(gx), 0.0)
    np.testing.assert_array_equal(np.asarray(gy), 0.0)


def test_bool_is_refused_in_the_users_terms():
    with pytest.raises(TcompTypeError, match="trunc_divide: not defined on bool"):
        tcomp.trunc_divide(np.array([True]), np.array([True]))
