"""bfloat16 on the llvm backend, bit by bit, against tcomp's rounding and the reference.

The llvm backend keeps a bfloat16 in a ``float`` register and in 16 bits of
memory, and rounds with integer operations (see ``backends/llvm/halves.py``),
so these tests check the bits: every bf16 pattern through loads, stores and
conversions, float32 -> bf16 rounding on ties, NaN payloads, infinities and
denormals, float64 and int32 -> bf16 rounded once (tcomp's rule,
``tcomp.ir.bfloat16``, itself checked against an exact oracle in
``tests/test_bfloat16.py``), and the elementwise ops to within one bf16 ulp
(almost all exactly). Reductions,
matmuls (the packed micro-kernel), softmax and a gradient are compared at
bfloat16's precision.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

pytest.importorskip("llvmlite")

import tcomp  # noqa: E402
from tcomp import nn  # noqa: E402
from tcomp.ir.bfloat16 import to_bfloat16  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)
ALL_BF16 = np.arange(1 << 16, dtype=np.uint16).view(BF16)
ALL_F16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16)


def _both(fn, *args):
    """(llvm results, reference results) of ``fn`` on ``args``, as tuples of numpy arrays."""
    got = tcomp.jit(fn, backend="llvm")(*args)
    want = tcomp.jit(fn, backend="reference")(*args)
    if not isinstance(got, tuple):
        got, want = (got,), (want,)
    return tuple(np.asarray(g) for g in got), tuple(np.asarray(w) for w in want)


def _bf16(values) -> np.ndarray:
    return np.asarray(values, np.float32).astype(BF16)


def _assert_same_bits(got: np.ndarray, want: np.ndarray) -> None:
    """Equal bit patterns, except that two NaNs only need the same sign."""
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype)
    if got.dtype.kind == "f" or got.dtype == BF16:
        with np.errstate(invalid="ignore"):  # NaN casts warn
            wide_got, wide_want = got.astype(np.float64), want.astype(np.float64)
        nan_got, nan_want = np.isnan(wide_got), np.isnan(wide_want)
        np.testing.assert_array_equal(nan_got, nan_want)
        np.testing.assert_array_equal(np.signbit(wide_got[nan_got]), np.signbit(wide_want[nan_want]))
        unsigned = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[got.dtype.itemsize]
        bits_got, bits_want = got.view(unsigned)[~nan_got], want.view(unsigned)[~nan_want]
        bad = np.flatnonzero(bits_got != bits_want)
        assert bad.size == 0, (
            f"{bad.size} differ, e.g. got {hex(bits_got[bad[0]])} want {hex(bits_want[bad[0]])}"
        )
    else:
        np.testing.assert_array_equal(got, want)


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """bf16 ulps between two bf16 arrays (0 where both are NaN, huge where one is)."""

    def ordered(x):
        bits = x.view(np.uint16).astype(np.int64)
        return np.where(bits & 0x8000, -(bits & 0x7FFF), bits)

    both_nan = np.isnan(got.astype(np.float32)) & np.isnan(want.astype(np.float32))
    one_nan = np.isnan(got.astype(np.float32)) != np.isnan(want.astype(np.float32))
    distance = np.abs(ordered(got) - ordered(want))
    return np.where(both_nan, 0, np.where(one_nan, 1 << 20, distance))


# ------------------------------------------------------------------ every bf16 pattern


def test_every_bfloat16_pattern_through_loads_stores_and_float32():
    ones = np.ones(ALL_BF16.shape, BF16)
    zeros = np.zeros(ALL_BF16.shape, BF16)

    def f(x, one, zero):
        return (x.astype(tcomp.float32).astype(tcomp.bfloat16), x * one, x - zero, -x,
                tcomp.abs(x), x.astype(tcomp.float32))

    with np.errstate(invalid="ignore"):
        got, want = _both(f, ALL_BF16, ones, zeros)
    for g, w in zip(got, want):
        _assert_same_bits(g, w)
    # the float32 view is exact: the bf16 bits, shifted
    np.testing.assert_array_equal(got[-1].view(np.uint32),
                                  ALL_BF16.view(np.uint16).astype(np.uint32) << 16)


@pytest.mark.parametrize("target", ["float64", "float16", "int32", "bool"])
def test_every_bfloat16_pattern_converted(target):
    with np.errstate(invalid="ignore", over="ignore"):
        got, want = _both(lambda x: x.astype(getattr(tcomp, target if target != "bool"
                                                      else "bool_")), ALL_BF16)
    _assert_same_bits(got[0], want[0])


def test_every_float16_pattern_to_bfloat16_and_back():
    with np.errstate(invalid="ignore"):
        got, want = _both(lambda h: h.astype(tcomp.bfloat16), ALL_F16)
    _assert_same_bits(got[0], want[0])
    _assert_same_bits(got[0], to_bfloat16(ALL_F16))


# ------------------------------------------------------------------ rounding to bf16


def _float32_patterns() -> np.ndarray:
    rng = np.random.default_rng(0)
    special = [
        0x3F808000, 0x3F818000,  # ties: to even (down), to even (up)
        0x3F808001, 0x3F807FFF, 0xBF808000, 0xBF818000,
        0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F8000, 0x7F7F7FFF,  # overflow to inf at the top
        0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,  # infinities, quiet NaNs
        0x7F800001, 0xFF800001, 0x7FBFFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x7F80FFFF,  # payloads
        0x00000000, 0x80000000, 0x00000001, 0x00008000, 0x00018000, 0x0000FFFF,
        0x007FFFFF, 0x807F8000, 0x00800000,  # denormals and the smallest normal
    ]
    patterns = np.concatenate([
        np.array(special, np.uint32),
        rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32),
        # exact ties and their neighbours everywhere
        (rng.integers(0, 1 << 16, 20_000).astype(np.uint32) << 16)
        + np.array([0x7FFF, 0x8000, 0x8001], np.uint32)[rng.integers(0, 3, 20_000)],
    ])
    return patterns.view(np.float32)


def test_float32_to_bfloat16_rounds_to_nearest_even():
    x = _float32_patterns()
    with np.errstate(invalid="ignore"):
        got, want = _both(lambda v: v.astype(tcomp.bfloat16), x)
    expected = to_bfloat16(x)
    # bit-exact, NaNs included: tcomp gives the quiet NaN of the sign (0x7fc0 | sign)
    np.testing.assert_array_equal(got[0].view(np.uint16), expected.view(np.uint16))
    _assert_same_bits(want[0], expected)
    nan = np.isnan(x)
    assert set(got[0].view(np.uint16)[nan].tolist()) == {0x7FC0, 0xFFC0}


def test_float64_to_bfloat16_rounds_once_to_nearest_even():
    rng = np.random.default_rng(1)
    steps = ALL_BF16[np.isfinite(ALL_BF16.astype(np.float32))].astype(np.float64)
    steps = np.sort(steps)
    halfway = (steps[:-1] + steps[1:]) / 2
    x = np.concatenate([
        halfway, np.nextafter(halfway, 0), np.nextafter(halfway, np.inf),  # ties and beside
        halfway * (1 + 2**-40), halfway * (1 - 2**-40),  # where float32 would tie
        rng.standard_normal(20_000) * 10.0 ** rng.integers(-45, 40, 20_000),
        [np.nan, -np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 3.4e38, 3.3961e38, 0.0, -0.0],
    ])
    with np.errstate(over="ignore", invalid="ignore"):
        got, want = _both(lambda v: v.astype(tcomp.bfloat16), x)
    _assert_same_bits(got[0], want[0])
    _assert_same_bits(got[0], to_bfloat16(x))
    # one rounding: 1 + 2**-8 + 2**-40 is above the bf16 halfway point 1 + 2**-8, so it
    # goes up (float32 would drop the 2**-40 and tie to even, 1.0); exact ties go to even
    ties = np.array([1 + 2**-8 + 2**-40, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 - 2**-40])
    got = _both(lambda v: v.astype(tcomp.bfloat16), ties)[0][0]
    assert got.astype(np.float64).tolist() == [1 + 2**-7, 1.0, 1 + 2**-6, 1.0]


def test_int32_to_bfloat16_and_back():
    rng = np.random.default_rng(2)
    edge = [0, 1, -1, 255, 256, 257, 2**24 + 2**16 + 1, -(2**24 + 2**16 + 1), 2**24 + 1,
            2**31 - 1, -(2**31), 2**31 - 2**23, 2**30 + 2**22]
    x = np.concatenate([np.array(edge, np.int64),
                        rng.integers(-(2**31), 2**31, 50_000),
                        rng.integers(-4096, 4096, 5_000)]).astype(np.int32)
    got, want = _both(lambda v: v.astype(tcomp.bfloat16), x)
    _assert_same_bits(got[0], want[0])
    _assert_same_bits(got[0], to_bfloat16(x))
    # one rounding from the exact int: float32 would give 2**24 + 2**16, then tie to 2**24
    assert float(got[0][6].astype(np.float64)) == 2**24 + 2**17
    with np.errstate(invalid="ignore"):
        got, want = _both(lambda v: (v.astype(tcomp.int32), v.astype(tcomp.bool_)),
                          _bf16(rng.standard_normal(5_000) * 1e5))
    for g, w in zip(got, want):
        _assert_same_bits(g, w)


# ------------------------------------------------------------------ elementwise ops


def _operands(seed: int, size: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    special = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3e38, -3e38, 1e-40, 1e-38]
    a = _bf16(np.concatenate([special, rng.standard_normal(size) * 3]))
    b = _bf16(np.concatenate([special[::-1], rng.standard_normal(size) * 3]))
    return a, b


ELEMENTWISE = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "exp": lambda a, b: tcomp.exp(a),
    "tanh": lambda a, b: tcomp.tanh(b),
    "sigmoid": lambda a, b: nn.sigmoid(a),
    "max": lambda a, b: tcomp.maximum(a, b),
    "where": lambda a, b: tcomp.where(a > b, a, b * 2.5),
    "chain": lambda a, b: tcomp.tanh(a * b + a) / (tcomp.abs(b) + 1.0),
}


@pytest.mark.parametrize("op", sorted(ELEMENTWISE))
def test_elementwise_within_one_ulp_and_nearly_all_exact(op):
    a, b = _operands(len(op))
    with np.errstate(all="ignore"):
        got, want = _both(ELEMENTWISE[op], a, b)
    assert got[0].dtype == want[0].dtype == BF16
    ulps = _ulps(got[0], want[0])
    assert ulps.max() <= 1, (op, int(ulps.max()), int(np.argmax(ulps)))
    assert (ulps == 0).mean() >= 0.99, (op, float((ulps == 0).mean()))
    if op in ("add", "mul", "div", "max", "where"):
        _assert_same_bits(got[0], want[0])  # IEEE ops in float32, rounded once: exact


def test_comparisons_and_bool_mixing():
    a, b = _operands(3, 2_000)

    def f(a, b):
        return a < b, a == b, a != b, tcomp.where(a >= b, a, b), (a > 0) * a

    with np.errstate(all="ignore"):
        got, want = _both(f, a, b)
    for g, w in zip(got, want):
        _assert_same_bits(g, w)


def test_bfloat16_elementwise_chain_is_vectorised():
    a, b = _operands(4, 4096)
    fn = tcomp.jit(lambda a, b: tcomp.exp(a * b + a) - b, backend="llvm")
    source = fn.lower(a, b).as_text("source")
    assert "x i16>" in source and "x float>" in source, "no vector bf16 loads or float ops"


# ------------------------------------------------------------------ reductions and matmuls


def _close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-2, atol: float = 1e-2) -> None:
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32),
                               rtol=rtol, atol=atol)


def test_sums_and_softmax():
    rng = np.random.default_rng(5)
    x = _bf16(rng.standard_normal((37, 129)) * 3)

    def f(x):
        return (x.sum(), x.sum(axis=1), x.sum(axis=0), tcomp.mean(x, axis=-1),
                nn.softmax(x, axis=-1), x.max(axis=0))

    got, want = _both(f, x)
    for g, w in zip(got, want):
        _close(g, w)
    # a float32 accumulator: 4096 ones sum to 4096 (a bf16 running total stops at 256)
    ones = np.ones(4096, BF16)
    total = _both(lambda v: v.sum(), ones)[0][0]
    assert float(total.astype(np.float32)) == 4096.0


@pytest.mark.parametrize("shapes", [((7, 13), (13, 5)), ((64, 64), (64, 64)),
                                    ((3, 70, 33), (33, 19)), ((1, 200), (200, 1))])
def test_matmul(shapes):
    rng = np.random.default_rng(sum(shapes[0]))
    a = _bf16(rng.standard_normal(shapes[0]))
    b = _bf16(rng.standard_normal(shapes[1]))
    got, want = _both(lambda a, b: (a @ b, tcomp.tanh(a @ b) + 1.0), a, b)
    for g, w in zip(got, want):
        _close(g, w)
    exact = (a.astype(np.float32) @ b.astype(np.float32)).astype(BF16)
    _close(got[0], exact)


def test_large_matmul_uses_the_packed_micro_kernel():
    rng = np.random.default_rng(6)
    a = _bf16(rng.standard_normal((96, 130)))
    b = _bf16(rng.standard_normal((130, 80)))
    fn = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    assert "tc.ukernel" in fn.lower(a, b).as_text("source")
    got = np.asarray(fn(a, b))
    want = np.asarray(tcomp.jit(lambda a, b: a @ b, backend="reference")(a, b))
    _close(got, want)
    # float32 products and sums, rounded once: nearly every element is exact
    assert (_ulps(got, want) <= 1).all()


def test_gradient_of_a_bfloat16_loss():
    rng = np.random.default_rng(7)
    w = _bf16(rng.standard_normal((13, 6)) * 0.3)
    x = _bf16(rng.standard_normal((9, 13)))

    def loss(w, x):
        return (nn.sigmoid(x @ w) * tcomp.tanh(x @ w)).sum()

    got, want = _both(tcomp.value_and_grad(loss), w, x)
    assert got[1].dtype == BF16
    for g, w_ in zip(got, want):
        _close(g, w_, rtol=2e-2)
