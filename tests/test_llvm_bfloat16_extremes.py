"""bfloat16 on llvm through its shorter roundings, bit for bit against the reference.

max, min, abs and neg give one of their bfloat16 operands (or it with another
sign), so the llvm backend does not round their results, it only makes a NaN
the quiet NaN of its sign; add, sub, mul and div of two bfloat16 values round
with one mask for NaNs (both in ``backends/llvm/halves.py``); a max/min
reduction keeps its accumulator unrounded and makes each value canonical
before ``llvm.maximum``, so that LLVM vectorises it (``backends/llvm/stmts.py``).
Checked here against the reference executor on every kind of bit pattern:
NaNs of both signs with payloads (signalling ones too), infinities, signed
zeros, subnormals and ties, in rows (the vectorised reduction) and in columns
(the column-blocked reduction of ``backends/llvm/column_reduce.py``), with rows
long enough for the interleaved vector body of bf16 kernels and a remainder.
"""

from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("llvmlite")

from llvmlite import ir  # noqa: E402

import tcomp  # noqa: E402
from tcomp.backends.llvm.backend import LLVMExecutable  # noqa: E402
from tcomp.backends.llvm.stmts import BFLOAT16_INTERLEAVE, render_kernel  # noqa: E402
from tcomp.backends.reference.kernel_interpreter import run_program  # noqa: E402
from tcomp.ir.kernel.expr import (  # noqa: E402
    INDEX,
    Load,
    Var,
    add,
    binary,
    cast,
    const_index,
    mul,
    select,
)
from tcomp.ir.kernel.kernel import (  # noqa: E402
    Assign,
    Kernel,
    KernelArg,
    Let,
    Loop,
    Program,
    ProgramBuffer,
    Schedule,
    Store,
)
from tcomp.ir.types import TensorType  # noqa: E402

BF16 = np.dtype(ml_dtypes.bfloat16)
# 101 = 64 + 37: the innermost loops of bf16 kernels run four 16-lane vector iterations
# at a time (BFLOAT16_INTERLEAVE in backends/llvm/stmts.py), then a remainder of 37
ROWS, COLUMNS = 5, 101

# every class of bit pattern: NaN payloads of both signs (0x7f81 signalling), infinities,
# zeros, subnormals, the largest finite values, and ordinary values (ties are exact)
SPECIAL = [
    0x7FC0,
    0xFFC0,
    0x7F81,
    0xFFA5,
    0x7FFF,
    0x7F80,
    0xFF80,
    0x0000,
    0x8000,
    0x0001,
    0x807F,
    0x7F7F,
    0xFF7F,
    0x3F80,
    0xBF80,
    0x3F81,
    0x4049,
]
PATTERNS = st.one_of(st.sampled_from(SPECIAL), st.integers(0, 0xFFFF))
FINITE = st.integers(0, 0xFFFF).filter(lambda bits: bits & 0x7F80 != 0x7F80)


def _array(bits: list[int], shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(bits, np.uint16).reshape(shape).view(BF16)


def _both(fn, *args) -> tuple[list[np.ndarray], list[np.ndarray]]:
    got = tcomp.jit(fn, backend="llvm")(*args)
    want = tcomp.jit(fn, backend="reference")(*args)
    if not isinstance(got, tuple):
        got, want = (got,), (want,)
    return [np.asarray(g) for g in got], [np.asarray(w) for w in want]


def _assert_bits(got: np.ndarray, want: np.ndarray, either_nan_sign: np.ndarray) -> None:
    """The same bits everywhere (NaNs included: tcomp's quiet NaN of the sign), except that
    where ``either_nan_sign`` (the operands held NaNs of both signs) the NaN's sign may
    differ (which NaN a max of two NaNs gives is not defined), and a zero's sign may
    differ: llvm's max/min order -0 below +0 (``llvm.maximum``), numpy's give either,
    as for float32 (not a bfloat16 matter)."""
    assert got.dtype == want.dtype == BF16 and got.shape == want.shape
    g = got.view(np.uint16).astype(np.int64)
    w = want.view(np.uint16).astype(np.int64)
    zeros = ((g & 0x7FFF) == 0) & ((w & 0x7FFF) == 0)
    nans = either_nan_sign & ((g & 0x7FFF) == 0x7FC0) & ((w & 0x7FFF) == 0x7FC0)
    same = (g == w) | zeros | nans
    bad = np.flatnonzero(~same)
    assert bad.size == 0, (
        f"{bad.size} differ, e.g. at {bad[0]}: got {hex(g.flat[bad[0]])} want {hex(w.flat[bad[0]])}"
    )


def _any_nan(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Where a max/min reduction's NaN result may have either sign: the reduced slice holds
    a NaN. tcomp does not define that sign (numpy does not either: its float32 max of a
    row of 17 with one negative NaN returns the positive quiet NaN, of a row of 3 the
    negative one, by the NaN's position), so the bits must agree up to it."""
    bits = x.view(np.uint16)
    return ((bits & 0x7FFF) > 0x7F80).any(axis=axis)


def _mixed_nan_signs(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    bits = x.view(np.uint16)
    nan = (bits & 0x7FFF) > 0x7F80
    negative = (bits & 0x8000) != 0
    return (nan & negative).any(axis=axis) & (nan & ~negative).any(axis=axis)


@given(st.lists(PATTERNS, min_size=2 * ROWS * COLUMNS, max_size=2 * ROWS * COLUMNS))
def test_elementwise_max_min_abs_neg_match_the_reference_bit_for_bit(bits):
    a = _array(bits[: ROWS * COLUMNS], (ROWS, COLUMNS))
    b = _array(bits[ROWS * COLUMNS :], (ROWS, COLUMNS))

    def f(a, b):
        return (
            tcomp.maximum(a, b),
            tcomp.minimum(a, b),
            tcomp.abs(a),
            -a,
            tcomp.maximum(a * b, b),
        )  # an operand computed, one loaded

    with np.errstate(all="ignore"):
        got, want = _both(f, a, b)
    stacked = np.stack([a, b])
    both_signs = _mixed_nan_signs(stacked, axis=0)
    no_mix = np.zeros_like(both_signs)
    for g, w, mixed in zip(got, want, [both_signs, both_signs, no_mix, no_mix, both_signs]):
        _assert_bits(g, w, mixed)


@given(st.lists(PATTERNS, min_size=2 * ROWS * COLUMNS, max_size=2 * ROWS * COLUMNS))
def test_arithmetic_matches_the_reference_bit_for_bit(bits):
    # float32 results of every kind rounded: ties, subnormals, overflow to infinity,
    # invalid operations (inf - inf, 0 * inf, 0 / 0) and NaN operands of any payload
    a = _array(bits[: ROWS * COLUMNS], (ROWS, COLUMNS))
    b = _array(bits[ROWS * COLUMNS :], (ROWS, COLUMNS))

    def f(a, b):
        # the last two: a chain (uncanonical twins inside), and a product that a select
        # gives (so stored) and a sum reads, in one statement
        return (
            a + b,
            a - b,
            a * b,
            a / b,
            (a * b + a) / (b - a),
            tcomp.where(a > b, a * b, a * b + b),
        )

    with np.errstate(all="ignore"):
        got, want = _both(f, a, b)
    # which NaN a sum of two NaNs (or of results that are) gives is not defined
    invalid = np.isnan(want[4].astype(np.float32)) & np.isnan(got[4].astype(np.float32))
    both = np.isnan(a.astype(np.float32)) & np.isnan(b.astype(np.float32))
    for g, w, loose in zip(got, want, [both, both, both, both, invalid, both]):
        _assert_bits(g, w, loose)


@given(
    st.lists(PATTERNS, min_size=ROWS * COLUMNS, max_size=ROWS * COLUMNS), st.sampled_from([0, 1, 3])
)
def test_max_and_min_reductions_match_the_reference_bit_for_bit(bits, nans):
    x = _array(bits, (ROWS, COLUMNS))
    if nans == 0:  # rows and columns without NaNs: the reduction of every ordinary value
        x = np.where(np.isnan(x.astype(np.float32)), _array([0x4049] * x.size, x.shape), x)

    def f(x):
        return (
            x.max(axis=1),
            x.min(axis=1),
            x.max(axis=0),
            x.min(axis=0),
            (x * 2.0).max(axis=1),
            x.max(),
        )

    with np.errstate(all="ignore"):
        got, want = _both(f, x)
    rows, columns = _any_nan(x, axis=1), _any_nan(x, axis=0)
    everything = np.asarray(_any_nan(x))
    for g, w, mixed in zip(got, want, [rows, rows, columns, columns, rows, everything]):
        _assert_bits(g, w, mixed)


@pytest.mark.parametrize("payload", [0x7F81, 0xFFA5, 0x7FC0, 0xFFFF])
def test_a_single_nan_of_any_payload_reduces_to_the_quiet_nan_of_its_sign(payload):
    x = np.full((3, 70), 1.5, np.float32).astype(BF16)
    x.view(np.uint16)[1, 33] = payload
    x.view(np.uint16)[2, 69] = payload
    fn = tcomp.jit(lambda v: (v.max(axis=1), v.min(axis=1), v.max(axis=0)), backend="llvm")
    quiet = (payload & 0x8000) | 0x7FC0
    row_max, row_min, column_max = (np.asarray(r).view(np.uint16) for r in fn(x))
    assert list(row_max) == [0x3FC0, quiet, quiet]
    assert list(row_min) == [0x3FC0, quiet, quiet]
    assert column_max[33] == quiet and column_max[69] == quiet and column_max[0] == 0x3FC0


@given(st.lists(FINITE, min_size=ROWS * COLUMNS, max_size=ROWS * COLUMNS))
def test_softmax_rows_match_the_reference_bit_for_bit(bits):
    # nn.softmax: a max reduction, exp, a float32 sum and a division, each rounded
    x = _array(bits, (ROWS, COLUMNS))
    with np.errstate(all="ignore"):
        got, want = _both(lambda v: v - v.max(axis=-1, keepdims=True), x)
    _assert_bits(got[0], want[0], np.zeros(got[0].shape, bool))


def test_a_bfloat16_row_max_is_vectorised():
    x = np.zeros((64, 256), BF16)
    source = tcomp.jit(lambda v: v.max(axis=1), backend="llvm").lower(x).as_text("source")
    assert "x float> @llvm.maximum" in source, "the bf16 max reduction is not vectorised"


def test_a_bfloat16_column_sum_reads_rows_contiguously():
    # bf16 kernels get the vector hint, so a column reduction is rendered by blocks
    x = np.zeros((64, 256), BF16)
    lowered = tcomp.jit(lambda v: v.sum(axis=0), backend="llvm").lower(x)
    assert "vector={" in lowered.as_text("kernels")
    assert ".col" in lowered.as_text("source") or "i0.col" in lowered.as_text("source")


# ------------------------------------------------------------------ kernel IR written out


def _kernel_program(body, outputs: dict[str, str], n: int, rows: int = 1) -> Program:
    """A program of one kernel over ``p0``, ``p1`` (bf16[rows * n]) writing ``outputs``
    (name -> dtype, ``rows * n`` or ``rows`` elements: those named ``row*``)."""
    size = rows * n
    args = (KernelArg("p0", "bfloat16", size, "in"), KernelArg("p1", "bfloat16", size, "in"))
    buffers = {p: ProgramBuffer(p, TensorType((size,), "bfloat16"), "param") for p in ("p0", "p1")}
    for name, dtype in outputs.items():
        count = rows if name.startswith("row") else size
        args += (KernelArg(name, dtype, count, "out"),)
        buffers[name] = ProgramBuffer(name, TensorType((count,), dtype), "output")
    kernel = Kernel("k0", args, body, Schedule())
    return Program("f", buffers, ["p0", "p1"], list(outputs), [kernel])


@given(st.lists(PATTERNS, min_size=2 * COLUMNS, max_size=2 * COLUMNS))
def test_a_product_both_stored_and_summed_in_one_statement(bits):
    # select(p0 > p1, p0 * p1, p0 * p1 + p1): the product is rendered once, the select
    # stores it (canonical NaN) and the sum reads its uncanonical twin; a cast of a
    # computed bf16 to float32 and a max of one see canonical NaNs as well
    i = Var("i0", INDEX, COLUMNS)
    p0, p1 = Load("p0", i, "bfloat16"), Load("p1", i, "bfloat16")
    product = binary("mul", p0, p1)
    stores = (
        Store("t0", i, select(binary("gt", p0, p1), product, binary("add", product, p1))),
        Store("t1", i, cast(binary("sub", product, p1), "float32")),
        Store("t2", i, binary("max", binary("div", product, p0), p1)),
    )
    program = _kernel_program(
        (Loop(i, stores),), {"t0": "bfloat16", "t1": "float32", "t2": "bfloat16"}, COLUMNS
    )
    inputs = [_array(bits[:COLUMNS], (COLUMNS,)), _array(bits[COLUMNS:], (COLUMNS,))]
    with np.errstate(all="ignore"):
        got = LLVMExecutable(program, 1)(inputs)
        want = run_program(program, inputs)
    both = np.isnan(inputs[0].astype(np.float32)) & np.isnan(inputs[1].astype(np.float32))
    _assert_bits(got[0], want[0], both)
    _assert_bits(got[2], want[2], both | _mixed_nan_signs(np.stack(inputs), axis=0))
    g, w = got[1].view(np.uint32), want[1].view(np.uint32)  # float32: canonical NaNs too
    assert ((g == w) | (both & ((g & 0x7FFFFFFF) == 0x7FC00000))).all()


@given(st.lists(PATTERNS, min_size=ROWS * COLUMNS, max_size=ROWS * COLUMNS))
def test_a_max_reduction_that_starts_at_a_loaded_value(bits):
    # let acc = p0[row]; for r { acc = max(acc, p0[row + r]) }: not a constant start, so
    # each step makes the NaN canonical as the reference does
    row, r = Var("i0", INDEX, ROWS), Var("r0", INDEX, COLUMNS)
    acc = Var("acc0", "bfloat16")
    start = mul(row, const_index(COLUMNS))
    body = (
        Loop(
            row,
            (
                Let(acc, Load("p0", start, "bfloat16")),
                Loop(r, (Assign(acc, binary("max", acc, Load("p0", add(start, r), "bfloat16"))),)),
                Store("rows", row, acc),
            ),
        ),
    )
    program = _kernel_program(body, {"rows": "bfloat16"}, COLUMNS, ROWS)
    x = _array(bits, (ROWS * COLUMNS,))
    inputs = [x, x]
    got = LLVMExecutable(program, 1)(inputs)
    want = run_program(program, inputs)
    _assert_bits(got[0], want[0], _mixed_nan_signs(x.reshape(ROWS, COLUMNS), axis=1))


# ------------------------------------------------------------------ interleaved loops


def _rendered_loop_hints(dtype: str) -> tuple[list[str], dict[str, str]]:
    """The branches with ``!llvm.loop`` and the metadata nodes (name -> text) of a two-loop
    kernel ``t0[i, j] = p0 * p1`` in ``dtype``, rendered (not optimised)."""
    row, column = Var("i0", INDEX, ROWS), Var("i1", INDEX, COLUMNS)
    index = add(mul(row, const_index(COLUMNS)), column)
    product = binary("mul", Load("p0", index, dtype), Load("p1", index, dtype))
    body = (Loop(row, (Loop(column, (Store("t0", index, product),)),)),)
    size = ROWS * COLUMNS
    args = tuple(
        KernelArg(name, dtype, size, role)
        for name, role in (("p0", "in"), ("p1", "in"), ("t0", "out"))
    )
    module = ir.Module()
    render_kernel(module, Kernel("k0", args, body, Schedule()), "k0")
    lines = str(module).splitlines()
    branches = [line for line in lines if line.lstrip().startswith("br ") and "!llvm.loop" in line]
    nodes = dict(line.split(" = ", 1) for line in lines if line.startswith("!"))
    return branches, nodes


def test_the_innermost_loop_of_a_bfloat16_kernel_asks_for_interleaving():
    branches, nodes = _rendered_loop_hints("bfloat16")
    assert len(branches) == 1 and "i1" in branches[0], branches  # the inner loop's latch only
    loop_id = branches[0].split("!llvm.loop ")[1].strip()
    operands = nodes[loop_id].removeprefix("!{").removesuffix("}").strip().split(", ")
    assert operands[0] == loop_id, nodes  # a loop ID refers to itself, as LLVM requires
    hint = nodes[operands[1]]
    assert '"llvm.loop.interleave.count"' in hint and f"i32 {BFLOAT16_INTERLEAVE}" in hint


def test_a_float32_kernel_keeps_llvms_own_interleaving():
    assert _rendered_loop_hints("float32") == ([], {})


def test_llvm_interleaves_the_vector_body_of_a_bfloat16_loop():
    x = np.zeros(4096, BF16)
    source = tcomp.jit(lambda a, b: a * b, backend="llvm").lower(x, x).as_text("source")
    body = source.split("vector.body:")[1].split("\n\n")[0]
    # one vector multiply per interleaved iteration, whatever width LLVM picks for the
    # host (16 floats with AVX2 and 16-bit loads of 16, 32 on an AVX-512 machine)
    assert len(re.findall(r"fmul <\d+ x float>", body)) == BFLOAT16_INTERLEAVE, body


@given(st.lists(PATTERNS, min_size=2 * COLUMNS, max_size=2 * COLUMNS))
def test_full_roundings_in_an_interleaved_loop_match_the_reference(bits):
    # sqrt (correctly rounded in float32) and a float32 -> bf16 cast take the full rounding
    # of halves.round_to_bfloat16, here over an interleaved vector body and its remainder
    a = _array(bits[:COLUMNS], (COLUMNS,))
    b = _array(bits[COLUMNS:], (COLUMNS,))

    def f(a, b):
        wide = a.astype(np.float32) * b.astype(np.float32) + b.astype(np.float32)
        return tcomp.sqrt(a), wide.astype(BF16)

    with np.errstate(all="ignore"):
        got, want = _both(f, a, b)
    nan = np.isnan(a.astype(np.float32))
    _assert_bits(got[0], want[0], np.zeros(COLUMNS, bool))
    both = nan & np.isnan(b.astype(np.float32))
    _assert_bits(got[1], want[1], both)
