"""nn.pad with negative pads: PyTorch's ``F.pad`` cuts that many elements from the side.

PyTorch's order, checked against torch 2.13 ``F.pad`` on a 1x3x4x5 input for every mode
and a dozen pad tuples (equal arrays wherever torch accepts the pads): the constant,
reflect and replicate modes pad first, reading the whole input, and cut after; circular
cuts first and wraps what is left. The expectations here are numpy's ``np.pad`` and
slicing in that order (torch is not a test dependency).
"""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp import nn

NUMPY_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _expected(x: np.ndarray, pad: tuple[int, ...], mode: str) -> np.ndarray:
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    grown = [(max(low, 0), max(high, 0)) for low, high in pairs]

    def cut(a: np.ndarray) -> np.ndarray:
        return a[
            tuple(slice(-min(lo, 0), a.shape[k] + min(hi, 0)) for k, (lo, hi) in enumerate(pairs))
        ]

    if mode == "circular":
        return np.pad(cut(x), grown, mode="wrap")
    return cut(np.pad(x, grown, mode=NUMPY_MODE[mode]))


PAD_CASES = [(-1, 2, 2, -1), (1, -2, -1, 3), (-2, -2, 0, 0), (-1, -1, -1, -1), (0, -4, 1, 1)]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", PAD_CASES)
def test_negative_pads_cut_as_pytorch_does(backend, mode, pad):
    x = np.arange(3 * 4 * 5, dtype=np.float32).reshape(1, 3, 4, 5)
    got = tcomp.jit(lambda a: nn.pad(a, pad, mode=mode), backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(got), _expected(x, pad, mode))


def test_a_cut_side_gets_no_gradient(backend):
    x = np.arange(6.0).reshape(1, 6)
    weights = np.arange(1.0, 8.0)  # the output has 6 - 1 + 2 = 7 elements

    def loss(a):
        return tcomp.sum(nn.pad(a, (-1, 2), mode="replicate") * weights)

    grad = np.asarray(tcomp.jit(tcomp.grad(loss), backend=backend)(x))
    # out = [x1 x2 x3 x4 x5 x5 x5]: x0 is cut, x5 is read three times
    np.testing.assert_array_equal(grad, [[0, 1, 2, 3, 4, 5 + 6 + 7]])


def test_cutting_more_than_the_axis_holds_is_an_error():
    with pytest.raises(ValueError, match=r"pad: axis 1 of x \(2, 3\) has 3 elements"):
        nn.pad(np.zeros((2, 3)), (-2, -2))
