"""The numpy functions composed from tcomp's ops (frontend/composite_ops.py), against numpy.

Each function is drawn by hypothesis (shapes, axes, dtypes) inside ``jit``
on each backend, with fewer examples on the compiled backends (their
compiles dominate); every function also runs once in each mode (``jit``,
eagerly on numpy arrays and on ``tcomp.Array``) in
``test_every_function_in_every_mode``. Gradients of the differentiable ones
are checked in float64 against central differences of the traced graph
(tests/gradcheck.py), and ``tcomp.grad`` on each backend against the
reference's. Dtypes: int32 and bool sums, products and scans give int32
(numpy: int64), var/std of ints float32 (numpy: float64), indices int32.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from frontend_helpers import (
    MODES,
    OPERATOR_MODES,
    check,
    random_array,
    run,
    seeds,
    shapes,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import tcomp

# ---------------------------------------------------------------------------
# Helpers


def examples(backend: str) -> settings:
    """Hypothesis settings for ``backend``: the profile's count on the reference, fewer on
    compiled backends, where each example is a compile."""
    base = settings.default.max_examples
    count = {"reference": base, "llvm": max(2, base // 3)}.get(backend, max(2, base // 5))
    return settings(max_examples=count)


def axis_choices(ndim: int, several: bool = True):
    if ndim == 0:
        return st.just(None)
    single = st.integers(-ndim, ndim - 1)
    if not several:
        return st.one_of(st.none(), single)
    many = st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple)
    return st.one_of(st.none(), single, many)


def with_zeros(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """``x`` with about a quarter of its elements set to zero (products, any/all)."""
    return np.where(rng.random(x.shape) < 0.25, np.zeros((), x.dtype), x).astype(x.dtype)


def counted(dtype: str) -> str:
    """tcomp's dtype of a sum, product or scan of ``dtype``."""
    return "int32" if dtype in ("int32", "bool") else dtype


def run_jit(backend: str, fn, *args):
    return run(fn, list(args), "jit", backend)


# ---------------------------------------------------------------------------
# Reductions


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_and_std_match_numpy(backend, name):
    @examples(backend)
    @given(
        data=st.data(),
        dtype=st.sampled_from(("float32", "float64", "float16", "int32", "bool")),
        seed=seeds,
    )
    def inner(data, dtype, seed):
        shape = data.draw(shapes(max_side=4), label="shape")
        axis = data.draw(axis_choices(len(shape)), label="axis")
        ddof, keepdims = (
            data.draw(st.sampled_from((0, 1, 2)), label="ddof"),
            data.draw(st.booleans()),
        )
        x = random_array(np.random.default_rng(seed), shape, dtype)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy: ddof >= N, empty axes
            expected = getattr(np, name)(
                x.astype(np.float64), axis=axis, ddof=ddof, keepdims=keepdims
            )
        out = dtype if dtype.startswith("float") else "float32"
        fn = getattr(tcomp, name)
        check(run_jit(backend, lambda a: fn(a, axis, ddof, keepdims), x), expected, out, backend)

    inner()


def test_var_with_a_dtype_computes_in_it(backend):
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    result = run_jit(backend, lambda a: tcomp.var(a, axis=1, dtype="float64"), x)
    check(result, np.var(x, axis=1), "float64", backend)


def test_prod_matches_numpy(backend):
    @examples(backend)
    @given(
        data=st.data(),
        dtype=st.sampled_from(("float32", "float64", "int32", "bool")),
        keepdims=st.booleans(),
        seed=seeds,
    )
    def inner(data, dtype, keepdims, seed):
        shape = data.draw(shapes(max_side=4), label="shape")
        axis = data.draw(axis_choices(len(shape)), label="axis")
        rng = np.random.default_rng(seed)
        x = with_zeros(rng, random_array(rng, shape, dtype, -2, 2))  # zeros and negatives
        expected = np.prod(x.astype(np.float64), axis=axis, keepdims=keepdims)
        result = run_jit(backend, lambda a: tcomp.prod(a, axis=axis, keepdims=keepdims), x)
        check(result, expected, counted(dtype), backend)

    inner()


@pytest.mark.parametrize("name", ["any", "all"])
def test_any_and_all_match_numpy(backend, name):
    @examples(backend)
    @given(
        data=st.data(),
        dtype=st.sampled_from(("float32", "int32", "bool")),
        keepdims=st.booleans(),
        seed=seeds,
    )
    def inner(data, dtype, keepdims, seed):
        shape = data.draw(shapes(), label="shape")
        axis = data.draw(axis_choices(len(shape)), label="axis")
        rng = np.random.default_rng(seed)
        x = with_zeros(rng, random_array(rng, shape, dtype, -2, 2, nonzero=True))
        expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
        result = run_jit(
            backend, lambda a: getattr(tcomp, name)(a, axis=axis, keepdims=keepdims), x
        )
        check(result, expected, "bool", backend)

    inner()


def test_any_and_all_count_nan_as_true(backend):
    x = np.array([[np.nan, 0.0], [0.0, 0.0]], np.float32)
    check(run_jit(backend, lambda a: tcomp.any(a, axis=1), x), [True, False], "bool", backend)
    check(
        run_jit(backend, lambda a: tcomp.all(a, axis=0), np.abs(x) + np.nan),
        [True, True],
        "bool",
        backend,
    )


def test_argmin_matches_numpy(backend):
    @examples(backend)
    @given(
        data=st.data(), dtype=st.sampled_from(("float32", "float64", "int32", "bool")), seed=seeds
    )
    def inner(data, dtype, seed):
        shape = data.draw(shapes(min_dims=1, min_side=1), label="shape")
        axis = data.draw(axis_choices(len(shape), several=False), label="axis")
        x = random_array(np.random.default_rng(seed), shape, dtype, -2, 2)  # ties: the first wins
        check(
            run_jit(backend, lambda a: tcomp.argmin(a, axis=axis), x),
            np.argmin(x, axis=axis),
            "int32",
            backend,
        )

    inner()


def test_argmin_corners(backend):
    ints = np.array(
        [3, np.iinfo(np.int32).min, np.iinfo(np.int32).max, np.iinfo(np.int32).min], np.int32
    )
    check(run_jit(backend, tcomp.argmin, ints), np.argmin(ints), "int32", backend)
    floats = np.array([[1.0, np.nan, -2.0, np.nan], [0.0, -0.0, 5.0, -np.inf]], np.float32)
    check(
        run_jit(backend, lambda a: tcomp.argmin(a, axis=1), floats),
        np.argmin(floats, axis=1),
        "int32",
        backend,
    )


# ---------------------------------------------------------------------------
# Scans

SCANS = {
    "cumsum": (tcomp.cumsum, np.cumsum),
    "cumprod": (tcomp.cumprod, np.cumprod),
    "cummax": (tcomp.cummax, np.maximum.accumulate),
    "cummin": (tcomp.cummin, np.minimum.accumulate),
}


def numpy_scan(name: str, x: np.ndarray, axis) -> np.ndarray:
    reference = SCANS[name][1]
    if axis is None:
        x, axis = x.reshape(-1), 0
    return reference(x.astype(np.float64) if name in ("cumsum", "cumprod") else x, axis=axis)


@pytest.mark.parametrize("name", sorted(SCANS))
def test_scans_match_numpy(backend, name):
    @examples(backend)
    @given(
        data=st.data(), dtype=st.sampled_from(("float32", "float64", "int32", "bool")), seed=seeds
    )
    def inner(data, dtype, seed):
        shape = data.draw(shapes(max_side=5), label="shape")
        axis = data.draw(axis_choices(len(shape), several=False), label="axis")
        low, high = (-1, 1) if name == "cumprod" else (-3, 3)  # products stay in range
        x = random_array(np.random.default_rng(seed), shape, dtype, low, high)
        expected = numpy_scan(name, x, axis)
        out = dtype if name in ("cummax", "cummin") else counted(dtype)
        check(run_jit(backend, lambda a: SCANS[name][0](a, axis), x), expected, out, backend)

    inner()


def test_long_scans_match_numpy(backend):
    """37 elements: six rounds, the last one shifting by 32 (past half the axis)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.8, 1.25, (2, 37))
    results = run_jit(backend, lambda a: [SCANS[name][0](a, -1) for name in sorted(SCANS)], x)
    for name, result in zip(sorted(SCANS), results):
        check(result, numpy_scan(name, x, -1), "float64", backend)
    ints = rng.integers(-5, 6, 37).astype(np.int32)
    check(
        run_jit(backend, lambda a: tcomp.cumsum(a, dtype="float32"), ints),
        np.cumsum(ints),
        "float32",
        backend,
    )


# ---------------------------------------------------------------------------
# nonzero and argwhere with a static size


def numpy_nonzero(x: np.ndarray, size: int, fill) -> list[np.ndarray]:
    fills = fill if isinstance(fill, tuple) else (fill,) * x.ndim
    result = []
    for found, f in zip(np.nonzero(x), fills):
        padded = np.full(size, f)
        padded[: min(size, found.size)] = found[:size]
        result.append(padded)
    return result


def test_nonzero_and_argwhere_match_numpy(backend):
    @examples(backend)
    @given(data=st.data(), dtype=st.sampled_from(("float32", "int32", "bool")), seed=seeds)
    def inner(data, dtype, seed):
        shape = data.draw(shapes(min_dims=1, max_side=4), label="shape")
        size = data.draw(st.integers(0, int(np.prod(shape)) + 2), label="size")
        fill = data.draw(
            st.one_of(st.integers(-2, 2), st.just(tuple(range(len(shape))))), label="fill"
        )
        rng = np.random.default_rng(seed)
        x = with_zeros(rng, with_zeros(rng, random_array(rng, shape, dtype, nonzero=True)))
        expected = numpy_nonzero(x, size, fill)
        got = run_jit(backend, lambda a: tcomp.nonzero(a, size=size, fill_value=fill), x)
        assert isinstance(got, tuple) and len(got) == len(shape)
        for g, e in zip(got, expected):
            check(g, e, "int32", backend)
        stacked = np.stack(expected, axis=1)
        check(
            run_jit(backend, lambda a: tcomp.argwhere(a, size=size, fill_value=fill), x),
            stacked,
            "int32",
            backend,
        )

    inner()


@pytest.mark.parametrize("value", [5.0, 0.0])
def test_argwhere_of_a_0d_array_has_no_columns(backend, value):
    """numpy's argwhere of a 0-d array is ``(k, 0)``; with a static size, ``(size, 0)``."""
    assert np.argwhere(np.float32(value)).shape[1] == 0
    got = run_jit(backend, lambda a: tcomp.argwhere(a, size=3), np.float32(value))
    assert np.asarray(got).shape == (3, 0) and np.asarray(got).dtype == np.int32
    with pytest.raises(tcomp.errors.TcompShapeError, match="nonzero: not defined on 0-d"):
        tcomp.nonzero(np.float32(value), size=3)


# ---------------------------------------------------------------------------
# Shapes


def test_triangles_and_diagonal_match_numpy(backend):
    @examples(backend)
    @given(data=st.data(), dtype=st.sampled_from(("float32", "int32", "bool")), seed=seeds)
    def inner(data, dtype, seed):
        shape = data.draw(shapes(min_dims=1, max_side=4), label="shape")
        k = data.draw(st.integers(-5, 5), label="k")
        x = random_array(np.random.default_rng(seed), shape, dtype)
        lower, upper = run_jit(backend, lambda a: (tcomp.tril(a, k), tcomp.triu(a, k)), x)
        check(lower, np.tril(x, k), dtype, backend)
        check(upper, np.triu(x, k), dtype, backend)
        if len(shape) >= 2:
            a1, a2 = data.draw(
                st.lists(
                    st.integers(-len(shape), len(shape) - 1),
                    min_size=2,
                    max_size=2,
                    unique_by=lambda a: a % len(shape),
                ),
                label="axes",
            )
            expected = np.diagonal(x, k, a1, a2)
            check(
                run_jit(backend, lambda a: tcomp.diagonal(a, k, a1, a2), x),
                expected,
                dtype,
                backend,
            )

    inner()


def test_flip_roll_and_moveaxis_match_numpy(backend):
    @examples(backend)
    @given(data=st.data(), seed=seeds)
    def inner(data, seed):
        shape = data.draw(shapes(max_side=4), label="shape")
        ndim = len(shape)
        x = random_array(np.random.default_rng(seed), shape, "float32")
        flip_axis = data.draw(axis_choices(ndim), label="flip axis")
        shift = data.draw(st.integers(-9, 9), label="shift")
        roll_axis = data.draw(
            st.one_of(st.none(), st.integers(-ndim, ndim - 1)) if ndim else st.none(),
            label="roll axis",
        )
        perm = data.draw(st.permutations(range(ndim)), label="moveaxis")
        source, destination = list(range(ndim))[: ndim // 2 + 1], list(perm)[: ndim // 2 + 1]
        got = run_jit(
            backend,
            lambda a: (
                tcomp.flip(a, flip_axis),
                tcomp.roll(a, shift, roll_axis),
                tcomp.moveaxis(a, source, destination),
            ),
            x,
        )
        check(got[0], np.flip(x, flip_axis), "float32", backend)
        check(got[1], np.roll(x, shift, roll_axis), "float32", backend)
        check(got[2], np.moveaxis(x, source, destination), "float32", backend)

    inner()


def test_roll_of_several_axes_matches_numpy(backend):
    x = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    for shift, axis in [((1, -5), (0, 2)), (2, (1, 2)), ((1, 2), -1), ((3, 4), (2, 2))]:
        check(
            run_jit(backend, lambda a: tcomp.roll(a, shift, axis), x),
            np.roll(x, shift, axis),
            "int32",
            backend,
        )


def test_tile_and_repeat_match_numpy(backend):
    @examples(backend)
    @given(data=st.data(), dtype=st.sampled_from(("float32", "int32", "bool")), seed=seeds)
    def inner(data, dtype, seed):
        shape = data.draw(shapes(max_side=3), label="shape")
        reps = data.draw(
            st.one_of(st.integers(0, 3), st.lists(st.integers(0, 3), max_size=4).map(tuple)),
            label="reps",
        )
        axis = data.draw(axis_choices(len(shape), several=False), label="axis")
        n = int(np.prod(shape)) if axis is None else shape[axis]
        repeats = data.draw(
            st.one_of(st.integers(0, 3), st.lists(st.integers(0, 3), min_size=n, max_size=n)),
            label="repeats",
        )
        x = random_array(np.random.default_rng(seed), shape, dtype)
        tiled, repeated = run_jit(
            backend, lambda a: (tcomp.tile(a, reps), tcomp.repeat(a, repeats, axis)), x
        )
        check(tiled, np.tile(x, reps), dtype, backend)
        check(repeated, np.repeat(x, repeats, axis), dtype, backend)

    inner()


def test_split_and_array_split_match_numpy(backend):
    @examples(backend)
    @given(data=st.data(), seed=seeds)
    def inner(data, seed):
        shape = data.draw(shapes(min_dims=1, max_side=5), label="shape")
        axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
        n = shape[axis]
        points = data.draw(st.lists(st.integers(-n - 1, n + 1), max_size=3), label="points")
        sections = data.draw(st.integers(1, 4), label="sections")
        equal = data.draw(st.sampled_from([d for d in range(1, 4) if n % d == 0]), label="equal")
        x = random_array(np.random.default_rng(seed), shape, "float32")
        got = run_jit(
            backend,
            lambda a: (
                tcomp.split(a, points, axis),
                tcomp.array_split(a, sections, axis),
                tcomp.split(a, equal, axis),
            ),
            x,
        )
        expected = (
            np.split(x, points, axis),
            np.array_split(x, sections, axis),
            np.split(x, equal, axis),
        )
        for pieces, wanted in zip(got, expected):
            assert isinstance(pieces, list) and len(pieces) == len(wanted)
            for piece, want in zip(pieces, wanted):
                check(piece, want, "float32", backend)

    inner()


def test_outer_and_ravel_match_numpy(backend):
    @examples(backend)
    @given(
        shapes_=st.tuples(shapes(max_dims=2), shapes(max_dims=2)),
        dtypes=st.tuples(*[st.sampled_from(("float32", "float64", "int32", "bool"))] * 2),
        seed=seeds,
    )
    def inner(shapes_, dtypes, seed):
        rng = np.random.default_rng(seed)
        a, b = (random_array(rng, s, d) for s, d in zip(shapes_, dtypes))
        got = run_jit(backend, lambda u, v: (tcomp.outer(u, v), tcomp.ravel(u)), a, b)
        check(got[0], np.outer(a, b), np.result_type(*dtypes), backend)
        check(got[1], np.ravel(a), dtypes[0], backend)

    inner()


# ---------------------------------------------------------------------------
# Every function in every mode, and numpy's functions that call array methods

x34 = np.linspace(-2.0, 2.5, 12, dtype=np.float32).reshape(3, 4)
x34[1, 2] = 0.0

# name -> (tcomp form, numpy form, dtype of the result); all on x34
EVERY_FUNCTION = {
    "var": (lambda a: tcomp.var(a, axis=0, ddof=1), lambda a: np.var(a, axis=0, ddof=1), "float32"),
    "std": (lambda a: tcomp.std(a, keepdims=True), lambda a: np.std(a, keepdims=True), "float32"),
    "prod": (lambda a: tcomp.prod(a, axis=-1), lambda a: np.prod(a, axis=-1), "float32"),
    "any": (lambda a: tcomp.any(a > 2, axis=1), lambda a: np.any(a > 2, axis=1), "bool"),
    "all": (lambda a: tcomp.all(a, axis=0), lambda a: np.all(a, axis=0), "bool"),
    "argmin": (lambda a: tcomp.argmin(a, axis=1), lambda a: np.argmin(a, axis=1), "int32"),
    "cumsum": (lambda a: tcomp.cumsum(a, axis=1), lambda a: np.cumsum(a, axis=1), "float32"),
    "cumprod": (lambda a: tcomp.cumprod(a), lambda a: np.cumprod(a), "float32"),
    "cummax": (lambda a: tcomp.cummax(a, 0), lambda a: np.maximum.accumulate(a, 0), "float32"),
    "cummin": (lambda a: tcomp.cummin(a, 1), lambda a: np.minimum.accumulate(a, 1), "float32"),
    "nonzero": (
        lambda a: tcomp.nonzero(a > 1, size=4)[1],
        lambda a: np.nonzero(a > 1)[1][:4],
        "int32",
    ),
    "argwhere": (
        lambda a: tcomp.argwhere(a < -1, size=1),
        lambda a: np.argwhere(a < -1)[:1],
        "int32",
    ),
    "tril": (lambda a: tcomp.tril(a, 1), lambda a: np.tril(a, 1), "float32"),
    "triu": (lambda a: tcomp.triu(a), lambda a: np.triu(a), "float32"),
    "diagonal": (lambda a: tcomp.diagonal(a, -1), lambda a: np.diagonal(a, -1), "float32"),
    "flip": (lambda a: tcomp.flip(a, 1), lambda a: np.flip(a, 1), "float32"),
    "roll": (lambda a: tcomp.roll(a, -1, 1), lambda a: np.roll(a, -1, 1), "float32"),
    "moveaxis": (lambda a: tcomp.moveaxis(a, 0, -1), lambda a: np.moveaxis(a, 0, -1), "float32"),
    "ravel": (tcomp.ravel, np.ravel, "float32"),
    "tile": (lambda a: tcomp.tile(a, (2, 1)), lambda a: np.tile(a, (2, 1)), "float32"),
    "repeat": (
        lambda a: tcomp.repeat(a, [1, 0, 2], 0),
        lambda a: np.repeat(a, [1, 0, 2], 0),
        "float32",
    ),
    "split": (lambda a: tcomp.split(a, 2, 1)[1], lambda a: np.split(a, 2, 1)[1], "float32"),
    "array_split": (
        lambda a: tcomp.array_split(a, 2)[0],
        lambda a: np.array_split(a, 2)[0],
        "float32",
    ),
    "outer": (lambda a: tcomp.outer(a[0], a[1]), lambda a: np.outer(a[0], a[1]), "float32"),
    "einsum": (
        lambda a: tcomp.einsum("ij,kj->ik", a, a),
        lambda a: np.einsum("ij,kj->ik", a, a),
        "float32",
    ),
    # tests/test_sort.py draws these against numpy with ties, NaN and both zeros
    "sort": (lambda a: tcomp.sort(-a, axis=0), lambda a: np.sort(-a, axis=0), "float32"),
    "argsort": (lambda a: tcomp.argsort(a[::-1]), lambda a: np.argsort(a[::-1]), "int32"),
    "top_k": (lambda a: tcomp.top_k(a, 2)[0], lambda a: -np.sort(-a)[:, :2], "float32"),
}


@pytest.mark.parametrize("mode", MODES)
def test_every_function_in_every_mode(backend, mode):
    results = run(
        lambda a: {name: fn(a) for name, (fn, _, _) in EVERY_FUNCTION.items()}, [x34], mode, backend
    )
    for name, (_, reference, dtype) in EVERY_FUNCTION.items():
        check(results[name], reference(x34), dtype, backend, rtol=1e-5, atol=1e-5)


def test_every_composite_function_is_tested():
    public = {
        name
        for name in tcomp.__all__
        if getattr(getattr(tcomp, name), "__module__", "").startswith("tcomp.frontend.composite_")
    }
    assert len(public) >= 25, "the namespace lost its composite functions"
    assert public <= set(EVERY_FUNCTION), f"untested: {sorted(public - set(EVERY_FUNCTION))}"


# numpy's functions call these methods of tcomp arrays (np.var(x) is x.var(...))
NUMPY_METHODS = {  # the arguments of EVERY_FUNCTION where they can be: eager kernels are shared
    "var": (lambda a: np.var(a, axis=0, ddof=1), "float32"),
    "std": (lambda a: np.std(a, keepdims=True), "float32"),
    "prod": (lambda a: np.prod(a, axis=-1), "float32"),
    "any": (lambda a: np.any(a > 2, axis=1), "bool"),
    "all": (lambda a: np.all(a, axis=0), "bool"),
    "argmin": (lambda a: np.argmin(a, axis=1), "int32"),
    "cumsum": (lambda a: np.cumsum(a, axis=1), "float32"),
    "cumprod": (lambda a: np.cumprod(a), "float32"),
    "repeat": (lambda a: np.repeat(a, 2, axis=1), "float32"),
    "method-var": (lambda a: a.var(0, ddof=1, keepdims=True), "float32"),
    "method-ravel": (lambda a: a.ravel(), "float32"),
    "method-diagonal": (lambda a: a.diagonal(-1), "float32"),
    "method-prod": (lambda a: a.prod(axis=-1, dtype=np.float64), "float64"),
}


@pytest.mark.parametrize("mode", OPERATOR_MODES)
def test_numpy_functions_that_call_methods(backend, mode):
    results = run(
        lambda a: {name: fn(a) for name, (fn, _) in NUMPY_METHODS.items()}, [x34], mode, backend
    )
    for name, (fn, dtype) in NUMPY_METHODS.items():
        check(results[name], fn(x34), dtype, backend, rtol=1e-5, atol=1e-5)
