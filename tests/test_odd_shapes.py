"""Odd shapes and odd inputs on every backend: size-0 and size-1 axes, primes,
sizes that are not a multiple of any vector width or tile, and numpy inputs
that are transposed, strided or reversed views."""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp import nn

ODD_SIDES = (0, 1, 7, 13, 1023)


def _fused(x, y):
    return nn.relu(x * 2.0 + y) - tcomp.tanh(y)


def _softmax_rows(x):
    return nn.softmax(x, axis=-1)


@pytest.mark.parametrize("rows", ODD_SIDES)
@pytest.mark.parametrize("cols", (1, 13, 1023))
def test_elementwise_and_row_reductions_on_odd_shapes(backend, rows, cols):
    rng = np.random.default_rng(rows * 7 + cols)
    x = rng.normal(size=(rows, cols)).astype(np.float32)
    y = rng.normal(size=(cols,)).astype(np.float32)
    got = tcomp.jit(_fused, backend=backend)(x, y)
    np.testing.assert_allclose(got, np.maximum(x * 2 + y, 0) - np.tanh(y), rtol=1e-5, atol=1e-6)
    sums = tcomp.jit(lambda a: (a.sum(axis=1), a.max(axis=0)), backend=backend)
    if rows:
        row_sums, col_max = sums(x)
        np.testing.assert_allclose(row_sums, x.sum(axis=1), rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(col_max, x.max(axis=0))
    soft = tcomp.jit(_softmax_rows, backend=backend)(x)
    e = np.exp(x - x.max(axis=1, keepdims=True)) if rows else x
    np.testing.assert_allclose(soft, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (7, 13, 1), (13, 7, 17), (1, 1023, 7), (0, 5, 3)])
def test_matmul_on_odd_shapes(backend, m, k, n):
    rng = np.random.default_rng(m + 10 * k + 100 * n)
    a = rng.normal(size=(m, k)).astype(np.float32)
    b = rng.normal(size=(k, n)).astype(np.float32)
    got = tcomp.jit(lambda a, b: nn.relu(a @ b + 1.0), backend=backend)(a, b)
    np.testing.assert_allclose(got, np.maximum(a @ b + 1, 0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "view",
    [
        lambda x: x.T,
        lambda x: x[::-1],
        lambda x: x[:, ::-2],
        lambda x: x[1::3, 2:],
        lambda x: np.broadcast_to(x[:1], x.shape),
    ],
    ids=["transposed", "reversed", "negative_stride", "strided", "broadcast_view"],
)
def test_non_contiguous_numpy_inputs(backend, view):
    base = np.arange(13 * 14, dtype=np.float32).reshape(13, 14) / 10
    x = view(base)
    assert not x.flags.c_contiguous
    got = tcomp.jit(lambda a: tcomp.exp(a) * a.sum(axis=0), backend=backend)(x)
    np.testing.assert_allclose(got, np.exp(x) * x.sum(axis=0), rtol=1e-5)
