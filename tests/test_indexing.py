"""``x[index]`` on traced values and ``tcomp.Array``, against numpy.

Basic indexing (ints, slices with any step, None, ...) is drawn by
hypothesis, and so is advanced indexing (several integer arrays, ints, slices,
None, numpy boolean masks: tests/test_indexing_advanced.py); gradients of indexing
scatter the cotangent back to the indexed positions; unsupported forms are
``TcompIndexError`` (an ``IndexError``).
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from frontend_helpers import (
    FLOATS,
    OPERATOR_MODES,
    check,
    fixture_settings,
    random_array,
    run,
    seeds,
    shapes,
)
from hypothesis import given
from hypothesis import strategies as st

import tcomp
from tcomp.errors import TcompError, TcompIndexError


@st.composite
def shapes_and_indices(draw, max_dims: int = 3):
    shape = draw(shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=4))
    index = draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    return shape, index


@pytest.mark.parametrize("mode", OPERATOR_MODES)
@fixture_settings
@given(case=shapes_and_indices(), dtype=st.sampled_from(FLOATS + ("int32", "bool")), seed=seeds)
def test_basic_indexing_matches_numpy(backend, mode, case, dtype, seed):
    shape, index = case
    x = random_array(np.random.default_rng(seed), shape, dtype)
    expected = np.asarray(x[index])
    check(run(lambda a: a[index], [x], mode, backend), expected, dtype, backend)


# Hand-picked indices that the issue names, and the corners of slices.
INDICES = [
    (slice(1, 3), slice(None, None, 2)),
    (slice(None), None),
    (Ellipsis, 0),
    (-1,),
    (-4, -1),
    (slice(None, None, -1),),
    (slice(None, None, -2), slice(3, 0, -1)),
    (slice(1, 3), slice(None, None, -2)),
    (slice(3, 1),),  # empty
    (slice(10, None, -3), slice(-10, 10)),  # bounds past the ends clip, as in numpy
    (slice(None, None, -1), slice(2, 2, -1)),
    (None, Ellipsis, None),
    (0, Ellipsis, None, slice(None, None, 3)),
    (),
    (Ellipsis,),
    (np.int64(2), np.int32(-1)),
]


@pytest.mark.parametrize("mode", OPERATOR_MODES)
@pytest.mark.parametrize("index", INDICES, ids=repr)
def test_named_indices_match_numpy(backend, mode, index):
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    check(run(lambda a: a[index], [x], mode, backend), x[index], np.float32, backend)


@pytest.mark.parametrize("mode", OPERATOR_MODES)
@pytest.mark.parametrize(
    "index",
    [
        np.array([2, 0, 2]),
        np.array([[1, -1], [0, 3]]),
        [3, -4],
        (slice(None), np.array([4, 0, -2])),
        (slice(None), [1]),
    ],
    ids=repr,
)
def test_one_integer_array_index_matches_numpy(backend, mode, index):
    x = np.arange(20, dtype=np.float64).reshape(4, 5)
    check(run(lambda a: a[index], [x], mode, backend), x[index], np.float64, backend)


def test_integer_array_index_can_be_traced(backend):
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    idx = np.array([3, 1, -1], np.int32)
    check(run(lambda a, i: a[i], [x, idx], "jit", backend), x[idx], np.float32, backend)
    check(run(lambda a, i: a[:, i[:2]], [x, idx], "jit", backend), x[:, idx[:2]], np.float32, backend)


def test_iteration_and_len_use_the_static_shape(backend):
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    check(run(lambda a: tcomp.stack(list(a)[::-1]), [x], "jit", backend), x[::-1], np.float32, backend)
    check(run(lambda a: a * len(a), [x], "jit", backend), x * 3, np.float32, backend)


# ---------------------------------------------------------------------------
# Gradients


def test_gradient_of_strided_reversed_slice(backend):
    x = np.arange(20, dtype=np.float64).reshape(4, 5) / 7
    grad = tcomp.jit(tcomp.grad(lambda a: tcomp.sum(a[1:3, ::-2] ** 2)), backend=backend)(x)
    expected = np.zeros_like(x)
    expected[1:3, ::-2] = 2 * x[1:3, ::-2]
    check(grad, expected, np.float64, backend)


@pytest.mark.parametrize("inside_jit", [True, False])
@fixture_settings
@given(case=shapes_and_indices(), seed=seeds)
def test_gradient_of_basic_indexing_scatters_back(backend, inside_jit, case, seed):
    shape, index = case
    rng = np.random.default_rng(seed)
    x = random_array(rng, shape, "float64")
    weights = random_array(rng, np.shape(x[index]), "float64")
    loss = lambda a: tcomp.sum(a[index] * weights)
    grad_fn = tcomp.grad(loss)
    grad = tcomp.jit(grad_fn, backend=backend)(x) if inside_jit else grad_fn(x)
    expected = np.zeros_like(x)
    expected[index] = weights  # basic indices never repeat an element
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-12)
    assert grad.dtype == np.float64


def test_gradient_of_integer_array_index_accumulates_repeats(backend):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    idx = np.array([3, 0, 3, 3])
    weights = np.arange(12, dtype=np.float64).reshape(4, 3) + 1
    grad = tcomp.jit(tcomp.grad(lambda a: tcomp.sum(a[idx] * weights)), backend=backend)(x)
    expected = np.zeros_like(x)
    np.add.at(expected, idx, weights)
    check(grad, expected, np.float64, backend)
    # Along axis 1 as well.
    grad = tcomp.jit(tcomp.grad(lambda a: tcomp.sum(a[:, [2, 2]] ** 2)), backend=backend)(x)
    expected = np.zeros_like(x)
    expected[:, 2] = 2 * 2 * x[:, 2]
    check(grad, expected, np.float64, backend)


# ---------------------------------------------------------------------------
# Errors

ERRORS = [
    (lambda a: a[4], "index 4 is out of bounds for axis 0 with size 4"),
    (lambda a: a[:, -6], "index -6 is out of bounds for axis 1 with size 5"),
    (lambda a: a[0, 0, 0], "too many indices"),
    (lambda a: a[..., 0, ...], "single ellipsis"),
    (lambda a: a[a > 3], "boolean mask"),
    (lambda a: a[True], "unsupported index True"),
    (lambda a: a[1.5], "unsupported index 1.5"),
    (lambda a: a[::0], "step cannot be zero"),
    (lambda a: a[0.5:], "slice bounds"),
    (lambda a: a[[0, 4], [1, 2]], "index 4 is out of bounds for axis 0 with size 4"),
    (lambda a: a[1:, [1, -6]], "index -6 is out of bounds for axis 1 with size 5"),
    (lambda a: a[[0, 1], [1, 2, 3]], "cannot be broadcast together"),
    (lambda a: a[[0.5, 1]], "index arrays must hold integers"),
    (lambda a: a[:, a[0] > 1], "traced mask"),
    (lambda a: a[np.array(True)], "0-d boolean index"),
    (lambda a: a["x"], "unsupported index 'x'"),
]


@pytest.mark.parametrize("mode", OPERATOR_MODES)
@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_unsupported_indices_are_clear_errors(backend, case, mode):
    fn, message = ERRORS[case]
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    with pytest.raises(TcompIndexError, match=message.replace("[", r"\[").replace(".", r"\.")) as info:
        run(fn, [x], mode, backend)
    assert isinstance(info.value, IndexError) and isinstance(info.value, TcompError)
    assert "test_indexing.py" in str(info.value), "the message names the user's line"


def test_array_index_with_a_traced_index_cannot_be_a_mask(backend):
    x = np.arange(4, dtype=np.float32)
    with pytest.raises(TcompIndexError, match="tcomp.where"):
        run(lambda a, m: a[m], [x, x > 1], "jit", backend)
