"""nn.cross_entropy with class-probability targets (PyTorch's second form).

The expectation is PyTorch's definition written in numpy: per position
``-sum_c weight[c] * p[c] * log_softmax(x)[c]``, with ``p`` smoothed to
``(1 - e) * p + e / C``, and ``"mean"`` dividing by the number of positions. (It was
checked against torch 2.13's ``F.cross_entropy`` for every reduction, with and without
weights and smoothing, class axis 1 of a ``[4, 5, 3]`` input, and its gradient; torch is
not a test dependency.)
"""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp import nn


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _expected(x, p, weight, reduction, smoothing, axis):
    classes = x.shape[axis]
    target = p * (1.0 - smoothing) + smoothing / classes
    terms = target * _log_softmax(x, axis)
    if weight is not None:
        shape = [1] * x.ndim
        shape[axis] = classes
        terms = terms * weight.reshape(shape)
    loss = -terms.sum(axis=axis)
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _inputs(shape, axis, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(dtype)
    p = rng.uniform(size=shape).astype(dtype)
    return x, p / p.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_probability_targets_match_pytorchs_definition(backend, reduction, smoothing, weighted):
    x, p = _inputs((4, 5, 3), axis=1)
    weight = np.linspace(0.5, 2.0, 5).astype(np.float32) if weighted else None

    def loss(a, b):
        return nn.cross_entropy(
            a, b, weight=weight, reduction=reduction, label_smoothing=smoothing, axis=1
        )

    got = np.asarray(tcomp.jit(loss, backend=backend)(x, p))
    want = _expected(x.astype(np.float64), p, weight, reduction, smoothing, axis=1)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


def test_probability_targets_gradient_matches_finite_differences():
    x, p = _inputs((3, 4), axis=-1, seed=1, dtype=np.float64)

    def loss(a):
        return nn.cross_entropy(a, p, label_smoothing=0.1)

    got = np.asarray(tcomp.jit(tcomp.grad(loss))(x))
    step, want = 1e-6, np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        want[index] = (float(np.asarray(loss(up))) - float(np.asarray(loss(down)))) / (2 * step)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_integer_labels_still_pick_their_class(backend):
    x, _ = _inputs((4, 5), axis=-1)
    labels = np.array([0, 4, 2, 1], np.int32)
    got = np.asarray(tcomp.jit(nn.cross_entropy, backend=backend)(x, labels))
    want = -_log_softmax(x.astype(np.float64), -1)[np.arange(4), labels].mean()
    np.testing.assert_allclose(got, want, rtol=2e-6)


def test_ignore_index_with_probabilities_is_an_error():
    x, p = _inputs((4, 5), axis=-1)
    with pytest.raises(ValueError, match="cross_entropy: ignore_index is for class-index labels"):
        nn.cross_entropy(x, p, ignore_index=-100)
