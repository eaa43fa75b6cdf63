"""tcomp's eye identity linspace meshgrid diag (frontend/ops_more_creation.py) and
logcumsumexp cov corrcoef (frontend/ops_more_stats.py) against numpy on every backend,
inside ``jit`` and eagerly; float64 gradients against central differences; errors.

``logcumsumexp`` (PyTorch's name) is checked against ``np.logaddexp.accumulate``.
"""

from __future__ import annotations

import numpy as np
import pytest
from frontend_helpers import MODES, check, fixture_settings, random_array, run, seeds, shapes
from gradcheck import check_gradients
from hypothesis import given
from hypothesis import strategies as st

import tcomp
from tcomp.errors import TcompArgumentError, TcompShapeError, TcompTypeError


@pytest.mark.parametrize("mode", ["jit", "eager_numpy"])
@fixture_settings
@given(
    n=st.integers(0, 5),
    m=st.one_of(st.none(), st.integers(0, 5)),
    k=st.integers(-6, 6),
    dtype=st.sampled_from(("float32", "float64", "int32", "bool")),
)
def test_eye_and_identity_match_numpy(backend, mode, n, m, k, dtype):
    got = run(
        lambda: (tcomp.eye(n, m, k, dtype=dtype), tcomp.identity(n, dtype)), [], mode, backend
    )
    check(got[0], np.eye(n, m, k, dtype=dtype), dtype, backend)
    check(got[1], np.identity(n, dtype=dtype), dtype, backend)


def test_eye_defaults_to_float32():
    assert tcomp.eye(2).dtype == np.float32 and tcomp.identity(3).shape == (3, 3)


@pytest.mark.parametrize("mode", ["jit", "eager_numpy"])
@fixture_settings
@given(
    start=st.one_of(st.integers(-50, 50), st.floats(-1e3, 1e3)),
    stop=st.one_of(st.integers(-50, 50), st.floats(-1e3, 1e3)),
    num=st.integers(0, 70),
    endpoint=st.booleans(),
    dtype=st.sampled_from(("float32", "float64", "int32")),
)
def test_linspace_matches_numpy(backend, mode, start, stop, num, endpoint, dtype):
    got, step = run(
        lambda: tcomp.linspace(start, stop, num, endpoint=endpoint, retstep=True, dtype=dtype),
        [],
        mode,
        backend,
    )
    want, want_step = np.linspace(start, stop, num, endpoint=endpoint, retstep=True, dtype=dtype)
    if dtype == "int32":
        check(got, want, dtype, backend)  # rounded down, as numpy
    else:
        # numpy's float64 formula: at most an ulp apart (a fused multiply-add may round once)
        check(got, want, dtype, backend, rtol=2e-7 if dtype == "float32" else 1e-15, atol=1e-12)
    if mode == "eager_numpy":
        assert isinstance(step, float)
        np.testing.assert_equal(step, want_step)
    else:  # a Python float returned from jit comes back as a 0-d float32 Array
        np.testing.assert_allclose(np.asarray(step), want_step, rtol=1e-7)


def test_linspace_endpoint_is_exact_and_dtype_float32_by_default(backend):
    got = tcomp.jit(lambda: tcomp.linspace(0.1, 0.7, 7), backend=backend)()
    assert got.dtype == np.float32 and float(np.asarray(got)[-1]) == np.float32(0.7)
    np.testing.assert_array_equal(np.asarray(got), np.linspace(0.1, 0.7, 7).astype(np.float32))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("indexing", ["xy", "ij"])
@pytest.mark.parametrize("sparse", [False, True])
@fixture_settings
@given(lengths=st.lists(st.integers(0, 4), min_size=1, max_size=3), seed=seeds)
def test_meshgrid_matches_numpy(backend, mode, indexing, sparse, lengths, seed):
    rng = np.random.default_rng(seed)
    vectors = [random_array(rng, (n,), "float32") for n in lengths]
    got = run(
        lambda *v: tcomp.meshgrid(*v, indexing=indexing, sparse=sparse), vectors, mode, backend
    )
    want = np.meshgrid(*vectors, indexing=indexing, sparse=sparse)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        check(g, w, "float32", backend)


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(
    rank=st.sampled_from([1, 2]),
    sides=st.tuples(st.integers(0, 4), st.integers(0, 4)),
    k=st.integers(-5, 5),
    dtype=st.sampled_from(("float32", "int32", "bool")),
    seed=seeds,
)
def test_diag_matches_numpy(backend, mode, rank, sides, k, dtype, seed):
    v = random_array(np.random.default_rng(seed), sides[:rank], dtype)
    check(run(lambda a: tcomp.diag(a, k), [v], mode, backend), np.diag(v, k), dtype, backend)


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(shape=shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), data=st.data(), seed=seeds)
def test_logcumsumexp_matches_numpy(backend, mode, shape, data, seed):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)), label="axis")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, shape) * rng.choice([1.0, 1.0, 300.0], shape)  # wide ranges
    x = np.where(rng.random(shape) < 0.1, -np.inf, x)
    got = run(lambda a: tcomp.logcumsumexp(a, axis), [x], mode, backend)
    flat = x.reshape(-1) if axis is None else x
    want = np.logaddexp.accumulate(flat, axis=0 if axis is None else axis)
    check(got, want, "float64", backend)


def test_logcumsumexp_is_stable_at_extremes(backend):
    x = np.array([-1000.0, 0.0, 1000.0, 3.0, -np.inf, 1000.0], dtype=np.float32)
    got = np.asarray(tcomp.jit(lambda a: tcomp.logcumsumexp(a, 0), backend=backend)(x))
    want = np.logaddexp.accumulate(x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    ints = tcomp.logcumsumexp(np.array([1, 2, 3]))
    assert ints.dtype == np.float32


@pytest.mark.parametrize("mode", ["jit", "eager_numpy"])
@pytest.mark.parametrize("rowvar", [True, False])
@pytest.mark.parametrize("ddof", [None, 0, 2])
def test_cov_and_corrcoef_match_numpy(backend, mode, rowvar, ddof):
    rng = np.random.default_rng(4)
    m, y = rng.standard_normal((3, 6)), rng.standard_normal((2, 6))
    if not rowvar:
        m, y = m.T, y.T
    got = run(
        lambda a, b: (
            tcomp.cov(a, rowvar=rowvar, ddof=ddof),
            tcomp.cov(a, b, rowvar=rowvar, bias=True),
            tcomp.corrcoef(a, b, rowvar=rowvar),
            tcomp.cov(a[0] if rowvar else a[:, 0]),
        ),
        [m, y],
        mode,
        backend,
    )
    check(got[0], np.cov(m, rowvar=rowvar, ddof=ddof), "float64", backend)
    check(got[1], np.cov(m, y, rowvar=rowvar, bias=True), "float64", backend)
    check(got[2], np.corrcoef(m, y, rowvar=rowvar), "float64", backend)
    check(got[3], np.cov(m[0] if rowvar else m[:, 0]), "float64", backend)


# ---------------------------------------------------------------------------
# Gradients (float64)


def _grid(low: float, high: float, shape) -> np.ndarray:
    size = int(np.prod(shape))
    return np.random.default_rng(size).permutation(np.linspace(low, high, size)).reshape(shape)


GRADIENT_CASES = {
    "diag-1d": (lambda v: tcomp.diag(v, -1), [_grid(-2, 2, (3,))]),
    "diag-2d": (lambda v: tcomp.diag(v, 1), [_grid(-2, 2, (3, 4))]),
    "meshgrid": (lambda a, b: tcomp.meshgrid(a, b), [_grid(-2, 2, (3,)), _grid(-1, 1, (2,))]),
    "logcumsumexp": (lambda a: tcomp.logcumsumexp(a, 1), [_grid(-4, 4, (2, 5))]),
    "logcumsumexp-wide": (
        lambda a: tcomp.logcumsumexp(a),
        [np.array([-30.0, 20.0, 19.5, -2.0, 21.0])],
    ),
    "cov": (lambda a: tcomp.cov(a), [_grid(-2, 2, (2, 5))]),
    "corrcoef": (lambda a: tcomp.corrcoef(a, rowvar=False), [_grid(-2, 2, (5, 3))]),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences(name):
    fn, inputs = GRADIENT_CASES[name]
    traced = tcomp.jit(fn, backend="reference").lower(*inputs).function("traced")
    check_gradients(traced, inputs, wrt=tuple(range(len(inputs))), rng=np.random.default_rng(1))


def test_logcumsumexp_gradient_on_each_backend_matches_the_reference(backend):
    x = _grid(-4, 4, (3, 6))
    gradient = tcomp.grad(lambda a: tcomp.sum(tcomp.logcumsumexp(a, 1) ** 2))
    got = tcomp.jit(gradient, backend=backend)(x)
    want = tcomp.jit(gradient, backend="reference")(x)
    check(got, np.asarray(want), "float64", backend, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# Errors


ERRORS = [
    (lambda: tcomp.eye(-1), TcompShapeError, "eye: N must not be negative"),
    (lambda: tcomp.eye(2.5), TcompTypeError, "eye: N must be an int"),
    (lambda: tcomp.linspace(0, 1, -2), TcompShapeError, "linspace: num must not be negative"),
    (lambda: tcomp.linspace(0, np.inf), TcompArgumentError, "linspace: stop must be finite"),
    (
        lambda: tcomp.linspace(np.ones(2), 1.0),
        TcompTypeError,
        "linspace: start must be a Python number",
    ),
    (lambda: tcomp.linspace(0, 1, 5, axis=1), TcompShapeError, "linspace: axis must be 0"),
    (lambda: tcomp.meshgrid(np.ones(2), indexing="x"), TcompArgumentError, "meshgrid: indexing"),
    (
        lambda: tcomp.diag(np.ones((2, 2, 2))),
        TcompShapeError,
        r"diag: needs a 1-d or 2-d array, got shape \(2, 2, 2\)",
    ),
    (
        lambda: tcomp.logcumsumexp(np.ones((2, 2)), 2),
        TcompShapeError,
        "logcumsumexp: axis 2 is out of range",
    ),
    (lambda: tcomp.cov(np.ones((2, 2, 2))), TcompShapeError, "cov: needs a 1-d or 2-d array"),
    (lambda: tcomp.cov(np.ones((2, 3)), ddof=0.5), TcompTypeError, "cov: ddof must be an int"),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_errors_name_the_function_and_the_users_line(index, mode):
    call, error, words = ERRORS[index]
    run_it = call if mode == "eager" else (lambda: tcomp.jit(call, backend="reference")())
    with pytest.raises(error, match=words) as info:
        run_it()
    assert "test_ops_more_creation.py:" in str(info.value)


def test_linspace_traced_bound_is_refused():
    with pytest.raises(
        TcompTypeError, match="linspace: start must be a Python number known when tracing"
    ):
        tcomp.jit(lambda s: tcomp.linspace(s, 1.0, 4))(np.float32(0.0))
