"""tcomp's math, rounding, predicate, logical and bitwise functions against numpy, on every backend.

What tcomp defines, and so what is checked (``frontend/math_ops.py``,
``frontend/bitwise_ops.py``, ``ir/primitives/math_functions.py``, ``bitwise.py``):

- ``erf`` ... ``arctan``: numpy's functions (``erf``: the C library's), float only
  (int32 and bool give float32). Each backend calls its math library, so results are
  checked to within ``ULPS`` (8) units in the last place of the exact result in
  float32 and of numpy's in float64 (glibc, libmvec and PoCL measure at most 3),
  NaN and infinities exactly; float16 and bfloat16 are computed in float32 and
  rounded once, so they are within one 16-bit ulp of the exact result rounded;
- ``floor``, ``ceil``, ``trunc``, ``rint``/``round`` (halves to even): bit for bit,
  signed zeros, infinities and NaN included; int32 and bool come back unchanged;
- ``isnan``, ``isinf``, ``isfinite``, ``isposinf``, ``isneginf``, the logical and bitwise ops: exactly numpy's;
- ``left_shift``/``right_shift``: numpy's int32 result bit for bit for every amount,
  negative and >= 32 included (C and LLVM leave those undefined);
- gradients (float64 central differences through ``tcomp.grad``): the rules of
  ``ir/primitives/math_functions.py``; 0 for the rounding functions.

Every function runs inside ``jit``, eagerly on numpy arrays and on ``tcomp.Array``
(``frontend_helpers``), and the operators ``& | ^ ~ << >>`` on traced values and arrays.
"""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest
from frontend_helpers import (
    ALL_DTYPES,
    ALL_FLOATS,
    MODES,
    OPERATOR_MODES,
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
from test_floor_divide import assert_same_bits

import tcomp
from tcomp.errors import TcompArgumentError
from tcomp.ir.bfloat16 import to_bfloat16
from tcomp.ir.types import numpy_dtype

ULPS = 8  # the accuracy every backend's math functions are held to (see the docstring)
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf(x: np.ndarray) -> np.ndarray:
    return np.asarray(_ERF(np.asarray(x, dtype=np.float64)), dtype=np.float64)


# name -> (tcomp function, numpy reference (float64), the range of the inputs drawn)
MATH = {
    "erf": (tcomp.erf, _erf, (-4, 4)),
    "log1p": (tcomp.log1p, np.log1p, (-0.9, 4)),
    "expm1": (tcomp.expm1, np.expm1, (-3, 3)),
    "sinh": (tcomp.sinh, np.sinh, (-3, 3)),
    "cosh": (tcomp.cosh, np.cosh, (-3, 3)),
    "asinh": (tcomp.asinh, np.arcsinh, (-5, 5)),
    "acosh": (tcomp.acosh, np.arccosh, (1, 5)),
    "atanh": (tcomp.atanh, np.arctanh, (-0.95, 0.95)),
    "arcsin": (tcomp.arcsin, np.arcsin, (-1, 1)),
    "arccos": (tcomp.arccos, np.arccos, (-1, 1)),
    "arctan": (tcomp.arctan, np.arctan, (-5, 5)),
}
ALIASES = {"arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "invert": "bitwise_not"}
# wide ranges for the accuracy check: overflow, tiny values, the whole domain
WIDE = {
    "erf": (-7, 7),
    "log1p": (-0.999, 1e6),
    "expm1": (-30, 90),
    "sinh": (-90, 90),
    "cosh": (-90, 90),
    "asinh": (-1e6, 1e6),
    "acosh": (1, 1e6),
    "atanh": (-1, 1),
    "arcsin": (-1, 1),
    "arccos": (-1, 1),
    "arctan": (-1e4, 1e4),
}
SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 1e-30, -1e-30, np.inf, -np.inf, np.nan]

ROUNDING = {
    "floor": (tcomp.floor, np.floor),
    "ceil": (tcomp.ceil, np.ceil),
    "trunc": (tcomp.trunc, np.trunc),
    "rint": (tcomp.rint, np.rint),
    "round": (tcomp.round, np.round),
}
PREDICATES = {
    "isnan": np.isnan,
    "isinf": np.isinf,
    "isfinite": np.isfinite,
    "isposinf": np.isposinf,
    "isneginf": np.isneginf,
}
LOGICAL = {
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_xor": np.logical_xor,
}
BITWISE = {
    "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
}
SHIFTS = {"left_shift": np.left_shift, "right_shift": np.right_shift}
# operator -> numpy's function (the reflected form runs too)
OPERATORS = {
    "&": (operator.and_, np.bitwise_and),
    "|": (operator.or_, np.bitwise_or),
    "^": (operator.xor, np.bitwise_xor),
    "<<": (operator.lshift, np.left_shift),
    ">>": (operator.rshift, np.right_shift),
}

# ---------------------------------------------------------------------------
# Helpers


def _math_inputs(rng: np.random.Generator, shape, dtype: str) -> list[np.ndarray]:
    return [random_array(rng, shape, dtype, *MATH[name][2]) for name in MATH]


def _all_math(*xs):
    return tuple(MATH[name][0](x) for name, x in zip(MATH, xs))


def _ulps(got: np.ndarray, exact: np.ndarray, dtype) -> np.ndarray:
    """|got - exact| in units of the last place of ``exact`` rounded to ``dtype``."""
    with np.errstate(all="ignore"):
        spacing = np.spacing(np.abs(exact.astype(dtype))).astype(np.float64)
        return np.abs(got.astype(np.float64) - exact) / spacing


def _assert_close_in_ulps(got, exact: np.ndarray, dtype, what: str, ulps: float) -> None:
    """NaN and infinities where ``exact`` has them, the rest within ``ulps`` of it."""
    got = np.asarray(got).astype(np.float64)
    with np.errstate(all="ignore"):
        rounded = exact.astype(dtype).astype(np.float64)  # overflow: inf in dtype
    special = ~np.isfinite(rounded)
    np.testing.assert_array_equal(got[special], rounded[special], err_msg=what)
    error = _ulps(got[~special], exact[~special], dtype)
    worst = float(np.max(error, initial=0.0))
    assert worst <= ulps, f"{what}: {worst:.1f} ulp at {exact[~special][np.argmax(error)]}"


def _bfloat16_ulp(values: np.ndarray) -> np.ndarray:
    """The spacing of bfloat16 at ``values`` (float32's, 16 bits coarser)."""
    return np.spacing(np.abs(values.astype(np.float32))).astype(np.float64) * 2**16


def _float_elements(dtype: str):
    """Special values, halves (ties) and any bit pattern of the dtype."""
    info = np.finfo(numpy_dtype(dtype))
    specials = SPECIALS + [float(info.max), -float(info.max), float(info.smallest_subnormal)]
    itemsize = numpy_dtype(dtype).itemsize
    unsigned = {2: np.uint16, 4: np.uint32, 8: np.uint64}[itemsize]
    raw = st.integers(0, 2 ** (8 * itemsize) - 1).map(
        lambda bits: float(np.asarray(bits, dtype=unsigned).view(numpy_dtype(dtype)))
    )
    halves = st.integers(-40, 40).map(lambda k: k / 2)
    nearly = st.sampled_from([0.49999997, 0.50000006, 2.4999998, -1.5000001, 8388607.5])
    return st.one_of(st.sampled_from(specials), halves, nearly, raw)


def _float_arrays(dtype: str, size: int = 40):
    return st.lists(_float_elements(dtype), min_size=size, max_size=size).map(
        lambda values: _as_dtype(np.asarray(values, dtype=np.float64), dtype)
    )


def _as_dtype(values: np.ndarray, dtype: str) -> np.ndarray:
    with np.errstate(all="ignore"):
        return to_bfloat16(values) if dtype == "bfloat16" else values.astype(numpy_dtype(dtype))


_SPECIAL_INTS = [0, 1, -1, 2, -2, 31, 32, 33, -31, -32, -33, 40, INT_MIN, INT_MAX, INT_MIN + 1]
_int_elements = st.one_of(
    st.sampled_from(_SPECIAL_INTS), st.integers(-40, 40), st.integers(INT_MIN, INT_MAX)
)


def _int_arrays(size: int = 40):
    return st.lists(_int_elements, min_size=size, max_size=size).map(
        lambda values: np.asarray(values, dtype=np.int32)
    )


def _with_specials(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """``x`` with about half its elements NaN, +-inf or zero (floats only)."""
    if x.dtype.kind != "f":
        return x
    specials = np.array([np.nan, np.inf, -np.inf, 0.0])[rng.integers(0, 4, x.shape)]
    return np.where(rng.random(x.shape) < 0.5, specials, x).astype(x.dtype)


# ---------------------------------------------------------------------------
# erf, log1p, expm1, hyperbolic and inverse trigonometric functions


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(shape=shapes(), dtype=st.sampled_from(ALL_FLOATS + ("int32", "bool")), seed=seeds)
def test_math_functions_match_numpy(backend, mode, shape, dtype, seed):
    inputs = _math_inputs(np.random.default_rng(seed), shape, dtype)
    expected_dtype = "float32" if dtype in ("int32", "bool") else dtype
    results = run(_all_math, inputs, mode, backend)
    for name, x, got in zip(MATH, inputs, results):
        with np.errstate(all="ignore"):
            expected = MATH[name][1](x.astype(np.float64))
        check(got, expected, expected_dtype, backend)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_math_functions_are_accurate_over_their_domains(backend, dtype):
    """Wide ranges, tiny values, overflow, domain edges and specials: within ULPS of the
    exact result (float32) or numpy's (float64); NaN and infinities exactly."""
    rng = np.random.default_rng(5)
    inputs = []
    for name in MATH:
        low, high = WIDE[name]
        wide = rng.uniform(low, high, 300)
        small = rng.uniform(max(low, -1), min(high, 1), 200)
        tiny = np.geomspace(1e-30, 1e-3, 40) * np.where(rng.random(40) < 0.5, -1, 1)
        edges = np.array([low, high, np.nextafter(high, 0), np.nextafter(low, 0)])
        values = np.concatenate([wide, small, tiny, edges, SPECIALS])
        inputs.append(values.astype(dtype))
    results = tcomp.jit(_all_math, backend=backend)(*inputs)
    for name, x, got in zip(MATH, inputs, results):
        assert np.asarray(got).dtype == np.dtype(dtype)
        with np.errstate(all="ignore"):
            exact = MATH[name][1](x.astype(np.float64))
        _assert_close_in_ulps(got, exact, dtype, f"{name} on {backend} in {dtype}", ULPS)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16_bit_floats_are_computed_in_float32_and_rounded_once(backend, dtype):
    rng = np.random.default_rng(11)
    inputs = [_as_dtype(rng.uniform(*MATH[name][2], 64), dtype) for name in MATH]
    results = tcomp.jit(_all_math, backend=backend)(*inputs)
    for name, x, got in zip(MATH, inputs, results):
        got = np.asarray(got)
        assert got.dtype == x.dtype
        with np.errstate(all="ignore"):
            exact = MATH[name][1](x.astype(np.float64))
        want = _as_dtype(exact, dtype).astype(np.float64)
        # one rounding of a float32 result a few ulp from exact: at most one 16-bit ulp off
        ulp = (
            _bfloat16_ulp(want)
            if dtype == "bfloat16"
            else np.spacing(np.abs(want).astype(np.float16)).astype(np.float64)
        )
        finite = np.isfinite(want)
        np.testing.assert_array_equal(np.isnan(got.astype(np.float64)), np.isnan(want))
        error = np.abs(got.astype(np.float64)[finite] - want[finite]) / ulp[finite]
        assert np.max(error, initial=0.0) <= 1, f"{name} in {dtype} on {backend}"


def test_names_and_aliases():
    for alias, name in ALIASES.items():
        assert getattr(tcomp, alias) is getattr(tcomp, name)


# ---------------------------------------------------------------------------
# Rounding


def _all_rounding(x):
    return tuple(fn(x) for fn, _ in ROUNDING.values())


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@fixture_settings
@given(data=st.data())
def test_rounding_matches_numpy_bit_for_bit(backend, dtype, data):
    x = data.draw(_float_arrays(dtype), label="x")
    results = tcomp.jit(_all_rounding, backend=backend)(x)
    for name, got in zip(ROUNDING, results):
        numpy_fn = ROUNDING[name][1]
        with np.errstate(all="ignore"):  # signalling NaNs among the bit patterns
            if dtype == "bfloat16":  # exact: a whole bfloat16 number is a bfloat16
                want = to_bfloat16(numpy_fn(x.astype(np.float32)))
            else:
                want = numpy_fn(x)
        assert_same_bits(got, want, f"{name} on {backend}, {dtype}")


def test_round_takes_halves_to_even(backend):
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49999997, -0.0], np.float32)
    expected = np.array([-2, -2, -0.0, 0, 2, 2, 4, 0, -0.0], np.float32)
    for fn in (tcomp.round, tcomp.rint):
        assert_same_bits(run(fn, [x], "jit", backend), expected, fn.__name__)
    assert_same_bits(run(tcomp.floor, [x], "jit", backend), np.floor(x), "floor")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_rounding_in_every_mode_keeps_the_dtype(backend, mode, dtype):
    x = np.array([[-2.5, -0.7, 0.0, 0.5], [1.5, 2.2, 3.0, -3.5]]).astype(dtype)
    for name, (fn, numpy_fn) in ROUNDING.items():
        expected = numpy_fn(x)  # numpy keeps int32 and bool too
        check(run(fn, [x], mode, backend), expected, dtype, backend)


@pytest.mark.parametrize("mode", OPERATOR_MODES)
def test_numpy_round_methods_and_builtin_round(backend, mode):
    x = np.array([0.5, 1.5, -2.5, 2.7], np.float32)
    expected = np.round(x)
    check(run(np.round, [x], mode, backend), expected, np.float32, backend)
    check(run(lambda a: a.round(), [x], mode, backend), expected, np.float32, backend)
    check(run(lambda a: round(a), [x], mode, backend), expected, np.float32, backend)
    check(run(np.rint, [x], mode, backend), expected, np.float32, backend)


def test_round_refuses_other_decimals(backend):
    x = np.array([0.25, 1.5], np.float32)
    for decimals in (1, -1, 2):
        with pytest.raises(
            TcompArgumentError, match=f"round: decimals={decimals} is not supported"
        ):
            run(lambda a: tcomp.round(a, decimals), [x], "jit", backend)
    with pytest.raises(TcompArgumentError, match="decimals=2"):
        run(lambda a: np.round(a, 2), [x], "jit", backend)


# ---------------------------------------------------------------------------
# isnan, isinf, isfinite, isposinf, isneginf


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(PREDICATES))
@fixture_settings
@given(shape=shapes(), dtype=st.sampled_from(ALL_DTYPES), seed=seeds)
def test_predicates_match_numpy(backend, name, mode, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = _with_specials(rng, random_array(rng, shape, dtype))
    fn = getattr(tcomp, name)
    check(run(fn, [x], mode, backend), PREDICATES[name](x), bool, backend)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_predicates_on_every_special_value(backend, dtype):
    info = np.finfo(numpy_dtype(dtype))
    values = np.array(SPECIALS + [float(info.max), -float(info.max), float(info.tiny)])
    x = _as_dtype(values, dtype)
    results = tcomp.jit(
        lambda a: tuple(getattr(tcomp, name)(a) for name in PREDICATES), backend=backend
    )(x)
    wide = x.astype(np.float64)
    for got, want in zip(results, (numpy_fn(wide) for numpy_fn in PREDICATES.values())):
        assert_same_bits(got, want, f"{dtype} on {backend}")


@pytest.mark.parametrize("name", ["isposinf", "isneginf"])
def test_signed_infinity_predicates_have_no_gradient(backend, name):
    """A comparison: the gradient through ``where(isposinf(x), ...)`` reaches only the
    selected branch, none through the predicate itself."""
    x = np.array([np.inf, -np.inf, 1.0, 2.0], np.float32)
    predicate = getattr(tcomp, name)
    grad = tcomp.jit(
        tcomp.grad(lambda a: tcomp.sum(tcomp.where(predicate(a), 0.0, a * 3.0))), backend=backend
    )(x)
    expected = np.where(getattr(np, name)(x), 0.0, 3.0)
    np.testing.assert_array_equal(np.asarray(grad), expected)


# ---------------------------------------------------------------------------
# numpy's ufuncs on tcomp arrays


UFUNCS = {
    "floor": np.floor,
    "ceil": np.ceil,
    "trunc": np.trunc,
    "rint": np.rint,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "arcsinh": np.arcsinh,
    "arctanh": np.arctanh,
    "arcsin": np.arcsin,
    "arccos": np.arccos,
    "arctan": np.arctan,
    "isnan": np.isnan,
    "isinf": np.isinf,
    "isfinite": np.isfinite,
    "logical_not": np.logical_not,
}


@pytest.mark.parametrize("mode", OPERATOR_MODES)
def test_numpy_ufuncs_on_tcomp_values(backend, mode):
    x = np.array([[0.5, -0.25], [0.75, np.inf]], np.float32)
    for name, ufunc in UFUNCS.items():
        with np.errstate(all="ignore"):
            expected = ufunc(x)
        check(run(ufunc, [x], mode, backend), expected, expected.dtype, backend)
    y = np.array([[2.0, 1.0], [1.0, 3.0]], np.float32)
    check(run(np.arccosh, [y], mode, backend), np.arccosh(y), np.float32, backend)
    i, s = np.int32([[6, -6], [1, 7]]), np.int32([[1, 2], [40, -1]])
    for ufunc in (
        np.bitwise_and,
        np.bitwise_or,
        np.bitwise_xor,
        np.left_shift,
        np.right_shift,
        np.logical_and,
        np.logical_or,
        np.logical_xor,
    ):
        expected = ufunc(i, s)
        check(run(ufunc, [i, s], mode, backend), expected, expected.dtype, backend)
    check(run(np.invert, [i], mode, backend), np.invert(i), np.int32, backend)


# ---------------------------------------------------------------------------
# Gradients (float64 central differences, through tcomp.grad on each backend)

# name -> (tcomp function, numpy function, inputs away from jumps and domain edges)
GRADIENTS = {
    "erf": (tcomp.erf, _erf, (-2, 2)),
    "log1p": (tcomp.log1p, np.log1p, (-0.5, 3)),
    "expm1": (tcomp.expm1, np.expm1, (-2, 2)),
    "sinh": (tcomp.sinh, np.sinh, (-2, 2)),
    "cosh": (tcomp.cosh, np.cosh, (-2, 2)),
    "asinh": (tcomp.asinh, np.arcsinh, (-3, 3)),
    "acosh": (tcomp.acosh, np.arccosh, (1.5, 4)),
    "atanh": (tcomp.atanh, np.arctanh, (-0.8, 0.8)),
    "arcsin": (tcomp.arcsin, np.arcsin, (-0.8, 0.8)),
    "arccos": (tcomp.arccos, np.arccos, (-0.8, 0.8)),
    "arctan": (tcomp.arctan, np.arctan, (-3, 3)),
}


def test_gradients_match_finite_differences(backend):
    rng = np.random.default_rng(3)
    inputs = [rng.uniform(*GRADIENTS[name][2], 7) for name in GRADIENTS]
    weights = rng.standard_normal(7)

    def loss(*xs):
        return sum(tcomp.sum(GRADIENTS[name][0](x) * weights) for name, x in zip(GRADIENTS, xs))

    grads = tcomp.jit(tcomp.grad(loss, argnums=tuple(range(len(inputs)))), backend=backend)(*inputs)
    eps = 1e-6
    for name, x, got in zip(GRADIENTS, inputs, grads):
        reference = GRADIENTS[name][1]
        numeric = (reference(x + eps) - reference(x - eps)) / (2 * eps) * weights
        np.testing.assert_allclose(np.asarray(got), numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_rounding_gradients_are_zero(backend):
    """Step functions: tcomp defines their derivative as 0 everywhere, the jumps included
    (as JAX and PyTorch)."""
    x = np.array([-1.5, -0.5, 0.0, 0.3, 0.5, 2.0, 2.5])
    for name, (fn, _) in ROUNDING.items():
        grad = tcomp.jit(tcomp.grad(lambda a: tcomp.sum(fn(a) * a)), backend=backend)(x)
        # d/da (round(a) * a) = round(a): only the direct path
        np.testing.assert_array_equal(np.asarray(grad), ROUNDING[name][1](x), err_msg=name)


# ---------------------------------------------------------------------------
# The llvm backend: a libm call without a libmvec variant is a scalar call, as correct


def test_llvm_math_calls_without_vector_variants(monkeypatch):
    """On llvm only (its vector math library), whatever backends the suite runs on."""
    from tcomp.backends.llvm import runtime

    x = np.linspace(-0.9, 0.9, 41)  # a vector loop and a scalar tail
    inputs = [x.astype(np.float32) * (5 if name in ("asinh", "arctan") else 1) for name in MATH]
    inputs[list(MATH).index("acosh")] = (1 + x * x * 4).astype(np.float32)
    with_variants = tcomp.jit(_all_math, backend="llvm")(*inputs)  # libmvec's, where found
    # without variants (a new cache key, so a new compile): scalar calls, same results
    monkeypatch.setitem(runtime.target_state(), "vector_functions", {})
    without = tcomp.jit(_all_math, backend="llvm")(*inputs)
    for name, a, b in zip(MATH, with_variants, without):
        with np.errstate(all="ignore"):
            exact = MATH[name][1](inputs[list(MATH).index(name)].astype(np.float64))
        _assert_close_in_ulps(a, exact, "float32", f"{name} (libmvec)", ULPS)
        _assert_close_in_ulps(b, exact, "float32", f"{name} (scalar libm)", ULPS)


def test_llvm_library_calls_name_their_vector_variants():
    pytest.importorskip("llvmlite")
    from kernel_lowering_helpers import one_op

    from tcomp.backends.llvm.render import render_text
    from tcomp.backends.llvm.vecmath import available_variants
    from tcomp.ir.kernel.lowering import lower_function

    table = available_variants({"avx2": True}, lambda symbol: True)
    assert table["erff"] == [(8, "_ZGVdN8v_erff")] and table["asinh"] == [(4, "_ZGVdN4v_asinh")]
    assert table["llvm.sinh.f32"] == [(8, "_ZGVdN8v_sinhf")]
    program = lower_function(one_op("erf", [np.ones(16, np.float32)]))
    text = render_text(program, vector_functions=table)
    assert 'declare float @"erff"(float %".1") nounwind readnone' in text
    assert '"vector-function-abi-variant"="_ZGV_LLVM_N8v_erff(_ZGVdN8v_erff)"' in text
    assert "vector-function-abi-variant" not in render_text(program)


# ---------------------------------------------------------------------------
# Every function of these modules is checked above; a new one must join a test.

COVERED = (
    {name for name in MATH}
    | set(ALIASES)
    | set(ROUNDING)
    | set(PREDICATES)
    | set(LOGICAL)
    | {"logical_not", "bitwise_not"}
    | set(BITWISE)
    | set(SHIFTS)
)


def test_every_function_of_these_modules_is_tested():
    modules = ("tcomp.frontend.math_ops", "tcomp.frontend.bitwise_ops")
    public = {
        name
        for name in tcomp.__all__
        if getattr(getattr(tcomp, name), "__module__", None) in modules
    }
    assert public, "the namespace lost these functions"
    assert public <= COVERED, f"untested: {sorted(public - COVERED)}"
    assert COVERED <= set(tcomp.__all__)


def test_array_round_on_a_concrete_array_is_tcomps(backend):
    result = to_array(np.array([0.5, 1.5], np.float32), backend).round()
    assert isinstance(result, tcomp.Array) and result.backend == backend
    np.testing.assert_array_equal(np.asarray(result), [0.0, 2.0])
