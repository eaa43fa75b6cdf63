"""``tcomp.accumulate_gradients``: the mean over k micro-batches equals the full batch's
``value_and_grad`` (a mean loss), on every backend; the scratch arena stays about one
micro-batch's; bad batches are clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tcomp
from tcomp import nn
from tcomp.ir.errors import TcompArgumentError, TcompShapeError

FEATURES, HIDDEN, CLASSES = 6, 32, 3


def _dtype(backend: str) -> type:
    return np.float32 if backend == "opencl" else np.float64


def _params(dtype: type) -> dict:
    rng = np.random.default_rng(0)
    return {
        "w1": (rng.standard_normal((FEATURES, HIDDEN)) * 0.4).astype(dtype),
        "b1": (rng.standard_normal(HIDDEN) * 0.1).astype(dtype),
        "w2": (rng.standard_normal((HIDDEN, CLASSES)) * 0.4).astype(dtype),
    }


def _batch(n: int, dtype: type, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, FEATURES)).astype(dtype), rng.integers(0, CLASSES, n).astype(np.int32)


def mlp_loss(p: dict, x, y):
    """A two-layer MLP's mean cross-entropy: its activations grow with the batch."""
    h = tcomp.tanh(x @ p["w1"] + p["b1"])
    h = h + tcomp.sigmoid(h) * h
    return nn.cross_entropy(h @ p["w2"], y)


def test_mean_over_micro_batches_equals_full_batch(backend):
    dtype = _dtype(backend)
    params, (x, y) = _params(dtype), _batch(12, dtype)
    full = tcomp.jit(tcomp.value_and_grad(mlp_loss), backend="reference")  # one compile less
    accumulated = tcomp.jit(
        tcomp.accumulate_gradients(tcomp.value_and_grad(mlp_loss), 3), backend=backend
    )
    (loss, grads), (want_loss, want_grads) = accumulated(params, x, y), full(params, x, y)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}
    np.testing.assert_allclose(np.asarray(loss), np.asarray(want_loss), **tol)
    assert sorted(grads) == sorted(params)
    for name in params:
        assert np.asarray(grads[name]).dtype == dtype
        np.testing.assert_allclose(np.asarray(grads[name]), np.asarray(want_grads[name]), **tol)
    # and not merely the first micro-batch's
    first_loss, _ = full(params, x[:4], y[:4])
    assert abs(float(np.asarray(first_loss)) - float(np.asarray(loss))) > 1e-3


def test_batch_trees_and_a_grad_fn_of_several_outputs():
    """Batch arguments may be trees; every leaf of grad_fn's result is averaged."""
    params, (x, y) = _params(np.float64), _batch(8, np.float64, seed=2)

    def grad_fn(p, batch):
        (loss, logits_sum), grads = tcomp.value_and_grad(
            lambda p, b: (mlp_loss(p, b["x"], b["y"]), tcomp.sum(b["x"])), has_aux=True
        )(p, batch)
        return (loss, logits_sum), grads

    calls = []

    def counted(p, batch):
        calls.append(1)
        return grad_fn(p, batch)

    for k in (2, 4):
        calls.clear()
        (loss, x_sum), grads = tcomp.jit(tcomp.accumulate_gradients(counted, k), backend="reference")(
            params, {"x": x, "y": y}
        )
        assert len(calls) <= 2  # traced once for the loop (and once for its types), whatever k
        np.testing.assert_allclose(float(np.asarray(x_sum)), x.sum() / k, rtol=1e-12)
        (want, _), want_grads = grad_fn(params, {"x": x, "y": y})
        np.testing.assert_allclose(np.asarray(loss), np.asarray(want), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(grads["w1"]), np.asarray(want_grads["w1"]), rtol=1e-10)


def test_arena_stays_one_micro_batchs():
    params, micro = _params(np.float32), 64
    value_and_grad = tcomp.value_and_grad(mlp_loss)

    def arena(fn, n: int) -> int:
        report = tcomp.jit(fn, backend="llvm").lower(params, *_batch(n, np.float32)).memory()
        assert report.arena_bytes is not None
        return report.arena_bytes

    one = arena(tcomp.accumulate_gradients(value_and_grad, 1), micro)
    four = arena(tcomp.accumulate_gradients(value_and_grad, 4), 4 * micro)
    full = arena(value_and_grad, 4 * micro)
    assert four <= 1.5 * one, (one, four)
    assert full > 2 * one, (one, full)  # the full batch at once does need more


def test_errors_name_the_problem_and_the_users_line():
    params, (x, y) = _params(np.float32), _batch(10, np.float32)
    value_and_grad = tcomp.value_and_grad(mlp_loss)
    with pytest.raises(TcompShapeError) as error:
        tcomp.accumulate_gradients(value_and_grad, 4)(params, x, y)
    message = str(error.value)
    assert "(10, 6)" in message and "multiple of 4" in message, message
    with pytest.raises(TcompArgumentError) as error:
        tcomp.accumulate_gradients(value_and_grad, 0)
    assert "k must be an int >= 1" in str(error.value)
    assert Path(__file__).name in str(error.value)
