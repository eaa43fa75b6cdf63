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
from tcomp.ir.kernel.expr import INDEX, Binary, Cast, Load, Select, Unary, Var
from tcomp.ir.kernel.kernel import Kernel, KernelArg, Loop, Program, ProgramBuffer, Schedule, Store
from tcomp.ir.kernel.ops import BINARY_OPS, UNARY_OPS
from tcomp.ir.kernel.parser import parse_program
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.kernel.verifier import verify_program
from tcomp.ir.types import TensorType, numpy_dtype

DTYPES = ("float32", "float64", "int8", "uint8", "int32", "uint32", "int64", "bool")
# computing nothing themselves (the lowering widens them): cast, select, load and store only
STORAGE_DTYPES = ("int8", "uint8", "uint32")
SIZE = 8
VALUES = {  # inputs per dtype: signs, zero, fractions; no zero divisors in the second
    "float32": ([-2.5, -1.0, -0.5, 0.0, 0.25, 0.5, 1.5, 3.0],
                [1.5, -2.0, 0.5, 2.0, -0.75, 4.0, -1.0, 0.5]),
    "float64": ([-2.5, -1.0, -0.5, 0.0, 0.25, 0.5, 1.5, 3.0],
                [1.5, -2.0, 0.5, 2.0, -0.75, 4.0, -1.0, 0.5]),
    "int32": ([-7, -3, -1, 0, 1, 2, 5, 31], [2, -3, 4, 1, -5, 3, 7, 2]),
    "int8": ([-128, -3, -1, 0, 1, 2, 5, 127], [2, -3, 4, 1, -5, 3, 7, 2]),
    "uint8": ([0, 1, 2, 7, 100, 128, 200, 255], [2, 3, 4, 1, 5, 3, 7, 2]),
    "uint32": ([0, 1, 7, 2**31, 2**31 + 5, 3_000_000_000, 2**32 - 2, 2**32 - 1],
               [2, 3, 4, 1, 5, 3, 7, 2]),
    "int64": ([-(2**63), -(2**40) - 3, -1, 0, 1, 2**33, 5, 2**62 + 7], [2, -3, 4, 1, -5, 3, 7, 2]),
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


def cast_program(source: str, target: str) -> Program:
    """``%t[i] = target(%p0[i])``, and ``select(%p0[i] == %p0[i], ...)`` kept out: a cast only."""
    i = Var("i0", INDEX, SIZE)
    value = Cast(Load("p0", i, source), target)
    kernel = Kernel("k0", (KernelArg("p0", source, SIZE, "in"), KernelArg("t", target, SIZE, "out")),
                    (Loop(i, (Store("t", i, value),)),), Schedule(parallel="i0"), ("%1 convert",))
    buffers = {"p0": ProgramBuffer("p0", TensorType((SIZE,), source), "param"),
               "t": ProgramBuffer("t", TensorType((SIZE,), target), "output")}
    return Program(f"cast_{source}_{target}", buffers, ["p0"], ["t"], [kernel])


CAST_VALUES = {**VALUES, "float32": ([-2.5, -1.0, -0.5, 0.0, 0.25, 100.5, 255.0, 300.75],),
               "float64": ([-2.5, -1.0, -129.0, 0.0, 0.25, 100.5, 2.0**40 + 0.5, 4e9],)}


@pytest.mark.parametrize("source", DTYPES)
def test_every_cast_renders_compiles_and_interprets_alike(source):
    """Every dtype to every other: integers wrap, unsigned ones zero-extend, floats go to
    integers by float_to_int's rule (in range and out of it: -1.0 to uint8 is 255)."""
    from tcomp.backends.llvm.backend import LLVMExecutable

    inputs = [np.asarray(CAST_VALUES[source][0], numpy_dtype(source))]
    for target in DTYPES:
        if target == source:
            continue
        program = cast_program(source, target)
        verify_program(program)
        text = print_program(program)
        assert print_program(parse_program(text)) == text
        for dialect in ("opencl", "cuda"):
            assert "k0" in render_program(program, dialect)
        with np.errstate(all="ignore"):
            (expected,) = run_program(program, inputs)
        (got,) = LLVMExecutable(program, 1)(inputs)
        np.testing.assert_array_equal(np.asarray(got), expected, err_msg=f"{source} -> {target}")


@pytest.mark.parametrize("dtype", STORAGE_DTYPES)
def test_storage_types_select_and_refuse_arithmetic(dtype):
    """int8, uint8, uint32 values are selected as they are; an op on them is refused
    (the lowering computes them in int32 / int64)."""
    from tcomp.backends.llvm.backend import LLVMExecutable

    i = Var("i0", INDEX, SIZE)
    a, b = Load("p0", i, dtype), Load("p1", i, dtype)
    flag = Binary("lt", Cast(a, "int64"), Cast(b, "int64"), "bool")
    value = Select(flag, a, b, dtype)
    args = (KernelArg("p0", dtype, SIZE, "in"), KernelArg("p1", dtype, SIZE, "in"),
            KernelArg("t", dtype, SIZE, "out"))
    kernel = Kernel("k0", args, (Loop(i, (Store("t", i, value),)),), Schedule(parallel="i0"),
                    ("%1 select",))
    buffers = {name: ProgramBuffer(name, TensorType((SIZE,), dtype), "param") for name in ("p0", "p1")}
    buffers["t"] = ProgramBuffer("t", TensorType((SIZE,), dtype), "output")
    program = Program("select_storage", buffers, ["p0", "p1"], ["t"], [kernel])
    verify_program(program)
    for dialect in ("opencl", "cuda"):
        assert "k0" in render_program(program, dialect)
    inputs = [np.asarray(v, numpy_dtype(dtype)) for v in VALUES[dtype]]
    (got,) = LLVMExecutable(program, 1)(inputs)
    np.testing.assert_array_equal(np.asarray(got), np.minimum(*inputs))
    assert [op for op, arity in CASES if any(d == dtype for d, _ in accepted(op, arity))] == []
