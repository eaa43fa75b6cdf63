"""The random-bit generator and ``tcomp.random``'s keys: the same bits on every backend.

- Threefry-2x32-20 gives Random123's known answers on every backend, in ``jit`` and
  eagerly (``tcomp.random.threefry2x32``), and its numpy reference does too;
- ``key``, ``split``, ``fold_in`` and ``bits`` give the values JAX gives for the same
  seeds (vectors recorded once from ``jax.random`` 0.10 with 64-bit ints enabled; the
  tests do not import JAX);
- ``bits`` and the uniform, bernoulli and randint samplers equal, bit for bit, a numpy
  statement of the stream definition (``tcomp/random.py``) on every backend, for
  drawn keys and shapes; element ``i`` depends on the flat index only;
- the kernel op: one C helper per program, both words of a block computed once;
- int32 ``add``/``sub``/``mul``/``neg`` wrap as numpy's on every backend (Threefry's
  arithmetic relies on it; C's signed overflow is undefined, so the C renderer
  computes in unsigned);
- keys of the wrong shape or dtype are errors naming the function and the shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import backends_under_test
from frontend_helpers import MODES as ALL_MODES
from frontend_helpers import default_backend, run
from hypothesis import given
from hypothesis import strategies as st
from threefry_reference import KAT, as_int32, threefry_arrays

import tcomp
from tcomp.backends.cfamily import CUDA, render_program
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.kernel.lowering import lower_function
from tcomp.ir.threefry import threefry2x32 as numpy_threefry

MODES = ("jit", "eager_numpy")
KAT_KEYS = [np.array([as_int32(k[i]) for k, _, _ in KAT], np.int32) for i in (0, 1)]
KAT_COUNTERS = [np.array([as_int32(c[i]) for _, c, _ in KAT], np.int32) for i in (0, 1)]
KAT_WORDS = [np.array([as_int32(o[i]) for _, _, o in KAT], np.int32) for i in (0, 1)]


def _uint32(x) -> np.ndarray:
    return np.asarray(x).view(np.uint32)


# ---------------------------------------------------------------------------
# Known answers


def test_the_numpy_reference_gives_the_known_answers():
    for key, counter, expected in KAT:
        words = numpy_threefry(*key, *counter)
        assert (int(words[0]), int(words[1])) == expected


@pytest.mark.parametrize("mode", ALL_MODES)
def test_threefry_gives_the_known_answers_on_every_backend(backend, mode):
    words = run(tcomp.random.threefry2x32, [*KAT_KEYS, *KAT_COUNTERS], mode, backend)
    for got, expected in zip(words, KAT_WORDS):
        assert isinstance(got, tcomp.Array) and got.backend == backend
        np.testing.assert_array_equal(np.asarray(got), expected)


def test_threefry_takes_python_words_and_broadcasts(backend):
    (key, counter, expected) = KAT[2]
    with default_backend(backend):
        word0, word1 = tcomp.random.threefry2x32(
            *key, counter[0], np.full((2, 3), as_int32(counter[1]), np.int32)
        )
    assert word0.shape == word1.shape == (2, 3)
    assert (_uint32(word0) == expected[0]).all() and (_uint32(word1) == expected[1]).all()


# ---------------------------------------------------------------------------
# Keys and bits: JAX's values (jax.random with jax_threefry_partitionable, x64 on)

JAX_VECTORS = {
    "key(42)": (lambda: tcomp.random.key(42), [0, 42]),
    "key(2**40 + 7)": (lambda: tcomp.random.key(2**40 + 7), [0x100, 0x7]),
    "key(-1)": (lambda: tcomp.random.key(-1), [0xFFFFFFFF, 0xFFFFFFFF]),
    "split(key(42), 3)": (
        lambda: tcomp.random.split(tcomp.random.key(42), 3),
        [0x6D3E048F, 0x1022172D, 0x03D7B32D, 0xADD083F4, 0x92FB20EA, 0x0F38D913],
    ),
    "split(key(0))": (
        lambda: tcomp.random.split(tcomp.random.key(0)),
        [0x6B200159, 0x99BA4EFE, 0x375F238F, 0xCDDB151D],
    ),
    "fold_in(key(42), 7)": (
        lambda: tcomp.random.fold_in(tcomp.random.key(42), 7),
        [0x97D0552F, 0x51BF719F],
    ),
    "fold_in(key(0), 2**32 - 1)": (
        lambda: tcomp.random.fold_in(tcomp.random.key(0), 2**32 - 1),
        [0x2C4E0437, 0xE1E32D13],
    ),
    "bits(key(42), (2, 3))": (
        lambda: tcomp.random.bits(tcomp.random.key(42), (2, 3)),
        [0x7D1C13A2, 0xAE0730D9, 0x9DC3F9F9, 0x8F9EC1D7, 0x735D7315, 0x95FB4ED8],
    ),
    "bits(key(0), 4)": (
        lambda: tcomp.random.bits(tcomp.random.key(0), 4),
        [0xF29A4FA7, 0xFA843692, 0x55110E28, 0x77FAA835],
    ),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(JAX_VECTORS))
def test_keys_and_bits_match_jax(backend, mode, case):
    make, expected = JAX_VECTORS[case]
    got = run(make, [], mode, backend)
    assert np.asarray(got).dtype == np.int32
    np.testing.assert_array_equal(_uint32(got).ravel(), np.array(expected, np.uint32))


def test_a_traced_seed_and_step_give_the_python_int_keys(backend):
    def keys(seed, step):
        k = tcomp.random.key(seed)
        return k, tcomp.random.fold_in(k, step)

    traced = tcomp.jit(keys, backend=backend)(np.int32(42), np.int32(7))
    expected = (tcomp.random.key(42), tcomp.random.fold_in(tcomp.random.key(42), 7))
    for got, want in zip(traced, expected):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_fold_in_is_an_element_of_split():
    k = tcomp.random.key(5)
    keys = np.asarray(tcomp.random.split(k, 6))
    for i in range(6):
        np.testing.assert_array_equal(np.asarray(tcomp.random.fold_in(k, i)), keys[i])


# ---------------------------------------------------------------------------
# The stream definition, bit for bit, for drawn keys and shapes


def _blocks(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(w0, w1) as uint32 of counter (0, i) for i < size (the independent reference)."""
    k0, k1 = (np.full(size, key[i], np.int32) for i in (0, 1))
    counter = np.arange(size, dtype=np.int32)
    zero = np.zeros(size, np.int32)
    return tuple(_uint32(threefry_arrays(k0, k1, zero, counter, w)) for w in (0, 1))


def _expected(sampler: str, key: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The value the stream definition gives (tcomp/random.py), in numpy."""
    w0, w1 = _blocks(key, int(np.prod(shape, dtype=np.int64)))
    bits = w0 ^ w1
    if sampler == "bits":
        out = bits.view(np.int32)
    elif sampler == "uniform32":
        out = (bits >> 8).astype(np.float32) * np.float32(2.0**-24)
    elif sampler == "uniform64":
        out = (w0.astype(np.float64) * 2.0**21 + (w1 >> 11).astype(np.float64)) * 2.0**-53
    elif sampler == "bernoulli":
        out = (bits >> 8).astype(np.float32) * np.float32(2.0**-24) < np.float32(0.3)
    else:
        assert sampler == "randint"
        u = (w0.astype(np.float64) * 2.0**21 + (w1 >> 11).astype(np.float64)) * 2.0**-53
        out = (np.minimum(np.floor(u * 1000.0), 999.0) - 500.0).astype(np.int32)
    return out.reshape(shape)


SAMPLERS = {
    "bits": lambda k, s: tcomp.random.bits(k, s),
    "uniform32": lambda k, s: tcomp.random.uniform(k, s),
    "uniform64": lambda k, s: tcomp.random.uniform(k, s, "float64"),
    "bernoulli": lambda k, s: tcomp.random.bernoulli(k, 0.3, s),
    "randint": lambda k, s: tcomp.random.randint(k, s, -500, 500),
}
words = st.integers(-(2**31), 2**31 - 1)
small_shapes = st.lists(st.integers(0, 5), max_size=3).map(tuple)


@pytest.mark.parametrize("backend_name", backends_under_test())
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
@given(k0=words, k1=words, shape=small_shapes)
def test_samplers_follow_the_stream_definition_on_every_backend(
    backend_name, sampler, k0, k1, shape
):
    key = np.array([k0, k1], np.int32)
    fn = tcomp.jit(SAMPLERS[sampler], backend=backend_name, static_argnums=(1,))
    got = np.asarray(fn(key, shape))
    expected = _expected(sampler, key, shape)
    assert got.dtype == expected.dtype and got.shape == shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_samplers_agree_across_backends_to_the_math_library(backend, dtype):
    """normal and truncated_normal call log/cos/sqrt/erf: every backend's math library
    gives them within a few ulp of numpy's (the reference backend); the bits are equal."""

    def draws(k):
        return tcomp.random.normal(k, (4, 500), dtype), tcomp.random.truncated_normal(
            k, -2.0, 1.5, (4, 500), dtype
        )

    key = np.asarray(tcomp.random.key(123))
    got = tcomp.jit(draws, backend=backend)(key)
    want = tcomp.jit(draws, backend="reference")(key)
    rtol = 2e-5 if dtype == "float32" else 1e-12
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.dtype(dtype)
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=rtol)


def test_element_i_depends_on_the_flat_index_only():
    k = tcomp.random.key(11)
    flat = np.asarray(tcomp.random.bits(k, (10,)))
    np.testing.assert_array_equal(np.asarray(tcomp.random.bits(k, (2, 3))).ravel(), flat[:6])
    np.testing.assert_array_equal(np.asarray(tcomp.random.bits(k, (5, 2))).ravel(), flat)
    scalar = tcomp.random.uniform(k)
    assert scalar.shape == () and float(scalar) == float(np.asarray(tcomp.random.uniform(k, 3))[0])


def test_different_keys_and_seeds_give_different_bits():
    a, b = tcomp.random.split(tcomp.random.key(0))
    streams = [tcomp.random.bits(k, 64) for k in (a, b, tcomp.random.key(1))]
    for i in range(3):
        for j in range(i):
            assert (np.asarray(streams[i]) != np.asarray(streams[j])).mean() > 0.9


# ---------------------------------------------------------------------------
# The kernel op


def _both_words(k0, k1, x0, x1):
    w0, w1 = tcomp.random.threefry2x32(k0, k1, x0, x1)
    return w0 ^ w1  # one fused kernel reads both words of each block


def test_the_kernel_op_prints_as_a_call_and_renders_one_helper():
    args = [np.zeros(8, np.int32)] * 4
    lowered = tcomp.jit(_both_words).lower(*args)
    kernels = lowered.as_text("kernels")
    assert "threefry2x32_0(" in kernels and "threefry2x32_1(" in kernels
    program = lower_function(lowered.function("optimized"))
    source = render_program(program, CUDA)
    assert source.count("int tc_threefry2x32_i32(") == 1  # one definition per program
    assert source.count("tc_threefry2x32_i32(") >= 3  # called for each word


def test_the_llvm_helper_is_inlined_and_both_words_share_the_rounds():
    args = [np.zeros(8, np.int32)] * 4
    source = tcomp.jit(_both_words, backend="llvm").lower(*args).as_text("source")
    assert "@tc.threefry2x32" not in source  # inlined (and removed) at O3
    # 20 rotations once for both words (the two calls' rounds were merged)
    assert source.count("fshl") in (20, 21)  # 21: the declaration line


# ---------------------------------------------------------------------------
# int32 arithmetic wraps on every backend

EDGES = np.array([2**31 - 1, -(2**31), -1, 0, 1, 65536, 46341, -46341, 123456789], np.int32)


def _wrapping(a, b):
    return a + b, a - b, a * b, -a, tcomp.sum(a * b), a * a * a


def test_int32_overflow_wraps_identically_on_every_backend(backend):
    a = np.repeat(EDGES, EDGES.size)
    b = np.tile(EDGES, EDGES.size)
    got = tcomp.jit(_wrapping, backend=backend)(a, b)
    with np.errstate(over="ignore"):
        expected = (a + b, a - b, a * b, -a, np.sum(a * b, dtype=np.int32), a * a * a)
    for g, e in zip(got, expected):
        assert np.asarray(g).dtype == np.int32
        np.testing.assert_array_equal(np.asarray(g), e)


def test_c_renders_int32_arithmetic_through_unsigned():
    program = lower_function(
        tcomp.jit(lambda a, b: (a + b) * a - b).lower(EDGES, EDGES).function("optimized")
    )
    source = render_program(program, CUDA)
    assert "(unsigned int)" in source and source.count("(int)((unsigned int)") >= 3


# ---------------------------------------------------------------------------
# Errors in user terms


@pytest.mark.parametrize(
    "bad, shown",
    [
        (np.zeros(3, np.int32), r"int32\[3\]"),
        (np.zeros((2, 2), np.int32), r"int32\[2, 2\]"),
        (np.zeros(2, np.float32), r"float32\[2\]"),
    ],
)
@pytest.mark.parametrize("fn", ["uniform", "normal", "bits", "split", "fold_in", "randint"])
def test_a_bad_key_names_the_function_and_the_shape(fn, bad, shown):
    call = {
        "uniform": lambda k: tcomp.random.uniform(k, (2,)),
        "normal": lambda k: tcomp.random.normal(k, (2,)),
        "bits": lambda k: tcomp.random.bits(k, (2,)),
        "split": lambda k: tcomp.random.split(k),
        "fold_in": lambda k: tcomp.random.fold_in(k, 1),
        "randint": lambda k: tcomp.random.randint(k, (2,), 0, 3),
    }[fn]
    with pytest.raises(
        TcompTypeError, match=rf"{fn}: key must be an int32 array of shape \(2,\).*got {shown}"
    ):
        call(bad)


def test_bad_seeds_shapes_and_bounds_are_clear_errors():
    with pytest.raises(TcompTypeError, match="key: seed must be an integer"):
        tcomp.random.key(1.5)
    with pytest.raises(TcompTypeError, match="does not fit 64 bits"):
        tcomp.random.key(2**64)
    with pytest.raises(TcompTypeError, match=r"make one with tcomp.random.key\(3\)"):
        tcomp.random.uniform(3, (2,))
    k = tcomp.random.key(0)
    with pytest.raises(TcompShapeError, match="uniform: shape must be a tuple of ints"):
        tcomp.random.uniform(k, (2, -1))
    with pytest.raises(TcompShapeError, match="at most 2\\*\\*31 - 1"):
        tcomp.random.bits(k, (2**16, 2**16))
    with pytest.raises(TcompShapeError, match="split: num must be an int >= 0"):
        tcomp.random.split(k, -1)
    with pytest.raises(TcompTypeError, match="uniform: needs finite minval < maxval"):
        tcomp.random.uniform(k, (2,), minval=1.0, maxval=1.0)
    with pytest.raises(TcompTypeError, match="uniform: dtype must be a float dtype"):
        tcomp.random.uniform(k, (2,), "int32")
    with pytest.raises(TcompTypeError, match="randint: needs ints"):
        tcomp.random.randint(k, (2,), 0, 2**31 + 1)
    with pytest.raises(TcompTypeError, match="fold_in: .* is not a 32-bit word"):
        tcomp.random.fold_in(k, 2**32)
    with pytest.raises(TcompTypeError, match="truncated_normal: needs lower < upper"):
        tcomp.random.truncated_normal(k, 1.0, -1.0, (2,))
