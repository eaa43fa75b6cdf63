"""bfloat16 in the C-family renderer (OpenCL C, CUDA C) and the GPU runtimes.

bfloat16 is its 16 bits in memory (the upper half of a float32's bits) and a
``float`` in registers, like float16: ``tc_from_bf16`` shifts the bits back,
``tc_to_bf16`` rounds to nearest even (NaN -> the quiet NaN of its sign,
tcomp's rule: ``tcomp.ir.bfloat16``), and each operation's result is rounded
(``tc_round_bf16``); doubles and integers round once through
``tc_round_bf16_f64`` and ``tc_round_bf16_int``.

- on ``opencl`` (PoCL in CI): every bf16 bit pattern through float32 and
  back, float32 -> bf16 rounding on random bit patterns, NaN payloads,
  infinities, denormals, ties and overflow (bit-exact against tcomp's
  rounding), float64 / float16 / int32 / bool conversions both ways
  (bit-exact against the reference backend and tcomp's rounding; float64
  ties and their neighbours), ``tc_round_bf16_int`` on 64-bit integers
  (against the exact oracle of ``tests/rounding_oracle.py``), elementwise
  ops (within one bf16 ulp, nearly all bit-exact), sums, softmax, matmuls
  and a gradient (to bf16 rounding);
- golden OpenCL C and CUDA C sources of a bf16 elementwise chain
  (``tests/golden/cfamily/bf16_*``; regenerate with ``TCOMP_UPDATE_GOLDEN=1``);
- bf16 contractions take the generic path, not the tiled float32 kernel;
- rendered bf16 CUDA programs compile with nvcc (sm_80, ``--fmad=false``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

import ml_dtypes
import numpy as np
import pytest
from nvcc_check import nvcc_fatbin
from rounding_oracle import BFLOAT16

import tcomp
from tcomp import nn
from tcomp.backends.cfamily import CUDA, render_program
from tcomp.backends.cfamily.contraction import gpu_contraction
from tcomp.backends.cfamily.dialect import OPENCL
from tcomp.backends.cfamily.helpers import render_helpers
from tcomp.backends.registry import available_backends
from tcomp.ir.bfloat16 import to_bfloat16
from tcomp.ir.kernel.lowering import lower_function

INFINITY, midpoint, oracle_bits = BFLOAT16.infinity, BFLOAT16.midpoint, BFLOAT16.oracle_bits

BF16 = np.dtype(ml_dtypes.bfloat16)
F32 = np.float32
GOLDEN = Path(__file__).parent / "golden" / "cfamily"
UPDATE = os.environ.get("TCOMP_UPDATE_GOLDEN") == "1"
EXTENSIONS = {"opencl": "cl", "cuda": "cu"}

# NaN inputs: numpy warns as it casts them (to int32, to bfloat16); the values are checked
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
needs_opencl = pytest.mark.skipif(
    "opencl" not in available_backends(), reason="no OpenCL platform here (pip install pocl-binary-distribution)"
)


def _bf16(values: Any) -> np.ndarray:
    return np.asarray(values, F32).astype(BF16)


def _run(fn: Callable, *args: np.ndarray, backend: str = "opencl") -> list[np.ndarray]:
    """``fn(*args)`` jitted on ``backend``, every result as a host array."""
    results = tcomp.jit(fn, backend=backend)(*args)
    if not isinstance(results, (tuple, list)):
        results = [results]
    return [np.asarray(r) for r in results]


def _both(fn: Callable, *args: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(opencl, reference) pairs of ``fn``'s results."""
    return list(zip(_run(fn, *args), _run(fn, *args, backend="reference")))


def _assert_same(got: np.ndarray, want: np.ndarray) -> None:
    """Bit for bit, except that NaNs need only agree in being NaN and in their sign."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind not in "fV":
        np.testing.assert_array_equal(got, want)
        return
    wide_got, wide_want = got.astype(np.float64), want.astype(np.float64)
    nan = np.isnan(wide_want)
    np.testing.assert_array_equal(np.isnan(wide_got), nan)
    np.testing.assert_array_equal(np.signbit(wide_got[nan]), np.signbit(wide_want[nan]))
    bits = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[want.dtype.itemsize]
    mismatched = np.flatnonzero(got.view(bits)[~nan] != want.view(bits)[~nan])
    assert mismatched.size == 0, (
        f"{mismatched.size} values differ, first inputs at {mismatched[:8]}: "
        f"got {got[~nan][mismatched[:8]]}, want {want[~nan][mismatched[:8]]}"
    )


def _ordered(bits: np.ndarray) -> np.ndarray:
    """bf16 bit patterns as integers whose differences count ulps (-0 and +0 are equal)."""
    value = (bits & 0x7FFF).astype(np.int64)
    return np.where(bits & 0x8000, -value, value)


# ------------------------------------------------------------------ conversions, bit-exact


@needs_opencl
def test_every_bfloat16_pattern_goes_to_float32_and_back():
    x = np.arange(1 << 16, dtype=np.uint16).view(BF16)

    def f(x):
        wide = x.astype(tcomp.float32)
        return wide, (wide * 1.0).astype(tcomp.bfloat16), -x

    for got, want in _both(f, x):
        _assert_same(got, want)
    wide = _run(f, x)[0]
    finite = np.isfinite(x.astype(F32))
    assert (wide[finite].view(np.uint32) == x[finite].view(np.uint16).astype(np.uint32) << 16).all()


def _float32_patterns() -> np.ndarray:
    rng = np.random.default_rng(0)
    special = [
        0x3F808000, 0x3F818000, 0xBF808000, 0x3F808001, 0x3F817FFF,  # ties, either side
        0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F7FFF, 0x7F7F8000,  # overflow to inf, or not
        0x7F800000, 0xFF800000, 0x7F800001, 0xFF800001, 0x7FC00000, 0xFFC00000,
        0x7FBFFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x7F812345, 0xFFC0FFFF,  # NaNs with payloads
        0x00000000, 0x80000000, 0x00000001, 0x00008000, 0x00018000, 0x007FFFFF,
        0x807FFFFF, 0x007F8000, 0x00800000,  # denormals and the smallest normal
    ]
    random = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32)
    ties = (random & 0xFFFF0000) | 0x8000  # exact halfway cases, both parities
    return np.concatenate([np.array(special, np.uint32), random, ties]).view(F32)


@needs_opencl
def test_float32_rounds_to_bfloat16_exactly_by_tcomps_rule():
    x = _float32_patterns()
    (got,) = _run(lambda x: x.astype(tcomp.bfloat16), x)
    want = to_bfloat16(x)
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))  # NaNs too
    assert got[0].view(np.uint16) == 0x3F80 and got[1].view(np.uint16) == 0x3F82  # ties to even
    assert got[5].view(np.uint16) == 0x7F80  # 0x7f7fffff carries into inf


@needs_opencl
def test_other_dtypes_convert_to_bfloat16_as_the_reference():
    rng = np.random.default_rng(1)
    halfway = np.array([float(midpoint(p)) for p in range(0, INFINITY, 7)])
    wide = np.concatenate([
        rng.standard_normal(20_000) * 10.0 ** rng.integers(-40, 40, 20_000),
        halfway, np.nextafter(halfway, 0), np.nextafter(halfway, np.inf), -halfway,
        [1 + 2**-8 + 2**-30, 1 + 2**-8, 3.5e38, -3.5e38, 1e-50, np.inf, -np.inf, np.nan, -np.nan],
    ])
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    ints = np.concatenate([
        rng.integers(-(2**31), 2**31, 20_000, dtype=np.int64).astype(np.int32),
        np.array([0, 1, -1, 2**24 + 1, 2**31 - 1, -(2**31), 257, 32769], np.int32),
    ])
    flags = np.array([True, False, True])
    for x in (wide, halves, ints, flags):
        for got, want in _both(lambda x: x.astype(tcomp.bfloat16), x):
            _assert_same(got, want)
            _assert_same(got, to_bfloat16(x))
    # one rounding from the exact value: float32 would drop the 2**-30 (2**-8 + 1 bits) and
    # tie to even (0x3f80), and turn 2**24 + 2**16 + 1 into a tie that goes to 2**24
    (got,) = _run(lambda x: x.astype(tcomp.bfloat16), np.array([1 + 2**-8 + 2**-30]))
    assert got.view(np.uint16)[0] == 0x3F81
    (got,) = _run(lambda x: x.astype(tcomp.bfloat16), np.array([2**24 + 2**16 + 1], np.int32))
    assert float(got.astype(np.float64)[0]) == 2**24 + 2**17


def _run_opencl_c(source: str, kernel: str, x: np.ndarray, out_dtype: type) -> np.ndarray:
    """``kernel(x, out)`` of the OpenCL C ``source``, one work-item per element."""
    cl = pytest.importorskip("pyopencl")
    context = cl.create_some_context(interactive=False)
    queue = cl.CommandQueue(context)
    program = cl.Program(context, source).build()
    flags = cl.mem_flags
    source_buffer = cl.Buffer(context, flags.READ_ONLY | flags.COPY_HOST_PTR, hostbuf=x)
    out = np.empty(x.shape, out_dtype)
    out_buffer = cl.Buffer(context, flags.WRITE_ONLY, out.nbytes)
    getattr(program, kernel)(queue, x.shape, None, source_buffer, out_buffer)
    cl.enqueue_copy(queue, out, out_buffer)
    queue.finish()
    return out


@needs_opencl
def test_64_bit_integers_round_once_to_bfloat16_in_c():
    """``tc_round_bf16_int`` (int32 and index sources) on the whole int64 range: its
    sticky bit must sit below bf16's rounding bit wherever the leading bit is."""
    rng = np.random.default_rng(6)
    magnitudes = rng.integers(0, 64, 4_000)
    x = np.concatenate([
        (rng.integers(0, 2**62, 4_000, dtype=np.int64) >> (62 - magnitudes).clip(0)),
        -rng.integers(0, 2**62, 1_000, dtype=np.int64),
        np.array([0, 1, -1, 2**24 + 2**16 + 1, 2**53 + 1, 2**63 - 1, -(2**63),
                  2**40 + 2**32, 2**40 + 2**32 + 1, 3 * 2**32 - 1], np.int64),
    ])
    source = render_helpers({("round_bf16_int", "bfloat16")}, OPENCL) + (
        "__kernel void convert(__global const long* x, __global ushort* out) {\n"
        "  size_t i = get_global_id(0);\n"
        "  out[i] = tc_to_bf16(tc_round_bf16_int(x[i]));\n"
        "}\n"
    )
    got = _run_opencl_c(source, "convert", x, np.uint16)
    assert got.tolist() == [oracle_bits(int(v)) for v in x]


@needs_opencl
def test_bfloat16_converts_to_other_dtypes_as_the_reference():
    x = np.arange(1 << 16, dtype=np.uint16).view(BF16)

    def f(x):
        return (
            x.astype(tcomp.float64), x.astype(tcomp.float16), x.astype(tcomp.int32),
            x.astype(tcomp.bool_),
        )

    for got, want in _both(f, x):
        _assert_same(got, want)


# ------------------------------------------------------------------ arithmetic


ELEMENTWISE = {
    "add": lambda x, y: x + y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "exp": lambda x, y: tcomp.exp(x),
    "tanh": lambda x, y: tcomp.tanh(x),
    "sigmoid": lambda x, y: nn.sigmoid(x),
    "maximum": lambda x, y: tcomp.maximum(x, y),
    "where": lambda x, y: tcomp.where(x > y, x * 3.0, y),
}


@needs_opencl
@pytest.mark.parametrize("op", sorted(ELEMENTWISE))
def test_elementwise_ops_round_each_result_to_bfloat16(op):
    rng = np.random.default_rng(2)
    x = _bf16(rng.standard_normal(20_000) * 4)
    y = _bf16(rng.standard_normal(20_000) * 4)
    x[:4], y[:4] = _bf16([np.nan, np.inf, -0.0, 1e38]), _bf16([1.0, -np.inf, 0.0, 1e38])
    (got, want), = _both(ELEMENTWISE[op], x, y)
    assert got.dtype == want.dtype == BF16
    nan = np.isnan(want.astype(F32))
    np.testing.assert_array_equal(np.isnan(got.astype(F32)), nan)
    g, w = got.view(np.uint16)[~nan], want.view(np.uint16)[~nan]
    distance = np.abs(_ordered(g) - _ordered(w))
    assert distance.max() <= 1, f"{op}: {distance.max()} ulps apart"
    assert (distance == 0).mean() >= 0.99, f"{op}: only {(distance == 0).mean():.2%} bit-exact"


def _close(got: np.ndarray, want: np.ndarray, rtol: float = 1e-2, atol: float = 1e-2) -> None:
    assert got.dtype == want.dtype == BF16 and got.shape == want.shape
    np.testing.assert_allclose(got.astype(F32), want.astype(F32), rtol=rtol, atol=atol)


@needs_opencl
def test_sums_softmax_and_matmuls_accumulate_in_float32():
    rng = np.random.default_rng(3)
    x = _bf16(rng.standard_normal((37, 300)))
    ones = _bf16(np.ones(4096))  # a running bf16 sum would stick at 256

    def reductions(x, ones):
        return x.sum(), x.sum(axis=1), nn.softmax(x, axis=-1), ones.sum(), x.max(axis=1)

    for got, want in _both(reductions, x, ones):
        _close(got, want)
    assert float(_run(lambda ones: ones.sum(), ones)[0].astype(F32)) == 4096.0
    for m, k, n in ((7, 13, 5), (64, 64, 64)):
        a, b = _bf16(rng.standard_normal((m, k))), _bf16(rng.standard_normal((k, n)))
        (got, want), = _both(lambda a, b: a @ b, a, b)
        _close(got, want)


@needs_opencl
def test_a_gradient_of_a_bfloat16_loss():
    rng = np.random.default_rng(4)
    w, x = _bf16(rng.standard_normal((16, 8)) * 0.3), _bf16(rng.standard_normal((24, 16)))

    def loss(w, x):
        return (tcomp.tanh(x @ w) ** 2).mean()

    for got, want in _both(tcomp.grad(loss), w, x):
        _close(got, want, rtol=2e-2, atol=1e-3)


# ------------------------------------------------------------------ rendering


def _chain(x, y):
    return tcomp.maximum(tcomp.tanh(x) * y + 1.0, 0.5)


def _program(fn: Callable, *args: np.ndarray):
    function = tcomp.jit(fn, backend="reference").lower(*args).function("optimized")
    return lower_function(function)


@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
def test_bfloat16_chain_matches_the_golden_text(dialect):
    program = _program(_chain, np.zeros((64, 100), BF16), np.zeros(100, BF16))
    text = render_program(program, dialect)
    path = GOLDEN / f"bf16_elementwise_chain.{EXTENSIONS[dialect]}"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with TCOMP_UPDATE_GOLDEN=1 once"
    assert text == path.read_text(), (
        f"the {dialect} source of the bf16 chain changed; if intended, regenerate with "
        "TCOMP_UPDATE_GOLDEN=1 and review the diff"
    )
    half = "ushort" if dialect == "opencl" else "unsigned short"
    assert f"const {half}* " in text and "tc_round_bf16(" in text and "tc_to_bf16(" in text
    assert "f16(" not in text.replace("bf16(", "")  # no float16 helper is emitted


def test_bfloat16_contractions_take_the_generic_path():
    def matmul(a, b):
        return a @ b

    float32 = _program(matmul, np.zeros((96, 48), F32), np.zeros((48, 80), F32))
    assert any(gpu_contraction(k) is not None for k in float32.kernels)
    bf16 = _program(matmul, np.zeros((96, 48), BF16), np.zeros((48, 80), BF16))
    assert all(gpu_contraction(k) is None for k in bf16.kernels)
    assert "tc_from_bf16(" in render_program(bf16, "opencl")


def _cuda_programs() -> list:
    rng = np.random.default_rng(5)
    x, y = _bf16(rng.standard_normal((16, 300))), _bf16(rng.standard_normal(300))

    def conversions(x, d, h, i):
        return (
            x.astype(tcomp.float64), x.astype(tcomp.float16), x.astype(tcomp.int32),
            x.astype(tcomp.bool_), d.astype(tcomp.bfloat16), h.astype(tcomp.bfloat16),
            i.astype(tcomp.bfloat16),
        )

    cases = [
        (_chain, (x, y)),
        (lambda x: (nn.softmax(x, axis=-1), x.sum(), x.max(axis=0)), (x,)),
        (lambda a, b: a @ b, (_bf16(np.ones((96, 48))), _bf16(np.ones((48, 80))))),
        (conversions, (x, np.ones(4), np.ones(4, np.float16), np.ones(4, np.int32))),
        (tcomp.grad(lambda w, x: (tcomp.tanh(x @ w) ** 2).mean()), (_bf16(np.ones((300, 4))), x)),
    ]
    programs = []
    for number, (fn, args) in enumerate(cases):
        program = _program(fn, *args)
        program.name = f"bf16_case{number}"
        programs.append(program)
    return programs


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA toolkit) is not on PATH")
def test_bfloat16_cuda_sources_compile_with_nvcc(tmp_path):
    """Machine code for sm_80 (the PTX passes ptxas too), each program in its own namespace
    (their helpers repeat), with the flags the CUDA runtime uses."""
    parts = [
        f"namespace program{number} {{\n{render_program(program, 'cuda')}}}\n"
        for number, program in enumerate(_cuda_programs())
    ]
    path = tmp_path / "bf16.cu"
    path.write_text("".join(parts))
    result = nvcc_fatbin(path, CUDA.compile_options, arches=["sm_80"])
    assert result.returncode == 0, result.stderr[-4000:]
