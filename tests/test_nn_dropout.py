"""``tcomp.nn.dropout``: its values, its gradient, its special rates and its errors.

- the result is ``where(keep, x / (1 - rate), 0)`` with ``keep`` the
  ``tcomp.random.bernoulli(key, 1 - rate, x.shape)`` mask, on every backend, in
  ``jit`` and eagerly; the same key gives the same mask everywhere;
- its gradient is ``keep / (1 - rate)`` (times the cotangent);
- about ``rate`` of the elements are dropped; another key drops others;
- ``rate == 0`` and ``deterministic=True`` give ``x``; ``rate == 1`` gives zeros and
  a zero gradient;
- bad rates and flags are errors naming ``dropout``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from frontend_helpers import MODES, run

import tcomp
from tcomp import nn
from tcomp.ir.errors import TcompArgumentError

OTHERWISE_TESTED = {"dropout"}  # tests/test_nn.py's coverage check: tested here, not by cases
X = np.linspace(-3.0, 3.0, 60, dtype=np.float32).reshape(6, 10)
KEY = np.asarray(tcomp.random.key(7))


def _mask(key, rate: float, shape) -> np.ndarray:
    return np.asarray(tcomp.random.bernoulli(key, 1.0 - rate, shape))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_is_the_scaled_masked_input_on_every_backend(backend, mode, rate):
    got = run(lambda x, k: nn.dropout(x, rate, k), [X, KEY], mode, backend)
    keep = _mask(KEY, rate, X.shape)
    expected = np.where(keep, X / np.float32(1.0 - rate), np.float32(0.0))
    assert isinstance(got, tcomp.Array) and got.backend == backend
    np.testing.assert_array_equal(np.asarray(got), expected)


@pytest.mark.parametrize("rate", [0.25, 0.6])
def test_the_gradient_is_the_mask_over_the_keep_probability(backend, rate):
    cotangent = np.arange(X.size, dtype=np.float32).reshape(X.shape) - 7.0

    def loss(x, k):
        return tcomp.sum(nn.dropout(x, rate, k) * cotangent)

    grad = tcomp.jit(tcomp.grad(loss), backend=backend)(X, KEY)
    keep = _mask(KEY, rate, X.shape)
    np.testing.assert_allclose(
        np.asarray(grad), keep * cotangent / np.float32(1.0 - rate), rtol=1e-6
    )


def test_about_rate_of_the_elements_are_dropped_and_keys_differ():
    x = np.ones((1000, 1000), np.float32)
    k1, k2 = tcomp.random.split(tcomp.random.key(3))
    first = np.asarray(tcomp.jit(lambda x, k: nn.dropout(x, 0.3, k))(x, k1))
    second = np.asarray(tcomp.jit(lambda x, k: nn.dropout(x, 0.3, k))(x, k2))
    dropped = (first == 0).mean()
    assert abs(dropped - 0.3) < 5 * math.sqrt(0.21 / x.size)
    assert set(np.unique(first)) == {0.0, np.float32(1 / 0.7)}
    assert abs(((first == 0) & (second == 0)).mean() - 0.09) < 0.005  # independent masks


def test_rate_zero_and_deterministic_return_the_input_and_rate_one_zeros():
    for result in (nn.dropout(X, 0.0, KEY), nn.dropout(X, 0.5, KEY, deterministic=True)):
        np.testing.assert_array_equal(np.asarray(result), X)
    np.testing.assert_array_equal(np.asarray(nn.dropout(X, 1.0, KEY)), np.zeros_like(X))
    grad = tcomp.grad(lambda x: tcomp.sum(nn.dropout(x, 1.0, KEY) * 3.0))(X)
    np.testing.assert_array_equal(np.asarray(grad), np.zeros_like(X))
    # evaluation mode needs no key
    np.testing.assert_array_equal(np.asarray(nn.dropout(X, 0.5, None, deterministic=True)), X)


def test_half_precision_and_integer_inputs():
    half = nn.dropout(X.astype(np.float16), 0.5, KEY)
    assert np.asarray(half).dtype == np.float16
    ints = nn.dropout(np.arange(6, dtype=np.int32), 0.5, KEY)
    assert np.asarray(ints).dtype == np.float32


@pytest.mark.parametrize(
    "rate, flag, message",
    [
        (1.5, False, r"dropout: rate must be in \[0, 1\], got 1.5"),
        (-0.1, False, r"dropout: rate must be in \[0, 1\]"),
        ("0.5", False, "dropout: rate must be a Python number"),
        (True, False, "dropout: rate must be a Python number"),
        (0.5, 1, "dropout: deterministic must be True or False"),
    ],
)
def test_bad_arguments_name_dropout(rate, flag, message):
    with pytest.raises(TcompArgumentError, match=message):
        nn.dropout(X, rate, KEY, deterministic=flag)


def test_a_traced_rate_is_refused_with_advice():
    with pytest.raises(TcompArgumentError, match="static"):
        tcomp.jit(lambda x, r: nn.dropout(x, r, KEY))(X, np.float32(0.5))
