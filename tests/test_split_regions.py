"""The ``split-regions`` kernel pass (ir/kernel/lowering/split_regions.py): loops cut where a
select's condition on the loop variable changes, so concatenates and sums of pads (the
gradient of slices) evaluate one source per element instead of all of them. The pieces
compute the same expressions on the same values in the same order, so the llvm results
are checked bit for bit against the kernel IR before the pass and against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tcomp
from tcomp.ir.kernel.kernel import Loop, Program
from tcomp.ir.kernel.lowering.split_regions import MAX_PIECES, split_regions
from tcomp.ir.kernel.passes import LLVM_PIPELINE, lower
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.kernel.verifier import verify_program

pytest.importorskip("llvmlite")

from tcomp.backends.llvm.backend import LLVMExecutable  # noqa: E402

F32 = np.float32
BEFORE = tuple(name for name in LLVM_PIPELINE if name != "split-regions")


def _graph(fn, *args):
    return tcomp.jit(fn, backend="reference").lower(*args).function("optimized")


def _programs(fn, *args) -> tuple[Program, Program]:
    """The llvm pipeline's program without and with ``split-regions``."""
    graph = _graph(fn, *args)
    return lower(graph, BEFORE), lower(graph, LLVM_PIPELINE, verify_each=True)


def _inner_loops(program: Program) -> list[Loop]:
    found: list[Loop] = []

    def visit(body) -> None:
        for stmt in body:
            if isinstance(stmt, Loop):
                found.append(stmt)
                visit(stmt.body)

    for kernel in program.kernels:
        visit(kernel.body)
    return found


def _same_bits(fn, *args) -> None:
    before, after = _programs(fn, *args)
    got = LLVMExecutable(after)(list(args))
    want = LLVMExecutable(before)(list(args))
    for g, w in zip(got, want):
        assert g.tobytes() == w.tobytes()


def test_a_concatenate_runs_as_one_loop_per_source_without_selects():
    a, b = np.ones((6, 3), F32), np.ones((6, 5), F32)
    before, after = _programs(lambda a, b: tcomp.concatenate([a * 2.0, b + 1.0], axis=1), a, b)
    text_before, text_after = print_program(before), print_program(after)
    assert "select(" in text_before and "min(" in text_before
    assert "select(" not in text_after and "min(" not in text_after and "max(" not in text_after
    assert sorted(loop.extent for loop in _inner_loops(after))[:2] == [3, 5]
    got = np.asarray(tcomp.jit(lambda a, b: tcomp.concatenate([a * 2.0, b + 1.0], axis=1))(a, b))
    np.testing.assert_array_equal(got, np.concatenate([a * 2.0, b + 1.0], axis=1))


def test_the_gradient_of_gate_slices_reads_each_gate_once():
    """An LSTM's gate gradient: four slices of one pre-activation, their pads summed."""
    rng = np.random.default_rng(0)
    z, w = rng.standard_normal((4, 32)).astype(F32), rng.standard_normal((4, 32)).astype(F32)

    def loss(z, w):
        i, f, g, o = z[:, :8], z[:, 8:16], z[:, 16:24], z[:, 24:]
        return tcomp.sum(tcomp.tanh(i) * f + tcomp.exp(g) * o * w[:, :8])

    grad = tcomp.grad(loss)
    before, after = _programs(grad, z, w)
    assert print_program(before).count("select(") > print_program(after).count("select(")
    _same_bits(grad, z, w)
    want = np.asarray(tcomp.jit(grad, backend="reference")(z, w))
    np.testing.assert_allclose(np.asarray(tcomp.jit(grad)(z, w)), want, rtol=1e-6, atol=1e-6)


def test_a_pad_splits_into_border_and_core():
    x = np.arange(20, dtype=F32).reshape(4, 5)
    fn = lambda v: tcomp.pad(v * 3.0, ((0, 0), (2, 3)))  # noqa: E731
    _, after = _programs(fn, x)
    assert "select(" not in print_program(after)
    np.testing.assert_array_equal(np.asarray(tcomp.jit(fn)(x)), np.pad(x * 3.0, ((0, 0), (2, 3))))


def test_too_many_pieces_leave_the_loop_whole():
    parts = [np.full((2, 1), k, F32) for k in range(MAX_PIECES + 2)]
    before, after = _programs(lambda *xs: tcomp.concatenate(xs, axis=1) * 2.0, *parts)
    assert print_program(after) == print_program(before)


def test_the_parallel_loop_is_not_cut():
    a, b = np.ones((3, 4), F32), np.ones((2, 4), F32)
    before, after = _programs(lambda a, b: tcomp.concatenate([a, b], axis=0) + 1.0, a, b)
    parallel = {kernel.schedule.parallel for kernel in after.kernels} - {None}
    for kernel in after.kernels:
        names = [stmt.var.name for stmt in kernel.body if isinstance(stmt, Loop)]
        assert all(names.count(name) == 1 for name in parallel)


def test_a_program_without_conditions_is_unchanged():
    x = np.ones((8, 8), F32)
    graph = _graph(lambda v: tcomp.exp(v) @ v, x)
    program = lower(graph, BEFORE)
    text = print_program(program)
    assert print_program(split_regions(program)) == text


@given(
    st.lists(st.integers(1, 7), min_size=2, max_size=5),
    st.integers(1, 4),
    st.integers(0, 1),
)
def test_concatenates_and_sums_of_pads_keep_every_bit(widths, rows, axis):
    rng = np.random.default_rng(sum(widths) * 7 + rows)
    shapes = [(rows, w) if axis == 1 else (w, rows) for w in widths]
    parts = [rng.standard_normal(s).astype(F32) for s in shapes]

    def concat(*xs):
        return tcomp.concatenate([tcomp.tanh(x) for x in xs], axis=axis) * 0.5

    _same_bits(concat, *parts)
    total = sum(widths)
    full = rng.standard_normal((rows, total) if axis == 1 else (total, rows)).astype(F32)

    def pieces(v):
        out, start = 0.0, 0
        for w in widths:
            part = v[:, start:start + w] if axis == 1 else v[start:start + w]
            out = out + tcomp.sum(tcomp.exp(part) * float(w))
            start += w
        return out

    _same_bits(tcomp.grad(pieces), full)
    program = lower(_graph(tcomp.grad(pieces), full), LLVM_PIPELINE)
    verify_program(program)


def test_an_im2col_copy_unrolls_its_window_loops_and_loses_its_selects():
    """A padded 3x3 conv's im2col copy reads ``x[h + kh - 1, w + kw - 1]`` under a select;
    the window loops (3 iterations) are unrolled so each copy's image loops have constant
    boundaries, and the pieces read contiguously with no select or clamp left."""
    from tcomp import nn

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 32, 32)).astype(F32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(F32)

    def conv(x, w):
        return nn.conv2d(x, w, padding=1)

    def im2col(program: Program) -> str:
        blocks = [b for b in print_program(program).split("kernel ") if "out %tflat1" in b]
        assert len(blocks) == 1, blocks
        return blocks[0]

    before, after = _programs(conv, x, w)
    assert "select(" in im2col(before) and "min(" in im2col(before)
    assert "select(" not in im2col(after) and "min(" not in im2col(after)
    _same_bits(conv, x, w)
