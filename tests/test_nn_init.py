"""``tcomp.nn.init``: PyTorch's initialiser formulas on tcomp's layouts.

- fan-in and fan-out: dense ``(in, out)``, convolution ``(out, in, *window)``
  (PyTorch's receptive-field rule), errors below 2 dimensions;
- ``calculate_gain`` is PyTorch's table;
- each initialiser has the shape and dtype asked for, its bound (uniform ones) or its
  standard deviation (normal ones, over 10**6 values, within 5 standard errors);
- the same key gives the same weights; the initialisers are ``tcomp.random`` draws.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tcomp
from tcomp import nn
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError
from tcomp.ir.types import numpy_dtype

OTHERWISE_TESTED = {"init"}  # tests/test_nn.py's coverage check: tested here, not by cases
init = nn.init
KEY = tcomp.random.key(99)
BIG_DENSE = (1000, 1000)  # fan_in = fan_out = 1000, 10**6 values


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((784, 10), (784, 10)),  # dense (in, out)
        ((16, 3, 5, 5), (75, 400)),  # conv2d weight (out, in, kh, kw)
        ((8, 4, 3), (12, 24)),  # conv1d
        ((2, 3, 2, 2, 2), (24, 16)),  # conv3d
    ],
)
def test_fans_for_dense_and_convolution_weights(shape, fans):
    assert init.fan_in_and_fan_out(shape) == fans


def test_fans_need_two_dimensions():
    with pytest.raises(TcompShapeError, match="at least 2 dimensions, got shape \\(5,\\)"):
        init.fan_in_and_fan_out((5,))
    with pytest.raises(TcompShapeError, match="at least 2 dimensions"):
        init.glorot_uniform(KEY, (5,))


def test_gains_are_pytorchs():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == 5.0 / 3.0
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(TcompArgumentError, match="unknown nonlinearity 'swish'"):
        init.calculate_gain("swish")


UNIFORMS = {
    # name: (call, the bound PyTorch's formula gives for BIG_DENSE)
    "glorot_uniform": (lambda k, s, d: init.glorot_uniform(k, s, d), math.sqrt(6 / 2000)),
    "xavier_uniform gain 2": (
        lambda k, s, d: init.xavier_uniform(k, s, d, gain=2.0),
        2 * math.sqrt(6 / 2000),
    ),
    "kaiming_uniform": (
        lambda k, s, d: init.kaiming_uniform(k, s, d),
        math.sqrt(2) * math.sqrt(3 / 1000),  # gain(leaky_relu, a=0): sqrt(2),
    ),
    "he_uniform relu fan_out": (
        lambda k, s, d: init.he_uniform(k, s, d, mode="fan_out", nonlinearity="relu"),
        math.sqrt(2) * math.sqrt(3 / 1000),
    ),
    "uniform(-0.5, 2)": (lambda k, s, d: init.uniform(k, s, d, -0.5, 2.0), None),
}


@pytest.mark.parametrize("name", sorted(UNIFORMS))
def test_uniform_initialisers_fill_their_bounds(name):
    call, bound = UNIFORMS[name]
    w = np.asarray(call(KEY, BIG_DENSE, "float32")).astype(np.float64)
    assert w.shape == BIG_DENSE and w.dtype == np.float64
    low, high = (-bound, bound) if bound is not None else (-0.5, 2.0)
    assert (
        low <= w.min() < low + 1e-4 * (high - low) and high - 1e-4 * (high - low) < w.max() < high
    )
    assert abs(w.mean() - (low + high) / 2) < 5 * (high - low) / math.sqrt(12 * w.size)


NORMALS = {
    "glorot_normal": (lambda k, s, d: init.glorot_normal(k, s, d), math.sqrt(2 / 2000), 0.0),
    "kaiming_normal relu": (
        lambda k, s, d: init.kaiming_normal(k, s, d, nonlinearity="relu"),
        math.sqrt(2 / 1000),
        0.0,
    ),
    "he_normal fan_out a=0.2": (
        lambda k, s, d: init.he_normal(k, s, d, a=0.2, mode="fan_out"),
        math.sqrt(2 / 1.04) / math.sqrt(1000),
        0.0,
    ),
    "normal(3, 0.5)": (lambda k, s, d: init.normal(k, s, d, mean=3.0, std=0.5), 0.5, 3.0),
}


@pytest.mark.parametrize("name", sorted(NORMALS))
def test_normal_initialisers_have_their_standard_deviation(name):
    call, std, mean = NORMALS[name]
    w = np.asarray(call(KEY, BIG_DENSE, "float32")).astype(np.float64)
    n = w.size
    assert abs(w.mean() - mean) < 5 * std / math.sqrt(n)
    assert abs(w.std() / std - 1.0) < 5 * math.sqrt(1 / (2 * n))


def test_trunc_normal_uses_absolute_bounds():
    w = np.asarray(init.trunc_normal(KEY, BIG_DENSE, mean=1.0, std=2.0, a=0.0, b=3.0))
    assert w.min() > 0.0 and w.max() < 3.0
    alpha, beta = (0.0 - 1.0) / 2.0, (3.0 - 1.0) / 2.0  # the bounds in standard units

    def pdf(x):
        return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    def cdf(x):
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    mean = 1.0 + 2.0 * (pdf(alpha) - pdf(beta)) / (cdf(beta) - cdf(alpha))
    assert abs(w.mean() - mean) < 5 * 2.0 / math.sqrt(w.size)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_dtypes_shapes_and_constant_initialisers(dtype):
    shape = (4, 3, 2, 2)
    for fn in (init.glorot_uniform, init.glorot_normal, init.kaiming_uniform, init.kaiming_normal):
        w = fn(KEY, shape, dtype)
        assert w.shape == shape and np.asarray(w).dtype == numpy_dtype(dtype)
    np.testing.assert_array_equal(np.asarray(init.zeros(KEY, (2, 3), dtype)), np.zeros((2, 3)))
    np.testing.assert_array_equal(np.asarray(init.ones(KEY, (2, 3), dtype)), np.ones((2, 3)))


def test_the_same_key_gives_the_same_weights_on_every_backend(backend):
    shape = (16, 3, 3, 3)
    got = tcomp.jit(lambda k: init.kaiming_uniform(k, shape), backend=backend)(np.asarray(KEY))
    bound = math.sqrt(6 / 27)  # sqrt(2) * sqrt(3 / fan_in), fan_in = 3 * 3 * 3
    expected = np.asarray(tcomp.random.uniform(KEY, shape, minval=-bound, maxval=bound))
    np.testing.assert_array_equal(np.asarray(got), expected)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(TcompTypeError, match="nn.init.glorot_uniform: dtype must be a float dtype"):
        init.glorot_uniform(KEY, (3, 3), "int32")
    with pytest.raises(TcompArgumentError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal(KEY, (3, 3), mode="fan_avg")
    with pytest.raises(TcompArgumentError, match="std must be > 0"):
        init.trunc_normal(KEY, (3, 3), std=0.0)
