"""The ``conv`` primitive and ``tcomp.nn.conv1d/conv2d/conv3d``.

Every result is checked against :func:`direct_conv`, an independent numpy
implementation written as loops over output positions and kernel offsets
(in gradcheck.py; not the primitive's sliding-window reference), on every available backend;
gradients against finite differences in float64 on the reference backend and
against the reference on the compiled ones.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_gradients, one_op_function
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from window_reference import conv_attrs_and_shapes, direct_conv

import tcomp
from tcomp import nn
from tcomp.ir.errors import TcompShapeError, TcompTypeError

# The backend fixture is parametrised per test, so hypothesis may reuse it across examples.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def _attrs(d, stride=1, padding=0, dilation=1, groups=1):
    return {"strides": (stride,) * d, "padding": (padding,) * (2 * d),
            "lhs_dilation": (1,) * d, "rhs_dilation": (dilation,) * d, "groups": groups}


# ---------------------------------------------------------------------------
# The primitive on every backend


def _run_primitive(backend, x, w, attrs):
    return np.asarray(tcomp.jit(
        lambda x, w: tcomp.frontend.dispatch.bind("conv", [x, w], **attrs), backend=backend
    )(x, w))


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(case=conv_attrs_and_shapes(max_rank=2), seed=st.integers(0, 2**16))
def test_primitive_matches_direct_loops(backend, case, seed):
    x_shape, w_shape, attrs = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    np.testing.assert_allclose(
        _run_primitive(backend, x, w, attrs), direct_conv(x, w, **attrs), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("x_shape, w_shape, attrs", [
    ((1, 2, 4, 5, 3), (2, 2, 2, 3, 2), _attrs(3, padding=1)),
    ((2, 4, 5, 4, 4), (4, 2, 3, 1, 2), {"strides": (2, 1, 3), "padding": (0, 1, 2, 0, 1, 1),
                                        "lhs_dilation": (1, 2, 1), "rhs_dilation": (1, 1, 2),
                                        "groups": 2}),
])
def test_primitive_3d(backend, x_shape, w_shape, attrs):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    np.testing.assert_allclose(
        _run_primitive(backend, x, w, attrs), direct_conv(x, w, **attrs), rtol=1e-5, atol=1e-5
    )


def test_reference_is_independent_of_direct_loops_float64():
    from tcomp.ir.primitives.convolution import conv_reference

    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 6, 7, 9)), rng.standard_normal((4, 3, 3, 2))
    attrs = {"strides": (2, 3), "padding": (1, 2, 0, 3), "lhs_dilation": (2, 1),
             "rhs_dilation": (1, 2), "groups": 2}
    np.testing.assert_allclose(conv_reference([x, w], attrs), direct_conv(x, w, **attrs),
                               rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# nn.conv1d / conv2d / conv3d


@st.composite
def nn_cases(draw, d):
    groups = draw(st.integers(1, 3))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(d))
    dilation = draw(st.integers(1, 2))
    same = draw(st.booleans())
    stride = 1 if same else draw(st.integers(1, 3))
    if same:
        padding = draw(st.sampled_from(["same", "same"]))
    else:
        padding = draw(st.sampled_from([0, 1, 2, "valid"]))
    lo = 0 if padding in ("same",) else (padding if isinstance(padding, int) else 0)
    spatial = tuple(
        draw(st.integers(max(1, dilation * (k - 1) + 1 - 2 * lo), 9)) for k in kernel
    )
    batch = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    return (batch, c, *spatial), (o, c // groups, *kernel), bias, stride, padding, dilation, groups


def _expected(x, w, b, stride, padding, dilation, groups):
    d = x.ndim - 2
    if padding == "same":
        pads = []
        for k in w.shape[2:]:
            total = dilation * (k - 1)
            pads += [total // 2, total - total // 2]
    else:
        pads = [0 if padding == "valid" else padding] * (2 * d)
    out = direct_conv(x, w, (stride,) * d, pads, (1,) * d, (dilation,) * d, groups)
    if b is not None:
        out = out + b.reshape((1, -1) + (1,) * d)
    if padding == "same":
        assert out.shape[2:] == x.shape[2:]
    return out


CONV = {1: nn.conv1d, 2: nn.conv2d, 3: nn.conv3d}


@pytest.mark.parametrize("d", [1, 2])
@settings(max_examples=20, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_nn_conv_matches_direct_loops(backend, d, data):
    x_shape, w_shape, bias, stride, padding, dilation, groups = data.draw(nn_cases(d))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32) if bias else None
    f = tcomp.jit(lambda x, w, b: CONV[d](x, w, b, stride=stride, padding=padding,
                                          dilation=dilation, groups=groups), backend=backend)
    np.testing.assert_allclose(np.asarray(f(x, w, b)),
                               _expected(x, w, b, stride, padding, dilation, groups),
                               rtol=1e-5, atol=1e-5)


def test_nn_conv3d_same_groups(backend):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 5, 4, 6)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 2, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    f = tcomp.jit(lambda x, w, b: nn.conv3d(x, w, b, padding="same", dilation=(1, 2, 1),
                                            groups=2), backend=backend)
    expected = direct_conv(x, w, (1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1), (1, 2, 1), 2)
    np.testing.assert_allclose(np.asarray(f(x, w, b)), expected + b.reshape(1, 6, 1, 1, 1),
                               rtol=1e-5, atol=1e-5)


def test_nn_conv2d_low_high_padding_pairs(backend):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 5, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 2, 3)).astype(np.float32)
    f = tcomp.jit(lambda x, w: nn.conv2d(x, w, padding=((0, 2), (3, 1)), stride=(2, 1)),
                  backend=backend)
    np.testing.assert_allclose(np.asarray(f(x, w)),
                               direct_conv(x, w, (2, 1), (0, 2, 3, 1), (1, 1), (1, 1), 1),
                               rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Gradients


@settings(max_examples=15, deadline=None)
@given(case=conv_attrs_and_shapes(max_rank=2), seed=st.integers(0, 2**16))
def test_gradients_match_finite_differences(case, seed):
    x_shape, w_shape, attrs = case
    rng = np.random.default_rng(seed)
    inputs = [rng.uniform(-2, 2, x_shape), rng.uniform(-2, 2, w_shape)]
    check_gradients(one_op_function("conv", inputs, attrs), inputs, [0, 1], rng=rng)


@pytest.mark.parametrize("d", [1, 2])
@settings(max_examples=8, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_gradients_match_the_reference(backend, d, data):
    if backend == "reference":
        return
    x_shape, w_shape, bias, stride, padding, dilation, groups = data.draw(nn_cases(d))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32)
    c = rng.standard_normal(
        _expected(x, w, b, stride, padding, dilation, groups).shape).astype(np.float32)

    def loss(x, w, b):
        y = CONV[d](x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        return (y * c).sum()

    grads = tcomp.jit(tcomp.grad(loss, argnums=(0, 1, 2)), backend=backend)(x, w, b)
    expected = tcomp.jit(tcomp.grad(loss, argnums=(0, 1, 2)), backend="reference")(x, w, b)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------
# The CIFAR tutorial CNN


def _cnn(p, x):
    h = nn.max_pool2d(nn.relu(nn.conv2d(x, p["c1"], p["b1"])), 2)
    h = nn.max_pool2d(nn.relu(nn.conv2d(h, p["c2"], p["b2"])), 2)
    h = tcomp.reshape(h, (h.shape[0], -1))
    return h @ p["f"]


def test_cifar_cnn_forward_and_gradient_match_the_reference(backend):
    rng = np.random.default_rng(6)
    r = lambda *s: (rng.standard_normal(s) * 0.2).astype(np.float32)  # noqa: E731
    p = {"c1": r(6, 3, 5, 5), "b1": r(6), "c2": r(16, 6, 5, 5), "b2": r(16), "f": r(400, 10)}
    x = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    out = np.asarray(tcomp.jit(_cnn, backend=backend)(p, x))
    want = np.asarray(tcomp.jit(_cnn, backend="reference")(p, x))
    assert out.shape == (4, 10)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    loss = lambda p, x: (_cnn(p, x) ** 2).sum()  # noqa: E731
    got = tcomp.jit(tcomp.grad(loss), backend=backend)(p, x)
    ref = tcomp.jit(tcomp.grad(loss), backend="reference")(p, x)
    for name in p:
        # float32 sums of thousands of terms reach ~4e3 here (c1): any two summation
        # orders differ by a few 1e-3, as far from the float64 gradient as each other
        want = np.asarray(ref[name])
        np.testing.assert_allclose(np.asarray(got[name]), want, rtol=1e-3,
                                   atol=1e-3 * max(1.0, float(np.abs(want).max()) / 1e3),
                                   err_msg=name)


def test_cnn_kernels_are_direct_convs():
    """The conv lowers to one reduction loop nest with no select chain (valid padding)."""
    x = np.zeros((2, 3, 12, 12), np.float32)
    w = np.zeros((6, 3, 5, 5), np.float32)
    text = tcomp.jit(lambda x, w: nn.relu(nn.conv2d(x, w)), backend="llvm").lower(x, w).as_text(
        "kernels")
    # one select: relu's own (select(acc <= 0, 0, acc)), none to pad or clip the window
    assert "conv" in text and text.count("select(") == 1
    assert "min(" not in text  # no clamp: every read is in bounds


# ---------------------------------------------------------------------------
# Errors


f32 = lambda *shape: np.zeros(shape, dtype=np.float32)  # noqa: E731


@pytest.mark.parametrize("call, error, match", [
    (lambda: nn.conv2d(f32(1, 4, 5, 5), f32(2, 3, 3, 3)), TcompShapeError, "4 channels"),
    (lambda: nn.conv2d(f32(1, 4, 5, 5), f32(3, 2, 3, 3), groups=2), TcompShapeError, "groups=2"),
    (lambda: nn.conv1d(f32(1, 2, 5, 5), f32(2, 2, 3)), TcompShapeError, r"conv1d: needs x \[N, C, L\]"),
    (lambda: nn.conv3d(f32(1, 2, 5, 5), f32(2, 2, 3, 3)), TcompShapeError, "conv3d"),
    (lambda: nn.conv2d(f32(1, 1, 4, 4), f32(1, 1, 3, 3), dilation=2), TcompShapeError, "spans 5"),
    (lambda: nn.conv2d(f32(1, 1, 4, 4), f32(1, 1, 3, 3), stride=2, padding="same"),
     TcompShapeError, "same"),
    (lambda: nn.conv2d(f32(1, 1, 4, 4), f32(1, 1, 3, 3), padding="full"), TcompTypeError, "full"),
    (lambda: nn.conv2d(f32(1, 1, 4, 4), f32(1, 1, 3, 3), stride=(1, 1, 1)), TcompTypeError,
     "stride"),
    (lambda: nn.conv2d(f32(1, 1, 4, 4), f32(1, 1, 3, 3), groups=0), TcompTypeError, "groups"),
    (lambda: nn.conv2d(f32(1, 1, 4, 4), f32(2, 1, 3, 3), f32(3)), TcompShapeError, "bias"),
])
def test_user_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_primitive_shape_rule_names_op_and_shapes():
    from tcomp.ir.primitives import PRIMITIVES
    from tcomp.ir.types import TensorType

    with pytest.raises(TcompShapeError, match=r"conv: .*f32\[1,4,5\]"):
        PRIMITIVES["conv"].check_call(
            [TensorType((1, 4, 5), "float32"), TensorType((2, 3, 3), "float32")],
            _attrs(1))
