"""Splitting a big reduction with a one-element output into a parallel partial
kernel and a final combining kernel (``ir/kernel/lowering/split_reduction.py``)."""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp.backends.registry import available_backends
from tcomp.ir.kernel.lowering.split_reduction import MIN_SPLIT_ELEMENTS, PARTS
from tcomp.ir.kernel.verifier import verify_program

BACKENDS = available_backends()
SIZES = [2**16 + 3, 2**20, 65537, 1000003]


def _program(fn, x):
    return tcomp.jit(fn).lower(x)


def _kernels(fn, x) -> str:
    return _program(fn, x).as_text("kernels")


def test_big_sum_is_split_into_a_parallel_partial_and_a_final_kernel():
    x = np.ones(2**24, np.float32)
    text = _kernels(lambda a: a.sum(), x)
    assert text.count("kernel k") == 2
    assert "schedule {parallel=s0}" in text
    assert f"for s0 in 0..{PARTS} {{" in text
    assert f"for r0 in 0..{2**24 // PARTS} {{" in text
    assert f"temp %tsplit0: f32[{PARTS}]" in text
    assert f"%p0[(s0 * {2**24 // PARTS}) + r0]" in text


def test_leftover_iterations_go_to_the_final_kernel():
    n = 2**16 + 3
    text = _kernels(lambda a: a.sum(), np.ones(n, np.float32))
    done = (n // PARTS) * PARTS
    assert f"for r0 in 0..{n - done} {{" in text
    assert f"%p0[r0 + {done}]" in text


def test_epilogue_goes_into_the_final_kernel():
    text = _kernels(lambda a: a.max() * 2.0, np.ones(2**20, np.float32))
    partial, final = text.split("kernel k1")
    assert "* 2.0" not in partial and "* 2.0" in final


@pytest.mark.parametrize("n", [10, 4096, MIN_SPLIT_ELEMENTS - 1])
def test_small_reductions_are_not_split(n):
    text = _kernels(lambda a: a.sum(), np.ones(n, np.float32))
    assert text.count("kernel k") == 1 and "tsplit" not in text


def test_reductions_with_many_outputs_and_argmax_are_not_split():
    assert "tsplit" not in _kernels(lambda a: a.sum(axis=1), np.ones((64, 4096), np.float32))
    assert "tsplit" not in _kernels(lambda a: a.argmax(), np.ones(2**20, np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("op", ["sum", "max", "min"])
def test_split_results_match_numpy(backend, dtype, n, op):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(dtype)
    fn = {"sum": lambda a: a.sum(), "max": lambda a: a.max(), "min": lambda a: a.min()}[op]
    program = _program(fn, x)
    verify_program(program.kernel_program())
    got = np.asarray(tcomp.jit(fn, backend=backend)(x))
    want = getattr(x, op)()
    if op == "sum":
        np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-3 if dtype == np.float32 else 1e-9)
    else:
        assert got == want


@pytest.mark.parametrize("backend", BACKENDS)
def test_split_full_sum_of_a_matrix_and_a_fused_epilogue(backend):
    x = np.random.default_rng(0).random((509, 1031)).astype(np.float32)
    text = _kernels(lambda a: (a * 2.0).sum() + 1.0, x)
    assert "tsplit0" in text
    got = np.asarray(tcomp.jit(lambda a: (a * 2.0).sum() + 1.0, backend=backend)(x))
    np.testing.assert_allclose(got, (x * 2.0).sum(dtype=np.float64) + 1.0, rtol=1e-5)
