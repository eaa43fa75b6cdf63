"""The ``tcomp`` movement, gathering and creation functions against numpy.

Run three ways (inside ``jit``, eagerly on numpy arrays, eagerly on
``tcomp.Array``; see ``frontend_helpers``) on each backend, comparing values,
shape and dtype with numpy. ``test_ops`` holds the arithmetic half and the
check that every array function of the namespace is tested.
"""

from __future__ import annotations

import numpy as np
import pytest
from frontend_helpers import (
    ALL_DTYPES,
    ALL_FLOATS,
    FLOATS,
    MODES,
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
from tcomp.errors import TcompArgumentError, TcompShapeError, TcompTypeError

# ---------------------------------------------------------------------------
# Movement


@st.composite
def reshape_cases(draw):
    shape = draw(shapes(max_dims=3, min_side=1))
    size = int(np.prod(shape))
    factors = [d for d in range(1, size + 1) if size % d == 0]
    first = draw(st.sampled_from(factors))
    target = draw(st.sampled_from([(first, size // first), (size,), (first, -1), (-1,), (1, size, 1)]))
    return shape, target


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(case=reshape_cases(), dtype=st.sampled_from(ALL_DTYPES), seed=seeds)
def test_reshape_matches_numpy(backend, mode, case, dtype, seed):
    shape, target = case
    x = random_array(np.random.default_rng(seed), shape, dtype)
    expected = x.reshape(target)
    check(run(lambda a: tcomp.reshape(a, target), [x], mode, backend), expected, dtype, backend)
    if mode != "eager_numpy":  # x.reshape(shape) and x.reshape(*shape)
        check(run(lambda a: a.reshape(target), [x], mode, backend), expected, dtype, backend)
        check(run(lambda a: a.reshape(*target), [x], mode, backend), expected, dtype, backend)
        check(run(lambda a: a.flatten(), [x], mode, backend), x.ravel(), dtype, backend)


def test_reshape_errors(backend):
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TcompShapeError, match=r"cannot reshape \(2, 3\)"):
        run(lambda a: a.reshape(4, 2), [x], "jit", backend)
    with pytest.raises(TcompShapeError, match="invalid shape"):
        run(lambda a: a.reshape(-1, -1), [x], "jit", backend)


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(data=st.data(), dtype=st.sampled_from(FLOATS + ("int32",)), seed=seeds)
def test_transpose_and_swapaxes_match_numpy(backend, mode, data, dtype, seed):
    shape = data.draw(shapes(), label="shape")
    perm = data.draw(st.permutations(range(len(shape))), label="perm")
    a1 = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis1") if shape else None
    a2 = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis2") if shape else None
    x = random_array(np.random.default_rng(seed), shape, dtype)
    check(run(tcomp.transpose, [x], mode, backend), x.T, dtype, backend)
    check(run(lambda a: tcomp.transpose(a, perm), [x], mode, backend), np.transpose(x, perm), dtype, backend)
    if shape:
        check(run(lambda a: tcomp.swapaxes(a, a1, a2), [x], mode, backend), np.swapaxes(x, a1, a2), dtype, backend)
    if mode != "eager_numpy":
        check(run(lambda a: a.T, [x], mode, backend), x.T, dtype, backend)
        check(run(lambda a: a.transpose(*perm), [x], mode, backend), x.transpose(*perm), dtype, backend)
        if shape:
            check(run(lambda a: a.swapaxes(a1, a2), [x], mode, backend), x.swapaxes(a1, a2), dtype, backend)


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(shapes_=broadcast_shape_pairs(), seed=seeds)
def test_broadcast_to_matches_numpy(backend, mode, shapes_, seed):
    source, other = shapes_
    target = np.broadcast_shapes(source, other)
    x = random_array(np.random.default_rng(seed), source, "float32")
    expected = np.broadcast_to(x, target)
    check(run(lambda a: tcomp.broadcast_to(a, target), [x], mode, backend), expected, np.float32, backend)


def test_broadcast_to_rejects_shrinking(backend):
    with pytest.raises(TcompShapeError, match=r"broadcast"):
        run(lambda a: tcomp.broadcast_to(a, (3,)), [np.ones((2, 3), np.float32)], "jit", backend)


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(data=st.data(), seed=seeds)
def test_expand_dims_and_squeeze_match_numpy(backend, mode, data, seed):
    shape = data.draw(shapes(max_side=2), label="shape")
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    x = random_array(np.random.default_rng(seed), shape, "float64")
    expanded = np.expand_dims(x, axis)
    check(run(lambda a: tcomp.expand_dims(a, axis), [x], mode, backend), expanded, np.float64, backend)
    two = (0, -1)
    check(run(lambda a: tcomp.expand_dims(a, two), [x], mode, backend), np.expand_dims(x, two), np.float64, backend)
    check(run(tcomp.squeeze, [expanded], mode, backend), np.squeeze(expanded), np.float64, backend)
    check(run(lambda a: tcomp.squeeze(a, axis), [expanded], mode, backend), x, np.float64, backend)
    if mode != "eager_numpy":
        check(run(lambda a: a.squeeze(axis), [expanded], mode, backend), x, np.float64, backend)
        check(run(lambda a: a[:, None] if a.ndim else a[None], [x], mode, backend), x[:, None] if x.ndim else x[None], np.float64, backend)


def test_squeeze_of_a_long_axis_is_an_error(backend):
    with pytest.raises(TcompShapeError, match="squeeze: axis 1 of shape \\(1, 3\\)"):
        run(lambda a: tcomp.squeeze(a, 1), [np.ones((1, 3), np.float32)], "jit", backend)


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(data=st.data(), dtypes=st.lists(st.sampled_from(ALL_DTYPES), min_size=1, max_size=3), seed=seeds)
def test_concatenate_and_stack_match_numpy(backend, mode, data, dtypes, seed):
    base = data.draw(shapes(min_dims=1, max_dims=3), label="shape")
    axis = data.draw(st.integers(-len(base), len(base) - 1), label="axis")
    rng = np.random.default_rng(seed)
    parts = []
    for dtype in dtypes:
        shape = list(base)
        shape[axis] = int(rng.integers(0, 3))
        parts.append(random_array(rng, shape, dtype))
    expected = np.concatenate(parts, axis=axis)
    check(run(lambda *xs: tcomp.concatenate(list(xs), axis=axis), parts, mode, backend), expected, expected.dtype, backend)
    same = [random_array(rng, base, dtype) for dtype in dtypes]
    stack_axis = data.draw(st.integers(-len(base) - 1, len(base)), label="stack axis")
    stacked = np.stack(same, axis=stack_axis)
    check(run(lambda *xs: tcomp.stack(xs, axis=stack_axis), same, mode, backend), stacked, stacked.dtype, backend)


def test_concatenate_and_stack_errors(backend):
    a, b = np.ones((2, 3), np.float32), np.ones((2, 4), np.float32)
    with pytest.raises(TcompShapeError, match=r"concatenate: shapes \(2, 3\), \(2, 4\)"):
        run(lambda x, y: tcomp.concatenate([x, y], axis=0), [a, b], "jit", backend)
    with pytest.raises(TcompShapeError, match="stack"):
        run(lambda x, y: tcomp.stack([x, y]), [a, b], "jit", backend)
    with pytest.raises(TcompTypeError, match="non-empty"):
        tcomp.concatenate([])


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(data=st.data(), dtype=st.sampled_from(ALL_FLOATS + ("int32",)), seed=seeds)
def test_pad_matches_numpy(backend, mode, data, dtype, seed):
    shape = data.draw(shapes(max_dims=3), label="shape")
    forms = [st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))]
    if shape:  # a pair per axis (numpy refuses an empty tuple for a 0-d array)
        pair = st.tuples(st.integers(0, 2), st.integers(0, 2))
        forms.append(st.lists(pair, min_size=len(shape), max_size=len(shape)).map(tuple))
    width = data.draw(st.one_of(forms), label="pad_width")
    value = data.draw(st.sampled_from([0, 2, -1]), label="constant_values")
    x = random_array(np.random.default_rng(seed), shape, dtype)
    expected = np.pad(x, width, constant_values=value)
    check(run(lambda a: tcomp.pad(a, width, constant_values=value), [x], mode, backend), expected, dtype, backend)


def test_pad_errors(backend):
    x = np.ones((2, 2), np.float32)
    with pytest.raises(TcompTypeError, match="mode 'median' is not supported"):
        run(lambda a: tcomp.pad(a, 1, mode="median"), [x], "jit", backend)
    with pytest.raises(TcompShapeError, match="negative"):
        run(lambda a: tcomp.pad(a, -1), [x], "jit", backend)
    with pytest.raises(TcompArgumentError, match="does not fit an array of rank 2"):
        run(lambda a: tcomp.pad(a, ((0, 0), (0, 1), (3, 0))), [x], "jit", backend)
    with pytest.raises(TcompTypeError, match="pad_width must be"):
        run(lambda a: tcomp.pad(a, ((1, 2), 3)), [x], "jit", backend)


# ---------------------------------------------------------------------------
# Gathering


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(data=st.data(), dtype=st.sampled_from(FLOATS + ("int32", "bool")), seed=seeds)
def test_take_matches_numpy(backend, mode, data, dtype, seed):
    shape = data.draw(shapes(min_dims=1, min_side=1), label="shape")
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)), label="axis")
    size = int(np.prod(shape)) if axis is None else shape[axis]
    index_shape = data.draw(shapes(max_dims=2), label="index shape")
    rng = np.random.default_rng(seed)
    x = random_array(rng, shape, dtype)
    indices = rng.integers(-size, size, size=index_shape).astype(np.int32)  # negative: from the end
    expected = np.take(x, indices, axis=axis)
    check(run(lambda a, i: tcomp.take(a, i, axis=axis), [x, indices], mode, backend), expected, dtype, backend)


@pytest.mark.parametrize("mode", MODES)
@fixture_settings
@given(data=st.data(), seed=seeds)
def test_take_along_axis_matches_numpy(backend, mode, data, seed):
    shape = data.draw(shapes(min_dims=1, min_side=1), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    rng = np.random.default_rng(seed)
    index_shape = list(shape)
    index_shape[axis] = int(rng.integers(0, 4))
    # Other axes of the indices may be 1 and broadcast.
    index_shape = [d if i == axis % len(shape) or rng.random() < 0.7 else 1 for i, d in enumerate(index_shape)]
    x = random_array(rng, shape, "float32")
    n = shape[axis]
    indices = rng.integers(-n, n, size=index_shape).astype(np.int32)
    expected = np.take_along_axis(x, indices, axis=axis)
    check(run(lambda a, i: tcomp.take_along_axis(a, i, axis), [x, indices], mode, backend), expected, np.float32, backend)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float32", "int32", "bool", "float64"])
def test_one_hot_matches_numpy(backend, mode, dtype):
    labels = np.array([[0, 2], [3, 1], [7, -1]], np.int64)  # 7 and -1: no class, all zeros
    num_classes = 4
    expected = (labels[..., None] == np.arange(num_classes)).astype(dtype)
    check(run(lambda i: tcomp.one_hot(i, num_classes, dtype=dtype), [labels], mode, backend), expected, dtype, backend)


def test_gather_rejects_float_indices(backend):
    with pytest.raises(TcompTypeError, match="indices must be integers"):
        run(lambda a: tcomp.take(a, np.array([0.5])), [np.ones(3, np.float32)], "jit", backend)


# ---------------------------------------------------------------------------
# Creation


CREATION = [
    (lambda: tcomp.zeros((2, 3)), np.zeros((2, 3), np.float32)),
    (lambda: tcomp.zeros(3, dtype="int32"), np.zeros(3, np.int32)),
    (lambda: tcomp.ones((0, 2), dtype=np.float64), np.ones((0, 2))),
    (lambda: tcomp.ones((), dtype=bool), np.ones((), bool)),
    (lambda: tcomp.full((2, 2), 7), np.full((2, 2), 7, np.int32)),
    (lambda: tcomp.full((2,), 1.5), np.full((2,), 1.5, np.float32)),
    (lambda: tcomp.full((1, 3), 2, dtype="float16"), np.full((1, 3), 2, np.float16)),
    (lambda: tcomp.arange(5), np.arange(5, dtype=np.int32)),
    (lambda: tcomp.arange(2, 9, 3), np.arange(2, 9, 3, dtype=np.int32)),
    (lambda: tcomp.arange(5, 0, -2), np.arange(5, 0, -2, dtype=np.int32)),
    (lambda: tcomp.arange(0.5, 2.0, 0.25), np.arange(0.5, 2.0, 0.25, dtype=np.float32)),
    (lambda: tcomp.arange(4, dtype="float64"), np.arange(4, dtype=np.float64)),
    (lambda: tcomp.arange(3, 3), np.arange(3, 3, dtype=np.int32)),
]


@pytest.mark.parametrize("mode", ["jit", "eager_numpy"])
@pytest.mark.parametrize("case", range(len(CREATION)))
def test_creation_functions_match_numpy(backend, case, mode):
    make, expected = CREATION[case]
    check(run(make, [], mode, backend), expected, expected.dtype, backend)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_like_functions_match_numpy(backend, mode, dtype):
    x = np.array([[1, 0, 2]]).astype(dtype)
    check(run(tcomp.zeros_like, [x], mode, backend), np.zeros_like(x), dtype, backend)
    check(run(tcomp.ones_like, [x], mode, backend), np.ones_like(x), dtype, backend)
    check(run(lambda a: tcomp.full_like(a, 1), [x], mode, backend), np.full_like(x, 1), dtype, backend)
    check(run(lambda a: tcomp.zeros_like(a, dtype="float64"), [x], mode, backend), np.zeros((1, 3)), np.float64, backend)
    check(run(lambda a: tcomp.full_like(a, 3, dtype="int32"), [x], mode, backend), np.full((1, 3), 3), np.int32, backend)


def test_arange_errors(backend):
    with pytest.raises(TcompShapeError, match="step"):
        tcomp.arange(0, 3, 0)
    with pytest.raises(TcompShapeError, match="finite"):
        tcomp.arange(0, float("inf"))
    with pytest.raises(TcompShapeError, match="finite"):
        tcomp.arange(float("nan"))
    with pytest.raises(TcompTypeError, match="known when tracing"):
        run(lambda n: tcomp.arange(n), [np.int32(3)], "jit", backend)


def test_eager_results_on_arrays_stay_on_their_backend(backend):
    x = to_array(np.arange(6, dtype=np.float32).reshape(2, 3), backend)
    y = (x * 2 + 1).sum(axis=0)
    check(y, (np.arange(6).reshape(2, 3) * 2 + 1).sum(axis=0), np.float32, backend)
