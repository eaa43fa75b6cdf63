"""The text form of the kernel IR: a readable loop nest (``print_kernel``, ``print_program``).

Grammar (one construct per line, two-space indentation per level)::

    program @name(%p0: f32[4,3], ...) -> (%t3, ...) {
      out %t3: f32[4]                      // buffer declarations: out | temp
      const %c1: f32[3] = dense<...>       // constants, in the graph IR's dense<> form
      kernel k0(in %p0: f32[12], out %t3: f32[4])  // origin, free text
        schedule {parallel=i0, vector={i1: 16}}    // only when not the default
        for i0 in 0..4 {
          let acc0: f32 = 0.0
          acc0 = max(acc0, %p0[i0 * 3 + 1])
          %t3[i0] = acc0
        }
    }

Expressions: integer constants print bare (``3``) and are ``index``
unless cast; other constants print with their type (``1.5:f32``,
``7:i32``, ``true``); variables print their name (loop variables are
declared by their ``for``, locals by their ``let``); loads are
``%buf[index]``; ``+ - * / // %`` and comparisons ``== != < <= > >=`` and
``&& ||`` print infix and fully parenthesised below the top level; other
ops print as calls (``exp(x)``, ``max(a, b)``, ``select(c, a, b)``); a
cast prints as its target type applied (``f32(x)``); a reduction (only
before hoisting) as ``reduce_add[r0 in 0..3](body)``.
"""

from __future__ import annotations

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
from tcomp.ir.kernel.kernel import Assign, Kernel, Let, Loop, Program, Schedule, Stmt, Store
from tcomp.ir.text import format_attr
from tcomp.ir.types import short_name

INFIX = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "floordiv": "//",
    "mod": "%",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "and": "&&",
    "or": "||",
}


def type_name(dtype: str) -> str:
    """``f32``, ``i32``, ``bool``, ``index``."""
    return INDEX if dtype == INDEX else short_name(dtype)


def format_expr(expr: Expr, top: bool = True) -> str:
    """The text of one expression (see the module docstring)."""
    if isinstance(expr, Const):
        return _format_const(expr)
    if isinstance(expr, Var):
        return expr.name
    if isinstance(expr, Load):
        return f"%{expr.buffer}[{format_expr(expr.index)}]"
    if isinstance(expr, Binary):
        if expr.op in INFIX:
            text = f"{format_expr(expr.a, False)} {INFIX[expr.op]} {format_expr(expr.b, False)}"
            return text if top else f"({text})"
        return f"{expr.op}({format_expr(expr.a)}, {format_expr(expr.b)})"
    if isinstance(expr, Unary):
        return f"{expr.op}({format_expr(expr.x)})"
    if isinstance(expr, Select):
        parts = ", ".join(format_expr(e) for e in (expr.cond, expr.a, expr.b))
        return f"select({parts})"
    if isinstance(expr, Cast):
        return f"{type_name(expr.dtype)}({format_expr(expr.x)})"
    if isinstance(expr, Reduce):
        axes = ", ".join(f"{v.name} in 0..{v.extent}" for v in expr.axes)
        return f"reduce_{expr.op}[{axes}]({format_expr(expr.body)})"
    raise TypeError(f"not a kernel-IR expression: {expr!r}")


def _format_const(expr: Const) -> str:
    if expr.dtype == "bool":
        return "true" if expr.value else "false"
    if expr.dtype == INDEX:
        return str(int(expr.value))
    if expr.dtype == "int32":
        return f"{int(expr.value)}:i32"
    return f"{format_attr(float(expr.value))}:{type_name(expr.dtype)}"


def format_schedule(schedule: Schedule) -> str:
    parts = []
    if schedule.parallel is not None:
        parts.append(f"parallel={schedule.parallel}")
    for name in ("vector", "unroll", "tile"):
        mapping = getattr(schedule, name)
        if mapping:
            inner = ", ".join(f"{k}: {v}" for k, v in mapping.items())
            parts.append(f"{name}={{{inner}}}")
    return "schedule {" + ", ".join(parts) + "}"


def statement_lines(body: tuple[Stmt, ...], indent: str) -> list[str]:
    lines: list[str] = []
    for stmt in body:
        if isinstance(stmt, Loop):
            lines.append(f"{indent}for {stmt.var.name} in 0..{stmt.extent} {{")
            lines.extend(statement_lines(stmt.body, indent + "  "))
            lines.append(f"{indent}}}")
        elif isinstance(stmt, Let):
            lines.append(
                f"{indent}let {stmt.var.name}: {type_name(stmt.var.dtype)} = "
                f"{format_expr(stmt.value)}"
            )
        elif isinstance(stmt, Assign):
            lines.append(f"{indent}{stmt.var.name} = {format_expr(stmt.value)}")
        elif isinstance(stmt, Store):
            lines.append(
                f"{indent}%{stmt.buffer}[{format_expr(stmt.index)}] = {format_expr(stmt.value)}"
            )
        else:
            raise TypeError(f"not a kernel-IR statement: {stmt!r}")
    return lines


def kernel_lines(kernel: Kernel, indent: str = "") -> list[str]:
    args = ", ".join(
        f"{a.access} %{a.name}: {type_name(a.dtype)}[{a.size}]" for a in kernel.args
    )
    header = f"{indent}kernel {kernel.name}({args})"
    if kernel.origin:
        header += "  // " + ", ".join(kernel.origin)
    lines = [header]
    if not kernel.schedule.is_default():
        lines.append(f"{indent}  {format_schedule(kernel.schedule)}")
    lines.extend(statement_lines(kernel.body, indent + "  "))
    return lines


def print_kernel(kernel: Kernel) -> str:
    """The text of one kernel."""
    return "\n".join(kernel_lines(kernel)) + "\n"


def print_program(program: Program) -> str:
    """The text of a whole program: buffer declarations, then each kernel in order."""
    params = ", ".join(f"%{name}: {program.buffers[name].type}" for name in program.params)
    outputs = ", ".join(f"%{name}" for name in program.outputs)
    lines = [f"program @{program.name}({params}) -> ({outputs}) {{"]
    for buffer in program.buffers.values():
        if buffer.kind == "constant":
            lines.append(f"  const %{buffer.name}: {buffer.type} = {format_attr(buffer.data)}")
        elif buffer.kind in ("output", "temp"):
            word = "out" if buffer.kind == "output" else "temp"
            lines.append(f"  {word} %{buffer.name}: {buffer.type}")
    for kernel in program.kernels:
        lines.extend(kernel_lines(kernel, "  "))
    lines.append("}")
    return "\n".join(lines) + "\n"
