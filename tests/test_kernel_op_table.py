"""The kernel-IR op table (``ir/kernel/op_table.py`` ``KERNEL_OPS``) against everything
that gives an op its meaning.

- every renderer's dict of op code (``backends/cfamily/exprs.py``, ``backends/llvm/op_code.py``)
  and the kernel interpreter's ``EVALUATE`` have exactly the table's ops, so an op added
  to the table and not rendered fails here with its name;
- the verifier accepts an op on exactly the dtypes the table lists;
- for every op and every dtype it takes, a one-op kernel renders as OpenCL C and CUDA C
  and runs on the kernel interpreter, on llvm and (where PoCL is importable) on opencl,
  each giving the table's ``numpy`` function of the inputs, edge values included
  (0, -0.0, negatives, +-inf and NaN for floats; the integer extremes, zero divisors and
  out-of-range shift amounts for integers); ``index`` through casts from int64;
- the ops the table says need no rounding of 16-bit floats are exact on every float16 and
  bfloat16 value.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from tcomp.backends.cfamily import render_program
from tcomp.backends.cfamily.exprs import BINARY_CODE as C_BINARY
from tcomp.backends.cfamily.exprs import UNARY_CODE as C_UNARY
from tcomp.backends.llvm.op_code import BINARY_CODE as LLVM_BINARY
from tcomp.backends.llvm.op_code import UNARY_CODE as LLVM_UNARY
from tcomp.backends.reference.kernel_interpreter import EVALUATE, run_program
from tcomp.ir.bfloat16 import convert_array
from tcomp.ir.errors import TcompVerifyError
from tcomp.ir.kernel.expr import INDEX, Binary, Cast, Expr, Load, Unary, Var
from tcomp.ir.kernel.kernel import Kernel, KernelArg, Loop, Program, ProgramBuffer, Schedule, Store
from tcomp.ir.kernel.op_table import FLOAT, KERNEL_OPS, KernelOpInfo
from tcomp.ir.kernel.verifier import verify_program
from tcomp.ir.types import TensorType, numpy_dtype

NAN, INF = float("nan"), float("inf")
_FLOAT_EDGES = [0.0, -0.0, -1.5, -1.0, -0.5, 0.25, 0.5, 1.0, 2.5, 7.0, INF, -INF, NAN, -3.75]
# the second operand: the same values in another order, so that each value meets 0, inf, NaN
_FLOAT_SECOND = [2.5, 0.0, -0.0, INF, NAN, -1.5, 0.25, -INF, 1.0, -0.5, 0.5, 7.0, -1.0, 3.0]
_INT32 = [-(2**31), 2**31 - 1, -7, -1, 0, 1, 3, 31, 32, 40, -3, 5, 2, 100]
_INT32_SECOND = [-1, 2, 0, 3, -5, 31, 32, -1, 7, 2, 1, 0, 33, -2]
_INT64 = [-(2**63), 2**63 - 1, -7, -1, 0, 1, 2**40 + 3, 63, 64, 70, -3, 5, 2, -(2**35)]
_INT64_SECOND = [-1, 2, 0, 3, -5, 63, 64, -1, 7, 2, 1, 0, 65, -2]
_BOOLS = [True, False, True, True, False, False, True, False, True, False, False, True, True, False]
_BOOLS_SECOND = [
    True,
    True,
    False,
    True,
    False,
    True,
    False,
    False,
    False,
    True,
    True,
    True,
    False,
    False,
]
# index values: sizes and offsets (never divided by a non-positive number, never near 2**63)
_INDEX = [-7, -3, -1, 0, 1, 2, 5, 31, 40, 9, -12, 6, 100, 64]
_INDEX_SECOND = [2, 3, 4, 1, 5, 3, 7, 2, 6, 1, 5, 8, 3, 9]
SIZE = len(_FLOAT_EDGES)
VALUES: dict[str, tuple[list, list]] = {
    **{dtype: (_FLOAT_EDGES, _FLOAT_SECOND) for dtype in FLOAT},
    "int32": (_INT32, _INT32_SECOND),
    "int64": (_INT64, _INT64_SECOND),
    "bool": (_BOOLS, _BOOLS_SECOND),
    INDEX: (_INDEX, _INDEX_SECOND),
}
# relative and absolute tolerance per float dtype (libm and numpy may differ in the last bits)
TOLERANCE = {"float64": 1e-13, "float32": 2e-6, "float16": 1e-3, "bfloat16": 8e-3}
CASES = [(op, dtype) for op, info in sorted(KERNEL_OPS.items()) for dtype in sorted(info.operands)]


def _inputs(info: KernelOpInfo, dtype: str) -> list[np.ndarray]:
    storage = "int64" if dtype == INDEX else dtype
    return [convert_array(values, storage) for values in VALUES[dtype][: info.arity]]


def expected(info: KernelOpInfo, dtype: str, inputs: list[np.ndarray]) -> np.ndarray:
    """The table's ``numpy`` function of ``inputs``: on 16-bit floats computed in float32 and
    rounded to the dtype, on ``index`` in int64; as the result dtype."""
    result = info.result_dtype(dtype)
    wide = [x.astype(np.float32) for x in inputs] if dtype in ("float16", "bfloat16") else inputs
    with np.errstate(all="ignore"):
        value = np.asarray(info.numpy(*wide))
    return convert_array(value, "int64" if result == INDEX else result)


def _node(info: KernelOpInfo, dtype: str, operands: list[Expr]) -> Expr:
    result = info.result_dtype(dtype)
    if info.arity == 1:
        return Unary(info.name, operands[0], result)
    return Binary(info.name, operands[0], operands[1], result)


def _kernel(number: int, info: KernelOpInfo, dtype: str) -> tuple[Kernel, dict[str, ProgramBuffer]]:
    """``t<n>[i] = op(p<n>_0[i], p<n>_1[i])``; on ``index``, the operands and result cast
    from and to int64."""
    i = Var("i0", INDEX, SIZE)
    storage = "int64" if dtype == INDEX else dtype
    params = [f"p{number}_{k}" for k in range(info.arity)]
    operands: list[Expr] = [Load(name, i, storage) for name in params]
    if dtype == INDEX:
        operands = [Cast(x, INDEX) for x in operands]
    value = _node(info, dtype, operands)
    result = info.result_dtype(dtype)
    if result == INDEX:
        value, result = Cast(value, "int64"), "int64"
    out = f"t{number}"
    args = tuple(KernelArg(name, storage, SIZE, "in") for name in params)
    kernel = Kernel(
        f"k{number}",
        args + (KernelArg(out, result, SIZE, "out"),),
        (Loop(i, (Store(out, i, value),)),),
        Schedule(),
        (f"%{number} {info.name}",),
    )
    buffers = {name: ProgramBuffer(name, TensorType((SIZE,), storage), "param") for name in params}
    buffers[out] = ProgramBuffer(out, TensorType((SIZE,), result), "output")
    return kernel, buffers


def build_program(cases: list[tuple[str, str]]) -> tuple[Program, list[np.ndarray]]:
    """One program with a kernel per ``(op, dtype)`` case, and its inputs."""
    kernels, buffers, params, outputs, inputs = [], {}, [], [], []
    for number, (op, dtype) in enumerate(cases):
        kernel, own = _kernel(number, KERNEL_OPS[op], dtype)
        kernels.append(kernel)
        buffers.update(own)
        params += [arg.name for arg in kernel.args if arg.access == "in"]
        outputs.append(f"t{number}")
        inputs += _inputs(KERNEL_OPS[op], dtype)
    return Program("op_table", buffers, params, outputs, kernels), inputs


@functools.cache
def every_case() -> tuple[Program, list[np.ndarray]]:
    program, inputs = build_program(CASES)
    verify_program(program)
    return program, inputs


def assert_matches(got: np.ndarray, case: tuple[str, str], inputs: list[np.ndarray], where: str):
    op, dtype = case
    info = KERNEL_OPS[op]
    want = expected(info, dtype, inputs)
    got = np.asarray(got)
    message = f"{op} on {dtype} ({where}); inputs {[x.tolist() for x in inputs]}"
    assert got.dtype == want.dtype, message
    if want.dtype.kind == "f" or info.result_dtype(dtype) in FLOAT:
        tolerance = TOLERANCE[info.result_dtype(dtype)]
        np.testing.assert_allclose(
            got.astype(np.float64),
            want.astype(np.float64),
            rtol=tolerance,
            atol=tolerance,
            equal_nan=True,
            err_msg=message,
        )
    else:
        np.testing.assert_array_equal(got, want, err_msg=message)


def _split_inputs(inputs: list[np.ndarray]) -> list[list[np.ndarray]]:
    """``inputs`` of :func:`every_case`, grouped by case."""
    groups, position = [], 0
    for op, _ in CASES:
        arity = KERNEL_OPS[op].arity
        groups.append(inputs[position : position + arity])
        position += arity
    return groups


# -- the dicts of op code have the table's keys -----------------------------------------


@pytest.mark.parametrize("arity", (1, 2))
def test_each_renderer_has_code_for_exactly_the_tables_ops(arity):
    table = {op for op, info in KERNEL_OPS.items() if info.arity == arity}
    for where, code in (
        ("cfamily", (C_UNARY, C_BINARY)[arity - 1]),
        ("llvm", (LLVM_UNARY, LLVM_BINARY)[arity - 1]),
    ):
        assert sorted(table - set(code)) == [], f"{where}: ops of the table it does not render"
        assert sorted(set(code) - table) == [], f"{where}: code for ops the table lacks"


def test_the_interpreter_evaluates_exactly_the_tables_ops():
    assert set(EVALUATE) == set(KERNEL_OPS)


ALL_DTYPES = (
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "int8",
    "uint8",
    "int32",
    "uint32",
    "int64",
    "bool",
    INDEX,
)


@pytest.mark.parametrize("op", sorted(KERNEL_OPS))
def test_the_verifier_accepts_an_op_on_exactly_the_tables_dtypes(op):
    info = KERNEL_OPS[op]
    accepted = set()
    for dtype in ALL_DTYPES:
        x = Var("x", dtype)
        y = Var("y", dtype)
        i = Var("i0", INDEX, 1)
        node = _node(info, dtype, [x, y])
        from tcomp.ir.kernel.kernel import Let

        kernel = Kernel(
            "k0",
            (KernelArg("t", "bool", 1, "out"),),
            (
                Loop(
                    i,
                    (
                        Let(x, _zero(dtype)),
                        Let(y, _zero(dtype)),
                        Store("t", i, Binary("eq", node, node, "bool")),
                    ),
                ),
            ),
            Schedule(),
            ("%0 op",),
        )
        program = Program(
            "p", {"t": ProgramBuffer("t", TensorType((1,), "bool"), "output")}, [], ["t"], [kernel]
        )
        try:
            verify_program(program)
        except TcompVerifyError:
            continue
        accepted.add(dtype)
    assert accepted == set(info.operands), op


def _zero(dtype: str) -> Expr:
    from tcomp.ir.kernel.expr import Const

    if dtype == "bool":
        return Const(False, "bool")
    return Const(0.0 if dtype in FLOAT else 0, dtype)


# -- every op, every dtype, every renderer -------------------------------------------------


def test_the_cases_cover_every_op_and_dtype_of_the_table():
    assert {op for op, _ in CASES} == set(KERNEL_OPS)
    assert len(CASES) == sum(len(info.operands) for info in KERNEL_OPS.values())


@pytest.mark.parametrize("op, dtype", CASES, ids=[f"{op}-{dtype}" for op, dtype in CASES])
def test_each_op_renders_as_c_and_interprets_as_the_tables_numpy(op, dtype):
    program, inputs = build_program([(op, dtype)])
    verify_program(program)
    for dialect in ("opencl", "cuda"):
        source = render_program(program, dialect)
        assert "k0" in source, (op, dtype, dialect)
    (got,) = run_program(program, inputs)
    assert_matches(got, (op, dtype), inputs, "kernel interpreter")


def test_every_op_runs_on_llvm_as_the_tables_numpy():
    from tcomp.backends.llvm.backend import LLVMExecutable

    program, inputs = every_case()
    outputs = LLVMExecutable(program, 1)(inputs)
    for case, group, got in zip(CASES, _split_inputs(inputs), outputs):
        assert_matches(got, case, group, "llvm")


def test_every_op_runs_on_opencl_as_the_tables_numpy():
    pytest.importorskip("pyopencl")
    from tcomp.backends.registry import available_backends, get_backend

    if "opencl" not in available_backends():
        pytest.skip("no OpenCL platform here (pip install pocl-binary-distribution)")
    backend = get_backend("opencl")
    program, inputs = every_case()
    executable = backend.compile_program(program)
    outputs = executable([backend.from_host(x) for x in inputs])
    for case, group, got in zip(CASES, _split_inputs(inputs), outputs):
        assert_matches(backend.to_host(got), case, group, "opencl")


# -- 16-bit rounding -----------------------------------------------------------------------


def _every_value(dtype: str) -> np.ndarray:
    return np.arange(2**16, dtype=np.uint16).view(numpy_dtype(dtype))


@pytest.mark.parametrize("dtype", ("float16", "bfloat16"))
def test_the_ops_without_rounding_are_exact_on_16_bit_floats(dtype):
    """``rounds_half=False``: the float32 result of every 16-bit value (paired with a
    shifted copy for a binary op) is itself a 16-bit value, so no rounding is needed."""
    values = _every_value(dtype)
    exact = [
        info
        for info in KERNEL_OPS.values()
        if not info.rounds_half and "float32" in info.operands and info.result == "same"
    ]
    assert {info.name for info in exact} >= {
        "floor",
        "ceil",
        "trunc",
        "rint",
        "neg",
        "abs",
        "max",
        "min",
    }
    for info in exact:
        operands = [values, np.roll(values, 12345)][: info.arity]
        with np.errstate(all="ignore"):
            result = np.asarray(info.numpy(*[x.astype(np.float32) for x in operands]), np.float32)
        back = convert_array(result, dtype).astype(np.float32)
        np.testing.assert_array_equal(back, result, err_msg=f"{info.name} on {dtype}")
