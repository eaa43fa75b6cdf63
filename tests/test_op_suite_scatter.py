"""The op-suite shim's scatter, scatter_reduce, cummax/cummin and max_pool2d indices,
against numpy loops of PyTorch's definitions. Needs neither torch nor the outside suite.

torch's ``scatter(dim, index, src)`` writes ``self[..., index[j], ...] = src[j]`` for
every position ``j`` of ``index``, which may be smaller than ``self`` on the other axes
and than ``src`` on every axis (only those leading parts take part).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.op_suite import graph
from bench.op_suite.tensor import Tensor


@pytest.fixture(autouse=True)
def _reference_backend():
    saved = graph.BACKEND["name"]
    graph.BACKEND["name"] = "reference"
    yield
    graph.BACKEND["name"] = saved


def torch_scatter(x, dim, index, src, reduce=None, include_self=True):
    """PyTorch's scatter/scatter_reduce as a loop over the index's positions (CPU order:
    along ``dim`` the later write wins)."""
    out = x.astype(np.float64).copy()
    received: dict[tuple, list[float]] = {}
    for j in np.ndindex(index.shape):
        element = tuple(index[j] if d == dim else j[d] for d in range(x.ndim))
        value = src if np.ndim(src) == 0 else src[j]
        received.setdefault(element, []).append(float(value))
    for element, got in received.items():
        terms = ([float(x[element])] if include_self else []) + got
        out[element] = {
            None: lambda: got[-1],
            "sum": lambda: sum(terms),
            "add": lambda: sum(terms),
            "prod": lambda: np.prod(terms),
            "multiply": lambda: np.prod(terms),
            "mean": lambda: np.mean(terms),
            "amin": lambda: min(terms),
            "amax": lambda: max(terms),
        }[reduce]()
    return out.astype(x.dtype)


def _data(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(np.float32)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_with_a_smaller_index_writes_the_leading_part(dim):
    x, src = _data(4, 5, 6), _data(4, 5, 6, seed=1)
    index = np.random.default_rng(2).integers(0, 3, (3, 4, 5)).astype(np.int32)
    got = Tensor(x).scatter(dim, Tensor(index), Tensor(src)).numpy()
    np.testing.assert_allclose(got, torch_scatter(x, dim % 3, index, src), rtol=1e-6)
    got = Tensor(x).scatter(dim, Tensor(index), 2.5, reduce="multiply").numpy()
    np.testing.assert_allclose(got, torch_scatter(x, dim % 3, index, 2.5, "multiply"), rtol=1e-6)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amin", "amax"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_maps_torchs_names(reduce, include_self):
    x, src = _data(3, 4, 5), _data(3, 4, 5, seed=3)
    index = np.random.default_rng(4).integers(0, 3, (3, 4, 5)).astype(np.int32)
    got = Tensor(x).scatter_reduce(1, Tensor(index), Tensor(src), reduce, include_self)
    expected = torch_scatter(x, 1, index, src, reduce, include_self)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_scatter_refuses_what_torch_refuses():
    x, index = Tensor(_data(2, 3)), Tensor(np.zeros((3, 3), np.int32))
    with pytest.raises(RuntimeError, match="larger than self"):
        x.scatter(1, index, Tensor(_data(3, 3)))
    with pytest.raises(RuntimeError, match="src is dtypes.float16, self is dtypes.float32"):
        x.scatter(1, Tensor(np.zeros((2, 3), np.int32)), Tensor(_data(2, 3).astype(np.float16)))
    with pytest.raises(TypeError, match="scatter_reduce"):
        x.scatter(1, Tensor(np.zeros((2, 3), np.int32)), Tensor(_data(2, 3)), reduce="add")


def test_cummax_of_a_zero_dimensional_tensor_along_axis_0():
    values, indices = Tensor(np.float32(1.5)).cummax(0)
    assert values.shape == () and indices.shape == ()
    assert values.numpy() == np.float32(1.5) and indices.numpy() == 0
    values, indices = Tensor(np.float32([3, 1, 1, 2])).cummin(0)
    np.testing.assert_array_equal(indices.numpy(), [0, 1, 2, 2])


def test_max_pool2d_returns_tcomps_indices():
    x = _data(1, 2, 4, 4)
    values, indices = Tensor(x).max_pool2d(kernel_size=(2, 2), return_indices=True)
    planes = x.reshape(1, 2, 16)
    picked = np.take_along_axis(planes, indices.numpy().reshape(1, 2, -1), -1)
    np.testing.assert_array_equal(picked.reshape(values.shape), values.numpy())
