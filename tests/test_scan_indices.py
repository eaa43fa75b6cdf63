"""``tcomp.cummax``/``cummin`` with ``return_indices=True``, against a plain loop.

The loop is PyTorch's definition (checked by hand against torch.cummax): the running
value is replaced by ``x[i]`` when ``x[i]`` is at least as large (cummin: as small) or
NaN, and the index follows it, so ties take the latest position and every NaN after
the first moves the index to itself. Drawn with many ties and NaNs on every backend;
0-length axes, negative axes and 0-d inputs; the values' gradient is unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
from frontend_helpers import MODES, check, run, seeds, shapes
from gradcheck import check_gradients
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops_composite import examples

import tcomp
from tcomp.errors import TcompAxisError

FUNCTIONS = {"cummax": tcomp.cummax, "cummin": tcomp.cummin}


def loop_reference(name: str, x: np.ndarray, axis) -> tuple[np.ndarray, np.ndarray]:
    """(values, int32 indices) of torch.cummax/cummin by one pass per row."""
    if axis is None:
        x, axis = x.reshape(-1), 0
    moved = np.moveaxis(x, axis, -1)
    values = np.empty_like(moved)
    indices = np.zeros(moved.shape, np.int32)
    for row in np.ndindex(moved.shape[:-1]):
        best, at = None, 0
        for i, v in enumerate(moved[row]):
            if (
                best is None
                or np.isnan(v)
                or (not np.isnan(best) and (v >= best if name == "cummax" else v <= best))
            ):
                best, at = v, i
            values[row + (i,)] = best
            indices[row + (i,)] = at
    return np.moveaxis(values, -1, axis), np.moveaxis(indices, -1, axis)


def tied_data(rng: np.random.Generator, shape, dtype: str) -> np.ndarray:
    """Values from a handful of levels (ties everywhere); floats also get NaN, -0.0, inf."""
    if dtype == "bool":
        return rng.random(shape) < 0.5
    levels = np.array([-2, -1, 0, 1, 2])
    x = rng.choice(levels, size=shape).astype(dtype)
    if dtype != "int32":
        special = rng.choice(np.array([np.nan, -0.0, np.inf, -np.inf]), size=shape)
        x = np.where(rng.random(shape) < 0.2, special, x).astype(dtype)
    return np.asarray(x)


def test_the_documented_examples():
    x = np.array([1, 3, 3, 2, np.nan, 5, np.nan], np.float32)
    values, indices = tcomp.cummax(x, return_indices=True)
    np.testing.assert_array_equal(np.asarray(values), [1, 3, 3, 3, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(np.asarray(indices), [0, 1, 2, 2, 4, 4, 6])
    values, indices = tcomp.cummin(np.float32([3, 1, 1, 2]), return_indices=True)
    np.testing.assert_array_equal(np.asarray(values), [3, 1, 1, 1])
    np.testing.assert_array_equal(np.asarray(indices), [0, 1, 2, 2])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_indices_match_the_loop(backend, name):
    @examples(backend)
    @given(
        data=st.data(), dtype=st.sampled_from(("float32", "float64", "int32", "bool")), seed=seeds
    )
    def inner(data, dtype, seed):
        shape = data.draw(shapes(min_dims=1, max_dims=3, max_side=6), label="shape")
        axis = data.draw(
            st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)), label="axis"
        )
        x = tied_data(np.random.default_rng(seed), shape, dtype)
        values, indices = run(
            lambda a: FUNCTIONS[name](a, axis, return_indices=True), [x], "jit", backend
        )
        expected_values, expected_indices = loop_reference(name, x, axis)
        check(values, expected_values, dtype, backend)
        check(indices, expected_indices, "int32", backend)

    inner()


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_and_long_axes(backend, mode):
    """37 and 64 elements (six rounds of each scan), eagerly and in jit."""
    rng = np.random.default_rng(7)
    x = tied_data(rng, (3, 37), "float32")
    y = tied_data(rng, (64, 2), "int32")
    results = run(
        lambda a, b: (
            tcomp.cummax(a, -1, return_indices=True),
            tcomp.cummin(b, 0, return_indices=True),
        ),
        [x, y],
        mode,
        backend,
    )
    for (values, indices), (name, data, axis) in zip(
        results, [("cummax", x, -1), ("cummin", y, 0)]
    ):
        expected_values, expected_indices = loop_reference(name, data, axis)
        check(values, expected_values, data.dtype, backend)
        check(indices, expected_indices, "int32", backend)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_empty_and_zero_dimensional_inputs(backend, name):
    fn = FUNCTIONS[name]
    empty = np.zeros((2, 0, 4), np.float32)
    values, indices = run(lambda a: fn(a, 1, return_indices=True), [empty], "jit", backend)
    check(values, empty, "float32", backend)
    check(indices, np.zeros((2, 0, 4), np.int32), "int32", backend)
    scalar = np.float32(2.5)
    values, indices = run(lambda a: fn(a, return_indices=True), [scalar], "jit", backend)
    check(values, [2.5], "float32", backend)  # axis=None flattens, as numpy's accumulate
    check(indices, [0], "int32", backend)
    with pytest.raises(TcompAxisError, match=name):
        fn(scalar, 0, return_indices=True)
    with pytest.raises(TcompAxisError, match=name):
        fn(np.zeros((5,), np.float32), -2, return_indices=True)


def test_without_indices_the_result_is_the_values_alone():
    x = np.float32([[1, 4, 2], [0, -1, 5]])
    result = tcomp.cummax(x, 1)
    assert isinstance(result, tcomp.Array)
    np.testing.assert_array_equal(np.asarray(result), np.maximum.accumulate(x, 1))


@settings(max_examples=min(settings.default.max_examples, 6))
@given(name=st.sampled_from(sorted(FUNCTIONS)), seed=seeds)
def test_values_gradient_flows_with_indices(name, seed):
    """The values' VJP (distinct inputs, so no ties) against central differences,
    with the indices returned alongside; and the same gradient as without them."""
    rng = np.random.default_rng(seed)
    x = rng.permutation(np.linspace(-2.0, 2.0, 12)).reshape(3, 4)

    def both(a):
        return FUNCTIONS[name](a, axis=1, return_indices=True)

    traced = tcomp.jit(both, backend="reference").lower(x).function("traced")
    check_gradients(traced, [x], wrt=(0,), outputs=[0], rng=rng)
    weights = rng.standard_normal((3, 4))
    with_indices = tcomp.grad(lambda a: tcomp.sum(both(a)[0] * weights))(x)
    without = tcomp.grad(lambda a: tcomp.sum(FUNCTIONS[name](a, axis=1) * weights))(x)
    np.testing.assert_allclose(np.asarray(with_indices), np.asarray(without))
