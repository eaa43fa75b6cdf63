"""``tcomp.nn.init.orthogonal`` (frontend/nn_init_orthogonal.py) against its definition.

PyTorch's recipe on a Householder QR: the result equals numpy's QR of the same normal
draw with the columns signed by ``R``'s diagonal (float64, to rounding); its fewer
dimension is orthonormal times ``gain``; the first column of a 2x2 draw points in a
uniformly random direction (the Haar measure), checked by a chi-square over 8 angle
sectors; every backend gives the reference's matrix.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tcomp
from tcomp import nn

KEY = tcomp.random.key(11)


def _expected(key, shape, gain=1.0):
    """numpy's QR of the same tall normal draw, signed as the definition says."""
    rows, cols = shape[0], int(np.prod(shape[1:]))
    tall = np.asarray(tcomp.random.normal(key, (max(rows, cols), min(rows, cols)), "float64"))
    q, r = np.linalg.qr(tall)
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    return (q.T if rows < cols else q).reshape(shape) * gain


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5), (4, 2, 3)])
def test_equals_numpys_signed_qr_of_the_same_draw(shape):
    got = np.asarray(nn.init.orthogonal(KEY, shape, "float64", gain=1.5))
    np.testing.assert_allclose(got, _expected(KEY, shape, 1.5), rtol=0, atol=1e-12)


@settings(max_examples=5, deadline=None)
@given(rows=st.integers(1, 9), cols=st.integers(1, 9), seed=st.integers(0, 2**31 - 1))
def test_the_fewer_dimension_is_orthonormal(rows, cols, seed):
    w = np.asarray(nn.init.orthogonal(tcomp.random.key(seed), (rows, cols), gain=2.0))
    assert w.dtype == np.float32 and w.shape == (rows, cols)
    gram = w.T @ w if rows >= cols else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=2e-5)


def test_every_backend_gives_the_reference_matrix(backend):
    def init(k):
        return nn.init.orthogonal(k, (16, 8))

    want = np.asarray(tcomp.jit(init, backend="reference")(KEY))
    np.testing.assert_allclose(np.asarray(tcomp.jit(init, backend=backend)(KEY)), want, atol=2e-6)


def test_directions_are_uniform():
    draw = tcomp.jit(lambda k, i: nn.init.orthogonal(tcomp.random.fold_in(k, i), (2, 2)))
    trials = 1600
    angles = [np.arctan2(*np.asarray(draw(KEY, np.int32(i)))[::-1, 0]) for i in range(trials)]
    counts = np.histogram(angles, bins=8, range=(-np.pi, np.pi))[0]
    chi2 = float(np.sum((counts - trials / 8) ** 2 / (trials / 8)))
    assert chi2 < 24.32, counts  # 7 degrees of freedom, 99.9% point


def test_a_vector_shape_is_refused_by_name():
    with pytest.raises(tcomp.errors.TcompShapeError, match="nn.init.orthogonal"):
        nn.init.orthogonal(KEY, (5,))
