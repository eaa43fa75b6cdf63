"""Descending ``sort``/``argsort`` and ``top_k(largest=False)``, and sorting the integer
dtypes beyond int32, against numpy definitions written here:

- descending (JAX's ``jnp.argsort(descending=True, stable=True)``): the stable ascending
  order of the reversed input, read backwards and mapped back, so ties keep their input
  order and NaN (last ascending) comes first;
- ``top_k(x, k, largest=False)``: the first ``k`` of numpy's stable ascending order
  (NaN last: counted the largest, as for ``top_k`` itself).

Data comes from a few values so that ties, NaN, infinities, both zeros and each integer
dtype's extremes are common; lengths are not powers of two (the padding is exercised).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import backends_under_test
from frontend_helpers import fixture_settings
from gradcheck import assert_gradient_matches_sampled_differences
from hypothesis import given, settings
from hypothesis import strategies as st

import tcomp

LAYOUTS = [((7,), -1), ((3, 5), 1), ((5, 3), 0), ((2, 3, 6), -1), ((9,), None)]
FEW = settings(fixture_settings, max_examples=5)
FLOATS = ["float32", "float64", "float16"]
INTS = ["int8", "uint8", "int32", "uint32", "int64", "bool"]
# PoCL builds the network's kernels slowly (each dtype and layout is a compile), so on
# opencl a few dtypes stand for the rest, which run on the other backends
OPENCL_DTYPES = {"float32", "int32", "int64"}


def backend_dtype_pairs(dtypes: list[str]) -> list[tuple[str, str]]:
    """``(backend, dtype)`` for every backend under test, opencl with its few dtypes."""
    return [
        (backend, dtype)
        for backend in backends_under_test()
        for dtype in dtypes
        if backend != "opencl" or dtype in OPENCL_DTYPES
    ]


def draw_values(data, shape, dtype: str) -> np.ndarray:
    size = int(np.prod(shape))
    if dtype == "bool":
        pool = st.booleans()
    elif dtype in FLOATS:
        pool = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.5, 1.0, 2.0])
    else:
        info = np.iinfo(dtype)
        pool = st.sampled_from([int(info.min), int(info.max), int(info.max) - 1, 0, 1, 2])
    return np.array(data.draw(st.lists(pool, min_size=size, max_size=size)), dtype).reshape(shape)


def on_device(x: np.ndarray):
    """int64 host arrays come into a jitted call as int32; ``tcomp.astype`` keeps them."""
    return tcomp.astype(x, "int64") if x.dtype == np.int64 else x


def descending_argsort(x: np.ndarray, axis) -> np.ndarray:
    """jnp.argsort(x, axis, stable=True, descending=True), from numpy's stable argsort."""
    if axis is None:
        x, axis = x.reshape(-1), -1
    n = x.shape[axis]
    reversed_order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return np.flip(n - 1 - reversed_order, axis).astype(np.int32)


def same_bits(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_array_equal(got, want)
    if want.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def layouts_for(backend: str):
    return LAYOUTS[1:3] if backend == "opencl" else LAYOUTS  # each layout is a compile


@pytest.mark.parametrize(("backend", "dtype"), backend_dtype_pairs(FLOATS + INTS))
@FEW
@given(data=st.data())
def test_descending_sort_and_argsort(backend, dtype, data):
    shape, axis = data.draw(st.sampled_from(layouts_for(backend)), label="layout")
    x = draw_values(data, shape, dtype)
    index, values = tcomp.jit(
        lambda a: (
            tcomp.argsort(a, axis=axis, descending=True),
            tcomp.sort(a, axis=axis, descending=True),
        ),
        backend=backend,
    )(on_device(x))
    want = descending_argsort(x, axis)
    assert index.dtype == np.int32 and values.dtype == x.dtype
    np.testing.assert_array_equal(np.asarray(index), want)
    flat, along = (x.reshape(-1), -1) if axis is None else (x, axis)
    same_bits(np.asarray(values), np.take_along_axis(flat, want, axis=along))


@pytest.mark.parametrize(
    ("backend", "dtype"), backend_dtype_pairs(["int8", "uint8", "uint32", "int64"])
)
@FEW
@given(data=st.data())
def test_ascending_sort_of_every_integer_dtype(backend, dtype, data):
    """Their extremes included: uint32 and int64 sort exactly (not through float32)."""
    shape, axis = data.draw(st.sampled_from(layouts_for(backend)), label="layout")
    x = draw_values(data, shape, dtype)
    index, values = tcomp.jit(
        lambda a: (tcomp.argsort(a, axis=axis), tcomp.sort(a, axis=axis)), backend=backend
    )(on_device(x))
    want = np.argsort(x, axis=axis, kind="stable").astype(np.int32)
    np.testing.assert_array_equal(np.asarray(index), want)
    flat, along = (x.reshape(-1), -1) if axis is None else (x, axis)
    np.testing.assert_array_equal(np.asarray(values), np.take_along_axis(flat, want, axis=along))


@pytest.mark.parametrize("dtype", ["float32", "int32"])
@FEW
@given(data=st.data())
def test_top_k_of_the_smallest(backend, dtype, data):
    shape = data.draw(st.sampled_from([(7,), (3, 5), (2, 1, 6)]), label="shape")
    k = data.draw(st.integers(0, shape[-1]), label="k")
    x = draw_values(data, shape, dtype)
    values, index = tcomp.jit(lambda a: tcomp.top_k(a, k, largest=False), backend=backend)(x)
    want = np.argsort(x, axis=-1, kind="stable")[..., :k].astype(np.int32)
    assert index.dtype == np.int32 and values.dtype == x.dtype
    np.testing.assert_array_equal(np.asarray(index), want)
    same_bits(np.asarray(values), np.take_along_axis(x, want, axis=-1))


def test_ties_keep_input_order_in_both_directions(backend):
    """The op suite's case: [0, 1] * 9, stable either way (torch's stable sort)."""
    x = np.array([0, 1] * 9, np.float32)
    index = tcomp.jit(lambda a: tcomp.argsort(a, descending=True), backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(index), list(range(1, 18, 2)) + list(range(0, 18, 2)))
    values, index = tcomp.jit(lambda a: tcomp.top_k(a, 3, largest=False), backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(index), [0, 2, 4])


def test_gradient_goes_to_the_selected_elements(backend):
    x = np.array([[2.0, -1.0, 2.0, 0.5, 7.0], [1.0, 1.0, 1.0, -3.0, 0.0]])
    c_sort = np.arange(10.0).reshape(2, 5) + 1
    c_low = np.array([[10.0, 20.0], [30.0, 40.0]])

    def loss(a):
        smallest, _ = tcomp.top_k(a, 2, largest=False)
        return tcomp.sum(tcomp.sort(a, descending=True) * c_sort) + tcomp.sum(smallest * c_low)

    grad = np.asarray(tcomp.jit(tcomp.grad(loss), backend=backend)(x))
    want = np.zeros_like(x)
    order, low = descending_argsort(x, -1), np.argsort(x, axis=-1, kind="stable")[:, :2]
    for r in range(2):
        want[r, order[r]] += c_sort[r]
        want[r, low[r]] += c_low[r]
    np.testing.assert_array_equal(grad, want)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5))  # distinct values: sort is smooth there
    c = rng.standard_normal((3, 5))
    f = tcomp.jit(
        lambda a: (
            tcomp.sum(tcomp.sort(a, axis=0, descending=True) * c)
            + tcomp.sum(tcomp.top_k(a, 2, largest=False)[0] * c[:, :2])
        )
    )
    g = np.asarray(tcomp.jit(tcomp.grad(lambda a: f(a)))(x))
    assert_gradient_matches_sampled_differences(
        lambda t: float(np.asarray(f(t))), x, g, rng, 15, err_msg="descending sort", atol=1e-6
    )


def test_sort_refuses_an_unstable_sort():
    with pytest.raises(tcomp.errors.TcompError, match="sort: only stable=True") as info:
        tcomp.sort(np.ones(3), stable=False)
    assert "test_sort_descending.py:" in str(info.value)
