"""``nn.interpolate``, ``nn.conv_transpose1d/2d/3d`` and both forms of ``nn.gelu`` against
numpy references of PyTorch's formulas (tests/nn_reference.py: interpolation as a sum
over the corners of each source cell, the transposed convolution as the scatter it is,
GELU from ``math.erf``) on every backend, in jit and eagerly, with float64 gradient
checks (tests/nn_checks.py); then what the references alone would not pin down, and
errors."""

from __future__ import annotations

import nn_reference as ref
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_checks import (
    Case,
    away_from,
    error_test,
    fixture_ok,
    run_forward,
    run_gradient,
    seeds,
    shapes,
)

import tcomp
from tcomp import nn


@st.composite
def interpolate_cases(draw):
    rng = draw(seeds())
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "trilinear"]))
    d = {"linear": 1, "bilinear": 2, "trilinear": 3}.get(mode, draw(st.integers(1, 2)))
    spatial = tuple(draw(st.integers(1, 4 if d < 3 else 2)) for _ in range(d))
    x = rng.standard_normal((draw(st.integers(1, 2)), draw(st.integers(1, 2))) + spatial)
    kwargs: dict = {"mode": mode}
    if draw(st.booleans()):
        kwargs["size"] = tuple(draw(st.integers(1, 5 if d < 3 else 3)) for _ in range(d))
    else:
        factor = draw(st.sampled_from([2.0, 0.5, 1.5, 3, (1.7, 0.6, 2.0)]))
        factor = factor[:d] if isinstance(factor, tuple) else factor
        if any(int(n * f) < 1 for n, f in zip(spatial, np.broadcast_to(factor, d))):
            factor = 2.0
        kwargs["scale_factor"] = factor
        kwargs["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
    if mode in ("linear", "bilinear", "trilinear"):
        kwargs["align_corners"] = draw(st.sampled_from([None, False, True]))
    return Case("interpolate", (x,), kwargs)


@st.composite
def conv_transpose_cases(draw, d: int):
    rng = draw(seeds())
    groups = draw(st.integers(1, 2))
    c_in, per_group = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(d))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(d))
    extra = tuple(draw(st.integers(0, max(s, r) - 1)) for s, r in zip(stride, dilation))
    spatial = tuple(draw(st.integers(1, 3)) for _ in range(d))
    if draw(st.booleans()):  # ints for the arguments, as most callers write them
        stride, padding, extra, dilation = ((v[0],) * d for v in (stride, padding, (0,), dilation))
    sizes = [(n - 1) * s - 2 * p + r * (k - 1) + e + 1
             for n, s, p, r, k, e in zip(spatial, stride, padding, dilation, kernel, extra)]
    if min(sizes) < 1:
        padding = (0,) * d
    x = rng.standard_normal((draw(st.integers(1, 2)), c_in) + spatial)
    w = rng.standard_normal((c_in, per_group) + kernel)
    b = rng.standard_normal(per_group * groups) if draw(st.booleans()) else None
    args = (x, w, b, stride, padding, extra, groups, dilation)
    if len(set(stride + padding + extra + dilation)) == 1 and draw(st.booleans()):
        args = (x, w, b, stride[0], padding[0], extra[0], groups, dilation[0])
    return Case(f"conv_transpose{d}d", args, wrt=(0, 1, 2) if b is not None else (0, 1))


@st.composite
def gelu_cases(draw, approximate):
    rng = draw(seeds())
    return Case("gelu", (away_from(rng, draw(shapes(0, 3)), (), scale=4.0),),
                {"approximate": approximate})


CASES = {
    "interpolate": interpolate_cases(),
    "conv_transpose2d": conv_transpose_cases(2),
    # the exact form is nn.gelu's default, drawn by test_nn.py's "gelu" case
    "gelu:tanh": gelu_cases("tanh"),
}
# Each example compiles on the compiled backends: fewer there than the profile's count.
COUNTS = {"reference": 10, "llvm": 4, "opencl": 3, None: 4}


def few(backend):
    return settings(fixture_ok, max_examples=min(COUNTS.get(backend, 3),
                                                 settings.default.max_examples))


@pytest.mark.parametrize("label", sorted(CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward(backend, label, dtype):
    @few(backend)
    @given(data=st.data())
    def body(data):
        run_forward(data.draw(CASES[label], label="case"), dtype, backend)

    body()


@pytest.mark.parametrize("label", sorted(CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_eager(label, dtype):
    """Outside jit: on the default backend, so once rather than per backend."""

    @few(None)
    @given(data=st.data())
    def body(data):
        run_forward(data.draw(CASES[label], label="case"), dtype, None)

    body()


@pytest.mark.parametrize("label", sorted(CASES))
def test_gradient(backend, label):
    @few(backend)
    @given(data=st.data())
    def body(data):
        run_gradient(data.draw(CASES[label], label="case"), backend,
                     data.draw(seeds(), label="rng"))

    body()


OTHERWISE_TESTED = {"conv_transpose1d", "conv_transpose3d"}


@pytest.mark.parametrize("d", [1, 3])
def test_conv_transpose_1d_and_3d(backend, d):
    """The 2-D code on other ranks: one strided, padded, grouped, dilated case each."""
    rng = np.random.default_rng(d)
    x = rng.standard_normal((1, 4) + (2,) * d)
    w, b = rng.standard_normal((4, 3) + (2,) * d), rng.standard_normal(6)
    args = (x, w, b, 2, 1, 1, 2, 2)  # stride, padding, output_padding, groups, dilation
    case = Case(f"conv_transpose{d}d", args, wrt=(0, 1, 2))
    run_forward(case, "float64", backend)
    run_gradient(case, backend, rng)


def test_gelu_default_is_the_exact_form():
    """PyTorch's default (F.gelu(x) is the erf form); the tanh form differs by ~1e-4 here."""
    x = np.linspace(-3.0, 3.0, 13)
    np.testing.assert_allclose(np.asarray(nn.gelu(x)), ref.gelu(x, "none"), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(nn.gelu(x, approximate=True)), ref.gelu(x, "tanh"),
                               rtol=1e-12, atol=1e-15)
    assert np.abs(ref.gelu(x, "none") - ref.gelu(x, "tanh")).max() > 1e-4


def test_conv_transpose_is_the_input_gradient_of_conv(backend):
    """conv_transpose2d(y, w) = d/dx <conv2d(x, w), y>, strided, padded and grouped."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2))
    kwargs = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    y = rng.standard_normal(np.shape(nn.conv2d(x, w, **kwargs)))
    grad = tcomp.jit(tcomp.grad(lambda a: tcomp.sum(nn.conv2d(a, w, **kwargs) * y)),
                     backend=backend)(x)
    # conv2d's w is [O, C/g, ...] = conv_transpose2d's [C_in, C_out/g, ...] with y as input
    got = tcomp.jit(lambda t: nn.conv_transpose2d(t, w, **kwargs),
                    backend=backend)(y)
    np.testing.assert_allclose(np.asarray(got), np.asarray(grad), rtol=1e-10, atol=1e-12)


def test_nearest_upsampling_by_two_repeats_each_pixel(backend):
    x = np.arange(6, dtype=np.int32).reshape(1, 1, 2, 3)
    got = tcomp.jit(lambda a: nn.interpolate(a, scale_factor=2), backend=backend)(x)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(got), x.repeat(2, axis=2).repeat(2, axis=3))


x4 = np.zeros((1, 2, 3, 3), np.float32)
ERRORS = {
    "interpolate:both": (ValueError, "exactly one of size and scale_factor",
                         lambda: nn.interpolate(x4, size=2, scale_factor=2.0)),
    "interpolate:mode": (ValueError, "interpolate: mode must be one of",
                         lambda: nn.interpolate(x4, size=2, mode="bicubic")),
    "interpolate:rank": (tcomp.errors.TcompShapeError, "'linear' needs 3-D input",
                         lambda: nn.interpolate(x4, size=2, mode="linear")),
    "interpolate:align": (ValueError, "align_corners can only be set",
                          lambda: nn.interpolate(x4, size=2, align_corners=True)),
    "interpolate:empty": (tcomp.errors.TcompShapeError, "gives an empty output",
                          lambda: nn.interpolate(x4, scale_factor=0.2)),
    "conv_transpose2d:channels": (tcomp.errors.TcompShapeError, "needs x with 3 channels",
                                  lambda: nn.conv_transpose2d(x4, np.zeros((3, 1, 2, 2)))),
    "conv_transpose2d:output_padding": (
        tcomp.errors.TcompShapeError, "output_padding",
        lambda: nn.conv_transpose2d(x4, np.zeros((2, 1, 2, 2)), stride=2, output_padding=2)),
    "gelu:approximate": (ValueError, "gelu: approximate must be",
                         lambda: nn.gelu(x4, approximate="erf")),
}
test_errors = error_test(ERRORS, "test_nn_resample.py")


@pytest.mark.parametrize("name", ["interpolate", "conv_transpose2d"])
def test_float64_stays_float64(name):
    x = np.ones((1, 2, 3, 3))
    out = nn.interpolate(x, size=(4, 2), mode="bilinear") if name == "interpolate" else \
        nn.conv_transpose2d(x, np.ones((2, 1, 2, 2)))
    assert out.dtype == np.float64
