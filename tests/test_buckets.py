"""jit(buckets=...): lengths padded to buckets share a program; valid_length is the true one."""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp import nn
from tcomp.errors import TcompArgumentError, TcompShapeError


def masked_mean(x):
    n = tcomp.valid_length(x, 0)
    mask = tcomp.arange(x.shape[0]) < n
    return tcomp.sum(tcomp.where(mask, x, 0.0)) / n


def test_each_bucket_traces_once_and_sees_the_true_length(backend):
    # ``backend``: each available one in turn (tests/conftest.py)
    f = tcomp.jit(masked_mean, backend=backend, buckets={"x": {0: (4, 8, 16)}})
    for length in (1, 3, 4, 5, 8, 9, 16):
        x = np.arange(1, length + 1, dtype=np.float32)
        assert float(f(x)) == pytest.approx(x.mean(), rel=1e-6)
    assert f.trace_count == 3
    assert f.retrace_reasons[-1] == (
        "argument types changed: x: float32[8] -> float32[16] "
        "(bucketed: x axis 0: length 9 runs as bucket 16)"
    )


def test_several_axes_and_arguments_and_a_tcomp_array_argument():
    def f(a, b):
        rows, cols = tcomp.valid_length(a, 0), tcomp.valid_length(a, 1)
        return rows * 100 + cols * 10 + tcomp.valid_length(b, 0), a.shape, b.shape

    jitted = tcomp.jit(lambda a, b: f(a, b)[0], buckets={"a": {0: (2, 4), -1: (8,)}, "b": {0: (3,)}})
    a = tcomp.jit(lambda v: v * 1.0)(np.ones((3, 5), np.float32))  # an Array, padded on its backend
    assert int(jitted(a, np.ones(2, np.int32))) == 352
    assert int(jitted(np.ones((1, 8), np.float32), np.ones(3, np.int32))) == 183
    assert jitted.trace_count == 2  # rows 3 -> bucket 4, then rows 1 -> bucket 2


def test_valid_length_outside_jit_and_on_an_argument_without_buckets_is_the_shape():
    assert tcomp.valid_length(np.ones((2, 7)), 1) == 7
    assert tcomp.valid_length(np.ones((2, 7)), -2) == 2
    f = tcomp.jit(lambda x, y: x * tcomp.valid_length(y, 0), buckets={"x": {0: (8,)}})
    np.testing.assert_array_equal(np.asarray(f(np.ones(3, np.float32), np.ones(5, np.float32)))[:3],
                                  [5, 5, 5])
    with pytest.raises(TcompShapeError, match="valid_length: axis 2 is not an axis"):
        tcomp.valid_length(np.ones((2, 7)), 2)


def test_grad_inside_a_bucketed_jit_sees_the_length():
    def loss(x):
        mask = tcomp.arange(x.shape[0]) < tcomp.valid_length(x, 0)
        return tcomp.sum(tcomp.where(mask, x * x, 0.0)) / tcomp.valid_length(x, 0)

    g = tcomp.jit(tcomp.grad(loss), buckets={"x": {0: (8,)}})
    x = np.array([1.0, 2.0, 3.0], np.float32)
    grad = np.asarray(g(x))
    assert grad.shape == (8,)  # outputs keep the bucket's length
    np.testing.assert_allclose(grad, np.r_[2 * x / 3, np.zeros(5)], rtol=1e-6)


@pytest.mark.parametrize("buckets, message", [
    ({"y": {0: (4,)}}, "buckets names 'y', not a parameter"),
    ({"x": {0: ()}}, r"buckets\['x'\]\[0\] must map an int axis to positive int sizes"),
    ({"x": {0: (4, 0)}}, "positive int sizes"),
    ({"x": {"0": (4,)}}, "positive int sizes"),
    ({"x": (4,)}, r"buckets\['x'\] must be a dict"),
    ({"n": {0: (4,)}}, "buckets names 'n', a static argument"),
])
def test_bad_bucket_specs_are_refused_at_jit(buckets, message):
    with pytest.raises(TcompArgumentError, match=message):
        tcomp.jit(lambda x, n: x * n, static_argnames="n", buckets=buckets)


def test_a_length_over_the_largest_bucket_and_a_missing_axis_are_errors():
    f = tcomp.jit(masked_mean, buckets={"x": {0: (4, 8)}})
    with pytest.raises(TcompShapeError, match=r"argument x has length 9 on axis 0, more than its "
                       r"largest bucket 8 \(buckets \[4, 8\]\)"):
        f(np.ones(9, np.float32))
    g = tcomp.jit(masked_mean, buckets={"x": {1: (4,)}})
    with pytest.raises(TcompShapeError, match=r"names axis 1, but x has shape \(3,\)"):
        g(np.ones(3, np.float32))


# --- a greedy decode: one program per bucket, not one per length -------------------------

VOCAB, WIDTH = 16, 8


def decoder_params():
    rng = np.random.default_rng(0)
    return {"embed": rng.standard_normal((VOCAB, WIDTH)).astype(np.float32),
            "wq": rng.standard_normal((WIDTH, WIDTH)).astype(np.float32) * 0.5,
            "wk": rng.standard_normal((WIDTH, WIDTH)).astype(np.float32) * 0.5}


def next_token_logits(params, tokens):
    """One causal self-attention layer over ``tokens`` (padded); the logits after the last
    real token."""
    n = tcomp.valid_length(tokens, 0)
    h = params["embed"][tokens]  # [T, D]
    keep = tcomp.arange(tokens.shape[0]) < n  # padding never seen as a key
    out = nn.attention(h @ params["wq"], h @ params["wk"], h, causal=True, mask=keep[None, :])
    last = tcomp.take(out, n - 1, axis=0)
    return last @ params["embed"].T


def numpy_next_token_logits(params, tokens):
    h = params["embed"][tokens]
    q, k = h @ params["wq"], h @ params["wk"]
    scores = q @ k.T / np.sqrt(WIDTH)
    scores = np.where(np.tril(np.ones_like(scores, bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return (weights @ h)[-1] @ params["embed"].T


def test_a_200_token_greedy_decode_compiles_once_per_bucket():
    params = decoder_params()
    step = tcomp.jit(next_token_logits, buckets={"tokens": {0: (64, 128, 256)}})
    tokens = [3]
    for _ in range(200):
        logits = np.asarray(step(params, np.array(tokens, np.int32)))
        if len(tokens) in (1, 63, 64, 65, 130, 200):
            expected = numpy_next_token_logits(params, np.array(tokens))
            np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)
        tokens.append(int(np.argmax(logits)))
    assert step.trace_count == 3
