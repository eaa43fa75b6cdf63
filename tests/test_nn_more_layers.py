"""``tcomp.nn`` functions of frontend/nn_more_layers.py and nn_more_pooling.py against numpy
references of PyTorch's formulas (tests/nn_more_reference.py) on every backend, in jit and
eagerly, with float64 gradient checks (tests/nn_checks.py): mse_loss, cosine_similarity,
normalize, masked_fill, pixel_shuffle, pixel_unshuffle, instance_norm,
scaled_dot_product_attention, adaptive_max_pool2d. Then what the references alone do not
pin down: one_hot's dtype and inferred size, max_pool2d's indices (PyTorch's flat
convention) and max_unpool2d, top-left causal masks, zero vectors, and errors."""

from __future__ import annotations

import math

import nn_more_reference
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nn_checks import case_tests, error_test, fixture_ok, seeds, shapes
from nn_more_reference import MoreCase

import tcomp
from tcomp import nn
from tcomp.errors import TcompArgumentError, TcompShapeError, TcompTypeError

OTHERWISE_TESTED = {"one_hot", "max_unpool2d", "adaptive_max_pool1d"}


def distinct(rng: np.random.Generator, shape) -> np.ndarray:
    """Values at least 0.1 apart (no ties for a max), in random order."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.1 - size * 0.05).reshape(shape)


@st.composite
def pointwise_cases(draw, name: str):
    rng, shape = draw(seeds()), draw(shapes(1, 3))
    x = rng.standard_normal(shape)
    if name == "mse_loss":
        kwargs = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
        return MoreCase(name, (x, rng.standard_normal(shape)), kwargs, wrt=(0, 1))
    if name == "cosine_similarity":
        dim = draw(st.integers(-len(shape), len(shape) - 1))
        other = tuple(1 if draw(st.booleans()) else s for s in shape)  # broadcast
        return MoreCase(name, (x, rng.standard_normal(other)), {"dim": dim}, wrt=(0, 1))
    if name == "normalize":
        dim = draw(st.integers(-len(shape), len(shape) - 1))
        p = draw(st.sampled_from([2.0, 1.0, 3.0, math.inf, 0.5, 0.0, -1.0, -math.inf]))
        if p in (1.0, math.inf, -math.inf, 0.0):
            size = math.prod(shape)  # magnitudes 0.1 apart, random signs: smooth
            magnitudes = (rng.permutation(size) + 1) * 0.1
            x = (magnitudes * rng.choice([-1.0, 1.0], size)).reshape(shape)
        return MoreCase(name, (x,), {"p": p, "dim": dim})
    assert name == "masked_fill"
    mask = rng.random(tuple(1 if draw(st.booleans()) else s for s in shape)) < 0.5
    return MoreCase(name, (x, mask, draw(st.sampled_from([0.0, -1.5, 3.0]))))


@st.composite
def shuffle_cases(draw, name: str):
    rng, r = draw(seeds()), draw(st.integers(1, 3))
    lead = draw(shapes(0, 2, 2))
    c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if name == "pixel_shuffle":
        return MoreCase(name, (rng.standard_normal(lead + (c * r * r, h, w)), r))
    return MoreCase(name, (rng.standard_normal(lead + (c, h * r, w * r)), r))


@st.composite
def instance_norm_cases(draw):
    rng = draw(seeds())
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    spatial = draw(shapes(1, 2, 4).filter(lambda s: math.prod(s) > 1))
    x = rng.standard_normal((n, c) + spatial) * 2 + 1
    weight = rng.standard_normal(c) if draw(st.booleans()) else None
    bias = rng.standard_normal(c) if draw(st.booleans()) else None
    mode = draw(st.sampled_from(["input", "running", "update"]))
    mean = var = None
    if mode != "input":
        mean, var = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    args = (x, mean, var, weight, bias)
    wrt = tuple(i for i in (0, 3, 4) if args[i] is not None)
    return MoreCase("instance_norm", args, {"use_input_stats": mode != "running"}, wrt=wrt)


@st.composite
def sdpa_cases(draw):
    rng = draw(seeds())
    b, h = draw(st.integers(1, 2)), draw(st.sampled_from([1, 2, 4]))
    lq, lk, d, dv = (draw(st.integers(1, 4)) for _ in range(4))
    gqa = h > 1 and draw(st.booleans())
    hkv = h // 2 if gqa else h
    q = rng.standard_normal((b, h, lq, d))
    k, v = rng.standard_normal((b, hkv, lk, d)), rng.standard_normal((b, hkv, lk, dv))
    kind = draw(st.sampled_from(["none", "causal", "bool", "float"]))
    mask = None
    if kind == "bool":  # every query keeps key 0, so no row is empty
        mask = rng.random((lq, lk)) < 0.6
        mask[:, 0] = True
    elif kind == "float":
        mask = rng.standard_normal((1, lq, lk))
    scale = draw(st.sampled_from([None, 0.3]))
    kwargs = {"is_causal": kind == "causal", "scale": scale, "enable_gqa": gqa}
    wrt = (0, 1, 2, 3) if kind == "float" else (0, 1, 2)
    return MoreCase("scaled_dot_product_attention", (q, k, v, mask), kwargs, wrt=wrt)


@st.composite
def adaptive_max_cases(draw):
    rng = draw(seeds())
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    out = (draw(st.integers(1, h)), draw(st.integers(1, w)))
    return MoreCase("adaptive_max_pool2d", (distinct(rng, (n, c, h, w)), out))


CASES = {
    "mse_loss": pointwise_cases("mse_loss"),
    "cosine_similarity": pointwise_cases("cosine_similarity"),
    "normalize": pointwise_cases("normalize"),
    "masked_fill": pointwise_cases("masked_fill"),
    "pixel_shuffle": shuffle_cases("pixel_shuffle"),
    "pixel_unshuffle": shuffle_cases("pixel_unshuffle"),
    "instance_norm": instance_norm_cases(),
    "scaled_dot_product_attention": sdpa_cases(),
    "adaptive_max_pool2d": adaptive_max_cases(),
}

test_forward_jit, test_forward_eager, test_gradient = case_tests(CASES)


# ---------------------------------------------------------------------------
# one_hot


def test_one_hot_is_pytorchs(backend):
    labels = np.array([[0, 3], [2, 1]], dtype=np.int32)
    got = tcomp.jit(lambda i: nn.one_hot(i, 5), backend=backend)(labels)
    assert got.dtype == np.int64 and got.shape == (2, 2, 5)
    np.testing.assert_array_equal(np.asarray(got), np.eye(5, dtype=np.int64)[labels])
    inferred = nn.one_hot(labels)  # num_classes = max + 1, from concrete indices
    np.testing.assert_array_equal(np.asarray(inferred), np.eye(4, dtype=np.int64)[labels])
    outside = tcomp.jit(lambda i: nn.one_hot(i, 3), backend=backend)(np.array([-1, 3, 1]))
    np.testing.assert_array_equal(np.asarray(outside), [[0, 0, 0], [0, 0, 0], [0, 1, 0]])


# ---------------------------------------------------------------------------
# max_pool2d indices and max_unpool2d


def _output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's pooling output size (ceil_mode: the last window must start inside the
    input or its left padding)."""
    room = size + 2 * padding - dilation * (kernel - 1) - 1
    count = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (count - 1) * stride >= size + padding:
        count -= 1
    return count


def _torch_style_indices(x, kernel, stride, padding, dilation, ceil_mode=False):
    """The flat index of each window's first maximum, by explicit loops (PyTorch's rule)."""
    n, c, h, w = x.shape
    oh = _output_size(h, kernel, stride, padding, dilation, ceil_mode)
    ow = _output_size(w, kernel, stride, padding, dilation, ceil_mode)
    out = np.zeros((n, c, oh, ow), dtype=np.int64)
    for b, ch, i, j in np.ndindex(n, c, oh, ow):
        best, where = -np.inf, -1
        for a in range(kernel):
            for e in range(kernel):
                r, q = i * stride - padding + a * dilation, j * stride - padding + e * dilation
                if 0 <= r < h and 0 <= q < w and x[b, ch, r, q] > best:
                    best, where = x[b, ch, r, q], r * w + q
        out[b, ch, i, j] = where
    return out


@pytest.mark.parametrize("dtype", ["float32", "int32"])
@fixture_ok
@given(
    seed=seeds(),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    ties=st.booleans(),
    data=st.data(),
)
def test_max_pool2d_indices_are_pytorchs(
    backend, dtype, seed, kernel, stride, dilation, ties, data
):
    padding = data.draw(st.integers(0, kernel // 2), label="padding")
    ceil_mode = data.draw(st.booleans(), label="ceil_mode")
    shape = (2, 2, data.draw(st.integers(5, 7)), data.draw(st.integers(5, 7)))
    x = seed.integers(-3, 3, shape) if ties else distinct(seed, shape)  # ties: the first wins
    x = x.astype(dtype)
    f = tcomp.jit(
        lambda a: nn.max_pool2d(a, kernel, stride, padding, dilation, ceil_mode, True),
        backend=backend,
    )
    values, indices = f(x)
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(
        np.asarray(indices), _torch_style_indices(x, kernel, stride, padding, dilation, ceil_mode)
    )
    np.testing.assert_array_equal(
        np.asarray(values),
        np.asarray(nn.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)),
    )


def test_max_unpool2d_inverts_max_pool2d_and_its_gradient_gathers(backend):
    rng = np.random.default_rng(0)
    x = distinct(rng, (2, 3, 6, 5))

    def roundtrip(a):
        values, indices = nn.max_pool2d(a, 2, 2, return_indices=True)
        return nn.max_unpool2d(values, indices, 2, 2, output_size=a.shape), values, indices

    restored, values, indices = tcomp.jit(roundtrip, backend=backend)(x)
    flat_idx = np.asarray(indices).reshape(2, 3, -1)
    want = np.zeros((2, 3, 30))
    np.put_along_axis(want, flat_idx, np.asarray(values).reshape(2, 3, -1), axis=-1)
    np.testing.assert_array_equal(np.asarray(restored), want.reshape(2, 3, 6, 5))
    default = nn.max_unpool2d(values, indices, 2)  # (H - 1) * stride + kernel: 6 x 4
    assert default.shape == (2, 3, 6, 4)
    c = rng.standard_normal((2, 3, 6, 5))
    grad = tcomp.jit(
        tcomp.grad(lambda v: tcomp.sum(nn.max_unpool2d(v, indices, 2, 2, output_size=(6, 5)) * c)),
        backend=backend,
    )(np.asarray(values))
    np.testing.assert_allclose(
        np.asarray(grad),
        np.take_along_axis(c.reshape(2, 3, -1), flat_idx, -1).reshape(values.shape),
    )


def test_adaptive_max_pool_indices_point_at_the_maxima(backend):
    x = distinct(np.random.default_rng(1), (2, 2, 7, 5))
    values, indices = tcomp.jit(lambda a: nn.adaptive_max_pool2d(a, (3, 2), True), backend=backend)(
        x
    )
    picked = np.take_along_axis(x.reshape(2, 2, -1), np.asarray(indices).reshape(2, 2, -1), -1)
    np.testing.assert_array_equal(picked.reshape(values.shape), np.asarray(values))
    one_d, where = nn.adaptive_max_pool1d(x[:, :, 0], 3, return_indices=True)
    import nn_more_reference as ref

    want = ref.adaptive_max_pool2d(x[:, :, :1], (1, 3))[:, :, 0]
    np.testing.assert_array_equal(np.asarray(one_d), want)
    np.testing.assert_array_equal(np.take_along_axis(x[:, :, 0], np.asarray(where), -1), want)


# ---------------------------------------------------------------------------
# Edges


def test_causal_mask_is_top_left_as_pytorchs(backend):
    rng = np.random.default_rng(2)
    q, k, v = (
        rng.standard_normal((1, 1, 2, 3)),
        rng.standard_normal((1, 1, 4, 3)),
        rng.standard_normal((1, 1, 4, 2)),
    )
    got = tcomp.jit(
        lambda *a: nn.scaled_dot_product_attention(*a, is_causal=True), backend=backend
    )(q, k, v)
    np.testing.assert_allclose(
        np.asarray(got[0, 0, 0]), v[0, 0, 0], rtol=1e-12
    )  # query 0 sees key 0 only


def test_zero_vectors_give_zeros_and_finite_gradients(backend):
    x = np.zeros((2, 3))
    x[1] = [3.0, 4.0, 0.0]
    f = lambda a: tcomp.sum(nn.normalize(a, dim=1)) + tcomp.sum(nn.cosine_similarity(a, a + 1.0))
    value, grad = tcomp.jit(tcomp.value_and_grad(f), backend=backend)(x)
    assert np.all(np.isfinite(np.asarray(grad))) and np.isfinite(float(value))
    np.testing.assert_array_equal(np.asarray(nn.normalize(x, dim=1))[0], 0.0)
    # PyTorch's gradient of normalize at a zero vector: 1 / eps per element
    g = tcomp.jit(tcomp.grad(lambda a: tcomp.sum(nn.normalize(a, dim=1))), backend=backend)(x)
    np.testing.assert_allclose(np.asarray(g)[0], 1e12)


@pytest.mark.parametrize("p", [0.5, -1.0, -math.inf, 0.0])
def test_normalize_below_one_at_zero_entries_has_pytorch_gradient(p):
    """Entries equal to 0 get a finite gradient (PyTorch's norm gradient is 0 there; the
    plain power would give 0 * inf); with p < 0 a zero entry makes the norm 0 and the
    eps clamp takes over, so the gradient is 1 / eps as for a zero vector."""
    x = np.array([[0.0, 0.5, -2.0], [1.0, -3.0, 0.25]])
    g = np.asarray(tcomp.grad(lambda a: tcomp.sum(nn.normalize(a, p=p, dim=1)))(x))
    assert np.all(np.isfinite(g))
    if p > 0:  # row 0: finite differences of the definition away from the kink
        delta = np.zeros_like(x)
        delta[0, 1] = 1e-6
        reference = nn_more_reference.normalize
        numeric = (reference(x + delta, p, 1).sum() - reference(x - delta, p, 1).sum()) / 2e-6
        np.testing.assert_allclose(g[0, 1], numeric, rtol=1e-5)
    elif p == 0:  # the count of row 0's nonzero entries, 2, carries no gradient
        np.testing.assert_allclose(g[0], 0.5)
    else:
        np.testing.assert_allclose(g[0], 1e12)


def test_masked_fill_keeps_the_dtype_and_gives_value_its_gradient():
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    out = nn.masked_fill(x, np.array([True, False, True]), 9.7)
    np.testing.assert_array_equal(np.asarray(out), [[9, 1, 9], [9, 4, 9]])
    assert out.dtype == np.int32
    grad = tcomp.grad(
        lambda v: tcomp.sum(nn.masked_fill(np.ones((2, 3)), np.array([True, False, True]), v))
    )(np.array(0.5))
    assert float(grad) == 4.0


ERRORS = {
    "one_hot-float": (
        TcompTypeError,
        "one_hot: indices must be integers",
        lambda: nn.one_hot(np.ones(2), 3),
    ),
    "one_hot-zero": (
        TcompArgumentError,
        "one_hot: num_classes must be -1 or positive",
        lambda: nn.one_hot(np.ones(2, np.int32), 0),
    ),
    "masked_fill-mask": (
        TcompTypeError,
        "masked_fill: mask must be bool",
        lambda: nn.masked_fill(np.ones(2), np.ones(2), 0.0),
    ),
    "masked_fill-shape": (
        TcompShapeError,
        r"masked_fill: mask \(3,\) does not broadcast to x \(2,\)",
        lambda: nn.masked_fill(np.ones(2), np.ones(3, bool), 0.0),
    ),
    "normalize-p": (
        TcompTypeError,
        "normalize: p must be a number",
        lambda: nn.normalize(np.ones((2, 2)), p="fro"),
    ),
    "cosine-shapes": (
        TcompShapeError,
        "cosine_similarity: shapes",
        lambda: nn.cosine_similarity(np.ones((2, 3)), np.ones((2, 4))),
    ),
    "pixel_shuffle-channels": (
        TcompShapeError,
        "pixel_shuffle: needs x",
        lambda: nn.pixel_shuffle(np.ones((1, 3, 2, 2)), 2),
    ),
    "pixel_unshuffle-size": (
        TcompShapeError,
        "pixel_unshuffle: needs x",
        lambda: nn.pixel_unshuffle(np.ones((1, 1, 3, 2)), 2),
    ),
    "pixel_shuffle-factor": (
        TcompTypeError,
        "upscale_factor must be a positive int",
        lambda: nn.pixel_shuffle(np.ones((1, 4, 2, 2)), 0),
    ),
    "instance_norm-running": (
        TcompArgumentError,
        "instance_norm: use_input_stats=False",
        lambda: nn.instance_norm(np.ones((1, 2, 3)), use_input_stats=False),
    ),
    "instance_norm-one": (
        TcompShapeError,
        "instance_norm: needs more than one spatial",
        lambda: nn.instance_norm(np.ones((1, 2, 1))),
    ),
    "instance_norm-weight": (
        TcompShapeError,
        "instance_norm",
        lambda: nn.instance_norm(np.ones((1, 2, 3)), weight=np.ones(3)),
    ),
    "sdpa-dropout": (
        TcompArgumentError,
        "scaled_dot_product_attention: dropout_p=0.1",
        lambda: nn.scaled_dot_product_attention(
            np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), dropout_p=0.1
        ),
    ),
    "sdpa-both": (
        TcompArgumentError,
        "not both",
        lambda: nn.scaled_dot_product_attention(
            np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 2), bool), is_causal=True
        ),
    ),
    "unpool-shape": (
        TcompShapeError,
        "max_unpool2d: needs x",
        lambda: nn.max_unpool2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2), np.int32), 2),
    ),
    "unpool-float-indices": (
        TcompTypeError,
        "max_unpool2d: indices must be integers",
        lambda: nn.max_unpool2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), 2),
    ),
    "adaptive_max-rank": (
        TcompShapeError,
        "adaptive_max_pool2d: needs an input",
        lambda: nn.adaptive_max_pool2d(np.ones((2, 3)), 2),
    ),
    "max_pool2d-indices": (
        TcompTypeError,
        "return_indices must be True or False",
        lambda: nn.max_pool2d(np.ones((1, 1, 2, 2)), 2, return_indices=1),
    ),
}
test_errors = error_test(ERRORS, "test_nn_more_layers.py")


def test_one_hot_inferred_size_needs_concrete_indices():
    with pytest.raises(TcompArgumentError, match="num_classes=-1 needs the indices' values"):
        tcomp.jit(lambda i: nn.one_hot(i))(np.array([1, 2], np.int32))
