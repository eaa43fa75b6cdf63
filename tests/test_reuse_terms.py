"""The reuse-reduction-terms pass (ir/kernel/lowering/reuse_terms.py): a row softmax
computes exp once per element on the CPU backend, and the rewritten program computes the
same values (checked with the kernel interpreter)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import tcomp
from tcomp import nn
from tcomp.backends.reference.kernel_interpreter import run_program
from tcomp.ir.kernel.expr import Unary, walk
from tcomp.ir.kernel.kernel import statement_exprs, walk_statements
from tcomp.ir.kernel.lowering import lower_function
from tcomp.ir.kernel.lowering.reuse_terms import reuse_reduction_terms
from tcomp.ir.kernel.verifier import verify_program

F32 = np.float32


def _program(fn, *args):
    return lower_function(tcomp.jit(fn, backend="reference").lower(*args).function("optimized"))


def _exp_count(program) -> int:
    return sum(
        1
        for kernel in program.kernels
        for stmt in walk_statements(kernel.body)
        for expr in statement_exprs(stmt)
        for node in walk(expr)
        if isinstance(node, Unary) and node.op == "exp"
    )


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: nn.softmax(x, axis=-1),
        lambda x: nn.softmax(x * 2.0 + 1.0, axis=-1) * 3.0,
        lambda x: tcomp.grad(lambda v: nn.cross_entropy(v, np.arange(6) % 5))(x),
    ],
    ids=["softmax", "scaled_softmax", "cross_entropy_grad"],
)
def test_the_rewritten_program_computes_the_same_values_with_one_exp(fn):
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(F32)
    program = _program(fn, x)
    before = _exp_count(program)
    expected = run_program(copy.deepcopy(program), [x])
    rewritten = reuse_reduction_terms(program)
    verify_program(rewritten)
    assert _exp_count(rewritten) == before - 1
    assert any(arg.access == "inout" for kernel in rewritten.kernels for arg in kernel.args)
    for got, want in zip(run_program(rewritten, [x]), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_cheap_terms_and_terms_not_reused_are_left_alone():
    x = np.ones((4, 8), F32)
    sums = _program(lambda v: v / v.sum(axis=1, keepdims=True), x)  # the term is a load
    log_softmax = _program(lambda v: nn.log_softmax(v, axis=-1), x)  # exp not in the output
    for program in (sums, log_softmax):
        text = repr(program.kernels)
        assert repr(reuse_reduction_terms(program).kernels) == text


def test_softmax_on_llvm_runs_the_rewritten_kernel():
    x = np.random.default_rng(1).standard_normal((16, 300)).astype(F32)
    f = tcomp.jit(lambda v: nn.softmax(v, axis=-1), backend="llvm")
    assert "inout" in f.lower(x).as_text("kernels")
    reference = tcomp.jit(lambda v: nn.softmax(v, axis=-1), backend="reference")(x)
    np.testing.assert_allclose(np.asarray(f(x)), np.asarray(reference), rtol=1e-6, atol=1e-7)
