"""``nn.max_pool2d(..., return_indices=True)`` on the inputs where PyTorch's loop and a
plain "first maximum" differ: windows of ``-inf`` next to padding, NaNs, ties.

The reference is PyTorch's CPU kernel written as a loop (checked by hand against torch
2.13): the index starts at the window's first element inside the input (value -inf)
and moves to each later element inside the input that is larger or NaN. So equal maxima
keep the first, the last NaN wins, and padding is never pointed at.
"""

from __future__ import annotations

import numpy as np
from frontend_helpers import fixture_settings, seeds
from hypothesis import given
from hypothesis import strategies as st
from test_nn_more_layers import _output_size

import tcomp
from tcomp import nn


def pytorch_loop_indices(x, kernel, stride, padding, dilation, ceil_mode):
    n, c, h, w = x.shape
    oh = _output_size(h, kernel, stride, padding, dilation, ceil_mode)
    ow = _output_size(w, kernel, stride, padding, dilation, ceil_mode)
    out = np.zeros((n, c, oh, ow), np.int64)
    for b, ch, i, j in np.ndindex(n, c, oh, ow):
        rows = [r for r in range(i * stride - padding, h, dilation)][:kernel]
        cols = [q for q in range(j * stride - padding, w, dilation)][:kernel]
        rows, cols = [r for r in rows if r >= 0], [q for q in cols if q >= 0]
        best, where = -np.inf, rows[0] * w + cols[0]
        for r in rows:
            for q in cols:
                value = x[b, ch, r, q]
                if value > best or np.isnan(value):
                    best, where = value, r * w + q
        out[b, ch, i, j] = where
    return out


def test_a_window_of_minus_infinity_next_to_padding():
    x = np.full((1, 1, 3, 3), -np.inf, np.float32)
    _, indices = nn.max_pool2d(x, 2, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(np.asarray(indices), [[[[0, 1], [3, 4]]]])  # torch's


@fixture_settings
@given(
    seed=seeds,
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    data=st.data(),
)
def test_indices_follow_pytorchs_loop(backend, seed, kernel, stride, dilation, data):
    padding = data.draw(st.integers(0, kernel // 2), label="padding")
    ceil_mode = data.draw(st.booleans(), label="ceil_mode")
    shape = (1, 2, data.draw(st.integers(5, 7)), data.draw(st.integers(5, 7)))
    rng = np.random.default_rng(seed)
    levels = np.array([-np.inf, np.nan, -1.0, 0.0, 2.0], np.float32)
    x = rng.choice(levels, size=shape, p=[0.4, 0.1, 0.2, 0.2, 0.1]).astype(np.float32)
    values, indices = tcomp.jit(
        lambda a: nn.max_pool2d(a, kernel, stride, padding, dilation, ceil_mode, True),
        backend=backend,
    )(x)
    expected = pytorch_loop_indices(x, kernel, stride, padding, dilation, ceil_mode)
    np.testing.assert_array_equal(np.asarray(indices), expected)
    picked = np.take_along_axis(x.reshape(1, 2, -1), expected.reshape(1, 2, -1), -1)
    np.testing.assert_array_equal(np.asarray(values), picked.reshape(values.shape))
