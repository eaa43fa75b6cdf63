"""The logical and bitwise functions, their operators and the shifts, against numpy.

``logical_*`` take any dtype with numpy's truthiness (NaN is true);
``bitwise_*`` and ``& | ^ ~`` take int32 and bool; ``left_shift``/``right_shift``
give numpy's int32 result bit for bit for every amount, negative and >= 32
included (C and LLVM leave those undefined). The tables of functions and the
input strategies are tests/test_ops_math.py's (its coverage test counts these).
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from frontend_helpers import (
    ALL_DTYPES,
    MODES,
    OPERATOR_MODES,
    broadcast_shape_pairs,
    check,
    fixture_settings,
    random_array,
    run,
    seeds,
)
from hypothesis import given
from hypothesis import strategies as st
from test_ops_math import (
    BITWISE,
    INT_MAX,
    INT_MIN,
    LOGICAL,
    OPERATORS,
    SHIFTS,
    _int_arrays,
    _with_specials,
)

import tcomp
from tcomp.errors import TcompTypeError

# ---------------------------------------------------------------------------
# Logical functions: any dtype, numpy's truthiness (NaN is true)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(LOGICAL))
@fixture_settings
@given(data=st.data(), seed=seeds)
def test_logical_functions_match_numpy(backend, name, mode, data, seed):
    sx, sy = data.draw(broadcast_shape_pairs(), label="shapes")
    dx, dy = data.draw(st.tuples(st.sampled_from(ALL_DTYPES), st.sampled_from(ALL_DTYPES)))
    rng = np.random.default_rng(seed)
    x = _with_specials(rng, random_array(rng, sx, dx, -1, 1))
    y = _with_specials(rng, random_array(rng, sy, dy, -1, 1))
    check(run(getattr(tcomp, name), [x, y], mode, backend), LOGICAL[name](x, y), bool, backend)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_logical_not_and_python_scalars(backend, mode, dtype):
    x = np.array([0, 1, -2, 0, 3]).astype(dtype)
    check(run(tcomp.logical_not, [x], mode, backend), np.logical_not(x), bool, backend)
    check(run(lambda a: tcomp.logical_or(a, 0), [x], mode, backend), x != 0, bool, backend)
    check(run(lambda a: tcomp.logical_and(2.5, a), [x], mode, backend), x != 0, bool, backend)
    check(run(lambda a: tcomp.logical_xor(a, True), [x], mode, backend), x == 0, bool, backend)
    nan = np.array([np.nan, 0.0], np.float32)  # NaN is true, as in numpy
    check(run(tcomp.logical_not, [nan], mode, backend), [False, True], bool, backend)


# ---------------------------------------------------------------------------
# Bitwise functions, operators and shifts


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(BITWISE))
@fixture_settings
@given(data=st.data(), seed=seeds)
def test_bitwise_functions_match_numpy(backend, name, mode, data, seed):
    sx, sy = data.draw(broadcast_shape_pairs(), label="shapes")
    dx, dy = data.draw(
        st.tuples(st.sampled_from(("int32", "bool")), st.sampled_from(("int32", "bool")))
    )
    rng = np.random.default_rng(seed)
    x = random_array(rng, sx, dx, INT_MIN, INT_MAX)
    y = random_array(rng, sy, dy, INT_MIN, INT_MAX)
    expected = BITWISE[name](x, y)
    check(run(getattr(tcomp, name), [x, y], mode, backend), expected, expected.dtype, backend)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_bitwise_not_matches_numpy(backend, mode, dtype):
    x = np.array([0, 1, -1, 5, INT_MIN, INT_MAX]).astype(dtype)
    for fn in (tcomp.bitwise_not, tcomp.invert):
        check(run(fn, [x], mode, backend), np.invert(x), dtype, backend)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(SHIFTS))
@fixture_settings
@given(x=_int_arrays(), y=_int_arrays())
def test_shifts_match_numpy_for_every_amount(backend, name, mode, x, y):
    """Amounts in -40..40 (negative and >= 32 too) and of any size: numpy's int32 result."""
    check(run(getattr(tcomp, name), [x, y], mode, backend), SHIFTS[name](x, y), np.int32, backend)


def test_shift_definition_at_the_edges(backend):
    x = np.int32([1, -1, INT_MIN, INT_MAX, 5, -5, 3, -8])
    s = np.int32([31, 31, 1, 1, 32, 32, -1, 100])
    left, right = (
        np.asarray(r) for r in run(lambda a, b: (a << b, a >> b), [x, s], "jit", backend)
    )
    np.testing.assert_array_equal(
        left, [INT_MIN, INT_MIN, 0, -2, 0, 0, 0, 0]
    )  # wraps; 0 out of range
    np.testing.assert_array_equal(right, [0, -1, -(2**30), 2**30 - 1, 0, -1, 0, -1])  # x >> 31


@pytest.mark.parametrize("mode", OPERATOR_MODES)
@pytest.mark.parametrize("op", sorted(OPERATORS))
@fixture_settings
@given(x=_int_arrays(12), y=_int_arrays(12))
def test_operators_match_numpy(backend, op, mode, x, y):
    fn, numpy_fn = OPERATORS[op]
    expected = numpy_fn(x, y)
    check(run(fn, [x, y], mode, backend), expected, np.int32, backend)
    # a numpy array on the left hands over to tcomp (the reflected operator or the ufunc)
    check(run(lambda b: fn(x, b), [y], mode, backend), expected, np.int32, backend)
    for scalar in (3, -1, 33):
        check(
            run(lambda a: fn(a, scalar), [x], mode, backend),
            numpy_fn(x, np.int32(scalar)),
            np.int32,
            backend,
        )
        check(
            run(lambda a: fn(scalar, a), [x], mode, backend),
            numpy_fn(np.int32(scalar), x),
            np.int32,
            backend,
        )


@pytest.mark.parametrize("mode", OPERATOR_MODES)
def test_operators_on_bools_and_invert(backend, mode):
    a, b = np.array([True, True, False, False]), np.array([True, False, True, False])
    for op in ("&", "|", "^"):
        fn, numpy_fn = OPERATORS[op]
        check(run(fn, [a, b], mode, backend), numpy_fn(a, b), bool, backend)
    check(run(operator.invert, [a], mode, backend), ~a, bool, backend)
    x = np.int32([0, 7, -8, INT_MIN])
    check(run(operator.invert, [x], mode, backend), ~x, np.int32, backend)
    check(run(lambda p: p & 1, [a], mode, backend), a & 1, np.int32, backend)  # bool & int


def test_bitwise_ops_refuse_floats_and_shifts_refuse_bools(backend):
    f, i, t = np.ones(2, np.float32), np.ones(2, np.int32), np.ones(2, bool)
    cases = [
        ("bitwise_and", lambda: tcomp.bitwise_and(f, i), "float32"),
        ("bitwise_or", lambda: tcomp.bitwise_or(i, 1.5), "float32"),
        ("bitwise_xor", lambda: tcomp.bitwise_xor(f, f), "float32"),
        ("bitwise_not", lambda: tcomp.bitwise_not(f), "float32"),
        ("left_shift", lambda: tcomp.left_shift(t, t), "bool"),
        ("right_shift", lambda: tcomp.right_shift(f, i), "float32"),
    ]
    for name, call, dtype in cases:
        with pytest.raises(TcompTypeError, match=f"^{name}: takes .* got .*{dtype}"):
            run(call, [], "jit", backend)
    with pytest.raises(TcompTypeError, match="left_shift"):
        run(lambda a: a << a, [f], "jit", backend)


