"""Conversions to float16 round once, from the exact value, on every backend.

tcomp's float16 conversion is one rounding to nearest, ties to even (numpy's
``astype``: it converts double to half directly). Rounding a float64 to
float32 first and then to float16 rounds twice: ``1 + 2**-11 + 2**-40`` would
become the tie ``1 + 2**-11`` and then 1.0 instead of ``1 + 2**-10``. Checked
against the exact Fraction oracle of ``tests/rounding_oracle.py``:

- float64 -> float16: every midpoint between float16 neighbours and the
  doubles one ulp either side, subnormal halves, the overflow boundary
  (65520), values beyond float32's range and below its subnormals, random
  doubles, NaN and infinities (the C family's ``tc_round_f16_f64`` and
  llvm's round-to-odd step);
- int32 -> float16 (through float in C and LLVM: integers that float rounds
  are beyond 2**24, far past float16's 65520, inf either way) and float32 ->
  float16;
- the C family emits ``tc_round_f16_f64`` only for programs that convert
  float64 to float16; its CUDA C compiles with nvcc (sm_80).
"""

from __future__ import annotations

import functools
import shutil
from typing import Callable

import numpy as np
import pytest
from nvcc_check import nvcc_fatbin
from rounding_oracle import FLOAT16

import tcomp
from tcomp.backends.cfamily import CUDA, render_program
from tcomp.ir.kernel.lowering import lower_function

INFINITY, MAX_FINITE = FLOAT16.infinity, FLOAT16.max_finite
midpoint, oracle_bits = FLOAT16.midpoint, FLOAT16.oracle_bits

# NaN and out-of-range inputs: numpy warns as it casts them; the values are checked
pytestmark = pytest.mark.filterwarnings(
    "ignore:invalid value encountered in cast:RuntimeWarning",
    "ignore:overflow encountered in cast:RuntimeWarning",
)


def _to_f16(x: np.ndarray, backend: str) -> np.ndarray:
    got = np.asarray(tcomp.jit(lambda x: x.astype(tcomp.float16), backend=backend)(x))
    assert got.dtype == np.float16 and got.shape == x.shape
    return got


def _assert_oracle(got: np.ndarray, x: np.ndarray, wants: list[int | None] | None = None) -> None:
    """``got`` is the oracle's float16 of each ``x``, bit for bit (a NaN of x's sign for NaN);
    ``wants``: the oracle's patterns, when computed already."""
    bits = got.view(np.uint16)
    wrong = []
    if wants is None:
        wants = [oracle_bits(value) for value in x.tolist()]
    for n, (value, want) in enumerate(zip(x.tolist(), wants)):
        if want is None:
            ok = (bits[n] & 0x7FFF) > INFINITY and bool(bits[n] >> 15) == bool(np.signbit(x[n]))
        else:
            ok = int(bits[n]) == want
        if not ok:
            wrong.append((value, hex(int(bits[n])), None if want is None else hex(want)))
    assert not wrong, f"{len(wrong)} of {x.size} wrong, (input, got, want): {wrong[:8]}"


@functools.cache
def _doubles() -> np.ndarray:
    rng = np.random.default_rng(0)
    halfway = np.array([float(midpoint(p)) for p in range(MAX_FINITE + 1)])  # exact in double
    subnormal = np.arange(0, 1025) * 2.0**-24  # the subnormal halves, 0 and the smallest normal
    boundary = np.array([65504.0, 65519.0, 65520.0, 65536.0, 2.0**-24, 2.0**-25, 3 * 2.0**-26])
    near = np.concatenate([halfway, subnormal, boundary])
    # a half with random low bits: its double neighbourhood, not only the midpoints
    halves = rng.integers(0, INFINITY, 20_000).astype(np.uint16).view(np.float16).astype(np.float64)
    wobbled = halves * (1 + rng.uniform(-2.0**-10, 2.0**-10, halves.size))
    return np.concatenate([
        near, np.nextafter(near, 0), np.nextafter(near, np.inf), -near, -np.nextafter(near, np.inf),
        wobbled, -wobbled,
        rng.standard_normal(5_000) * 10.0 ** rng.integers(-12, 8, 5_000),
        [1 + 2**-11 + 2**-40, 1 + 2**-11 - 2**-40, 1 + 2**-11, 1 + 3 * 2**-11 + 2**-52,
         2048 + 1 + 2**-30, 4.0e38, -4.0e38, 1e300, -1e300, np.finfo(np.float64).max,
         1e-46, -1e-300, 5e-324, 2.0**-25 + 2**-60, 0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan],
    ])


@functools.cache
def _double_oracle() -> list[int | None]:
    return [oracle_bits(value) for value in _doubles().tolist()]


def test_the_oracle_agrees_with_numpys_direct_conversion():
    x = _doubles()
    finite = ~np.isnan(x)
    want = np.array([w for w in _double_oracle() if w is not None], np.uint16)
    np.testing.assert_array_equal(x[finite].astype(np.float16).view(np.uint16), want)
    assert oracle_bits(1 + 2**-11 + 2**-40) == 0x3C01 and oracle_bits(1 + 2**-11) == 0x3C00
    assert oracle_bits(65519.99) == MAX_FINITE and oracle_bits(65520.0) == INFINITY
    assert oracle_bits(2.0**-25) == 0 and oracle_bits(2.0**-25 + 2**-60) == 1


def test_float64_rounds_once_to_float16(backend):
    x = _doubles()
    got = _to_f16(x, backend)
    _assert_oracle(got, x, _double_oracle())
    # float32 first would make it the tie 1 + 2**-11, which goes to 1.0 (even)
    assert _to_f16(np.array([1 + 2**-11 + 2**-40]), backend).view(np.uint16)[0] == 0x3C01


def test_int32_and_float32_round_once_to_float16(backend):
    rng = np.random.default_rng(1)
    ints = np.concatenate([
        rng.integers(-70_000, 70_000, 5_000), rng.integers(-(2**31), 2**31, 5_000),
        [0, 1, -1, 2049, 2051, -2049, 4097, 65503, 65504, 65519, 65520, -65520, 65535,
         2**24 - 1, 2**24, 2**24 + 1, 2**24 + 3, 2**31 - 1, -(2**31)],
    ]).astype(np.int32)
    _assert_oracle(_to_f16(ints, backend), ints)
    bits = rng.integers(0, 2**32, 20_000, dtype=np.uint64).astype(np.uint32)
    ties = (bits & 0xFFFFE000) | 0x1000  # halfway between float16 neighbours (normal range)
    floats = np.concatenate([bits, ties]).view(np.float32)
    _assert_oracle(_to_f16(floats, backend), floats.astype(np.float64))


def _rendered(fn: Callable, *args: np.ndarray) -> dict[str, str]:
    function = tcomp.jit(fn, backend="reference").lower(*args).function("optimized")
    program = lower_function(function)
    return {dialect: render_program(program, dialect) for dialect in ("opencl", "cuda")}


def test_only_float64_to_float16_programs_get_the_double_helper():
    def widen_and_narrow(x, d, i):
        return x.astype(tcomp.float16), i.astype(tcomp.float16), d * 2.0

    def from_double(d):
        return d.astype(tcomp.float16)

    ones = (np.ones(8, np.float32), np.ones(8), np.ones(8, np.int32))
    for text in _rendered(widen_and_narrow, *ones).values():
        assert "tc_round_f16(" in text and "tc_round_f16_f64" not in text
    for text in _rendered(from_double, np.ones(8)).values():
        assert "tc_round_f16_f64(" in text
        # defined after the rounding it calls, and called instead of (float)x then rounding
        assert text.index("float tc_round_f16(") < text.index("float tc_round_f16_f64(")
        assert "tc_round_f16((float)" not in text


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA toolkit) is not on PATH")
def test_the_double_helper_compiles_with_nvcc(tmp_path):
    def conversions(d, h):
        return d.astype(tcomp.float16) + h, d.astype(tcomp.bfloat16)

    path = tmp_path / "f16.cu"
    path.write_text(_rendered(conversions, np.ones(8), np.ones(8, np.float16))["cuda"])
    result = nvcc_fatbin(path, CUDA.compile_options, arches=["sm_80"])
    assert result.returncode == 0, result.stderr[-4000:]
