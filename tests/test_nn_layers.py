"""``tcomp.nn`` layers: embedding, pad (PyTorch's modes), attention with masks and grouped
heads, 3-D pooling and adaptive 1-D/3-D pooling, against numpy references of PyTorch's
formulas on every backend, in jit and eagerly, with float64 gradient checks
(tests/nn_checks.py); then what the references alone would not pin down, and errors."""

from __future__ import annotations

import nn_reference as ref
import numpy as np
import pytest
from hypothesis import strategies as st
from nn_checks import Case, case_tests, error_test, seeds, shapes

import tcomp
from tcomp import nn


@st.composite
def embedding_cases(draw):
    rng = draw(seeds())
    rows, dim = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    indices = rng.integers(-rows, rows, size=draw(shapes(0, 2, 4))).astype(np.int32)
    return Case("embedding", (indices, rng.standard_normal((rows, dim))), wrt=(1,))


@st.composite
def pad_cases(draw):
    rng = draw(seeds())
    shape = draw(shapes(1, 4, 4))
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    axes = draw(st.integers(1, len(shape)))
    widths = []
    for size in reversed(shape[len(shape) - axes :]):  # last axis first, as PyTorch
        most = {"reflect": size - 1, "circular": size}.get(mode, 3)
        widths += [draw(st.integers(0, min(most, 3))) for _ in range(2)]
    args = (rng.standard_normal(shape), tuple(widths), mode)
    if mode == "constant":
        args += (draw(st.sampled_from([0.0, -1.5])),)
    return Case("pad", args)


@st.composite
def attention_cases(draw):
    rng = draw(seeds())
    gqa = draw(st.booleans())
    batch = draw(shapes(0, 1, 2))
    kv_heads = draw(st.integers(1, 2))
    heads = kv_heads * draw(st.integers(1, 2)) if gqa else kv_heads
    causal = draw(st.booleans())
    tq = draw(st.integers(1, 3))
    tk = draw(st.integers(tq, 4)) if causal else draw(st.integers(1, 4))
    d, dv = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    q = rng.standard_normal(batch + (heads, tq, d))
    k, v = (
        rng.standard_normal(batch + (kv_heads, tk, d)),
        rng.standard_normal(batch + (kv_heads, tk, dv)),
    )
    mask_shape = draw(st.sampled_from([(tq, tk), (heads, tq, tk), (1, tk)]))
    kind = draw(st.sampled_from(["none", "bool", "float"]))
    if kind == "bool":
        mask = rng.uniform(size=mask_shape) < 0.7
    elif kind == "float":
        mask = np.where(
            rng.uniform(size=mask_shape) < 0.8, rng.standard_normal(mask_shape), -np.inf
        )
    else:
        mask = None
    scale = draw(st.sampled_from([None, 0.5]))
    args = (q, k, v, causal, mask, scale, gqa)
    return Case("attention", args, reference_name="masked_attention", wrt=(0, 1, 2))


@st.composite
def pool3d_cases(draw, name: str):
    rng = draw(seeds())
    kernel = tuple(draw(st.integers(1, 2)) for _ in range(3))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    sizes = tuple(draw(st.integers(max(1, k - 2 * p), 3)) for k, p in zip(kernel, padding))
    x = rng.permutation(int(np.prod(sizes)) * 2).reshape((1, 2) + sizes) * 0.1 - 0.5
    stride = draw(st.sampled_from([None, 1, (1, 2, 1)]))
    if name == "max_pool3d":
        args = (x, kernel, stride, padding, 1, draw(st.booleans()))
    else:
        args = (
            x,
            kernel,
            stride,
            padding,
            draw(st.booleans()),
            draw(st.booleans()),
            draw(st.sampled_from([None, 3])),
        )
    return Case(name, args)


@st.composite
def adaptive_cases(draw, d: int):
    rng = draw(seeds())
    sizes = tuple(draw(st.integers(1, 5 if d == 1 else 3)) for _ in range(d))
    out = tuple(draw(st.integers(1, s)) for s in sizes)
    x = rng.standard_normal((draw(st.integers(1, 2)), 2) + sizes)
    return Case(f"adaptive_avg_pool{d}d", (x, out[0] if d == 1 else out))


CASES = {
    "embedding": embedding_cases(),
    "pad": pad_cases(),
    "attention:mask_gqa": attention_cases(),
    "max_pool3d": pool3d_cases("max_pool3d"),
    "avg_pool3d": pool3d_cases("avg_pool3d"),
    "adaptive_avg_pool1d": adaptive_cases(1),
    "adaptive_avg_pool3d": adaptive_cases(3),
}


test_forward_jit, test_forward_eager, test_gradient = case_tests(CASES)


# ---------------------------------------------------------------------------
# Semantics


def test_embedding_gradient_is_a_scatter_add_and_skips_padding_idx(backend):
    table = np.arange(8.0).reshape(4, 2)
    indices = np.array([[1, 3, 1], [0, 1, 3]])
    cot = np.random.default_rng(0).standard_normal((2, 3, 2))
    for padding_idx, frozen in ((None, None), (3, 3), (-1, 3)):
        grad = tcomp.jit(
            tcomp.grad(
                lambda t: tcomp.sum(nn.embedding(indices, t, padding_idx=padding_idx) * cot)
            ),
            backend=backend,
        )(table)
        expected = np.zeros_like(table)
        np.add.at(expected, indices.reshape(-1), cot.reshape(-1, 2))
        if frozen is not None:
            expected[frozen] = 0.0
        np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-12)
    lowered = tcomp.jit(
        tcomp.grad(lambda t: tcomp.sum(nn.embedding(indices, t))), backend="reference"
    ).lower(table)
    assert "scatter_add" in lowered.as_text("traced")


def test_fully_masked_query_gives_zeros_and_zero_gradient(backend):
    """PyTorch 2.x's answer for a query that may see no key (the formula gives nan)."""
    rng = np.random.default_rng(3)
    q, k, v = (
        rng.standard_normal((2, 3, 4)),
        rng.standard_normal((2, 5, 4)),
        rng.standard_normal((2, 5, 2)),
    )
    for mask in (
        np.array([[True] * 5, [False] * 5, [True, False] * 2 + [True]]),
        np.where(np.arange(3)[:, None] == 1, -np.inf, np.zeros((3, 5))),
    ):
        out, grads = (
            tcomp.jit(
                lambda q, k, v: tcomp.vjp(
                    lambda q, k, v: nn.attention(q, k, v, mask=mask), q, k, v
                )[0],
                backend=backend,
            )(q, k, v),
            tcomp.jit(
                tcomp.grad(
                    lambda q, k, v: tcomp.sum(nn.attention(q, k, v, mask=mask)), argnums=(0, 1, 2)
                ),
                backend=backend,
            )(q, k, v),
        )
        np.testing.assert_array_equal(np.asarray(out)[:, 1], 0.0)
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
        np.testing.assert_array_equal(np.asarray(grads[0])[:, 1], 0.0)
        np.testing.assert_allclose(
            np.asarray(out), ref.masked_attention(q, k, v, mask=mask), rtol=1e-12
        )


def test_grouped_query_heads_read_their_group(backend):
    """Query head h reads key/value head h // (H / Hkv), as PyTorch's repeat_interleave."""
    rng = np.random.default_rng(4)
    q, k, v = (
        rng.standard_normal((4, 3, 2)),
        rng.standard_normal((2, 5, 2)),
        rng.standard_normal((2, 5, 3)),
    )
    out = np.asarray(
        tcomp.jit(lambda q, k, v: nn.attention(q, k, v, enable_gqa=True), backend=backend)(q, k, v)
    )
    for h in range(4):
        np.testing.assert_allclose(out[h], ref.attention(q[h], k[h // 2], v[h // 2]), rtol=1e-12)


def test_pad_modes_match_numpys_on_tcomp_pad(backend):
    x = np.arange(12.0).reshape(3, 4)
    for mode in ("edge", "reflect", "symmetric", "wrap"):
        got = tcomp.jit(lambda x: tcomp.pad(x, ((2, 1), (5, 3)), mode=mode), backend=backend)(x)
        np.testing.assert_array_equal(np.asarray(got), np.pad(x, ((2, 1), (5, 3)), mode=mode))
    with pytest.raises(TypeError, match="pad: mode 'median' is not supported"):
        tcomp.pad(x, 1, mode="median")


def test_pad_gradient_adds_copies_back(backend):
    x = np.arange(4.0)
    grad = tcomp.jit(
        tcomp.grad(lambda x: tcomp.sum(nn.pad(x, (2, 3), "replicate") * np.arange(9.0))),
        backend=backend,
    )(x)
    np.testing.assert_allclose(np.asarray(grad), [0 + 1 + 2, 3, 4, 5 + 6 + 7 + 8])


ERRORS = {
    "embedding table rank": (
        ValueError,
        "embedding: table must be",
        lambda: nn.embedding(np.zeros(2, np.int32), np.zeros(3)),
    ),
    "embedding float indices": (
        TypeError,
        "embedding: indices must be integers",
        lambda: nn.embedding(np.zeros(2), np.zeros((3, 2))),
    ),
    "embedding padding_idx": (
        ValueError,
        "embedding: padding_idx",
        lambda: nn.embedding(np.zeros(2, np.int32), np.zeros((3, 2)), 3),
    ),
    "pad odd": (ValueError, "pad: pad must be", lambda: nn.pad(np.zeros((2, 3)), (1, 2, 3))),
    "pad too many": (ValueError, "pad: pad must be", lambda: nn.pad(np.zeros(3), (1, 1, 1, 1))),
    "pad not ints": (TypeError, "pad: pad must be", lambda: nn.pad(np.zeros(3), (1.5, 1))),
    "pad mode": (TypeError, "pad: mode must be", lambda: nn.pad(np.zeros(3), (1, 1), "edge")),
    "pad reflect size": (
        ValueError,
        "pad: mode 'reflect' needs each pad smaller",
        lambda: nn.pad(np.zeros(3), (3, 0), "reflect"),
    ),
    "pad circular size": (
        ValueError,
        "pad: mode 'circular' needs each pad at most",
        lambda: nn.pad(np.zeros(3), (0, 4), "circular"),
    ),
    "attention mask dtype": (
        TypeError,
        "attention: mask must be bool",
        lambda: nn.attention(
            np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((4, 1)), mask=np.zeros((2, 4), np.int32)
        ),
    ),
    "attention mask shape": (
        ValueError,
        "attention: mask",
        lambda: nn.attention(
            np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((4, 1)), mask=np.zeros((3, 4), bool)
        ),
    ),
    "attention gqa heads": (
        ValueError,
        "attention: enable_gqa",
        lambda: nn.attention(
            np.zeros((3, 2, 3)), np.zeros((2, 4, 3)), np.zeros((2, 4, 1)), enable_gqa=True
        ),
    ),
    "max_pool3d rank": (
        ValueError,
        "max_pool3d: needs an input",
        lambda: nn.max_pool3d(np.zeros((1, 1, 3, 3)), 2),
    ),
    "avg_pool3d divisor": (
        TypeError,
        "avg_pool3d: divisor_override",
        lambda: nn.avg_pool3d(np.zeros((1, 1, 2, 2, 2)), 2, divisor_override=0),
    ),
    "adaptive rank": (
        ValueError,
        "adaptive_avg_pool1d: needs",
        lambda: nn.adaptive_avg_pool1d(np.zeros((2, 3)), 2),
    ),
}


test_errors = error_test(ERRORS, "test_nn_layers.py")
