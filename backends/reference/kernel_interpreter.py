"""Runs kernel-IR programs one scalar at a time with numpy: the kernel IR's specification.

Slow (a Python call per element and operation) and meant for tests on small
shapes: it pins down what each kernel-IR construct means, so lowering can
be checked without any compiled backend, and a compiled backend that
disagrees with it has a rendering bug, not a lowering bug.

Element arithmetic uses the graph primitives' numpy references on 0-d
arrays, so rounding is the reference executor's (``floordiv`` and ``mod``
on ``int32`` and floats are the ``floor_divide`` and ``remainder``
primitives: numpy's, a zero divisor giving 0 on ints; the bitwise ops are
the ``bitwise_*`` and shift primitives; ``threefry2x32_0``/``_1`` calls the
``threefry2x32`` primitive, in uint32); ``index`` values are Python ints. Which primitive
computes an op is the op table's (``KERNEL_OPS[op].primitive``; ``not``, ``isnan``,
``and``, ``or`` are its ``numpy`` functions), through ``EVALUATE``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from tcomp.ir.bfloat16 import to_bfloat16
from tcomp.ir.kernel.call import Call, threefry_word
from tcomp.ir.kernel.expr import (
    INDEX,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Reduce,
    Select,
    Unary,
    Var,
)
from tcomp.ir.kernel.kernel import (
    Assign,
    Block,
    Kernel,
    Let,
    Loop,
    Program,
    Stmt,
    Store,
    program_blocks,
)
from tcomp.ir.kernel.op_table import KERNEL_OPS, KernelOpInfo
from tcomp.ir.primitives import PRIMITIVES
from tcomp.ir.types import numpy_dtype

_INDEX_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b,
    "mod": lambda a, b: a % b,
    "max": max,
    "min": min,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}
_INDEX_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": lambda a: -a,
    "abs": abs,
    "sign": lambda a: (a > 0) - (a < 0),
}


# (operand values, result dtype) -> the value of one op
OpFunction = Callable[[list[Any], str], Any]


def _op_function(info: KernelOpInfo) -> OpFunction:
    """The op's graph primitive's numpy reference when the table names one (so 16-bit
    floats round as the reference executor rounds), else its ``numpy`` function."""
    primitive, numpy = info.primitive, info.numpy
    if primitive is not None:
        return lambda values, dtype: _primitive(primitive, values, {}, dtype)
    return lambda values, dtype: numpy_dtype(dtype).type(numpy(*values))


# every op of the table: KERNEL_OPS[op].primitive (floordiv is floor_divide ...) or .numpy
EVALUATE: dict[str, OpFunction] = {op: _op_function(info) for op, info in KERNEL_OPS.items()}


def run_program(program: Program, params: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Evaluates ``program`` on host arrays and returns its outputs (new arrays)."""
    memory: dict[str, np.ndarray] = {}
    for name, array in zip(program.params, params):
        memory[name] = np.ascontiguousarray(array).reshape(-1)
    for buffer in program.buffers.values():
        if buffer.kind == "constant":
            memory[buffer.name] = np.asarray(buffer.data).reshape(-1)
        elif buffer.kind in ("output", "temp"):
            # NaN (or a marked int) where nothing was stored, so a missed store shows
            fill = np.nan if buffer.type.dtype.startswith("float") else 0
            memory[buffer.name] = np.full(buffer.size, fill, numpy_dtype(buffer.type.dtype))

    def run(block: Block) -> None:
        for item in block.items:
            if isinstance(item, Block) and item.flag is not None:
                while memory[item.flag][0]:  # a while loop: tested before each run
                    run(item)
            elif isinstance(item, Block):
                for _ in range(item.count):  # a repeat loop: a scan's body
                    run(item)
            else:
                run_kernel(program.kernels[item], memory)

    run(program_blocks(program))
    return [
        memory[name].reshape(program.buffers[name].type.shape).copy() for name in program.outputs
    ]


def run_kernel(kernel: Kernel, memory: dict[str, np.ndarray]) -> None:
    """Runs one kernel over flat buffers (``memory`` maps buffer names to 1-d arrays)."""
    _run_block(kernel.body, {}, memory)


def _run_block(body: tuple[Stmt, ...], env: dict[str, Any], memory: dict[str, np.ndarray]) -> None:
    for stmt in body:
        if isinstance(stmt, Loop):
            for i in range(stmt.extent):
                env[stmt.var.name] = i
                _run_block(stmt.body, env, memory)
        elif isinstance(stmt, (Let, Assign)):
            env[stmt.var.name] = evaluate_expr(stmt.value, env, memory)
        elif isinstance(stmt, Store):
            index = evaluate_expr(stmt.index, env, memory)
            target = memory[stmt.buffer]
            if not 0 <= index < target.size:
                raise IndexError(f"store to %{stmt.buffer}[{index}] outside its {target.size} elements")
            target[index] = evaluate_expr(stmt.value, env, memory)
        else:
            raise TypeError(f"not a statement: {stmt!r}")


def evaluate_expr(expr: Expr, env: dict[str, Any], memory: dict[str, np.ndarray]) -> Any:
    """The value of ``expr``: a Python int for ``index``, a numpy scalar otherwise."""
    if isinstance(expr, Const):
        if expr.dtype == "bfloat16":
            return to_bfloat16(expr.value)[()]  # tcomp's rounding, not ml_dtypes'
        return expr.value if expr.dtype == INDEX else numpy_dtype(expr.dtype).type(expr.value)
    if isinstance(expr, Var):
        return env[expr.name]
    if isinstance(expr, Load):
        index = evaluate_expr(expr.index, env, memory)
        source = memory[expr.buffer]
        if not 0 <= index < source.size:
            raise IndexError(f"load of %{expr.buffer}[{index}] outside its {source.size} elements")
        return source[index]
    if isinstance(expr, Select):
        cond = evaluate_expr(expr.cond, env, memory)
        return evaluate_expr(expr.a if cond else expr.b, env, memory)
    if isinstance(expr, Cast):
        value = evaluate_expr(expr.x, env, memory)
        if expr.dtype == INDEX:
            return int(value)
        return _primitive("convert", [value], {"dtype": expr.dtype}, expr.dtype)
    if isinstance(expr, Unary):
        value = evaluate_expr(expr.x, env, memory)
        if expr.x.dtype == INDEX:
            return _INDEX_UNARY[expr.op](value)
        return EVALUATE[expr.op]([value], expr.dtype)
    if isinstance(expr, Binary):
        a = evaluate_expr(expr.a, env, memory)
        if (expr.op == "and" and not a) or (expr.op == "or" and a):
            return np.bool_(bool(a))  # short-circuit: a guarded load is never evaluated
        b = evaluate_expr(expr.b, env, memory)
        if expr.a.dtype == INDEX:
            return _INDEX_OPS[expr.op](a, b)
        return EVALUATE[expr.op]([a, b], expr.dtype)
    if isinstance(expr, Reduce):
        return _reduce(expr, env, memory)
    if isinstance(expr, Call):  # threefry2x32_<word>: the primitive's numpy uint32 reference
        args = [evaluate_expr(arg, env, memory) for arg in expr.args]
        return _primitive("threefry2x32", args, {"word": threefry_word(expr.op)}, expr.dtype)
    raise TypeError(f"not an expression: {expr!r}")


def _primitive(op: str, values: list[Any], attrs: dict[str, Any], dtype: str) -> Any:
    arrays = [np.asarray(v) for v in values]
    return PRIMITIVES[op].evaluate(arrays, attrs, dtype)[()]


def _reduce(expr: Reduce, env: dict[str, Any], memory: dict[str, np.ndarray]) -> Any:
    values = []
    shape = tuple(int(axis.extent or 0) for axis in expr.axes)  # reduction axes have extents
    for position in np.ndindex(*shape):
        for axis, i in zip(expr.axes, position):
            env[axis.name] = i
        values.append(evaluate_expr(expr.body, env, memory))
    array = np.asarray(values, dtype=numpy_dtype(expr.body.dtype))
    if expr.op == "argmax":
        return np.int32(np.argmax(array))
    op = {"add": "reduce_sum", "max": "reduce_max", "min": "reduce_min"}[expr.op]
    return PRIMITIVES[op].evaluate([array], {"axes": (0,)}, expr.dtype)[()]
