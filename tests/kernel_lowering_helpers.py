"""Helpers for the kernel-lowering tests: lower a graph-IR function, check the
program's invariants, interpret it and compare with the reference executor."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tcomp.backends.reference.executor import evaluate
from tcomp.backends.reference.kernel_interpreter import run_program
from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.graph import Function
from tcomp.ir.kernel.expr import Reduce, walk
from tcomp.ir.kernel.kernel import Program, statement_exprs, walk_statements
from tcomp.ir.kernel.lowering import lower_function
from tcomp.ir.kernel.verifier import verify_program
from tcomp.ir.types import TensorType, canonical_dtype, is_float

# (rtol, atol) per float dtype: sums run in another order than numpy's pairwise ones
TOLERANCES = {"bfloat16": (2e-2, 2e-2), "float16": (1e-2, 1e-2), "float32": (2e-5, 2e-6),
              "float64": (1e-10, 1e-12)}


def one_op(op: str, inputs: Sequence[np.ndarray], attrs: dict | None = None) -> Function:
    """``f(*inputs) = op(*inputs) {attrs}``."""
    builder = FunctionBuilder(f"one_{op}")
    params = [
        builder.add_param(TensorType(tuple(x.shape), canonical_dtype(x.dtype))) for x in inputs
    ]
    return builder.finish([builder.emit(op, params, dict(attrs or {}))])


def check_program(program: Program) -> None:
    """The lowering's own promises on top of the kernel-IR verifier's."""
    verify_program(program)
    assert [k.name for k in program.kernels] == [f"k{i}" for i in range(len(program.kernels))]
    for kernel in program.kernels:
        assert kernel.origin, f"{kernel.name} names no graph node"
        for stmt in walk_statements(kernel.body):
            for expr in statement_exprs(stmt):
                assert not any(isinstance(e, Reduce) for e in walk(expr)), kernel.name
    for name, buffer in program.buffers.items():
        prefix = {"param": "p", "constant": "c"}.get(buffer.kind, "t")
        assert name.startswith(prefix), name


def loosest_float(fn: Function) -> str | None:
    """The least precise float dtype any value of ``fn`` has (its rounding reaches the outputs)."""
    floats = {v.dtype for v in fn.all_values() if is_float(v.dtype)}
    for dtype in ("bfloat16", "float16", "float32", "float64"):
        if dtype in floats:
            return dtype
    return None


def assert_close(
    got: np.ndarray, want: np.ndarray, scale: float = 1.0, message: str = "",
    precision: str | None = None,
) -> None:
    """Equal shapes and dtypes; floats within the tolerance of ``precision`` (default:
    their own dtype), NaN where the reference has NaN; everything else exactly."""
    assert got.shape == want.shape and got.dtype == want.dtype, (got.dtype, want.dtype, message)
    dtype = canonical_dtype(want.dtype)
    if is_float(dtype):
        rtol, atol = max(TOLERANCES[dtype], TOLERANCES[precision or dtype])
        np.testing.assert_allclose(
            got.astype(np.float64), want.astype(np.float64), rtol=rtol * scale,
            atol=atol * scale, equal_nan=True, err_msg=message,
        )
    else:
        np.testing.assert_array_equal(got, want, err_msg=message)


def lower_and_compare(
    fn: Function, inputs: Sequence[np.ndarray], scale: float = 1.0, exact: bool = False
) -> Program:
    """Lowers ``fn``, checks the program, and compares its interpretation with the
    reference executor (bit for bit with ``exact``, NaN in the same places)."""
    program = lower_function(fn)
    check_program(program)
    got = run_program(program, list(inputs))
    want = evaluate(fn, list(inputs))
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        if exact:
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w, err_msg=f"output {i} of {fn.name}")
        else:
            assert_close(g, w, scale, f"output {i} of {fn.name}", loosest_float(fn))
    return program
