"""``//``, ``%`` and ``divmod`` (``tcomp.floor_divide``, ``remainder``, ``divmod``) everywhere.

numpy *is* the definition here: tcomp copies numpy's documented algorithm
(``npy_divmod``: fmod, then corrected and snapped to an integer, stated in
``ir/primitives/elementwise.py``) into every backend, so results are compared
with ``np.floor_divide`` / ``np.remainder`` bit for bit (any NaN matching any
NaN), on values drawn by hypothesis: negatives, zeros and -0.0, subnormals,
huge magnitudes, infinities and NaN for floats (float16 and bfloat16 computed
in float32 and rounded once, as numpy and ml_dtypes do); INT_MIN, -1 and 0 for
int32 (a zero divisor gives 0, INT_MIN // -1 wraps, as numpy gives without its
warnings). Also: Python scalars on either side and their weak types, the
operators and ``divmod`` on traced values and on ``tcomp.Array``, numpy's
ufuncs on tcomp arrays, bool refused, and the gradients.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from frontend_helpers import fixture_settings, run, to_array
from hypothesis import given
from hypothesis import strategies as st

import tcomp
from tcomp.errors import TcompTypeError
from tcomp.ir.primitives import PRIMITIVES
from tcomp.ir.types import TensorType, numpy_dtype

FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")
N = 48  # elements per drawn array: one compiled program per backend and dtype
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _all_four(x, y):
    """Every spelling: the functions, the operators and divmod."""
    quotient, rest = divmod(x, y)
    return tcomp.floor_divide(x, y), tcomp.remainder(x, y), x // y, x % y, quotient, rest


_JITTED: dict[tuple, object] = {}


def _jitted(backend: str, x: np.ndarray):
    """One jitted function per backend, dtype and shape: hypothesis's examples reuse the
    compiled program (and no function retraces for a new signature)."""
    key = (backend, x.dtype, x.shape)
    if key not in _JITTED:
        _JITTED[key] = tcomp.jit(_all_four, backend=backend)
    return _JITTED[key]


def _expected(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        return np.floor_divide(x, y), np.remainder(x, y)


def assert_same_bits(got, want: np.ndarray, what: str = "") -> None:
    """Equal dtype, shape and bits; a NaN matches any NaN (numpy's NaN signs are not part
    of the definition)."""
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, what)
    if want.dtype.kind in "iub":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    bits = _BITS[want.dtype.itemsize]
    nan_got, nan_want = np.isnan(got.astype(np.float64)), np.isnan(want.astype(np.float64))
    same = (got.view(bits) == want.view(bits)) | (nan_got & nan_want)
    if not same.all():
        bad = np.flatnonzero(~same)[:8]
        raise AssertionError(
            f"{what}: differs from numpy at {bad.tolist()}: got {got.reshape(-1)[bad]}, "
            f"numpy {want.reshape(-1)[bad]}"
        )


def _check_all_four(backend: str, x: np.ndarray, y: np.ndarray) -> None:
    results = _jitted(backend, x)(x, y)
    floor_want, rest_want = _expected(x, y)
    names = ("floor_divide", "remainder", "//", "%", "divmod[0]", "divmod[1]")
    for name, got, want in zip(names, results, [floor_want, rest_want] * 3):
        assert isinstance(got, tcomp.Array) and got.backend == backend
        assert_same_bits(got, want, f"{name} on {backend}, {x.dtype}")


# ---------------------------------------------------------------------------
# Values


def _special_floats(dtype: str) -> list[float]:
    info = np.finfo(numpy_dtype(dtype))
    tiny, smallest = float(info.tiny), float(info.smallest_subnormal)
    big = float(info.max)
    return [0.0, -0.0, 1.0, -1.0, 0.5, -1.5, 2.0, -3.0, 7.0, 1e3, -2.5e4, big, -big, big / 3,
            tiny, -tiny, smallest, -smallest, 3 * smallest, np.inf, -np.inf, np.nan]


def _float_elements(dtype: str):
    """Special values, small integers and halves (exact quotients, ties), and any bit
    pattern of the dtype (every magnitude, subnormals, infinities, NaNs)."""
    itemsize = numpy_dtype(dtype).itemsize
    raw = st.integers(0, 2 ** (8 * itemsize) - 1).map(
        lambda bits: float(np.asarray(bits, dtype=_BITS[itemsize]).view(numpy_dtype(dtype)))
    )
    nice = st.integers(-16, 16).map(lambda k: k / 2)
    return st.one_of(st.sampled_from(_special_floats(dtype)), nice, raw)


def _float_arrays(dtype: str):
    return st.lists(_float_elements(dtype), min_size=N, max_size=N).map(
        lambda values: np.asarray(values, dtype=np.float64).astype(numpy_dtype(dtype))
    )


_SPECIAL_INTS = [0, 1, -1, 2, -2, 3, -3, 7, -7, INT_MIN, INT_MIN + 1, INT_MAX, INT_MAX - 1]
_int_arrays = st.lists(
    st.one_of(st.sampled_from(_SPECIAL_INTS), st.integers(-9, 9), st.integers(INT_MIN, INT_MAX)),
    min_size=N,
    max_size=N,
).map(lambda values: np.asarray(values, dtype=np.int32))


# ---------------------------------------------------------------------------
# Bit for bit against numpy


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@fixture_settings
@given(data=st.data())
def test_floats_match_numpy_bit_for_bit(backend, dtype, data):
    x = data.draw(_float_arrays(dtype), label="x")
    y = data.draw(_float_arrays(dtype), label="y")
    if data.draw(st.booleans(), label="exact multiples"):
        # x = k * y: quotients that are exact integers, where the snapping matters
        k = data.draw(st.integers(-40, 40), label="k")
        with np.errstate(all="ignore"):
            x = (y.astype(np.float64) * k).astype(numpy_dtype(dtype))
    _check_all_four(backend, x, y)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_every_pair_of_special_floats_matches_numpy(backend, dtype):
    specials = np.asarray(_special_floats(dtype), dtype=np.float64).astype(numpy_dtype(dtype))
    x, y = (np.ascontiguousarray(a.reshape(-1)) for a in np.meshgrid(specials, specials))
    _check_all_four(backend, x, y)


@fixture_settings
@given(x=_int_arrays, y=_int_arrays)
def test_int32_matches_numpy(backend, x, y):
    _check_all_four(backend, x, y)


def test_int32_edges_zero_divisors_and_int_min_over_minus_one(backend):
    specials = np.asarray(_SPECIAL_INTS, dtype=np.int32)
    x, y = (np.ascontiguousarray(a.reshape(-1)) for a in np.meshgrid(specials, specials))
    _check_all_four(backend, x, y)
    x, y = np.int32([INT_MIN, 5, -5, 0]), np.int32([-1, 0, 0, 0])
    results = _jitted(backend, x)(x, y)
    floor, rest = np.asarray(results[0]), np.asarray(results[1])
    np.testing.assert_array_equal(floor, [INT_MIN, 0, 0, 0])  # wraps; x // 0 = 0
    np.testing.assert_array_equal(rest, [0, 0, 0, 0])


def test_python_and_numpy_agree_on_the_sign_rules(backend):
    # the remainder takes the divisor's sign; the quotient floors (not truncates)
    x = np.float64([7, -7, 7, -7, 0.0, -0.0])
    y = np.float64([2, 2, -2, -2, -3, 3])
    quotient, rest = (np.asarray(r) for r in _jitted(backend, x)(x, y)[:2])
    for a, b, q, r in zip(x, y, quotient, rest):
        assert (q, r) == divmod(float(a), float(b))
        assert np.signbit(r) == np.signbit(divmod(float(a), float(b))[1])


# ---------------------------------------------------------------------------
# Python scalars, operators, divmod, numpy ufuncs


# (function of x, dtype of x, the expected dtype, numpy on x in that dtype)
SCALAR_CASES = {
    "int // 2": (lambda x: x // 2, "int32", "int32", lambda x: x // 2),
    "7 % int": (lambda x: 7 % x, "int32", "int32", lambda x: np.int32(7) % x),
    "int // 2.0 (float32)": (lambda x: x // 2.0, "int32", "float32", lambda x: x // np.float32(2)),
    "2.5 // int": (lambda x: 2.5 // x, "int32", "float32", lambda x: np.float32(2.5) // x),
    "float16 % 2.0": (lambda x: x % 2.0, "float16", "float16", lambda x: x % np.float16(2)),
    "-3 // float32": (lambda x: -3 // x, "float32", "float32", lambda x: np.float32(-3) // x),
    "divmod(x, 3)[0]": (lambda x: divmod(x, 3)[0], "float64", "float64", lambda x: x // 3.0),
    "divmod(x, 3)[1]": (lambda x: divmod(x, 3)[1], "float64", "float64", lambda x: x % 3.0),
    "divmod(-5, x)[1]": (lambda x: divmod(-5, x)[1], "int32", "int32", lambda x: np.int32(-5) % x),
    "tcomp.divmod(x, 4)[0]": (
        lambda x: tcomp.divmod(x, 4)[0], "int32", "int32", lambda x: x // np.int32(4)
    ),
    "tcomp.remainder(x, -2.5)": (
        lambda x: tcomp.remainder(x, -2.5), "bfloat16", "bfloat16", lambda x: x % x.dtype.type(-2.5)
    ),
}


@pytest.mark.parametrize("mode", ["jit", "eager_array"])
@pytest.mark.parametrize("case", sorted(SCALAR_CASES))
def test_python_scalars_take_the_arrays_dtype(backend, case, mode):
    fn, dtype, out_dtype, numpy_fn = SCALAR_CASES[case]
    values = np.asarray([-7, -3.5, -1, 0, 1, 2, 3.5, 9, -0.0], dtype=np.float64)
    x = values.astype(numpy_dtype(dtype))
    result = run(fn, [x], mode, backend)
    assert isinstance(result, tcomp.Array) and result.backend == backend
    with np.errstate(all="ignore"):
        want = np.asarray(numpy_fn(x.astype(numpy_dtype(out_dtype)))).astype(numpy_dtype(out_dtype))
    assert_same_bits(result, want, case)


@pytest.mark.parametrize("mode", ["jit", "eager_numpy", "eager_array"])
def test_functions_broadcast_and_promote(backend, mode):
    x = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    y = np.asarray([2.5, -1.5, 3.0, -4.0], dtype=np.float32)
    quotient, rest = run(lambda a, b: tcomp.divmod(a, b), [x, y], mode, backend)
    with np.errstate(all="ignore"):
        want = np.divmod(x.astype(np.float64), y.astype(np.float64))  # int32 with float32: float64
    assert_same_bits(quotient, want[0], "floor_divide")
    assert_same_bits(rest, want[1], "remainder")


@pytest.mark.parametrize(
    "name, symbol", [("floor_divide", operator.floordiv), ("remainder", operator.mod)]
)
def test_numpy_ufuncs_and_reflected_operators_on_arrays_route_to_tcomp(backend, name, symbol):
    x = np.asarray([-7.0, 7.0, -0.5, 3.0], dtype=np.float32)
    y = np.asarray([2.0, -2.0, 0.25, 0.0], dtype=np.float32)
    a = to_array(y, backend)
    want = _expected(x, y)[name == "remainder"]
    with np.errstate(all="raise"):  # numpy's own loops would warn on the zero divisor
        assert_same_bits(getattr(np, name)(x, a), want, f"np.{name}")
        assert_same_bits(symbol(x, a), want, f"ndarray {symbol.__name__} Array")
        scalar = symbol(-7.0, a)  # a Python float on the left: weakly typed, stays float32
    assert_same_bits(scalar, _expected(np.float32(-7.0) + 0 * x, y)[name == "remainder"], "float")
    quotient, rest = np.divmod(x, a)
    assert_same_bits(quotient, _expected(x, y)[0], "np.divmod[0]")
    assert_same_bits(rest, _expected(x, y)[1], "np.divmod[1]")


def test_python_divmod_on_a_tcomp_array_gives_two_arrays(backend):
    a = to_array(np.asarray([7, -7, 0], dtype=np.int32), backend)
    quotient, rest = divmod(a, 2)
    assert isinstance(quotient, tcomp.Array) and isinstance(rest, tcomp.Array)
    np.testing.assert_array_equal(np.asarray(quotient), [3, -4, 0])
    np.testing.assert_array_equal(np.asarray(rest), [1, 1, 0])
    quotient, rest = divmod(20, a)  # __rdivmod__
    np.testing.assert_array_equal(np.asarray(quotient), [2, -3, 0])
    np.testing.assert_array_equal(np.asarray(rest), [6, -1, 0])


# ---------------------------------------------------------------------------
# bool is refused


@pytest.mark.parametrize(
    "fn, op",
    [
        (lambda a, b: a // b, "floor_divide"),
        (lambda a, b: a % b, "remainder"),
        (lambda a, b: divmod(a, b), "floor_divide"),
        (lambda a, b: tcomp.remainder(a, True), "remainder"),
    ],
)
@pytest.mark.parametrize("mode", ["jit", "eager_array"])
def test_bool_inputs_are_refused_naming_the_op(backend, fn, op, mode):
    flags = np.asarray([True, False, True])
    message = rf"^{op}: not defined on bool arrays.*astype\('int32'\)"
    with pytest.raises(TcompTypeError, match=message):
        run(fn, [flags, flags], mode, backend)


@pytest.mark.parametrize("op", ["floor_divide", "remainder"])
def test_the_primitives_refuse_bool(op):
    flags = TensorType((3,), "bool")
    with pytest.raises(TcompTypeError, match=f"^{op}: is not defined on bool"):
        PRIMITIVES[op].check_call([flags, flags], {})


def test_bool_with_an_int_computes_in_int32(backend):
    flags = np.asarray([True, False, True])
    result = tcomp.jit(lambda a: a // 2 + a % 2, backend=backend)(flags)
    assert result.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(result), [1, 0, 1])


# ---------------------------------------------------------------------------
# Gradients: d(x // y) = 0; d(x % y) = (1, -(x // y))


def _off_the_jumps(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 3, 12) * np.where(rng.random(12) < 0.5, -1, 1)
    y = x / (rng.integers(-3, 3, 12) + rng.uniform(0.25, 0.75, 12))
    return x.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradients(backend, dtype):
    x, y = _off_the_jumps(dtype)
    weights = np.linspace(-1, 1, x.size).astype(dtype)

    def loss(a, b):
        return tcomp.sum((a % b) * weights) + tcomp.sum(a // b)

    dx, dy = tcomp.jit(tcomp.grad(loss, argnums=(0, 1)), backend=backend)(x, y)
    np.testing.assert_allclose(np.asarray(dx), weights, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(dy), -np.floor_divide(x, y) * weights, rtol=1e-6)
    floor_only = tcomp.grad(lambda a, b: tcomp.sum(a // b), argnums=(0, 1))
    for gradient in tcomp.jit(floor_only, backend=backend)(x, y):
        np.testing.assert_array_equal(np.asarray(gradient), np.zeros_like(x))
