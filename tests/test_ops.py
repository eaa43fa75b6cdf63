"""The ``tcomp`` array functions and the operators on traced values, against numpy.

Every function runs three ways (inside ``jit``, eagerly on numpy arrays,
eagerly on ``tcomp.Array``; see ``frontend_helpers``) on each backend, and
its values, shape and dtype are compared with numpy. Dtypes promote as
numpy's ``result_type`` among arrays; Python scalars never widen an array;
functions that need floats (divide, exp, mean ...) give float32 for integer
inputs where numpy would give float64. ``power`` of two integers stays int32,
as numpy's (exact; its negative exponents are in ``test_integer_power.py``).
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from frontend_helpers import (
    ALL_DTYPES,
    ALL_FLOATS,
    FLOATS,
    MODES,
    OPERATOR_MODES,
    broadcast_shape_pairs,
    check,
    fixture_settings,
    random_array,
    run,
    seeds,
    shapes,
    to_array,
)
from hypothesis import given
from hypothesis import strategies as st

import tcomp
from tcomp.errors import TcompShapeError, TcompTypeError

# ---------------------------------------------------------------------------
# Binary elementwise functions and operators

# name -> (tcomp function, numpy function, Python operator or None)
BINARY = {
    "add": (tcomp.add, np.add, operator.add),
    "subtract": (tcomp.subtract, np.subtract, operator.sub),
    "multiply": (tcomp.multiply, np.multiply, operator.mul),
    "divide": (tcomp.divide, np.divide, operator.truediv),
    "power": (tcomp.power, np.power, operator.pow),
    "maximum": (tcomp.maximum, np.maximum, None),
    "minimum": (tcomp.minimum, np.minimum, None),
    "equal": (tcomp.equal, np.equal, operator.eq),
    "not_equal": (tcomp.not_equal, np.not_equal, operator.ne),
    "less": (tcomp.less, np.less, operator.lt),
    "less_equal": (tcomp.less_equal, np.less_equal, operator.le),
    "greater": (tcomp.greater, np.greater, operator.gt),
    "greater_equal": (tcomp.greater_equal, np.greater_equal, operator.ge),
}
COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}
ARITHMETIC_DTYPES = ("float32", "float64", "float16", "int32")


def _binary_dtypes(name: str):
    dtypes = ALL_DTYPES if name in COMPARISONS | {"maximum", "minimum", "add", "multiply"} else ARITHMETIC_DTYPES
    return st.tuples(st.sampled_from(dtypes), st.sampled_from(dtypes))


def _expected_binary_dtype(name: str, dx: str, dy: str) -> np.dtype:
    if name in COMPARISONS:
        return np.dtype(bool)
    result = np.result_type(dx, dy)
    if name == "power" and result.kind in "iub":
        return np.dtype(np.int32)  # integer ** integer stays integer, as numpy's
    if name in ("divide", "power") and result.kind != "f":
        return np.dtype(np.float32)
    return result


def _binary_inputs(name: str, rng: np.random.Generator, shapes_: tuple, dtypes: tuple):
    (sx, sy), (dx, dy) = shapes_, dtypes
    if name == "power":  # a positive base keeps fractional exponents real
        x = random_array(rng, sx, dx, 0.5, 2.0) if dx != "int32" else random_array(rng, sx, dx, -3, 3)
        # integer ** integer: numpy refuses negative exponents (so does tcomp, for these)
        low = 0 if dx == dy == "int32" else -2.0
        y = random_array(rng, sy, dy, low, 2.0 if low else 25)
        if dx == "int32" and dy != "int32":
            x = np.abs(x) + 1  # a real power of a negative base would be NaN
    elif name in COMPARISONS or name in ("maximum", "minimum"):  # few values: ties happen
        x = random_array(rng, sx, "int32", -2, 2).astype(dx)
        y = random_array(rng, sy, "int32", -2, 2).astype(dy)
    else:
        x = random_array(rng, sx, dx)
        y = random_array(rng, sy, dy, nonzero=name == "divide")
    return x, y


def _numpy_binary(name: str, x: np.ndarray, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    _, np_fn, _ = BINARY[name]
    with np.errstate(all="ignore"):
        if name == "power" and dtype.kind == "i":
            return np_fn(x, y)  # exact, wrapping as numpy's int32 power
        if name in ("divide", "power"):
            return np_fn(x.astype(np.float64), y.astype(np.float64)).astype(dtype)
        return np_fn(x, y)


def _tolerance_for(name: str, dtype: np.dtype) -> dict:
    if name == "power" and dtype == np.float16:
        return {"rtol": 3e-2, "atol": 3e-2}
    return {}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(BINARY))
@fixture_settings
@given(data=st.data(), seed=seeds)
def test_binary_function_matches_numpy(backend, name, mode, data, seed):
    shapes_ = data.draw(broadcast_shape_pairs(), label="shapes")
    dtypes = data.draw(_binary_dtypes(name), label="dtypes")
    x, y = _binary_inputs(name, np.random.default_rng(seed), shapes_, dtypes)
    dtype = _expected_binary_dtype(name, *dtypes)
    result = run(BINARY[name][0], [x, y], mode, backend)
    check(result, _numpy_binary(name, x, y, dtype), dtype, backend, **_tolerance_for(name, dtype))


OPERATORS = sorted(name for name, (_, _, op) in BINARY.items() if op is not None)


@pytest.mark.parametrize("mode", OPERATOR_MODES)
@pytest.mark.parametrize("name", OPERATORS)
@fixture_settings
@given(shapes_=broadcast_shape_pairs(max_dims=2), dtype=st.sampled_from(FLOATS), seed=seeds)
def test_binary_operator_matches_numpy(backend, name, mode, shapes_, dtype, seed):
    x, y = _binary_inputs(name, np.random.default_rng(seed), shapes_, (dtype, dtype))
    op = BINARY[name][2]
    expected = _numpy_binary(name, x, y, np.dtype(dtype))
    out_dtype = _expected_binary_dtype(name, dtype, dtype)
    # tcomp value on the left, and a numpy array on the left (numpy hands over to tcomp).
    check(run(op, [x, y], mode, backend), expected, out_dtype, backend)
    reflected = run(lambda a: op(x, a), [y], mode, backend)
    check(reflected, expected, out_dtype, backend)


@pytest.mark.parametrize("mode", OPERATOR_MODES)
@pytest.mark.parametrize("name", OPERATORS)
def test_operator_with_python_scalar_on_either_side(backend, name, mode):
    op = BINARY[name][2]
    x = np.array([[0.5, 1.5, 2.0]], np.float32)
    for scalar in (2.0, 1):
        expected = _numpy_binary(name, x, np.float32(scalar), np.dtype(np.float32))
        out_dtype = bool if name in COMPARISONS else np.float32
        check(run(lambda a: op(a, scalar), [x], mode, backend), expected, out_dtype, backend)
        left = _numpy_binary(name, np.float32(scalar), x, np.dtype(np.float32))
        check(run(lambda a: op(scalar, a), [x], mode, backend), left, out_dtype, backend)


# ---------------------------------------------------------------------------
# Dtype promotion


@pytest.mark.parametrize("dy", ALL_DTYPES)
@pytest.mark.parametrize("dx", ALL_DTYPES)
def test_array_promotion_is_numpys(backend, dx, dy):
    x = np.array([1, 0, 1]).astype(dx)
    y = np.array([1, 1, 0]).astype(dy)
    expected = np.result_type(dx, dy)
    check(run(lambda a, b: a * b, [x, y], "jit", backend), x * y, expected, backend)
    check(run(tcomp.maximum, [x, y], "eager_numpy", backend), np.maximum(x, y), expected, backend)


# (array dtype, function of the array, expected dtype)
WEAK_CASES = [
    ("float32", lambda a: a * 2.0, "float32"),
    ("float32", lambda a: 2.0 * a, "float32"),
    ("float16", lambda a: a + 1.0, "float16"),
    ("float16", lambda a: a ** 2, "float16"),
    ("float64", lambda a: a - 1, "float64"),
    ("int32", lambda a: a * 2.0, "float32"),
    ("int32", lambda a: a + 1, "int32"),
    ("int32", lambda a: 3 - a, "int32"),
    ("int32", lambda a: a / 2, "float32"),
    ("int32", lambda a: a ** 2, "int32"),
    ("int32", lambda a: 2 ** a, "int32"),
    ("int32", lambda a: a ** 0.5, "float32"),
    ("bool", lambda a: a + 1, "int32"),
    ("bool", lambda a: a * 1.5, "float32"),
    ("bool", lambda a: tcomp.where(a, 1.0, 0.0), "float32"),
    ("float16", lambda a: tcomp.where(a > 0, a, 0.0), "float16"),
    ("float16", lambda a: tcomp.clip(a, 0.0, 1.0), "float16"),
    ("float32", lambda a: tcomp.maximum(a, 0), "float32"),
]


@pytest.mark.parametrize("mode", OPERATOR_MODES)
@pytest.mark.parametrize("case", range(len(WEAK_CASES)))
def test_python_scalars_do_not_widen(backend, case, mode):
    dtype, fn, expected_dtype = WEAK_CASES[case]
    x = np.array([0.0, 1.0, 2.0, -1.5]).astype(dtype)
    with np.errstate(all="ignore"):
        expected = fn(x.astype(np.float64)) if dtype != "bool" else fn(x)
    result = run(fn, [x], mode, backend)
    check(result, np.asarray(expected), expected_dtype, backend)


@pytest.mark.parametrize("mode", ["jit", "eager_numpy"])
def test_python_scalars_together_take_the_highest_kind(backend, mode):
    check(run(lambda: tcomp.add(1, 2.0), [], mode, backend), np.float32(3), np.float32, backend)
    check(run(lambda: tcomp.where(True, 1, 2.5), [], mode, backend), np.float32(1), np.float32, backend)
    check(run(lambda: tcomp.multiply(True, 3), [], mode, backend), np.int32(3), np.int32, backend)
    # A Python-scalar argument of jit stays weakly typed through arithmetic with literals.
    scaled = tcomp.jit(lambda s, x: (s * 2, x * (s * 2)), backend=backend)(0.25, np.ones(2, np.float16))
    check(scaled[0], np.float32(0.5), np.float32, backend)
    check(scaled[1], np.full(2, 0.5), np.float16, backend)


def test_booleans_cannot_be_subtracted(backend):
    t = np.array([True, False])
    with np.testing.assert_raises(TypeError):
        np.subtract(t, t)  # numpy refuses too
    with pytest.raises(TcompTypeError, match="booleans cannot be subtracted"):
        run(lambda a: a - a, [t], "jit", backend)


def test_numpy_scalars_are_strong_like_numpy(backend):
    x = np.array([1.0, 2.0], np.float32)
    check(run(lambda a: a * np.float64(2.0), [x], "jit", backend), x * 2.0, np.float64, backend)
    check(run(lambda a: a + np.array(1.0), [x], "jit", backend), x + 1.0, np.float64, backend)


# ---------------------------------------------------------------------------
# Unary functions

# name -> (tcomp function, numpy reference, input range)
UNARY = {
    "abs": (tcomp.abs, np.abs, (-3, 3)),
    "negative": (tcomp.negative, np.negative, (-3, 3)),
    "sign": (tcomp.sign, np.sign, (-3, 3)),
    "exp": (tcomp.exp, np.exp, (-3, 3)),
    "log": (tcomp.log, np.log, (0.1, 4)),
    "sqrt": (tcomp.sqrt, np.sqrt, (0, 4)),
    "tanh": (tcomp.tanh, np.tanh, (-3, 3)),
    "sin": (tcomp.sin, np.sin, (-3, 3)),
    "cos": (tcomp.cos, np.cos, (-3, 3)),
    "sigmoid": (tcomp.sigmoid, lambda v: 1 / (1 + np.exp(-v)), (-30, 30)),
    "square": (tcomp.square, np.square, (-3, 3)),
    "stop_gradient": (tcomp.stop_gradient, lambda v: v, (-3, 3)),
}
FLOAT_ONLY = {"exp", "log", "sqrt", "tanh", "sin", "cos", "sigmoid"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(UNARY))
@fixture_settings
@given(shape=shapes(), dtype=st.sampled_from(ALL_FLOATS + ("int32",)), seed=seeds)
def test_unary_function_matches_numpy(backend, name, mode, shape, dtype, seed):
    fn, reference, (low, high) = UNARY[name]
    x = random_array(np.random.default_rng(seed), shape, dtype, low, high)
    expected_dtype = "float32" if dtype == "int32" and name in FLOAT_ONLY else dtype
    with np.errstate(all="ignore"):
        expected = reference(x.astype(np.float64))
    check(run(fn, [x], mode, backend), expected, expected_dtype, backend)


UFUNCS = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "sin": np.sin,
    "cos": np.cos, "negative": np.negative, "absolute": np.abs, "square": np.square,
    "sign": np.sign,
}


@pytest.mark.parametrize("mode", OPERATOR_MODES)
@pytest.mark.parametrize("name", sorted(UFUNCS))
def test_numpy_ufuncs_on_tcomp_values(backend, name, mode):
    ufunc = UFUNCS[name]
    x = np.array([[0.5, 1.0], [2.0, 3.5]], np.float32)
    check(run(ufunc, [x], mode, backend), ufunc(x), np.float32, backend)


@pytest.mark.parametrize("mode", OPERATOR_MODES)
def test_numpy_binary_ufuncs_and_operators_with_numpy_arrays(backend, mode):
    x = np.array([[0.5, -1.0], [2.0, 3.5]], np.float32)
    other = np.array([1.0, 2.0], np.float32)
    check(run(lambda a: np.maximum(a, other), [x], mode, backend), np.maximum(x, other), np.float32, backend)
    check(run(lambda a: other - a, [x], mode, backend), other - x, np.float32, backend)
    check(run(lambda a: other @ a, [x], mode, backend), other @ x, np.float32, backend)
    check(run(lambda a: np.float32(2) * a, [x], mode, backend), 2 * x, np.float32, backend)
    check(run(lambda a: -a + abs(a), [x], mode, backend), -x + abs(x), np.float32, backend)


def test_unsupported_numpy_ufunc_is_a_clear_error(backend):
    x = np.array([1.0, 2.0], np.float32)
    with pytest.raises(TcompTypeError, match="arctan2"):
        run(lambda a: np.arctan2(a, a), [x], "jit", backend)
    # On concrete results numpy simply runs on a host copy.
    result = to_array(x, backend)
    np.testing.assert_array_equal(np.signbit(result), [False, False])  # isnan is tcomp's
    np.testing.assert_allclose(np.arctan2(result, x), np.arctan2(x, x))


NUMPY_FUNCTIONS = {
    "sum": lambda a: np.sum(a, axis=0),
    "sum-keepdims": lambda a: np.sum(a, axis=1, keepdims=True),
    "mean": lambda a: np.mean(a),
    "max": lambda a: np.max(a, axis=1),
    "min": lambda a: np.min(a),
    "argmax": lambda a: np.argmax(a),
    "transpose": lambda a: np.transpose(a),
    "reshape": lambda a: np.reshape(a, (3, 2)),
    "clip": lambda a: np.clip(a, 1.0, 4.0),
    "squeeze": lambda a: np.squeeze(a[None]),
    "swapaxes": lambda a: np.swapaxes(a, 0, 1),
}


@pytest.mark.parametrize("mode", OPERATOR_MODES)
@pytest.mark.parametrize("name", sorted(NUMPY_FUNCTIONS))
def test_numpy_functions_that_call_methods(backend, name, mode):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    fn = NUMPY_FUNCTIONS[name]
    expected = np.asarray(fn(x))
    dtype = np.int32 if name == "argmax" else np.float32
    check(run(fn, [x], mode, backend), expected, dtype, backend)


def test_out_arguments_are_refused(backend):
    with pytest.raises(TcompTypeError, match="out= is not supported"):
        np.sum(to_array(np.ones(2, np.float32), backend), out=np.zeros(()))


# ---------------------------------------------------------------------------
# Reductions


def _axis_choices(ndim: int):
    if ndim == 0:
        return st.just(None)
    single = st.integers(-ndim, ndim - 1)
    several = st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple)
    return st.one_of(st.none(), single, several)


REDUCTIONS = {
    "sum": (tcomp.sum, np.sum),
    "mean": (tcomp.mean, np.mean),
    "max": (tcomp.max, np.max),
    "min": (tcomp.min, np.min),
}


def _reduction_dtype(name: str, dtype: str) -> str:
    if name == "mean" and dtype in ("int32", "bool"):
        return "float32"
    if dtype == "bool" and name == "sum":
        return "int32"  # numpy counts in int64; tcomp's integer is int32
    return dtype  # sum of int32 stays int32; max/min of bools are bools


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@fixture_settings
@given(data=st.data(), dtype=st.sampled_from(FLOATS + ("int32", "bool")), keepdims=st.booleans(), seed=seeds)
def test_reduction_matches_numpy(backend, name, mode, data, dtype, keepdims, seed):
    min_side = 0 if name == "sum" else 1  # max/min/mean of nothing has no value
    shape = data.draw(shapes(min_side=min_side), label="shape")
    axis = data.draw(_axis_choices(len(shape)), label="axis")
    x = random_array(np.random.default_rng(seed), shape, dtype)
    fn, reference = REDUCTIONS[name]
    expected = reference(x.astype(np.float64) if name == "mean" else x, axis=axis, keepdims=keepdims)
    out_dtype = _reduction_dtype(name, dtype)
    check(run(lambda a: fn(a, axis=axis, keepdims=keepdims), [x], mode, backend), expected, out_dtype, backend)
    if mode != "eager_numpy":  # the method form
        method = lambda a: getattr(a, name)(axis=axis, keepdims=keepdims)
        check(run(method, [x], mode, backend), expected, out_dtype, backend)


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(data=st.data(), dtype=st.sampled_from(FLOATS + ("int32", "bool")), seed=seeds)
def test_argmax_matches_numpy(backend, mode, data, dtype, seed):
    shape = data.draw(shapes(min_dims=1, min_side=1), label="shape")
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)), label="axis")
    rng = np.random.default_rng(seed)
    x = random_array(rng, shape, dtype, -2, 2)  # small ints: ties, and argmax takes the first
    expected = np.argmax(x, axis=axis)
    check(run(lambda a: tcomp.argmax(a, axis=axis), [x], mode, backend), expected, np.int32, backend)
    if mode != "eager_numpy":
        check(run(lambda a: a.argmax(axis), [x], mode, backend), expected, np.int32, backend)


def test_reduction_errors(backend):
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TcompShapeError, match="axis 2 is out of range"):
        run(lambda a: a.sum(axis=2), [x], "jit", backend)
    with pytest.raises(TcompShapeError, match="repeated axis"):
        run(lambda a: tcomp.sum(a, axis=(0, -2)), [x], "jit", backend)
    with pytest.raises(TcompShapeError, match="empty"):
        run(lambda a: tcomp.max(a, axis=0), [np.ones((0, 2), np.float32)], "jit", backend)


# ---------------------------------------------------------------------------
# Matrix products


@st.composite
def matmul_shapes(draw):
    batch_a, batch_b = draw(broadcast_shape_pairs(max_dims=2, min_side=1, max_side=3))
    m, k, n = draw(st.integers(1, 3)), draw(st.integers(0, 3)), draw(st.integers(1, 3))
    a_vector, b_vector = draw(st.booleans()), draw(st.booleans())
    sa = (k,) if a_vector else batch_a + (m, k)
    sb = (k,) if b_vector else batch_b + (k, n)
    return sa, sb


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(shapes_=matmul_shapes(), dtypes=st.tuples(st.sampled_from(FLOATS + ("int32",)), st.sampled_from(FLOATS)), seed=seeds)
def test_matmul_matches_numpy(backend, mode, shapes_, dtypes, seed):
    rng = np.random.default_rng(seed)
    a = random_array(rng, shapes_[0], dtypes[0])
    b = random_array(rng, shapes_[1], dtypes[1])
    expected = np.matmul(a, b)
    dtype = np.result_type(*dtypes)
    check(run(tcomp.matmul, [a, b], mode, backend), expected, dtype, backend, rtol=1e-4, atol=1e-4)
    check(run(tcomp.dot, [a, b], mode, backend), expected, dtype, backend, rtol=1e-4, atol=1e-4)
    if mode != "eager_numpy":
        check(run(operator.matmul, [a, b], mode, backend), expected, dtype, backend, rtol=1e-4, atol=1e-4)


def test_matmul_of_ints_stays_int(backend):
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    check(run(operator.matmul, [a, a.T.copy()], "jit", backend), a @ a.T, np.int32, backend)


# ---------------------------------------------------------------------------
# Elementwise choice and conversion


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(data=st.data(), dtype=st.sampled_from(ALL_FLOATS + ("int32",)), seed=seeds)
def test_where_broadcasts_three_operands(backend, mode, data, dtype, seed):
    sc, sx = data.draw(broadcast_shape_pairs(max_dims=2), label="cond, x")
    sy = data.draw(st.sampled_from([(), sx[-1:], sx]), label="y")
    rng = np.random.default_rng(seed)
    cond, x, y = rng.random(sc) < 0.5, random_array(rng, sx, dtype), random_array(rng, sy, "float32")
    expected = np.where(cond, x, y)
    check(run(tcomp.where, [cond, x, y], mode, backend), expected, expected.dtype, backend)
    # A non-bool condition means "!= 0"; Python scalars take the other operand's dtype.
    numeric = cond.astype(np.float32) * 3
    check(run(lambda c, a: tcomp.where(c, a, 0), [numeric, x], mode, backend), np.where(numeric != 0, x, 0).astype(dtype), dtype, backend)


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(shape=shapes(max_dims=2), dtype=st.sampled_from(FLOATS + ("int32",)), seed=seeds, bounds=st.sampled_from([(-1, 1), (None, 0.5), (0, None), (1, 1)]))
def test_clip_matches_numpy(backend, mode, shape, dtype, seed, bounds):
    x = random_array(np.random.default_rng(seed), shape, dtype)
    lo, hi = bounds
    if dtype == "int32":
        lo, hi = (None if lo is None else int(lo)), (None if hi is None else int(hi))
    expected = np.clip(x, lo, hi)
    check(run(lambda a: tcomp.clip(a, lo, hi), [x], mode, backend), expected, dtype, backend)
    if mode != "eager_numpy":
        check(run(lambda a: a.clip(lo, hi), [x], mode, backend), expected, dtype, backend)


def test_clip_needs_a_bound(backend):
    with pytest.raises(TcompTypeError, match="clip"):
        run(lambda a: tcomp.clip(a), [np.ones(2, np.float32)], "jit", backend)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", ALL_DTYPES)
@pytest.mark.parametrize("source", ALL_DTYPES)
def test_astype_matches_numpy(backend, source, target, mode):
    x = np.array([-2.7, -1.0, -0.5, 0.0, 0.5, 1.9, 3.0]).astype(source)
    expected = x.astype(target)  # float -> int truncates toward zero
    check(run(lambda a: tcomp.astype(a, target), [x], mode, backend), expected, target, backend)
    if mode != "eager_numpy":
        check(run(lambda a: a.astype(np.dtype(target)), [x], mode, backend), expected, target, backend)


def test_astype_rejects_unsupported_dtypes(backend):
    with pytest.raises(TcompTypeError, match="complex"):
        run(lambda a: a.astype(np.complex64), [np.ones(2, np.float32)], "jit", backend)


# Every array function of the tcomp namespace is checked above; a new one must join a test.
COVERED = (
    set(BINARY)
    | set(UNARY)
    | set(REDUCTIONS)
    | {"argmax", "matmul", "dot", "where", "clip", "astype", "reshape", "transpose", "swapaxes"}
    | {"broadcast_to", "expand_dims", "squeeze", "concatenate", "stack", "pad", "take"}
    | {"take_along_axis", "one_hot", "zeros", "ones", "full", "arange", "zeros_like", "ones_like"}
    | {"full_like"}
    | {"floor_divide", "remainder", "divmod"}  # bit for bit in tests/test_floor_divide.py
)


def test_every_array_function_of_the_namespace_is_tested():
    public = {
        name
        for name in tcomp.__all__
        if getattr(getattr(tcomp, name), "__module__", None) == "tcomp.frontend.ops"
    }
    assert public, "the namespace lost its array functions"
    assert public <= COVERED, f"untested: {sorted(public - COVERED)}"
