"""``tcomp.put_along_axis``, against a plain loop that writes one value at a time.

The loop is the definition in the docstring (PyTorch's ``scatter_reduce`` for the
reductions, checked by hand against torch; numpy's ``put_along_axis`` for ``reduce=None``,
also compared with numpy's own). Drawn on every backend with repeated and negative
indices, broadcast index axes, traced and host indices; out-of-range indices; errors in
the user's terms; gradients in float64 against central differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from frontend_helpers import MODES, check, run, seeds
from gradcheck import check_gradients
from hypothesis import given
from hypothesis import strategies as st
from test_ops_composite import examples

import tcomp
import tcomp.frontend.put_along_axis as put_along_axis_module
from tcomp.errors import (
    TcompArgumentError,
    TcompAxisError,
    TcompIndexError,
    TcompShapeError,
    TcompTypeError,
)

REDUCTIONS = (None, "add", "multiply", "min", "max", "mean")


def loop_put(arr, indices, values, axis, reduce=None, include_self=True):
    """One element at a time: collect what each element receives, in row-major order of
    the indices, then reduce it (with the element's own value unless include_self=False)."""
    shape = arr.shape
    if axis is None:
        arr, axis = arr.reshape(-1), 0
    axis %= arr.ndim
    n = arr.shape[axis]
    others = tuple(1 if d == axis else size for d, size in enumerate(arr.shape))
    target = np.broadcast_shapes(np.shape(indices), others)
    where_ = np.broadcast_to(indices, target)
    given_ = np.broadcast_to(np.asarray(values).astype(arr.dtype), target)
    received: dict[tuple, list] = {}
    for j in np.ndindex(target):
        k = int(where_[j]) + (n if where_[j] < 0 else 0)
        element = tuple(
            k if d == axis else (j[d] if arr.shape[d] > 1 else 0) for d in range(arr.ndim)
        )
        received.setdefault(element, []).append(given_[j])
    out = arr.copy()
    for element, got in received.items():
        terms = ([arr[element]] if include_self else []) + got
        if reduce is None:
            out[element] = got[-1]
        elif reduce == "add":
            out[element] = np.any(terms) if arr.dtype == bool else np.sum(terms, dtype=np.float64)
        elif reduce == "multiply":
            out[element] = np.all(terms) if arr.dtype == bool else np.prod(terms, dtype=np.float64)
        elif reduce == "min":
            out[element] = np.minimum.reduce(np.array(terms))
        elif reduce == "max":
            out[element] = np.maximum.reduce(np.array(terms))
        elif arr.dtype.kind == "f":
            out[element] = np.mean(np.array(terms, np.float64))
        else:
            out[element] = sum(int(t) for t in terms) // len(terms)  # floor, as PyTorch's
    return out.reshape(shape)


@st.composite
def problems(draw, dtype_choices=("float32", "int32", "bool")):
    """(arr, indices, values, axis, reduce, include_self) with repeats and broadcasting."""
    ndim = draw(st.integers(1, 3), label="ndim")
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    axis = draw(st.integers(-ndim, ndim - 1), label="axis")
    dtype = draw(st.sampled_from(dtype_choices), label="dtype")
    reduce = draw(st.sampled_from(REDUCTIONS if dtype != "bool" else REDUCTIONS[:-1]))
    include_self = True if reduce is None else draw(st.booleans(), label="include_self")
    ishape = tuple(
        draw(st.integers(0, 5)) if d == axis % ndim else draw(st.sampled_from((1, n)))
        for d, n in enumerate(shape)
    )
    rng = np.random.default_rng(draw(seeds))
    n = shape[axis]
    indices = rng.integers(-n, n, size=ishape).astype(np.int32)
    target = np.broadcast_shapes(
        ishape, tuple(1 if d == axis % ndim else s for d, s in enumerate(shape))
    )
    vshape = target[draw(st.integers(0, len(target))) :]  # values broadcast from the right
    if dtype == "bool":
        arr, values = rng.random(shape) < 0.5, rng.random(vshape) < 0.5
    else:
        arr = rng.integers(-4, 5, size=shape).astype(dtype)
        values = rng.integers(-4, 5, size=vshape).astype(dtype)
        if dtype == "float32":
            arr, values = arr + 0.5, values * 1.5
    return np.asarray(arr), indices, np.asarray(values), axis, reduce, include_self


def test_pytorch_scatter_reduce_examples():
    """torch 2.13's scatter_reduce on x=[10, 20, 30, 40], index=[0, 0, 2, 0], src=[1, 2, 3, 4]."""
    x, i, s = np.float32([10, 20, 30, 40]), np.int32([0, 0, 2, 0]), np.float32([1, 2, 3, 4])
    torch_results = {
        (None, True): [4, 20, 3, 40],
        ("add", True): [17, 20, 33, 40],
        ("add", False): [7, 20, 3, 40],
        ("multiply", False): [8, 20, 3, 40],
        ("mean", True): [4.25, 20, 16.5, 40],
        ("mean", False): [7 / 3, 20, 3, 40],
        ("max", True): [10, 20, 30, 40],
        ("max", False): [4, 20, 3, 40],
    }
    for (reduce, include_self), expected in torch_results.items():
        got = tcomp.put_along_axis(x, i, s, 0, reduce=reduce, include_self=include_self)
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)
    ints = tcomp.put_along_axis(
        np.int32([-10, 20, 30, 40]), i, np.int32([-1, 2, 3, 4]), 0, reduce="mean"
    )
    np.testing.assert_array_equal(np.asarray(ints), [-2, 20, 16, 40])  # floor(-5 / 4)


@pytest.mark.parametrize("path", ["traced", "traced-sorted", "host"])
def test_matches_the_loop(backend, path, monkeypatch):
    """Traced indices on a short axis take the dense path (put_along_axis_dense.py);
    "traced-sorted" forces the general ``.at`` path (a sort by position)."""
    traced_indices = path != "host"
    if path == "traced-sorted":
        monkeypatch.setattr(put_along_axis_module, "DENSE_MAX_AXIS", 0)

    @examples(backend)
    @given(problem=problems())
    def inner(problem):
        arr, indices, values, axis, reduce, include_self = problem
        expected = loop_put(arr, indices, values, axis, reduce, include_self)

        def put(a, i, v):
            return tcomp.put_along_axis(
                a,
                i if traced_indices else indices,
                v,
                axis,
                reduce=reduce,
                include_self=include_self,
            )

        got = run(put, [arr, indices, values], "jit", backend)
        check(got, expected, arr.dtype, backend)

    inner()


@pytest.mark.parametrize("mode", MODES)
def test_set_matches_numpy_in_every_mode(backend, mode):
    rng = np.random.default_rng(2)
    arr = rng.standard_normal((3, 5, 2)).astype(np.float32)
    indices = rng.integers(-5, 5, (3, 4, 1)).astype(np.int32)  # repeats; last axis broadcast
    values = rng.standard_normal((4, 2)).astype(np.float32)
    expected = arr.copy()
    np.put_along_axis(expected, indices, values, 1)
    got = run(
        lambda a, i, v: tcomp.put_along_axis(a, i, v, 1), [arr, indices, values], mode, backend
    )
    check(got, expected, "float32", backend)
    assert np.asarray(arr).sum() == arr.sum()  # arr itself is unchanged


def test_axis_none_works_on_the_flattened_array(backend):
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    indices = np.int32([5, 0, -2, 0])
    got = run(
        lambda a, i: tcomp.put_along_axis(a, i, 9.0, None, reduce="add"),
        [arr, indices],
        "jit",
        backend,
    )
    check(got, loop_put(arr, indices, np.float32(9), None, "add"), "float32", backend)


def test_out_of_range_indices(backend):
    arr = np.zeros((2, 3), np.float32)
    indices = np.int32([[3, 0, -4], [-1, 7, 1]])
    values = np.float32([[1, 2, 3], [4, 5, 6]])
    got = run(
        lambda a, i, v: tcomp.put_along_axis(a, i, v, 1, reduce="add"),
        [arr, indices, values],
        "jit",
        backend,
    )
    # traced indices out of [-3, 3) are dropped: only 0 (row 0), -1 and 1 (row 1) land
    check(got, [[2, 0, 0], [0, 6, 4]], "float32", backend)
    with pytest.raises(TcompIndexError, match="index 3 is out of bounds for axis 1 with size 3"):
        tcomp.put_along_axis(arr, indices, values, 1)


def test_bad_input_is_named_in_the_users_terms():
    arr, indices, values = np.zeros((2, 3), np.float32), np.zeros((2, 1), np.int32), 1.0
    with pytest.raises(TcompArgumentError, match="reduce must be one of .* got 'sum'"):
        tcomp.put_along_axis(arr, indices, values, 1, reduce="sum")
    with pytest.raises(TcompArgumentError, match="include_self=False needs a reduce"):
        tcomp.put_along_axis(arr, indices, values, 1, include_self=False)
    with pytest.raises(TcompShapeError, match=r"rank 2 \(array shape \(2, 3\)\), got shape \(2,\)"):
        tcomp.put_along_axis(arr, np.zeros(2, np.int32), values, 1)
    with pytest.raises(TcompShapeError, match=r"indices of shape \(3, 1\) do not broadcast"):
        tcomp.put_along_axis(arr, np.zeros((3, 1), np.int32), values, 1)
    with pytest.raises(TcompShapeError, match=r"values of shape \(3,\) cannot be broadcast"):
        tcomp.put_along_axis(arr, indices, np.ones(3, np.float32), 1)
    with pytest.raises(TcompTypeError, match="indices must be integers, got float32"):
        tcomp.put_along_axis(arr, indices.astype(np.float32), values, 1)
    with pytest.raises(TcompTypeError, match="'mean' is not defined on bool"):
        tcomp.put_along_axis(arr > 0, indices, True, 1, reduce="mean")
    with pytest.raises(TcompAxisError, match="put_along_axis: axis 2 is out of range"):
        tcomp.put_along_axis(arr, indices, values, 2)


@pytest.mark.parametrize("path", ["traced", "traced-sorted", "host"])
@pytest.mark.parametrize(
    "reduce,include_self",
    [(r, s) for r in REDUCTIONS for s in (True, False) if r is not None or s],
)
def test_gradients_match_finite_differences(reduce, include_self, path, monkeypatch):
    """float64, with repeated indices; distinct values keep min/max away from ties."""
    if path == "traced-sorted":
        monkeypatch.setattr(put_along_axis_module, "DENSE_MAX_AXIS", 0)
    rng = np.random.default_rng(5)
    arr = rng.permutation(np.linspace(-2.0, 2.0, 12)).reshape(3, 4)
    values = rng.permutation(np.linspace(0.3, 2.9, 15)).reshape(5, 3) * rng.choice([-1, 1], (5, 3))
    indices = np.int32([[0, 3, 1], [2, 3, 1], [0, 0, 3], [2, 1, 1], [3, 3, 0]]).T

    def put(a, i, v):
        where_to = indices if path == "host" else i
        return tcomp.put_along_axis(a, where_to, v.T, 1, reduce=reduce, include_self=include_self)

    traced = tcomp.jit(put, backend="reference").lower(arr, indices, values).function("traced")
    check_gradients(traced, [arr, indices, values], wrt=(0, 2), rng=rng)


def test_grad_on_each_backend_matches_the_reference(backend):
    rng = np.random.default_rng(9)
    arr, values = rng.standard_normal((4, 3)), rng.standard_normal((6, 3))
    indices = rng.integers(0, 4, (6, 3)).astype(np.int32)

    def loss(a, i, v):
        total = 0.0
        for reduce in ("add", "mean", None):
            out = tcomp.put_along_axis(a, i, v, 0, reduce=reduce)
            total = total + tcomp.sum(out * out)
        return total

    grads = tcomp.jit(tcomp.grad(loss, argnums=(0, 2)), backend=backend)(arr, indices, values)
    expected = tcomp.jit(tcomp.grad(loss, argnums=(0, 2)), backend="reference")(
        arr, indices, values
    )
    for got, want in zip(grads, expected):
        check(got, np.asarray(want), "float64", backend)
