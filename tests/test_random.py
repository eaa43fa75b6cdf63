"""Statistics of ``tcomp.random``'s samplers: 10**6 draws on llvm from fixed keys.

The keys are fixed, so every check is deterministic; each threshold is the
statistic's 99.9% point for a correct sampler (or 5 standard errors), so a correct
generator passes with room to spare and a wrong stream definition, a lost bit or a
biased conversion fails:

- Kolmogorov-Smirnov distance ``D`` against the exact CDF (uniform, normal,
  truncated normal), threshold ``1.95 / sqrt(n)``;
- means, variances and Bernoulli frequencies within 5 standard errors;
- randint: the chi-square of the counts below the 99.9% point of its degrees of freedom;
- every bit of ``bits`` is set half the time;
- independence: correlations between streams of split and folded-in keys, and
  between neighbouring elements of one stream, within ``5 / sqrt(n)`` of 0;
- the 16-bit uniforms are the float32 uniform rounded down (so below 1), and the
  top of ``[0, 1)`` is reached.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tcomp
from tcomp.ir.types import numpy_dtype

N = 10**6
KS_999 = 1.95  # sup |F_n - F| * sqrt(n) exceeds it with probability 0.001
KEY = tcomp.random.key(20240601)


def _jit(fn, *static):
    return tcomp.jit(fn, backend="llvm", static_argnums=static)


def _ks(sample: np.ndarray, cdf) -> float:
    """The Kolmogorov-Smirnov distance of ``sample`` from the continuous ``cdf``."""
    x = np.sort(sample.astype(np.float64))
    f = cdf(x)
    n = x.size
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


_ERF = np.frompyfunc(math.erf, 1, 1)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _ERF(x / math.sqrt(2.0)).astype(np.float64))


def _draw(fn, *args) -> np.ndarray:
    return np.asarray(_jit(fn, *range(1, 1 + len(args)))(KEY, *args))


# ---------------------------------------------------------------------------
# uniform


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_is_uniform_on_the_unit_interval(dtype):
    u = _draw(lambda k, d: tcomp.random.uniform(k, (N,), d), dtype)
    assert u.dtype == np.dtype(dtype) and u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / N)
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / N)  # var of (u - 1/2)**2
    assert _ks(u, lambda x: x) < KS_999 / math.sqrt(N)


def test_uniform_scales_to_its_bounds_and_stays_below_maxval():
    u = _draw(lambda k: tcomp.random.uniform(k, (N,), minval=-3.0, maxval=5.0))
    assert u.min() >= -3.0 and u.max() < 5.0
    assert _ks(u, lambda x: (x + 3.0) / 8.0) < KS_999 / math.sqrt(N)


@pytest.mark.parametrize("dtype, bits", [("float16", 11), ("bfloat16", 8)])
def test_16_bit_uniforms_are_the_float32_uniform_rounded_down(dtype, bits):
    u32 = _draw(lambda k: tcomp.random.uniform(k, (N,)))
    u16 = _draw(lambda k, d: tcomp.random.uniform(k, (N,), d), dtype)
    assert u16.dtype == numpy_dtype(dtype)
    low = u16.astype(np.float64)
    assert (low <= u32).all() and low.max() < 1.0
    # the next value of the type is above the float32 one: rounded down, not to nearest
    step = np.where(low > 0, 2.0 ** (np.floor(np.log2(np.maximum(low, 2.0**-24))) - bits + 1), 0)
    step = np.where(low == 0, 2.0**-24, step)
    assert (low + np.maximum(step, 2.0**-24) > u32).all()
    assert low.max() == 1.0 - 2.0**-bits  # the top value of [0, 1) is reached


# ---------------------------------------------------------------------------
# normal and truncated normal


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_has_the_normal_distribution(dtype):
    z = _draw(lambda k, d: tcomp.random.normal(k, (N,), d), dtype).astype(np.float64)
    assert np.isfinite(z).all()
    assert abs(z.mean()) < 5 / math.sqrt(N)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2 / N)
    assert _ks(z, _normal_cdf) < KS_999 / math.sqrt(N)


def test_half_precision_normals_round_the_float32_ones():
    z32 = _draw(lambda k: tcomp.random.normal(k, (1000,)))
    for dtype in ("float16", "bfloat16"):
        z16 = _draw(lambda k, d: tcomp.random.normal(k, (1000,), d), dtype)
        np.testing.assert_array_equal(z16, z32.astype(numpy_dtype(dtype)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("lower, upper", [(-2.0, 2.0), (-1.0, 3.0), (0.5, 1.0)])
def test_truncated_normal_has_the_truncated_distribution(dtype, lower, upper):
    z = _draw(lambda k, d: tcomp.random.truncated_normal(k, lower, upper, (N,), d), dtype).astype(
        np.float64
    )
    assert z.min() > lower and z.max() < upper
    a, b = _normal_cdf(np.array([lower, upper]))
    assert _ks(z, lambda x: (_normal_cdf(x) - a) / (b - a)) < KS_999 / math.sqrt(N)


def test_truncated_normal_with_array_bounds_and_an_infinite_one():
    lower = np.array([-1.0, 0.0, 2.0], np.float32)
    z = np.asarray(tcomp.random.truncated_normal(KEY, lower, 3.0, (2000, 3)))
    assert z.shape == (2000, 3) and (z >= lower).all() and (z <= 3.0).all()
    open_below = np.asarray(tcomp.random.truncated_normal(KEY, -math.inf, 0.0, (N,)))
    assert np.isfinite(open_below).all() and open_below.max() < 0.0
    assert abs(open_below.mean() + math.sqrt(2 / math.pi)) < 5 * 0.6 / math.sqrt(N)


# ---------------------------------------------------------------------------
# bernoulli, randint, bits


@pytest.mark.parametrize("p", [0.3, 0.001, 0.5])
def test_bernoulli_frequency(p):
    b = _draw(lambda k, q: tcomp.random.bernoulli(k, q, (N,)), p)
    assert b.dtype == np.bool_
    assert abs(b.mean() - p) < 5 * math.sqrt(p * (1 - p) / N)


def test_bernoulli_with_an_array_of_probabilities():
    p = np.array([0.0, 0.25, 0.75, 1.0], np.float32)
    b = np.asarray(tcomp.random.bernoulli(KEY, p, (N // 4, 4)))
    freq = b.mean(axis=0)
    assert freq[0] == 0.0 and freq[3] == 1.0
    assert np.all(np.abs(freq[1:3] - p[1:3]) < 5 * math.sqrt(0.1875 / (N // 4)))


@pytest.mark.parametrize("low, high", [(-5, 5), (0, 7), (-(2**31), 2**31)])
def test_randint_is_uniform_over_its_range(low, high):
    r = _draw(lambda k, a, b: tcomp.random.randint(k, (N,), a, b), low, high)
    assert r.dtype == np.int32 and r.min() >= low and r.max() < high
    if high - low <= 10:
        counts = np.bincount(r - low, minlength=high - low)
        expected = N / (high - low)
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < {9: 27.88, 6: 22.46}[high - low - 1]  # 99.9% points
    else:  # the full int32 range: its deciles
        u = (r.astype(np.float64) - low) / (high - low)
        assert _ks(u, lambda x: x) < KS_999 / math.sqrt(N)


def test_every_bit_is_set_half_the_time():
    b = _draw(lambda k: tcomp.random.bits(k, (N,))).view(np.uint32)
    ones = np.array([((b >> i) & 1).mean() for i in range(32)])
    assert np.all(np.abs(ones - 0.5) < 5 * 0.5 / math.sqrt(N))


# ---------------------------------------------------------------------------
# independence


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1])


def test_streams_of_split_and_folded_keys_are_uncorrelated():
    def streams(k):
        keys = tcomp.random.split(k, 4)
        split = [tcomp.random.uniform(keys[i], (N,)) for i in range(4)]
        folded = [tcomp.random.uniform(tcomp.random.fold_in(k, 10 + i), (N,)) for i in range(2)]
        return [tcomp.random.uniform(k, (N,))] + split + folded

    samples = [np.asarray(s) for s in _jit(streams)(KEY)]
    for i in range(len(samples)):
        for j in range(i):
            assert abs(_correlation(samples[i], samples[j])) < 5 / math.sqrt(N), (i, j)


def test_neighbouring_elements_are_uncorrelated():
    u = _draw(lambda k: tcomp.random.uniform(k, (N,)))
    for lag in (1, 2, 1024):
        assert abs(_correlation(u[:-lag], u[lag:])) < 5 / math.sqrt(N)
    z = _draw(lambda k: tcomp.random.normal(k, (N,)))
    assert abs(_correlation(z[:-1], z[1:])) < 5 / math.sqrt(N)


# ---------------------------------------------------------------------------
# the inverse error function behind truncated_normal (frontend/random_erfinv.py)


def _erfinv_reference(x: float) -> float:
    """erfinv by Newton's method on math.erf from a bracketing bisection start."""
    lo, hi = -7.0, 7.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erf(mid) < x else (lo, mid)
    z = (lo + hi) / 2
    for _ in range(3):
        z -= (math.erf(z) - x) / (2 / math.sqrt(math.pi) * math.exp(-z * z))
    return z


@pytest.mark.parametrize("dtype, rtol", [("float32", 4e-7), ("float64", 1e-13)])
def test_erfinv_is_accurate(dtype, rtol):
    from tcomp.frontend.random_erfinv import erfinv

    x = np.linspace(-0.999, 0.999, 2001).astype(dtype)
    got = np.asarray(_jit(erfinv)(x)).astype(np.float64)
    expected = np.array([_erfinv_reference(float(v)) for v in x])
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-300)
    # the tails (w beyond 16 in float64): erf of the result gives x back
    tails = np.array([1 - 2.0**-k for k in (20, 30, 40, 50)], np.float64)
    z = np.asarray(_jit(erfinv)(tails))
    assert np.all(np.abs([math.erf(v) - t for v, t in zip(z, tails)]) < 4e-16)
    specials = np.asarray(_jit(erfinv)(np.array([1.0, -1.0, 1.5, 0.0], dtype)))
    assert specials[0] == np.inf and specials[1] == -np.inf
    assert np.isnan(specials[2]) and specials[3] == 0.0
