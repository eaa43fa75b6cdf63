"""Blocked contractions on the llvm backend: the schedule pass and the packed micro-kernel.

Odd and prime sizes, transposed operands, batches, epilogues and each float
dtype, compared with numpy (in float64); integer matmuls keep the plain
loop nest. See ``ir/kernel/analysis/contraction.py`` (the matching),
``ir/kernel/lowering/contraction.py`` (the schedule) and
``backends/llvm/contraction.py``.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import tcomp  # noqa: E402
from tcomp import nn  # noqa: E402
from tcomp.backends.llvm.runtime import host_vector_bits  # noqa: E402
from tcomp.ir.kernel.analysis import blocked_contraction, match_contraction  # noqa: E402
from tcomp.ir.kernel.parser import parse_program  # noqa: E402
from tcomp.ir.kernel.printer import print_program  # noqa: E402

RNG = np.random.default_rng(1234)
SHAPES = [  # (m, k, n): primes, one-off-a-tile, thin and wide
    (7, 13, 1023),
    (1023, 33, 17),
    (65, 300, 129),
    (100, 37, 96),
    (13, 1000, 7),
    (2, 2000, 40),
    (200, 3, 300),
]
TOLERANCE = {"float32": 2e-6, "float64": 1e-14, "float16": 2e-3}


def _random(shape, dtype):
    return RNG.uniform(-1.0, 1.0, size=shape).astype(dtype)


def _check(result, expected, k: int, dtype: str) -> None:
    result = np.asarray(result)
    assert result.dtype == np.dtype(dtype)
    assert result.shape == expected.shape
    bound = TOLERANCE[dtype] * max(k, 1) + (1e-2 * np.abs(expected) if dtype == "float16" else 0)
    np.testing.assert_array_less(np.abs(result.astype(np.float64) - expected), bound + 1e-30)


def _kernels(fn, *args):
    return fn.lower(*args).kernel_program().kernels


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES)
def test_odd_shapes(shape, dtype):
    m, k, n = shape
    x, y = _random((m, k), dtype), _random((k, n), dtype)
    matmul = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    assert any(blocked_contraction(kernel) for kernel in _kernels(matmul, x, y))
    _check(matmul(x, y), x.astype(np.float64) @ y.astype(np.float64), k, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("shape", [(256, 784, 32), (37, 65, 17), (40, 300, 9), (61, 257, 31)])
def test_a_narrow_output_reads_a_in_place(shape, dtype):
    """At most two register tiles of columns: the micro-kernel reads A's rows where they
    are (no packed copy), a last partial row tile repeating A's last row; A of another
    dtype (float16, widened while packing) or transposed is packed as before."""
    m, k, n = shape
    x, y = _random((m, k), dtype), _random((k, n), dtype)
    matmul = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    _check(matmul(x, y), x.astype(np.float64) @ y.astype(np.float64), k, dtype)
    in_place = ".direct" in matmul.lower(x, y).as_text("source")
    # two register tiles of NR = two vectors each: 32 float32 or 16 float64 columns with
    # AVX2, twice that with AVX-512 (float16 is widened while packing: never in place)
    lanes = host_vector_bits() // {"float32": 32, "float64": 64, "float16": 16}[dtype]
    narrow = dtype != "float16" and n <= 2 * 2 * lanes
    assert in_place == narrow
    transposed = tcomp.jit(lambda a, b: a.T @ b, backend="llvm")
    xt = np.ascontiguousarray(x.T)
    _check(transposed(xt, y), x.astype(np.float64) @ y.astype(np.float64), k, dtype)
    assert ".direct" not in transposed.lower(xt, y).as_text("source")


@pytest.mark.parametrize("which", ["a.T @ b", "a @ b.T", "a.T @ b.T", "(a @ b).T"])
def test_transposed_operands(which):
    m, k, n = 45, 70, 83
    a = _random((k, m) if which.startswith("a.T") else (m, k), "float32")
    b = _random((n, k) if which.endswith("b.T") else (k, n), "float32")
    fn = tcomp.jit(lambda a, b: eval(which), backend="llvm")
    assert any(blocked_contraction(kernel) for kernel in _kernels(fn, a, b))
    _check(fn(a, b), eval(which, {"a": a.astype(np.float64), "b": b.astype(np.float64)}), k,
           "float32")


def test_same_buffer_twice():
    x = _random((120, 77), "float32")
    fn = tcomp.jit(lambda a: a @ a.T, backend="llvm")
    _check(fn(x), x.astype(np.float64) @ x.T.astype(np.float64), 77, "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batched(dtype):
    x, y = _random((3, 2, 41, 50), dtype), _random((3, 2, 50, 66), dtype)
    fn = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    assert any(blocked_contraction(kernel) for kernel in _kernels(fn, x, y))
    _check(fn(x, y), x.astype(np.float64) @ y.astype(np.float64), 50, dtype)


def test_epilogue_bias_relu_and_scale():
    x, w, b = _random((130, 91), "float32"), _random((91, 67), "float32"), _random(67, "float32")
    fn = tcomp.jit(lambda x, w, b: nn.relu(x @ w + b) * 2.0, backend="llvm")
    expected = np.maximum(x.astype(np.float64) @ w + b, 0) * 2.0
    _check(fn(x, w, b), expected, 91, "float32")


def test_float16_accumulates_in_float32():
    x, y = _random((70, 300), "float16"), _random((300, 90), "float16")
    fn = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    assert any(blocked_contraction(kernel) for kernel in _kernels(fn, x, y))
    expected = x.astype(np.float64) @ y.astype(np.float64)
    _check(fn(x, y), expected, 300, "float16")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_sixteen_bit_operands_are_widened_while_transposed_into_panels(dtype):
    """A as stored and B transposed run along k: their panels are packed by vector loads
    that widen 16-bit floats to float32 exactly, then transposed in registers; odd
    sizes leave a k tail and partial lane groups. The result is the float64 product
    within float32 accumulation error plus one rounding to ``dtype``."""
    import ml_dtypes

    numpy_dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    x = RNG.uniform(-1, 1, (37, 203)).astype(numpy_dtype)
    wt = RNG.uniform(-1, 1, (70, 203)).astype(numpy_dtype)
    fn = tcomp.jit(lambda a, wt: a @ wt.T, backend="llvm")
    from tcomp.backends.llvm.render import render_text

    text = render_text(fn.lower(x, wt).kernel_program(), num_threads=2)
    nr = _host_register_tile()[1]
    packers = set(re.findall(rf'@"tc\.pack_t\.f32\.{dtype}\.w(\d+)"', text))
    assert str(nr) in packers and packers - {str(nr)}, packers  # B's and A's
    expected = x.astype(np.float64) @ wt.astype(np.float64).T
    result = np.asarray(fn(x, wt)).astype(np.float64)
    bound = 203 * 2e-6 + 2 * np.abs(expected) * (2.0 ** -8 if dtype == "bfloat16" else 2.0 ** -11)
    np.testing.assert_array_less(np.abs(result - expected), bound + 1e-30)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_contiguous_sixteen_bit_b_is_read_in_place_and_widened(dtype):
    """B's rows contiguous and whole panels: the micro-kernel loads its 16-bit rows as
    they are and widens each vector (no packed copy of B)."""
    import ml_dtypes

    numpy_dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    x = RNG.uniform(-1, 1, (45, 301)).astype(numpy_dtype)
    y = RNG.uniform(-1, 1, (301, 256)).astype(numpy_dtype)
    fn = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    assert f".b_in_place.{dtype}" in fn.lower(x, y).as_text("source")
    expected = x.astype(np.float64) @ y.astype(np.float64)
    result = np.asarray(fn(x, y)).astype(np.float64)
    bound = 301 * 2e-6 + 2 * np.abs(expected) * (2.0 ** -8 if dtype == "bfloat16" else 2.0 ** -11)
    np.testing.assert_array_less(np.abs(result - expected), bound + 1e-30)


def test_int32_keeps_the_loop_nest():
    x = RNG.integers(-50, 50, size=(60, 70)).astype(np.int32)
    y = RNG.integers(-50, 50, size=(70, 80)).astype(np.int32)
    fn = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    assert not any(blocked_contraction(kernel) for kernel in _kernels(fn, x, y))
    np.testing.assert_array_equal(np.asarray(fn(x, y)), x @ y)


@pytest.mark.parametrize("shapes", [((0, 50), (50, 40)), ((40, 0), (0, 50)), ((1, 300), (300, 200)),
                                    ((300, 200), (200, 1)), ((300, 1), (1, 200))])
def test_degenerate_axes(shapes):
    x, y = _random(shapes[0], "float32"), _random(shapes[1], "float32")
    fn = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    _check(fn(x, y), x.astype(np.float64) @ y.astype(np.float64), shapes[0][1], "float32")


@pytest.mark.parametrize("threads", ["2", "3"])
def test_threads_share_packing_and_row_blocks(monkeypatch, threads):
    monkeypatch.setenv("TCOMP_NUM_THREADS", threads)
    x, y, b = _random((301, 257), "float32"), _random((129, 257), "float32"), _random(129, "f4")
    fn = tcomp.jit(lambda a, w, b: nn.relu(a @ w.T + b), backend="llvm")
    expected = np.maximum(x.astype(np.float64) @ y.T.astype(np.float64) + b, 0)
    for _ in range(3):  # the shared counters start from zero on every call
        _check(fn(x, y, b), expected, 257, "float32")


@pytest.mark.parametrize("rows, threads, chunks", [
    (128, 2, 2),  # 11 row tiles in 6 blocks: 6 on the busiest thread against 5.5
    (192, 2, 1),  # 16 tiles in 8 blocks: balanced by rows
    (20, 2, 2),   # one row block: the second thread had nothing
    (128, 1, 1),  # one thread: nothing to balance
])
def test_column_chunks_when_row_blocks_leave_a_thread_idle(rows, threads, chunks):
    from tcomp.backends.llvm.contraction import column_chunks

    x, y = _random((rows, 1024), "float32"), _random((1024, 512), "float32")
    fn = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    (kernel,) = _kernels(fn, x, y)
    match = match_contraction(kernel)
    # the cases are AVX-512's blocking, whatever this CPU's: 12-row tiles, 24-row blocks
    schedule = dataclasses.replace(kernel.schedule, unroll={"i0": 12, "i1": 32},
                                   tile={"i0": 24, "r0": 256})
    kernel = dataclasses.replace(kernel, schedule=schedule)
    assert column_chunks(kernel, match, threads) == chunks


@pytest.mark.parametrize("threads", ["2", "3"])
@pytest.mark.parametrize("b_layout", ["in_place", "transposed", "ragged"])
def test_threads_share_column_chunks(monkeypatch, threads, b_layout):
    """Row blocks cut into column chunks, A packed ahead by all threads: B read in place,
    B packed (transposed) and a partial last panel, with a bias and relu epilogue."""
    monkeypatch.setenv("TCOMP_NUM_THREADS", threads)
    n = 250 if b_layout == "ragged" else 256
    x, y, b = _random((100, 301), "float32"), _random((301, n), "float32"), _random(n, "f4")
    expected = np.maximum(x.astype(np.float64) @ y.astype(np.float64) + b, 0)
    if b_layout == "transposed":
        fn = tcomp.jit(lambda a, wt, b: nn.relu(a @ wt.T + b), backend="llvm")
        y = np.ascontiguousarray(y.T)
    else:
        fn = tcomp.jit(lambda a, w, b: nn.relu(a @ w + b), backend="llvm")
    from tcomp.backends.llvm.render import render_text

    text = render_text(fn.lower(x, y, b).kernel_program(), num_threads=int(threads))
    assert '%"pack.take' in text and '%"jc" = mul' in text  # A packed ahead; chunked items
    # A as stored and B transposed run along k: packed by blocks transposed in registers,
    # one packer per panel width (A's MR rows, B's NR columns)
    nr = _host_register_tile()[1]
    packers = set(re.findall(r'@"tc\.pack_t\.f32\.float32\.w(\d+)"', text))
    assert packers - {str(nr)}, packers  # A's
    assert (str(nr) in packers) == (b_layout == "transposed"), packers
    for _ in range(3):  # the shared counters start from zero on every call
        _check(fn(x, y, b), expected, 301, "float32")


def test_shared_context_in_the_llvm_ir():
    from tcomp.backends.llvm.render import render_text

    x, y = _random((301, 257), "float32"), _random((257, 129), "float32")
    fn = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    text = render_text(fn.lower(x, y).kernel_program(), num_threads=2)
    rows, lanes = _host_register_tile()
    assert "atomicrmw add" in text and "load atomic" in text
    assert f"tc.ukernel.f32.{rows}x{lanes}" in text


def _host_register_tile() -> tuple[int, int]:
    """The float32 register tile (rows, lanes) the llvm backend blocks for on this CPU."""
    from tcomp.backends.llvm.runtime import host_vector_bits
    from tcomp.ir.kernel.lowering.contraction import NR_VECTORS, ROWS_PER_TILE, vector_lanes

    bits = host_vector_bits()
    return ROWS_PER_TILE[bits], NR_VECTORS * vector_lanes("float32", bits)


def test_schedule_carries_the_tiles():
    x, y = _random((256, 784), "float32"), _random((784, 512), "float32")
    fn = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    (kernel,) = _kernels(fn, x, y)
    match = match_contraction(kernel)
    assert match is not None and match.sizes == (256, 512, 784)
    text = fn.lower(x, y).as_text("kernels")
    rows, lanes = _host_register_tile()
    assert f"unroll={{i0: {rows}, i1: {lanes}}}" in text and "tile={i0: 36, r0: 196}" in text
    program = fn.lower(x, y).kernel_program()  # the scheduled text parses back
    assert print_program(parse_program(print_program(program))) == print_program(program)


def test_small_matmul_keeps_the_loop_nest():
    x, y = _random((4, 5), "float32"), _random((5, 6), "float32")
    fn = tcomp.jit(lambda a, b: a @ b, backend="llvm")
    (kernel,) = _kernels(fn, x, y)
    assert blocked_contraction(kernel) is None
    _check(fn(x, y), x.astype(np.float64) @ y.astype(np.float64), 5, "float32")
