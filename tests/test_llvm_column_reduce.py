"""Reductions down columns on the llvm backend (backends/llvm/column_reduce.py).

Which kernels take the block-of-columns rendering, and that it changes no bit:
each column still sums its rows in order, which is also what numpy's
``add.reduce`` over a leading axis does, so float32 column sums equal numpy's
exactly.
"""

from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest

import tcomp
from tcomp import nn
from tcomp.backends.llvm.backend import LLVMExecutable
from tcomp.backends.llvm.runtime import host_vector_bits
from tcomp.ir.kernel.analysis.columns import column_plan
from tcomp.ir.kernel.kernel import Loop, Program
from tcomp.ir.kernel.passes import llvm_pipeline, lower


def _kernel_loops(fn, *args) -> list[Loop]:
    program = tcomp.jit(fn, backend="llvm").lower(*args).kernel_program()
    return [k.body[-1] for k in program.kernels if k.body and isinstance(k.body[-1], Loop)]


def _planned(fn, *args) -> list[bool]:
    return [column_plan(loop) is not None for loop in _kernel_loops(fn, *args)]


def test_column_reductions_take_the_block_path_and_row_reductions_do_not():
    x = np.zeros((64, 48), np.float32)
    assert _planned(lambda v: v.sum(axis=0), x) == [True]
    assert _planned(lambda v: v.max(axis=0), x) == [True]
    assert _planned(lambda v: v.sum(axis=1), x) == [False]
    assert _planned(lambda v: v * 2.0, x) == [False]
    p = np.zeros(48, np.float32)
    assert _planned(lambda v, p: p - 0.01 * v.sum(axis=0), x, p) == [True]


def test_a_vector_times_a_matrix_reads_columns_with_the_vector_broadcast():
    """``h @ W`` (an RNN step's matrix-vector product, W not transposed): the load of
    ``h[r]`` runs along the reduction but not along the columns, so it is the same for
    every column of a block and does not make the loop a row reduction; ``W @ h`` (each
    output a row of W) stays one."""
    h, w = np.zeros((1, 100), np.float32), np.zeros((100, 100), np.float32)
    assert _planned(lambda h, w: tcomp.tanh(h @ w), h, w) == [True]
    assert _planned(lambda h, w: tcomp.tanh(h @ w.T), h, w) == [False]


@pytest.mark.parametrize("rows, columns", [(100, 100), (3, 37), (65, 1)])
def test_vector_matrix_products_sum_each_column_in_order(rows, columns):
    rng = np.random.default_rng(rows * columns)
    h = rng.standard_normal((1, rows)).astype(np.float32)
    w = rng.standard_normal((rows, columns)).astype(np.float32)
    got = np.asarray(tcomp.jit(lambda h, w: h @ w, backend="llvm")(h, w))
    want = np.zeros((1, columns), np.float32)
    for r in range(rows):  # float32, in order, as the kernel's loop is written
        want = (want + h[:, r : r + 1] * w[r : r + 1, :]).astype(np.float32)
    assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


# (one column is contiguous: numpy sums it pairwise and tcomp splits it, neither in order)
@pytest.mark.parametrize("shape", [(7, 13), (256, 512), (1023, 2), (3, 5000), (2, 4097), (1, 9)])
def test_float32_column_sums_equal_numpy_bit_for_bit(shape):
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32) * 100
    got = np.asarray(tcomp.jit(lambda v: v.sum(axis=0), backend="llvm")(x))
    want = np.add.reduce(x, axis=0)
    assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


def test_empty_axes():
    for shape in [(0, 5), (5, 0)]:
        x = np.zeros(shape, np.float32)
        got = np.asarray(tcomp.jit(lambda v: v.sum(axis=0), backend="llvm")(x))
        np.testing.assert_array_equal(got, x.sum(axis=0))


def test_epilogues_other_accumulators_and_dtypes_match_the_reference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 70)).astype(np.float32)
    x[5, 3] = np.nan
    p = rng.standard_normal(70).astype(np.float32)
    cases = [
        (lambda v, p: p - 0.01 * v.sum(axis=0), (x, p)),
        (lambda v: (v.max(axis=0), v.min(axis=0), v.mean(axis=0)), (x,)),
        (lambda v: tcomp.argmax(v, axis=0), (np.nan_to_num(x),)),
        (lambda v: v.sum(axis=0), (x.astype(np.float64),)),
        (lambda v: v.sum(axis=0), ((np.nan_to_num(x) * 10).astype(np.int32),)),
        (lambda v: v.sum(axis=0), (x.astype(ml_dtypes.bfloat16),)),
        (lambda v: (v * v).sum(axis=(0, 1)), (x,)),
        (lambda v: v.reshape(30, 10, 70).sum(axis=1), (x,)),
    ]
    for fn, args in cases:
        got = tcomp.jit(fn, backend="llvm")(*args)
        want = tcomp.jit(fn, backend="reference")(*args)
        for g, w in zip(tcomp.tree_flatten(got)[0], tcomp.tree_flatten(want)[0]):
            g, w = np.asarray(g), np.asarray(w)
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64),
                                       rtol=1e-5, atol=1e-5, equal_nan=True)


def test_a_training_step_with_bias_gradients_matches_the_reference():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((20, 33)).astype(np.float32) * 0.1
    b = np.zeros(33, np.float32)
    x = rng.standard_normal((257, 20)).astype(np.float32)

    def loss(w, b, x):
        return (tcomp.tanh(x @ w + b) ** 2).mean()

    grad = tcomp.grad(loss, argnums=(0, 1)) if _takes_argnums() else tcomp.grad(
        lambda params, x: loss(params[0], params[1], x))
    args = (w, b, x) if _takes_argnums() else ((w, b), x)
    got = tcomp.jit(grad, backend="llvm")(*args)
    want = tcomp.jit(grad, backend="reference")(*args)
    for g, v in zip(tcomp.tree_flatten(got)[0], tcomp.tree_flatten(want)[0]):
        np.testing.assert_allclose(np.asarray(g), np.asarray(v), rtol=1e-4, atol=1e-6)


def _takes_argnums() -> bool:
    import inspect

    return "argnums" in inspect.signature(tcomp.grad).parameters


# ---------------------------------------------------------------------------
# Reduction nests: the conv's ``for c { for kh { for kw { acc = acc + ... } } }``


def _in_order_conv2d(x, w, stride, padding, dilation):
    """float32 conv2d summed in the kernel's order (c, kh, kw), one rounding per step,
    as the scalar loop computes it."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (wd + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    acc = np.zeros((n, o, oh, ow), np.float32)
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, ci, i * dilation::stride, j * dilation::stride][:, :oh, :ow]
                acc = acc + patch[:, None] * w[None, :, ci, i, j, None, None]
    return acc


CONV_CASES = [  # x shape, w shape, stride, padding, dilation
    ((2, 3, 32, 32), (6, 3, 5, 5), 1, 0, 1),
    ((2, 6, 14, 14), (16, 6, 5, 5), 1, 2, 1),
    ((1, 2, 9, 40), (3, 2, 3, 3), 2, 1, 1),
    ((1, 4, 12, 17), (2, 4, 3, 2), 1, 1, 2),
]


@pytest.mark.parametrize("xs, ws, stride, padding, dilation", CONV_CASES)
def test_conv2d_takes_the_nest_plan_and_changes_no_bit(xs, ws, stride, padding, dilation):
    rng = np.random.default_rng(sum(xs) + sum(ws))
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)

    def fn(x, w):
        return nn.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)

    # the big ones run as matmuls (flatten-contractions): the loop nest is what the
    # pipeline without that pass renders, and what a conv it does not take runs as
    program = _program_without_flattening(fn, x, w)
    plans = [column_plan(loop) for loop in _vector_loops(fn, x, w, program=program)]
    assert any(plan is not None and len(plan.nest) == 3 for plan in plans)
    (got,) = LLVMExecutable(program, 2)([x, w])
    want = _in_order_conv2d(x, w, stride, padding, dilation)
    assert np.asarray(got).view(np.uint32).tolist() == want.view(np.uint32).tolist()


def _program_without_flattening(fn, *args) -> Program:
    """``fn``'s llvm kernel program with every step of the backend's pipeline but
    ``flatten-contractions``."""
    function = tcomp.jit(fn, backend="llvm").lower(*args).function("optimized")
    pipeline = [p for p in llvm_pipeline(host_vector_bits()) if p != "flatten-contractions"]
    return lower(function, pipeline, verify_each=True)


def _vector_loops(fn, *args, program: Program | None = None) -> list[Loop]:
    """The loops the schedules vectorise, in every kernel."""
    if program is None:
        program = tcomp.jit(fn, backend="llvm").lower(*args).kernel_program()
    found = []

    def visit(stmts, names):
        for stmt in stmts:
            if isinstance(stmt, Loop):
                if stmt.var.name in names:
                    found.append(stmt)
                visit(stmt.body, names)

    for kernel in program.kernels:
        visit(kernel.body, set(kernel.schedule.vector))
    return found


def test_the_conv_kernel_renders_vector_arithmetic():
    x = np.zeros((4, 3, 32, 32), np.float32)
    w = np.zeros((6, 3, 5, 5), np.float32)
    text = LLVMExecutable(_program_without_flattening(lambda x, w: nn.conv2d(x, w), x, w)).as_text()
    # the column loop over ow, under c, kh, kw, loads whole vectors of x (rendered as
    # written, only kw's 5 taps could vectorise and no vector load of x appears)
    assert re.search(r"^i3\.col\.body", text, re.M)
    assert re.search(r"load <(4|8|16) x float>", text)
    assert re.search(r"fmul (reassoc )?<(4|8|16) x float>", text)


def test_a_weight_gradient_nest_stays_a_row_reduction():
    # for kw in 0..3 { for n.. { for oh.. { for ow in 0..30: contiguous } } }: not planned
    x = np.ones((2, 3, 32, 32), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    fn = tcomp.grad(lambda w, x: nn.conv2d(x, w).sum())
    loops = [loop for loop in _vector_loops(fn, w, x) if len(_nest_of(loop)) > 1]
    assert loops and all(column_plan(loop) is None for loop in loops)


def _nest_of(loop: Loop) -> list[Loop]:
    inner = [s for s in loop.body if isinstance(s, Loop)]
    return [inner[0], *_nest_of(inner[0])] if inner else []
