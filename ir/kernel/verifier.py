"""The kernel-IR verifier: the invariants every kernel pass and every renderer rely on.

:func:`verify_program` raises :class:`TcompVerifyError` when

- buffers: a key differs from its buffer's name, a kind is unknown, a
  constant has no data or data of another type, a planned temp lies
  outside the arena; ``params`` are not exactly the ``param`` buffers;
  an output is not a buffer, is a temp, or is an ``output`` buffer that no
  kernel stores to; an ``output`` buffer is not returned;
- repeat loops: a name is not an identifier, a count not a count, a kernel
  names a loop the program lacks, or a loop's kernels are not consecutive;
  a while loop (``Program.conditions``) is also a repeat loop, or its flag is not
  a one-element bool or int32 buffer that a kernel inside the loop stores to;
- kernels: a name repeats; an argument is not a program buffer of the
  same dtype and size, or repeats; a param or constant is written (``out``
  or ``inout``); a load reads an ``out``-only argument or a store writes an
  ``in`` argument, or names no argument; the element types differ;
- variables: a variable is used where no enclosing loop (or earlier ``let``
  in an enclosing block) binds it, or is not the very ``Var`` bound there
  (same type and extent); a name is bound twice in one scope chain; an
  assignment targets a loop variable or an undeclared local;
- types: a ``Reduce`` remains; binary operands differ in type, or an op
  does not take that type (its ``operands`` in :data:`tcomp.ir.kernel.op_table.KERNEL_OPS`: ``div`` and the float functions want floats,
  ``pow`` floats, int32 or int64, ``floordiv``/``mod`` numbers, ``&&``/``||``/``not``
  bools, ``shl``/``shr`` int32 or int64, the other bitwise ops those or bool, a ``Call``
  of ``CALL_OPS`` its count of int32 operands; no unary or binary op takes a storage
  type, int8, uint8 or uint32); a
  node's type is not the one its operands give; a ``select`` condition is not
  bool; an index is not ``index``-typed; a constant's value does not fit its
  type; a loop extent is negative;
- an integer leaves int64, the index type of the compiled backends (sizes,
  loop extents, index constants, offsets, arena bytes, schedule factors),
  or is a bool;
- the schedule names a variable that is no loop of the kernel, or a factor < 1; a
  ``columns`` loop is not lets, a reduction and the rest
  (:func:`~tcomp.ir.kernel.analysis.columns.column_problem`); a GPU launch's fields
  disagree (kind, sizes, a ``local`` that does not divide ``global``) or its ``collapse``
  and global size do not fit the kernel's loops
  (:func:`~tcomp.ir.kernel.analysis.gpu_nest.launch_problem`);
- bounds: an index whose :func:`value_range` is finite reaches outside its
  buffer (loads in both arms of a ``select`` count: renderers may evaluate
  both).

The message names the kernel, the statement and the pass (when given) and
prints the program around the faulty line, marked ``>>``::

    verify failed after pass 'tile': kernel k0, `%t1[i0 + 1] = acc0`: store index
    i0 + 1 lies in 1..4, outside %t1's 4 elements
           for i0 in 0..4 {
             let acc0: f32 = 0.0:f32
      >>     %t1[i0 + 1] = acc0
           }
"""

from __future__ import annotations

import math
import re
from typing import Callable

import numpy as np

from tcomp.ir.errors import TcompVerifyError
from tcomp.ir.kernel.analysis.columns import column_problem
from tcomp.ir.kernel.analysis.gpu_nest import launch_problem
from tcomp.ir.kernel.analysis.overlap import overlapping_temps
from tcomp.ir.kernel.analysis.parallel import split_problem
from tcomp.ir.kernel.call import Call
from tcomp.ir.kernel.expr import (
    BINARY_OPS,
    INDEX,
    INTEGER_TYPES,
    SCALAR_TYPES,
    UNARY_OPS,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Reduce,
    Select,
    Unary,
    Var,
    value_range,
)
from tcomp.ir.kernel.kernel import (
    BUFFER_KINDS,
    GPU_KINDS,
    Assign,
    GpuLaunch,
    Kernel,
    KernelArg,
    Let,
    Loop,
    Program,
    Stmt,
    Store,
    program_blocks,
)
from tcomp.ir.kernel.ops import CALL_OPS, KERNEL_OPS
from tcomp.ir.kernel.printer import (
    Line,
    format_expr,
    format_statement,
    keyed_kernel_lines,
    keyed_program_lines,
)
from tcomp.ir.types import (
    MAX_ELEMENTS,
    STORAGE_INT_DTYPES,
    TensorType,
    compute_dtype,
    int_bounds,
    is_int,
    numpy_dtype,
    shape_problem,
)

CONTEXT_LINES = 3  # lines of IR shown before and after the faulty one

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ANY_GROUP_SIZE = frozenset({"single", "nest", "coarsened", "vector"})  # GPU kinds, local None
_BUFFER_NAME = re.compile(r"[A-Za-z0-9_.]+\Z")
_RESERVED = frozenset({"for", "let", "in", "true", "false", "nan", "inf", "schedule", "kernel"})
_INT64 = np.iinfo(np.int64)

Key = tuple  # what a printed line shows: ("buffer", name), ("stmt", kernel, path) ...


class _Fault(Exception):
    """Internal: one broken invariant, at the printed line ``key``."""

    def __init__(self, key: Key, what: str, message: str) -> None:
        super().__init__(message)
        self.key, self.what, self.message = key, what, message


def verify_program(program: Program, pass_name: str | None = None) -> None:
    """Raises :class:`TcompVerifyError` when ``program`` breaks an invariant (module docstring).

    ``pass_name`` names the pass that produced ``program``, for the message.
    """
    try:
        _check_program(program)
    except _Fault as fault:
        _raise(fault, pass_name, keyed_program_lines(program, safe=True))


def verify_kernel(kernel: Kernel, pass_name: str | None = None) -> None:
    """Checks one kernel on its own (its arguments are not matched to program buffers)."""
    try:
        _KernelChecker(kernel, 0, None).check()
    except _Fault as fault:
        _raise(fault, pass_name, keyed_kernel_lines(kernel, safe=True))


def verify_cpu_schedule(program: Program, pass_name: str | None = None) -> None:
    """Raises :class:`TcompVerifyError` when a kernel's ``parallel`` names a loop that
    cannot be split across CPU threads (:func:`~tcomp.ir.kernel.analysis.split_problem`):
    the invariant of a CPU schedule (after ``schedule-cpu``; the llvm renderer checks it
    too), on top of :func:`verify_program`'s, which any backend's schedule meets."""
    for index, kernel in enumerate(program.kernels):
        problem = split_problem(kernel)
        if problem is not None:
            fault = _Fault(("schedule", index), f"kernel {kernel.name}",
                           f"schedule: parallel={kernel.schedule.parallel}: {problem}")
            _raise(fault, pass_name, keyed_program_lines(program, safe=True))


def _raise(fault: _Fault, pass_name: str | None, lines: list[Line]) -> None:
    after = f" after pass {pass_name!r}" if pass_name else ""
    raise TcompVerifyError(
        f"verify failed{after}: {fault.what}: {fault.message}\n{_context(lines, fault.key)}"
    ) from None


# ---------------------------------------------------------------------------
# Program-level checks


def _check_program(program: Program) -> None:
    header: Key = ("header",)
    if not _is_count(program.arena_bytes):
        raise _Fault(header, "program", f"arena_bytes is {program.arena_bytes!r}")
    for key, buffer in program.buffers.items():
        _check_buffer(key, buffer, program.arena_bytes)
    if len(set(program.params)) != len(program.params):
        raise _Fault(header, "program", f"a parameter repeats in {program.params}")
    for name in program.params:
        if name not in program.buffers or program.buffers[name].kind != "param":
            raise _Fault(header, "program", f"parameter %{name} is not a param buffer")
    for buffer in program.buffers_of_kind("param"):
        if buffer.name not in program.params:
            raise _Fault(header, "program", f"param buffer %{buffer.name} is not a parameter")
    for loop, count in program.loops.items():
        if not isinstance(loop, str) or not _NAME.match(loop) or not _is_count(count):
            raise _Fault(header, "program", f"repeat loop {loop!r} with count {count!r}")
    _check_conditions(program)
    try:
        program_blocks(program)
    except ValueError as error:
        raise _Fault(header, "program", str(error)) from None
    names = set()
    for index, kernel in enumerate(program.kernels):
        if kernel.name in names:
            raise _Fault(("kernel", index), f"kernel {kernel.name}", "the name is used twice")
        names.add(kernel.name)
        _KernelChecker(kernel, index, program).check()
    stored = {
        stmt.buffer
        for kernel in program.kernels
        for stmt in _walk(kernel.body)
        if isinstance(stmt, Store)
    }
    for name in program.outputs:
        output = program.buffers.get(name)
        if output is None:
            raise _Fault(header, "program", f"output %{name} is not a buffer")
        if output.kind == "temp":
            raise _Fault(("buffer", name), "program", f"output %{name} is a temp buffer")
        if output.kind == "output" and name not in stored:
            raise _Fault(("buffer", name), "program", f"no kernel stores to output %{name}")
    for buffer in program.buffers_of_kind("output"):
        if buffer.name not in program.outputs:
            raise _Fault(
                ("buffer", buffer.name), "program", f"%{buffer.name} is not among the outputs"
            )


def _check_conditions(program: Program) -> None:
    """The while loops' rules (see the module docstring)."""
    header: Key = ("header",)
    for loop, flag in program.conditions.items():
        if not isinstance(loop, str) or not _NAME.match(loop) or loop in program.loops:
            raise _Fault(header, "program", f"while loop {loop!r}: the name is not an "
                         "identifier or is a repeat loop too")
        buffer = program.buffers.get(flag) if isinstance(flag, str) else None
        if buffer is None or buffer.size != 1 or buffer.type.dtype not in ("bool", "int32"):
            raise _Fault(header, "program", f"while loop {loop}: its condition {flag!r} is not "
                         "a one-element bool or int32 buffer")
        if not any(loop in kernel.loops and isinstance(stmt, Store) and stmt.buffer == flag
                   for kernel in program.kernels for stmt in _walk(kernel.body)):
            raise _Fault(header, "program", f"while loop {loop}: no kernel inside it stores to "
                         f"its condition %{flag}")


def _check_buffer(key: str, buffer, arena_bytes: int) -> None:
    line: Key = ("buffer", key)
    what = f"buffer %{key}"
    if buffer.name != key or not _BUFFER_NAME.match(str(buffer.name)):
        raise _Fault(line, what, f"is named {buffer.name!r} (buffer names: letters, digits, _ .)")
    if buffer.kind not in BUFFER_KINDS:
        raise _Fault(line, what, f"unknown kind {buffer.kind!r} (kinds: {BUFFER_KINDS})")
    if not isinstance(buffer.type, TensorType):
        raise _Fault(line, what, f"type {buffer.type!r} is not a TensorType")
    problem = shape_problem(buffer.type.shape)
    if problem:
        raise _Fault(line, what, f"invalid shape: {problem}")
    if buffer.kind == "constant":
        data = buffer.data
        if not isinstance(data, np.ndarray):
            raise _Fault(line, what, "a constant buffer needs its data as a numpy array")
        if data.shape != buffer.type.shape or data.dtype != numpy_dtype(buffer.type.dtype):
            found = f"{data.dtype}{list(data.shape)}"
            raise _Fault(line, what, f"is declared {buffer.type} but its data is {found}")
    elif buffer.data is not None:
        raise _Fault(line, what, f"a {buffer.kind} buffer holds data")
    if buffer.offset is not None:
        if buffer.kind != "temp":
            raise _Fault(line, what, f"only temps have arena offsets, this is a {buffer.kind}")
        if not is_int(buffer.offset) or buffer.offset > MAX_ELEMENTS:
            raise _Fault(line, what, f"offset {buffer.offset!r} is not an int in 0..{MAX_ELEMENTS}")
        end = buffer.offset + buffer.size * numpy_dtype(buffer.type.dtype).itemsize
        if buffer.offset < 0 or (arena_bytes and end > arena_bytes):
            raise _Fault(
                line, what, f"bytes {buffer.offset}..{end} lie outside the {arena_bytes}-byte arena"
            )


def _is_count(value: object) -> bool:
    """An int (not a bool) in ``0 .. MAX_ELEMENTS``: a size, extent, offset or factor."""
    return is_int(value) and 0 <= value <= MAX_ELEMENTS  # type: ignore[operator]


def _walk(body: tuple[Stmt, ...]):
    for stmt in body:
        yield stmt
        if isinstance(stmt, Loop) and isinstance(stmt.body, tuple):
            yield from _walk(stmt.body)


# ---------------------------------------------------------------------------
# Kernel checks


class _KernelChecker:
    """Checks one kernel: arguments, schedule, then every statement in scope."""

    def __init__(self, kernel: Kernel, index: int, program: Program | None) -> None:
        self.kernel, self.index, self.program = kernel, index, program
        self.args: dict[str, KernelArg] = {}
        self.loop_names: set[str] = set()
        self.key: Key = ("kernel", index)
        self.what = f"kernel {kernel.name}"

    def fault(self, message: str) -> _Fault:
        return _Fault(self.key, self.what, message)

    def check(self) -> None:
        if not isinstance(self.kernel.name, str) or not _NAME.match(self.kernel.name):
            raise self.fault(f"kernel name {self.kernel.name!r} is not an identifier")
        for arg in self.kernel.args:
            self.check_arg(arg)
        self.block(self.kernel.body, (), [{}], live=True)
        self.check_schedule()

    def check_arg(self, arg: KernelArg) -> None:
        if arg.name in self.args:
            raise self.fault(f"argument %{arg.name} appears twice")
        self.args[arg.name] = arg
        if arg.access not in ("in", "out", "inout"):
            raise self.fault(f"argument %{arg.name} has access {arg.access!r} (in, out, inout)")
        if arg.dtype not in SCALAR_TYPES or not _is_count(arg.size):
            raise self.fault(f"argument %{arg.name}: bad dtype {arg.dtype!r} or size {arg.size!r}")
        if self.program is None:
            return
        buffer = self.program.buffers.get(arg.name)
        if buffer is None:
            raise self.fault(f"argument %{arg.name} is not a buffer of the program")
        if buffer.type.dtype != arg.dtype or buffer.size != arg.size:
            raise self.fault(
                f"argument %{arg.name} is {arg.dtype}[{arg.size}] but the buffer is "
                f"{buffer.type.dtype}[{buffer.size}]"
            )
        if buffer.kind in ("param", "constant") and arg.access != "in":
            raise self.fault(f"%{arg.name} is a {buffer.kind} and is never written, yet it is "
                             f"an {arg.access} argument")

    def check_schedule(self) -> None:
        self.key = ("schedule", self.index)
        self.what = f"kernel {self.kernel.name}"
        schedule = self.kernel.schedule
        if schedule.parallel is not None and schedule.parallel not in self.loop_names:
            raise self.fault(f"schedule: parallel={schedule.parallel} is not a loop of the kernel")
        for field_name in ("vector", "unroll", "tile", "columns"):
            for name, factor in getattr(schedule, field_name).items():
                if name not in self.loop_names:
                    raise self.fault(f"schedule: {field_name} names {name!r}, not a loop")
                if not _is_count(factor) or factor < 1:
                    raise self.fault(f"schedule: {field_name}[{name}] = {factor!r}, not >= 1")
        problem = column_problem(self.kernel)
        if problem is not None:
            raise self.fault(f"schedule: {problem}")
        if schedule.gpu is not None:
            self.check_gpu_launch(schedule.gpu)

    def check_gpu_launch(self, launch: GpuLaunch) -> None:
        """A GPU launch's own consistency (whether the kernel can run as it says is the
        renderer's check, which knows the dialect)."""
        if launch.kind not in GPU_KINDS:
            raise self.fault(f"schedule: gpu kind {launch.kind!r} is not one of {GPU_KINDS}")
        for name in ("global_size", "tm", "tn", "coarsen"):
            value = getattr(launch, name)
            if not _is_count(value) or value < 1:
                raise self.fault(f"schedule: gpu {name} = {value!r}, not >= 1")
        local = launch.local_size
        if local is not None and (not _is_count(local) or local < 1 or launch.global_size % local):
            raise self.fault(
                f"schedule: gpu local size {local!r} does not divide the global size "
                f"{launch.global_size}"
            )
        if (local is None) != (launch.kind in _ANY_GROUP_SIZE):
            raise self.fault(f"schedule: a {launch.kind} launch has local size {local!r}")
        aliased = overlapping_temps(self.program, self.kernel) if self.program else frozenset()
        problem = launch_problem(self.kernel, launch, aliased)
        if problem is not None:
            raise self.fault(f"schedule: gpu: {problem}")

    # -- statements ------------------------------------------------------

    def bind(self, var: object, scopes: list[dict[str, Var]], loop: bool) -> Var:
        if not isinstance(var, Var):
            raise self.fault(f"binds {var!r}, which is not a Var")
        if not isinstance(var.name, str) or not _NAME.match(var.name) or var.name in _RESERVED:
            raise self.fault(f"variable name {var.name!r} is not an identifier or is reserved")
        if any(var.name in scope for scope in scopes):
            raise self.fault(f"{var.name} is already bound in an enclosing scope")
        if loop:
            if var.dtype != INDEX or not _is_count(var.extent):
                raise self.fault(
                    f"loop variable {var.name} must be index-typed with extent >= 0 "
                    f"(and within int64), found {var.dtype} 0..{var.extent!r}"
                )
        elif var.extent is not None or var.dtype not in SCALAR_TYPES:
            raise self.fault(f"local {var.name} must have a scalar type and no extent")
        scopes[-1][var.name] = var
        return var

    def block(self, body: object, path: tuple, scopes: list[dict[str, Var]], live: bool) -> None:
        if not isinstance(body, tuple):
            raise self.fault(f"a body is a tuple of statements, found {type(body).__name__}")
        for position, stmt in enumerate(body):
            self.key = ("stmt", self.index, path + (position,))
            self.what = f"kernel {self.kernel.name}, `{_safe(lambda: format_statement(stmt))}`"
            self.statement(stmt, path + (position,), scopes, live)

    def statement(self, stmt: Stmt, path: tuple, scopes: list[dict[str, Var]], live: bool) -> None:
        if isinstance(stmt, Loop):
            var = self.bind(stmt.var, [*scopes, {}], loop=True)
            self.loop_names.add(var.name)
            self.block(stmt.body, path, [*scopes, {var.name: var}], live and (var.extent or 0) > 0)
        elif isinstance(stmt, Let):
            self.expr(stmt.value, scopes, live)
            self.bind(stmt.var, scopes, loop=False)
            self.same_type(stmt.var.dtype, stmt.value, f"local {stmt.var.name}")
        elif isinstance(stmt, Assign):
            self.expr(stmt.value, scopes, live)
            self.use(stmt.var, scopes)
            if stmt.var.extent is not None:
                raise self.fault(f"assigns to the loop variable {stmt.var.name}")
            self.same_type(stmt.var.dtype, stmt.value, f"local {stmt.var.name}")
        elif isinstance(stmt, Store):
            arg = self.access(stmt.buffer, ("out", "inout"), "store to")
            self.index_expr(stmt.index, arg, scopes, live, "store")
            self.expr(stmt.value, scopes, live)
            self.same_type(arg.dtype, stmt.value, f"%{arg.name}")
        else:
            raise self.fault(f"{stmt!r} is not a statement")

    def same_type(self, dtype: str, value: Expr, target: str) -> None:
        if value.dtype != dtype:
            raise self.fault(f"{target} is {dtype} but the value is {value.dtype}")

    def access(self, buffer: str, allowed: tuple[str, ...], verb: str) -> KernelArg:
        arg = self.args.get(buffer)
        if arg is None:
            known = ", ".join(f"%{a}" for a in self.args) or "none"
            raise self.fault(f"{verb} %{buffer}, which is not an argument (arguments: {known})")
        if arg.access not in allowed:
            raise self.fault(f"{verb} %{buffer}, an {arg.access!r} argument")
        return arg

    def index_expr(self, index: Expr, arg: KernelArg, scopes, live: bool, what: str) -> None:
        self.expr(index, scopes, live)
        if index.dtype != INDEX:
            raise self.fault(f"{what} index {_show(index)} is {index.dtype}, not index")
        lo, hi = value_range(index)
        if live and not (math.isinf(lo) or math.isinf(hi)) and (lo < 0 or hi >= arg.size):
            raise self.fault(
                f"{what} index {_show(index)} lies in {lo}..{hi}, outside %{arg.name}'s "
                f"{arg.size} elements"
            )

    def use(self, var: Var, scopes: list[dict[str, Var]]) -> None:
        for scope in reversed(scopes):
            if var.name in scope:
                if scope[var.name] != var:
                    raise self.fault(f"{var!r} is used where {scope[var.name]!r} is bound")
                return
        raise self.fault(
            f"variable {var.name} is used but not bound (no enclosing loop or earlier let)"
        )

    # -- expressions -----------------------------------------------------

    def expr(self, expr: Expr, scopes: list[dict[str, Var]], live: bool) -> None:
        if not isinstance(expr, Expr):
            raise self.fault(f"{expr!r} is not an expression")
        if isinstance(expr, Var):
            return self.use(expr, scopes)
        if isinstance(expr, Reduce):
            raise self.fault(f"a Reduce remains ({_show(expr)}); lowering hoists them")
        if expr.dtype not in SCALAR_TYPES:
            raise self.fault(f"{_show(expr)} has unknown type {expr.dtype!r}")
        if isinstance(expr, Const):
            return self.const(expr)
        for child in expr.children():
            self.expr(child, scopes, live)
        if isinstance(expr, Load):
            arg = self.access(expr.buffer, ("in", "inout"), "load from")
            self.index_expr(expr.index, arg, scopes, live, "load")
            expected = arg.dtype
        elif isinstance(expr, Unary):
            expected = self.unary(expr)
        elif isinstance(expr, Binary):
            expected = self.binary(expr)
        elif isinstance(expr, Select):
            if expr.cond.dtype != "bool":
                raise self.fault(f"select condition {_show(expr.cond)} is {expr.cond.dtype}")
            if expr.a.dtype != expr.b.dtype:
                raise self.fault(f"select arms differ: {expr.a.dtype} and {expr.b.dtype}")
            expected = expr.a.dtype
        elif isinstance(expr, Cast):
            expected = expr.dtype
        elif isinstance(expr, Call):
            expected = self.call(expr)
        else:
            raise self.fault(f"{expr!r} is not a kernel-IR expression")
        if expr.dtype != expected:
            raise self.fault(f"{_show(expr)} is typed {expr.dtype}, its operands give {expected}")

    def const(self, expr: Const) -> None:
        value, dtype = expr.value, expr.dtype
        if dtype == "bool":
            ok = isinstance(value, (bool, np.bool_))
        elif dtype in INTEGER_TYPES:
            low, high = int_bounds("int64" if dtype == INDEX else dtype)
            ok = is_int(value) and low <= value <= high
        else:
            ok = isinstance(value, float)
        if not ok:
            raise self.fault(f"constant {value!r} does not fit its type {dtype}")

    def unary(self, expr: Unary) -> str:
        x = expr.x.dtype
        if expr.op not in UNARY_OPS:
            raise self.fault(f"unknown unary op {expr.op!r}")
        if x in STORAGE_INT_DTYPES:
            raise self.fault(f"{expr.op} does not take {x}, a storage type (compute it in "
                             f"{compute_dtype(x)}): {_show(expr)}")
        info = KERNEL_OPS[expr.op]
        if x not in info.operands:
            raise self.fault(f"{expr.op} does not take {x}: {_show(expr)}")
        return info.result_dtype(x)

    def call(self, expr: Call) -> str:
        count = CALL_OPS.get(expr.op)
        if count is None:
            raise self.fault(f"unknown call op {expr.op!r}")
        if len(expr.args) != count:
            raise self.fault(f"{expr.op} takes {count} operands, got {len(expr.args)}")
        if any(arg.dtype != "int32" for arg in expr.args):
            found = ", ".join(arg.dtype for arg in expr.args)
            raise self.fault(f"{expr.op} takes int32 operands, got {found}: {_show(expr)}")
        return "int32"

    def binary(self, expr: Binary) -> str:
        op, a, b = expr.op, expr.a.dtype, expr.b.dtype
        if op not in BINARY_OPS:
            raise self.fault(f"unknown binary op {op!r}")
        if a != b:
            raise self.fault(f"{op} of {a} and {b}: operands must have one type ({_show(expr)})")
        if a in STORAGE_INT_DTYPES:
            raise self.fault(f"{op} does not take {a}, a storage type (compute it in "
                             f"{compute_dtype(a)}): {_show(expr)}")
        info = KERNEL_OPS[op]  # pow on int32 / int64: exact (ir/primitives integer_power)
        if a not in info.operands:
            raise self.fault(f"{op} does not take {a}: {_show(expr)}")
        return info.result_dtype(a)


# ---------------------------------------------------------------------------
# Context


def _safe(render: Callable[[], str], fallback: Callable[[], str] | None = None) -> str:
    try:
        return render()
    except Exception:  # broken IR must still print
        return fallback() if fallback else "<unprintable>"


def _show(expr: Expr) -> str:
    return _safe(lambda: format_expr(expr), lambda: repr(expr))


def _context(lines: list[Line], key: Key) -> str:
    """The printed IR around the line showing ``key``, that line marked ``>>``."""
    keys = [k for k, _ in lines]
    faulty = keys.index(key) if key in keys else 0
    first = max(0, faulty - CONTEXT_LINES)
    last = min(len(lines), faulty + CONTEXT_LINES + 1)
    shown = [("  >> " if i == faulty else "     ") + lines[i][1] for i in range(first, last)]
    if first > 0:
        shown.insert(0, "     ...")
    if last < len(lines):
        shown.append("     ...")
    return "\n".join(shown)

