"""Every scalar op of the kernel IR, on every dtype the verifier accepts for it, prints and
parses back, renders as OpenCL C and as CUDA C, compiles and runs on llvm, and gives the
kernel interpreter's values.

The op names live in ``ir/kernel/ops.py``; their meaning is restated by the verifier,
the interpreter and each renderer (docs/ARCHITECTURE.md, "Add a primitive", step 4-5).
This test is what keeps those places in step: an op added to one list and forgotten in
another fails here, whichever list it is.
"""

from __future__ import annotations

import numpy as np
import pytest

from tcomp.backends.cfamily import render_program
from tcomp.backends.reference.kernel_interpreter import run_program
from tcomp.ir.errors import TcompVerifyError
from tcomp.ir.kernel.expr import INDEX, Binary, Load, Unary, Var
from tcomp.ir.kernel.kernel import Kernel, KernelArg, Loop, Program, ProgramBuffer, Schedule, Store
from tcomp.ir.kernel.ops import BINARY_OPS, UNARY_OPS
from tcomp.ir.kernel.parser import parse_program
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.kernel.verifier import verify_program
from tcomp.ir.types import TensorType, numpy_dtype

DTYPES = ("float32", "float64", "int32", "bool")
SIZE = 8
VALUES = {  # inputs per dtype: signs, zero, fractions; no zero divisors in the second
    "float32": ([-2.5, -1.0, -0.5, 0.0, 0.25, 0.5, 1.5, 3.0],
                [1.5, -2.0, 0.5, 2.0, -0.75, 4.0, -1.0, 0.5]),
    "float64": ([-2.5, -1.0, -0.5, 0.0, 0.25, 0.5, 1.5, 3.0],
                [1.5, -2.0, 0.5, 2.0, -0.75, 4.0, -1.0, 0.5]),
    "int32": ([-7, -3, -1, 0, 1, 2, 5, 31], [2, -3, 4, 1, -5, 3, 7, 2]),
    "bool": ([True, False, True, True, False, False, True, False],
             [True, True, False, True, False, True, False, False]),
}
RESULT_BOOL = {"isnan", "not"}


def op_program(op: str, dtype: str, arity: int, result: str) -> Program:
    """``%t[i] = op(%p0[i], %p1[i])`` over 8 elements (one operand for a unary op)."""
    i = Var("i0", INDEX, SIZE)
    params = [f"p{k}" for k in range(arity)]
    loads = [Load(name, i, dtype) for name in params]
    value = Unary(op, loads[0], result) if arity == 1 else Binary(op, loads[0], loads[1], result)
    args = tuple(KernelArg(name, dtype, SIZE, "in") for name in params)
    kernel = Kernel("k0", args + (KernelArg("t", result, SIZE, "out"),),
                    (Loop(i, (Store("t", i, value),)),), Schedule(parallel="i0"), (f"%1 {op}",))
    buffers = {name: ProgramBuffer(name, TensorType((SIZE,), dtype), "param") for name in params}
    buffers["t"] = ProgramBuffer("t", TensorType((SIZE,), result), "output")
    return Program(f"op_{op}", buffers, params, ["t"], [kernel])


def result_dtype(op: str, dtype: str) -> str:
    from tcomp.ir.kernel.ops import COMPARISON_OPS, LOGICAL_OPS

    if op in COMPARISON_OPS or op in LOGICAL_OPS or op in RESULT_BOOL:
        return "bool"
    return dtype


def accepted(op: str, arity: int) -> list[tuple[str, Program]]:
    """The (dtype, program) pairs of ``op`` that the kernel verifier accepts."""
    found = []
    for dtype in DTYPES:
        program = op_program(op, dtype, arity, result_dtype(op, dtype))
        try:
            verify_program(program)
        except TcompVerifyError:
            continue
        found.append((dtype, program))
    return found


CASES = [(op, 1) for op in sorted(UNARY_OPS)] + [(op, 2) for op in sorted(BINARY_OPS)]


@pytest.mark.parametrize("op, arity", CASES, ids=[op for op, _ in CASES])
def test_every_op_renders_compiles_and_interprets_alike(op, arity):
    from tcomp.backends.llvm.backend import LLVMExecutable

    programs = accepted(op, arity)
    assert programs, f"{op}: the verifier accepts it for none of {DTYPES}"
    for dtype, program in programs:
        text = print_program(program)
        assert print_program(parse_program(text)) == text
        for dialect in ("opencl", "cuda"):
            source = render_program(program, dialect)
            assert "op_" in source and "k0" in source, (op, dtype, dialect)
        inputs = [np.asarray(v, numpy_dtype(dtype)) for v in VALUES[dtype][:arity]]
        with np.errstate(all="ignore"):
            (expected,) = run_program(program, inputs)
        (got,) = LLVMExecutable(program, 1)(inputs)
        got = np.asarray(got)
        assert got.dtype == expected.dtype, (op, dtype)
        if expected.dtype.kind == "f":
            tolerance = 1e-6 if dtype == "float32" else 1e-12
            np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance,
                                       equal_nan=True, err_msg=f"{op} on {dtype}")
        else:
            np.testing.assert_array_equal(got, expected, err_msg=f"{op} on {dtype}")


def test_the_op_lists_have_no_op_the_verifier_refuses_everywhere():
    refused = [op for op, arity in CASES if not accepted(op, arity)]
    assert refused == []
