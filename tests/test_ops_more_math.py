"""tcomp's exp2 log2 log10 tan reciprocal rsqrt copysign fmod mod logaddexp logaddexp2 lerp
isclose allclose (frontend/ops_more_math.py) against numpy on every backend, inside ``jit``
and eagerly; float64 gradients against central differences; errors in the user's terms.

``lerp`` (PyTorch's; numpy has none) is checked against its definition ``start + weight *
(end - start)`` written in numpy; ``rsqrt`` against ``1 / sqrt``.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from frontend_helpers import (
    MODES,
    broadcast_shape_pairs,
    check,
    fixture_settings,
    random_array,
    run,
    seeds,
    shapes,
)
from gradcheck import check_gradients
from hypothesis import given
from hypothesis import strategies as st

import tcomp
from tcomp.errors import TcompTypeError

# name -> (tcomp function, numpy reference in float64, input range)
UNARY = {
    "exp2": (tcomp.exp2, np.exp2, (-6, 6)),
    "log2": (tcomp.log2, np.log2, (0.01, 50)),
    "log10": (tcomp.log10, np.log10, (0.01, 50)),
    "tan": (tcomp.tan, np.tan, (-1.4, 1.4)),
    "reciprocal": (tcomp.reciprocal, lambda x: 1.0 / x, (0.2, 5)),
    "rsqrt": (tcomp.rsqrt, lambda x: 1.0 / np.sqrt(x), (0.01, 50)),
}


def _all_unary(*xs):
    return tuple(UNARY[name][0](x) for name, x in zip(UNARY, xs))


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(
    shape=shapes(), dtype=st.sampled_from(("float32", "float64", "float16", "int32")), seed=seeds
)
def test_unary_functions_match_numpy(backend, mode, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    inputs = []
    for name, (_, _, (low, high)) in UNARY.items():
        if dtype == "int32":
            low, high = max(low, 1), max(high, 2)  # whole numbers inside the domain
        inputs.append(random_array(rng, shape, dtype, low, high))
    results = run(_all_unary, inputs, mode, backend)
    expected_dtype = "float32" if dtype == "int32" else dtype
    for name, x, got in zip(UNARY, inputs, results):
        tol = {} if dtype == "float16" else {"rtol": 1e-5}  # float16: frontend_helpers' 2e-2
        check(got, UNARY[name][1](x.astype(np.float64)), expected_dtype, backend, **tol)


def test_exp2_of_whole_numbers_is_exact(backend):
    x = np.arange(-20, 21, dtype=np.float32)
    got = tcomp.jit(tcomp.exp2, backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(got), np.exp2(x))


BINARY = {
    "copysign": (tcomp.copysign, np.copysign),
    "fmod": (tcomp.fmod, np.fmod),
    "mod": (tcomp.mod, np.mod),
    "logaddexp": (tcomp.logaddexp, np.logaddexp),
    "logaddexp2": (tcomp.logaddexp2, np.logaddexp2),
}


def _all_binary(x, y):
    return tuple(f(x, y) for f, _ in BINARY.values())


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(pair=broadcast_shape_pairs(), dtype=st.sampled_from(("float32", "float64")), seed=seeds)
def test_binary_functions_match_numpy(backend, mode, pair, dtype, seed):
    rng = np.random.default_rng(seed)
    x = random_array(rng, pair[0], dtype, -30, 30)
    y = random_array(rng, pair[1], dtype, -8, 8, nonzero=True)
    results = run(_all_binary, [x, y], mode, backend)
    for name, got in zip(BINARY, results):
        if name in ("fmod", "mod", "copysign"):  # exact in numpy's own dtype
            np.testing.assert_array_equal(np.asarray(got), BINARY[name][1](x, y), err_msg=name)
            check(got, BINARY[name][1](x, y), dtype, backend)
        else:
            check(got, BINARY[name][1](x.astype(np.float64), y.astype(np.float64)), dtype, backend)


def test_integer_fmod_and_mod_match_numpy(backend):
    x = np.array([-7, 7, -7, 7, 0, 5, -5, 2**31 - 1, -(2**31)], dtype=np.int32)
    y = np.array([3, 3, -3, -3, 4, 0, 0, 7, 3], dtype=np.int32)
    got = tcomp.jit(lambda a, b: (tcomp.fmod(a, b), tcomp.mod(a, b)), backend=backend)(x, y)
    with np.errstate(all="ignore"):
        check(got[0], np.fmod(x, y), "int32", backend)
        check(got[1], np.mod(x, y), "int32", backend)


SPECIAL_X = np.array([0.0, -0.0, 5.5, -5.5, np.inf, -np.inf, np.nan, 1e30, -7.0, 3.0, 2.5])
SPECIAL_Y = np.array([-0.0, 2.0, np.inf, -np.inf, 2.0, 3.0, 1.0, 3.0, 0.0, -0.0, -0.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_special_values_match_numpy(backend, dtype):
    """Signed zeros, infinities, NaN and zero divisors, bit for bit where numpy is exact."""
    x, y = SPECIAL_X.astype(dtype), SPECIAL_Y.astype(dtype)
    got = tcomp.jit(_all_binary, backend=backend)(x, y)
    with np.errstate(all="ignore"):
        for name, result in zip(BINARY, got):
            want = BINARY[name][1](x, y)
            result = np.asarray(result)
            np.testing.assert_array_equal(np.isnan(result), np.isnan(want), err_msg=name)
            if name in ("copysign", "fmod", "mod"):  # a NaN's sign is not defined
                number = ~np.isnan(want)
                np.testing.assert_array_equal(
                    np.signbit(result[number]), np.signbit(want[number]), err_msg=name
                )
            np.testing.assert_allclose(result, want, rtol=1e-6, err_msg=name)
    infinities = np.array([-np.inf, np.inf, -np.inf, 1.0], dtype)
    others = np.array([-np.inf, np.inf, 2.0, -np.inf], dtype)
    for f in (tcomp.logaddexp, tcomp.logaddexp2):
        result = tcomp.jit(f, backend=backend)(infinities, others)
        np.testing.assert_array_equal(
            np.asarray(result), getattr(np, f.__name__)(infinities, others)
        )


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(data=st.data(), dtype=st.sampled_from(("float32", "float64")), seed=seeds)
def test_lerp_matches_its_definition(backend, mode, data, dtype, seed):
    shapes3 = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3).map(
            lambda r: r.input_shapes
        ),
        label="shapes",
    )
    rng = np.random.default_rng(seed)
    start, end = (random_array(rng, s, dtype) for s in shapes3[:2])
    weight = random_array(rng, shapes3[2], dtype, -0.5, 1.5)
    got = run(tcomp.lerp, [start, end, weight], mode, backend)
    s, e, w = (a.astype(np.float64) for a in (start, end, weight))
    check(got, s + w * (e - s), dtype, backend, atol=1e-5 if dtype == "float32" else 1e-12)


def test_lerp_reaches_end_exactly_and_takes_scalar_weights(backend):
    start = np.array([0.1, -3.3, 1e8], np.float32)
    end = np.array([0.7, 2.9, -1e-8], np.float32)
    f = tcomp.jit(lambda a, b: (tcomp.lerp(a, b, 1.0), tcomp.lerp(a, b, 0.0)), backend=backend)
    at_one, at_zero = f(start, end)
    np.testing.assert_array_equal(np.asarray(at_one), end)
    np.testing.assert_array_equal(np.asarray(at_zero), start)
    assert at_one.dtype == np.float32


ISCLOSE_A = np.array([1.0, 1.0, 1.0, 1e10, 0.0, np.inf, np.inf, np.nan, np.nan, -np.inf, 1e-9])
ISCLOSE_B = np.array(
    [1.0, 1.0 + 1e-7, 1.1, 1.00001e10, 1e-9, np.inf, -np.inf, np.nan, 1.0, 3.0, 0.0]
)


@pytest.mark.parametrize("equal_nan", [False, True])
@pytest.mark.parametrize("tolerances", [{}, {"rtol": 0.2}, {"atol": 1e-3, "rtol": 0.0}])
def test_isclose_and_allclose_match_numpy(backend, equal_nan, tolerances):
    f = tcomp.jit(
        lambda a, b: (
            tcomp.isclose(a, b, equal_nan=equal_nan, **tolerances),
            tcomp.allclose(a, b, equal_nan=equal_nan, **tolerances),
            tcomp.allclose(a[:3], a[:3]),
        ),
        backend=backend,
    )
    close, every, same = f(ISCLOSE_A, ISCLOSE_B)
    check(
        close, np.isclose(ISCLOSE_A, ISCLOSE_B, equal_nan=equal_nan, **tolerances), "bool", backend
    )
    want = np.allclose(ISCLOSE_A, ISCLOSE_B, equal_nan=equal_nan, **tolerances)
    check(every, np.asarray(want), "bool", backend)
    assert bool(same) is True and every.shape == ()


@given(seed=seeds, pair=broadcast_shape_pairs(min_side=1))
def test_isclose_matches_numpy_on_random_data(seed, pair):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 2, pair[0])
    noise = rng.choice([0.0, 1e-9, 1e-6, 1e-3, 1.0], size=pair[1])
    b = a + noise  # broadcast: b's shape is the pair's
    np.testing.assert_array_equal(np.asarray(tcomp.isclose(a, b)), np.isclose(a, b))


# ---------------------------------------------------------------------------
# Gradients (float64, central differences of the traced graph)


def _grid(low: float, high: float, shape) -> np.ndarray:
    size = int(np.prod(shape))
    return np.random.default_rng(size).permutation(np.linspace(low, high, size)).reshape(shape)


GRADIENT_CASES = {
    "exp2": (tcomp.exp2, [_grid(-2, 2, (3, 2))]),
    "log2": (tcomp.log2, [_grid(0.3, 4, (5,))]),
    "log10": (tcomp.log10, [_grid(0.3, 4, (2, 2))]),
    "tan": (tcomp.tan, [_grid(-1.2, 1.2, (6,))]),
    "reciprocal": (tcomp.reciprocal, [_grid(0.4, 3, (4,))]),
    "rsqrt": (tcomp.rsqrt, [_grid(0.4, 3, (4,))]),
    "copysign": (tcomp.copysign, [_grid(-2, 2, (2, 3)) + 0.05, _grid(-1, 1, (3,)) + 0.01]),
    # x / y = k + f with f in [0.25, 0.75]: away from the jumps of fmod and mod
    "fmod": (
        tcomp.fmod,
        [np.array([-7.0, 7.0, -7.0, 4.5, 0.9]), np.array([3.0, -3.0, -3.0, 2.0, 2.0])],
    ),
    "mod": (
        tcomp.mod,
        [np.array([-7.0, 7.0, -7.0, 4.5, 0.9]), np.array([3.0, -3.0, -3.0, 2.0, 2.0])],
    ),
    "logaddexp": (tcomp.logaddexp, [_grid(-3, 3, (2, 3)), _grid(-2, 2, (2, 3)) + 0.01]),
    "logaddexp2": (tcomp.logaddexp2, [_grid(-3, 3, (4,)), _grid(-20, 2, (4,))]),
    "lerp": (tcomp.lerp, [_grid(-2, 2, (3,)), _grid(-1, 3, (2, 3)), _grid(-0.5, 1.5, (2, 1))]),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences(name):
    fn, inputs = GRADIENT_CASES[name]
    traced = tcomp.jit(fn, backend="reference").lower(*inputs).function("traced")
    check_gradients(traced, inputs, wrt=tuple(range(len(inputs))), rng=np.random.default_rng(0))


@pytest.mark.parametrize("name", ["logaddexp", "lerp", "fmod", "tan"])
def test_gradient_on_each_backend_matches_the_reference(backend, name):
    fn, inputs = GRADIENT_CASES[name]
    argnums = tuple(range(len(inputs)))
    gradient = tcomp.grad(lambda *a: tcomp.sum(fn(*a) * fn(*a)), argnums=argnums)
    got = tcomp.jit(gradient, backend=backend)(*inputs)
    want = tcomp.jit(gradient, backend="reference")(*inputs)
    for g, w in zip(got, want):
        check(g, np.asarray(w), "float64", backend, rtol=1e-9, atol=1e-12)


def test_logaddexp_gradient_at_a_tie_is_half_and_finite_at_infinities(backend):
    x = np.array([1.0, -np.inf, np.inf, 0.0])
    y = np.array([1.0, -np.inf, np.inf, -np.inf])
    gx, gy = tcomp.jit(
        tcomp.grad(lambda a, b: tcomp.sum(tcomp.logaddexp(a, b)[np.array([0, 3])]), argnums=(0, 1)),
        backend=backend,
    )(x, y)
    np.testing.assert_allclose(np.asarray(gx), [0.5, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(np.asarray(gy), [0.5, 0.0, 0.0, 0.0])


def test_copysign_gradient_is_zero_at_zero_and_none_by_y():
    gx, gy = tcomp.grad(lambda a, b: tcomp.sum(tcomp.copysign(a, b)), argnums=(0, 1))(
        np.array([0.0, 2.0, -2.0]), np.array([-1.0, -1.0, 3.0])
    )
    np.testing.assert_array_equal(np.asarray(gx), [0.0, -1.0, -1.0])
    np.testing.assert_array_equal(np.asarray(gy), [0.0, 0.0, 0.0])


# ---------------------------------------------------------------------------
# Errors


ERRORS = [
    (
        lambda: tcomp.fmod(np.array([True]), np.array([True])),
        TcompTypeError,
        "fmod: not defined on bool",
    ),
    (
        lambda: tcomp.isclose(np.ones(2), np.ones(2), rtol="1"),
        TcompTypeError,
        "isclose: rtol must be",
    ),
    (
        lambda: tcomp.isclose(np.ones(2), np.ones(2), equal_nan=1),
        TcompTypeError,
        "equal_nan must be",
    ),
    (lambda: tcomp.logaddexp(np.ones(2), np.ones(3)), Exception, "logaddexp: shapes"),
    (lambda: tcomp.lerp(np.ones(2), np.ones(3), 0.5), Exception, "lerp: shapes"),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_errors_name_the_function_and_the_users_line(index, mode):
    call, error, words = ERRORS[index]
    run_it = call if mode == "eager" else (lambda: tcomp.jit(call, backend="reference")())
    with pytest.raises(error, match=words) as info:
        run_it()
    assert isinstance(info.value, tcomp.TcompError)
    assert "test_ops_more_math.py:" in str(info.value)


def test_isclose_traced_tolerance_is_refused():
    with pytest.raises(TcompTypeError, match="rtol must be a Python number known when tracing"):
        tcomp.jit(lambda a, r: tcomp.isclose(a, a, rtol=r))(np.ones(2), np.float32(0.1))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_python_scalars_take_the_arrays_dtype(dtype):
    a = np.array([2.0, -3.0], dtype=dtype)
    results = [
        tcomp.fmod(a, 2),
        tcomp.fmod(5.0, a),
        tcomp.copysign(2, a),
        tcomp.logaddexp(0.0, a),
        tcomp.logaddexp2(a, 1),
        tcomp.lerp(0, a, 0.5),
    ]
    for r in results:
        assert r.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(np.asarray(results[0]), np.fmod(a, 2))
    assert tcomp.logaddexp(1, 2).dtype == np.float32  # scalars alone: float32
