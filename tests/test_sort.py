"""``tcomp.sort``, ``argsort`` and ``top_k`` (frontend/composite_sort.py) against numpy's
definitions: ``np.argsort(kind="stable")``, ``x`` gathered by it for ``sort`` (so the
sign of each zero is checked too), and for ``top_k`` a stable descending order with NaN
as the largest value, written below. Data is drawn from a few values so that ties, NaN,
infinities and both zeros are common; lengths are not powers of two. Gradients flow to
the selected elements (checked exactly, and against finite differences)."""

from __future__ import annotations

import numpy as np
import pytest
from frontend_helpers import fixture_settings, run, to_array
from gradcheck import assert_gradient_matches_sampled_differences
from hypothesis import given, settings
from hypothesis import strategies as st

import tcomp
from tcomp.errors import TcompError

# Shapes and axes drawn from a fixed list, so the compiled backends compile each once.
LAYOUTS = [((7,), -1), ((3, 5), 1), ((5, 3), 0), ((2, 3, 6), -1), ((4, 1), 0), ((9,), None)]
FEW = settings(fixture_settings, max_examples=6)
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0]


def draw_values(data, shape, dtype: str) -> np.ndarray:
    size = int(np.prod(shape))
    if dtype == "bool":
        return np.array(data.draw(st.lists(st.booleans(), min_size=size, max_size=size))).reshape(shape)
    if dtype == "int32":
        pool = st.sampled_from([-2**31, 2**31 - 1, -1, 0, 1, 2, 3])
    else:
        pool = st.one_of(st.sampled_from(SPECIAL), st.sampled_from([-1.5, 1.0, 2.0, 3.25]))
    values = data.draw(st.lists(pool, min_size=size, max_size=size))
    return np.array(values, dtype=dtype).reshape(shape)


def stable_argsort(x: np.ndarray, axis) -> np.ndarray:
    return np.argsort(x, axis=axis, kind="stable").astype(np.int32)


def descending_order(row: np.ndarray) -> list[int]:
    """top_k's order of one row: NaN first, then larger first, ties lowest index first."""
    def key(i: int):
        v = row[i]
        if row.dtype.kind == "f" and np.isnan(v):
            return (0, 0, i)
        return (1, -int(v) if row.dtype.kind in "bi" else -float(v), i)

    return sorted(range(len(row)), key=key)


def same_bits(got: np.ndarray, want: np.ndarray) -> None:
    """Equal values, NaN where NaN, and the same sign of each zero."""
    np.testing.assert_array_equal(got, want)
    if want.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool", "float16"])
@FEW
@given(data=st.data())
def test_sort_and_argsort_match_numpys_stable_sort(backend, dtype, data):
    if backend == "opencl" and dtype not in ("float32", "int32"):
        pytest.skip("PoCL builds each stage's kernel slowly; the other dtypes run on llvm")
    layouts = LAYOUTS[1:3] if backend == "opencl" else LAYOUTS  # each layout is a compile
    shape, axis = data.draw(st.sampled_from(layouts), label="layout")
    x = draw_values(data, shape, dtype)
    index, values = run(
        lambda a: (tcomp.argsort(a, axis=axis), tcomp.sort(a, axis=axis)), [x], "jit", backend
    )
    want = stable_argsort(x, axis)
    assert index.dtype == np.int32 and values.dtype == x.dtype
    np.testing.assert_array_equal(np.asarray(index), want)
    flat = x.reshape(-1) if axis is None else x
    same_bits(np.asarray(values), np.take_along_axis(flat, want, axis=-1 if axis is None else axis))


@pytest.mark.parametrize("dtype", ["float32", "int32"])
@FEW
@given(data=st.data())
def test_top_k_is_the_stable_descending_order(backend, dtype, data):
    shape = data.draw(st.sampled_from([(7,), (3, 5), (2, 1, 6)]), label="shape")
    k = data.draw(st.integers(0, shape[-1]), label="k")
    x = draw_values(data, shape, dtype)
    values, index = run(lambda a: tcomp.top_k(a, k), [x], "jit", backend)
    rows = x.reshape(-1, shape[-1])
    want = np.array([descending_order(r)[:k] for r in rows], dtype=np.int32)
    want = want.reshape(shape[:-1] + (k,))
    assert index.dtype == np.int32 and values.dtype == x.dtype
    np.testing.assert_array_equal(np.asarray(index), want)
    same_bits(np.asarray(values), np.take_along_axis(x, want, axis=-1))


def test_eager_on_numpy_and_arrays_and_methods():
    x = np.array([[3.0, -1.0, np.nan, 2.0, -1.0]], dtype=np.float32)
    for value in (x, to_array(x, "llvm")):
        np.testing.assert_array_equal(np.asarray(tcomp.argsort(value)), stable_argsort(x, -1))
        same_bits(np.asarray(tcomp.sort(value, axis=None)), np.sort(x, axis=None))
        values, index = tcomp.top_k(value, 2)
        np.testing.assert_array_equal(np.asarray(index), [[2, 0]])


def test_long_rows_sort(backend):
    if backend == "opencl":
        pytest.skip("28 stages: a slow build on PoCL; the same kernels as the short rows")
    rng = np.random.default_rng(0)
    x = rng.integers(-20, 20, size=(3, 70)).astype(np.float32)
    index = tcomp.jit(tcomp.argsort, backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(index), stable_argsort(x, -1))


def test_gradient_goes_to_the_selected_elements(backend):
    x = np.array([[2.0, -1.0, 2.0, 0.5, 7.0], [1.0, 1.0, 1.0, -3.0, 0.0]])
    c_sort = np.arange(10.0).reshape(2, 5) + 1
    c_top = np.array([[10.0, 20.0], [30.0, 40.0]])

    def loss(a):
        values, _ = tcomp.top_k(a, 2)
        return tcomp.sum(tcomp.sort(a) * c_sort) + tcomp.sum(values * c_top)

    grad = np.asarray(tcomp.jit(tcomp.grad(loss), backend=backend)(x))
    want = np.zeros_like(x)
    order = stable_argsort(x, -1)
    top = np.array([descending_order(r)[:2] for r in x])
    for r in range(2):
        want[r, order[r]] += c_sort[r]
        want[r, top[r]] += c_top[r]
    np.testing.assert_array_equal(grad, want)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6))  # distinct values: sort is smooth there
    c = rng.standard_normal((2, 6))
    f = tcomp.jit(lambda a: tcomp.sum(tcomp.sort(a, axis=0) * c[:, :6]) + tcomp.sum(
        tcomp.top_k(a, 3)[0] * c[:, :3]))
    g = np.asarray(tcomp.jit(tcomp.grad(lambda a: f(a)))(x))
    assert_gradient_matches_sampled_differences(
        lambda t: float(np.asarray(f(t))), x, g, rng, 12, err_msg="sort/top_k", atol=1e-6
    )


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: tcomp.top_k(np.ones((2, 3)), 4), r"top_k: k must be in \[0, 3\]"),
        (lambda: tcomp.top_k(np.ones(()), 0), "top_k: x must have at least one axis"),
        (lambda: tcomp.top_k(np.ones(3), 1.5), "top_k: k must be an int"),
        (lambda: tcomp.sort(np.ones(()), axis=0), "sort: a 0-d array has no axis"),
        (lambda: tcomp.argsort(np.ones(3), stable=False), "argsort: only stable=True"),
        (lambda: tcomp.sort(np.ones((2, 3)), axis=2), "sort"),
    ],
)
def test_errors_name_the_op_and_the_line(call, words):
    with pytest.raises(TcompError, match=words) as info:
        call()
    assert "test_sort.py:" in str(info.value)
