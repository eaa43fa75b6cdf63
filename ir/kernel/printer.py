"""The text form of the kernel IR: a readable loop nest (``print_kernel``, ``print_program``).

``parse_program(print_program(p))`` gives back an equal program and prints
to the same text (:mod:`tcomp.ir.kernel.parser`). Grammar, one construct per
line, two-space indentation per level (the parser goes by the braces)::

    program @name(%p0: f32[4,3], ...) -> (%t3, ...) [arena_bytes=256] {
      out %t3: f32[4]                      // buffers: out | temp | const
      temp %t2: f32[4] offset=0            // offset: a planned temp's place in the arena
      const %c1: f32[3] = dense<f32[3] [1.0, 2.0, 3.0]>
      kernel k0(in %p0: f32[12], out %t3: f32[4]) {  // origin: the fused graph nodes
        schedule {parallel=i0, vector={i1: 16}}      // only when not the default
        for i0 in 0..4 {
          let acc0: f32 = -inf:f32
          for r0 in 0..3 {
            acc0 = max(acc0, %p0[(i0 * 3) + r0])
          }
          %t3[i0] = acc0
        }
      }
    }

A scan's body kernels sit in a repeat loop, ``repeat s5 count=64 {`` kernels
``}``: they run, in order, 64 times per call (``Kernel.loops``, ``Program.loops``).
A while_loop's kernels sit in ``repeat w5 while %t7 {`` kernels ``}``: they run
again and again while the one-element buffer ``%t7`` is non-zero, tested before each
run (``Program.conditions``; a kernel of the loop writes it).

Statements: ``for v in 0..extent {`` ... ``}``, ``let v: type = expr``,
``v = expr`` and ``%buffer[index] = expr``. The origin comment lists the
node names separated by ``, ``; a name that would not read back that way
is quoted (``// "a, b", c``).

Expressions: integer constants print bare (``3``) and are ``index``;
other constants print with their type (``1.5:f32``, ``7:i32``, ``nan:f16``,
``true``); variables print their name (loop variables are declared by their
``for``, locals by their ``let``); loads are ``%buf[index]``;
``+ - * / // %``, comparisons ``== != < <= > >=`` and ``&& ||`` print infix,
fully parenthesised below the top level (``(i0 * 3) + r0``); other ops print
as calls (``exp(x)``, ``max(a, b)``, ``select(c, a, b)``,
``threefry2x32_0(k0, k1, x0, x1)``); a cast prints as
its target type applied (``f32(x)``, ``index(x)``); a reduction (only
before hoisting) as ``reduce_add[r0 in 0..3](body)``.

:func:`programs_equal` is the equality that the round trip keeps (numpy
constants compared bit for bit); :func:`keyed_program_lines` gives the
printed lines with keys naming what each shows, for error messages.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from tcomp.ir.kernel.call import Call
from tcomp.ir.kernel.expr import (
    INDEX,
    INTEGER_TYPES,
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
    ProgramBuffer,
    Stmt,
    Store,
    program_blocks,
)
from tcomp.ir.kernel.schedule_text import format_schedule  # noqa: F401 (re-exported)
from tcomp.ir.recursion import deep_recursion
from tcomp.ir.text import format_attr, format_key
from tcomp.ir.types import short_name

COMPARE_RECURSION_LIMIT = 20000  # Python frames to compare deep expression trees
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
    if isinstance(expr, Call):
        return f"{expr.op}({', '.join(format_expr(e) for e in expr.args)})"
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
    if expr.dtype in INTEGER_TYPES:
        return f"{int(expr.value)}:{type_name(expr.dtype)}"
    return f"{format_attr(float(expr.value))}:{type_name(expr.dtype)}"


def format_statement(stmt: Stmt) -> str:
    """The (unindented) line of one statement; for a loop, its ``for ... {`` line."""
    if isinstance(stmt, Loop):
        return f"for {stmt.var.name} in 0..{stmt.var.extent} {{"
    if isinstance(stmt, Let):
        return f"let {stmt.var.name}: {type_name(stmt.var.dtype)} = {format_expr(stmt.value)}"
    if isinstance(stmt, Assign):
        return f"{stmt.var.name} = {format_expr(stmt.value)}"
    if isinstance(stmt, Store):
        return f"%{stmt.buffer}[{format_expr(stmt.index)}] = {format_expr(stmt.value)}"
    raise TypeError(f"not a kernel-IR statement: {stmt!r}")


def statement_lines(body: tuple[Stmt, ...], indent: str) -> list[str]:
    """The lines of a block of statements, nested loops indented two more spaces."""
    lines: list[Line] = []
    _block_lines(body, (), indent, 0, False, lines)
    return [text for _, text in lines]


def format_origin(origin: tuple[str, ...]) -> str:
    """The origin comment's text: names joined by ``, ``, all quoted if one needs it."""
    plain = all(
        name and name == name.strip() and ", " not in name and not name.startswith('"')
        and name.isprintable() and not name.endswith(",")
        for name in origin
    )
    return ", ".join(origin if plain else (json.dumps(name) for name in origin))


def format_kernel_header(kernel: Kernel) -> str:
    """``kernel k0(in %p0: f32[12], out %t1: f32[4]) {`` and the origin comment."""
    args = ", ".join(
        f"{a.access} %{a.name}: {type_name(a.dtype)}[{a.size}]" for a in kernel.args
    )
    header = f"kernel {kernel.name}({args}) {{"
    if kernel.origin:
        header += "  // " + format_origin(kernel.origin)
    return header


def kernel_lines(kernel: Kernel, indent: str = "") -> list[str]:
    """The lines of one kernel: header, schedule (unless default), body, ``}``."""
    return [text for _, text in keyed_kernel_lines(kernel, indent=indent)]


def print_kernel(kernel: Kernel) -> str:
    """The text of one kernel."""
    return "\n".join(kernel_lines(kernel)) + "\n"


def format_program_header(program: Program) -> str:
    """``program @f(%p0: f32[4,3]) -> (%t1) [arena_bytes=N] {``."""
    params = ", ".join(f"%{name}: {program.buffers[name].type}" for name in program.params)
    outputs = ", ".join(f"%{name}" for name in program.outputs)
    arena = f" arena_bytes={program.arena_bytes}" if program.arena_bytes else ""
    return f"program @{format_key(program.name)}({params}) -> ({outputs}){arena} {{"


def format_buffer(buffer: ProgramBuffer) -> str:
    """The declaration line of an output, temp or constant buffer (params are in the header)."""
    words = {"output": "out", "temp": "temp", "constant": "const"}
    text = f"{words[buffer.kind]} %{buffer.name}: {buffer.type}"
    if buffer.kind == "constant":
        text += f" = {format_attr(buffer.data)}"
    if buffer.offset is not None:
        text += f" offset={buffer.offset}"
    return text


def print_program(program: Program) -> str:
    """The text of a whole program: buffer declarations, then each kernel in order."""
    return "\n".join(text for _, text in keyed_program_lines(program)) + "\n"


# ---------------------------------------------------------------------------
# Lines with keys, for error messages that point at a line

Line = tuple[tuple, str]


def _render(render: Callable[[], str], fallback: Callable[[], str], safe: bool) -> str:
    if not safe:
        return render()
    try:
        return render()
    except Exception:  # broken IR must still print, for the verifier's message
        return fallback()


def keyed_program_lines(program: Program, safe: bool = False) -> list[Line]:
    """The lines of :func:`print_program`, each with a key saying what it shows.

    Keys: ``("header",)``, ``("buffer", name)``, ``("kernel", k)`` (a kernel's
    header), ``("schedule", k)``, ``("stmt", k, path)`` (``path``: positions
    from the kernel body down through loops) and ``("end",)`` for closing
    braces. With ``safe``, a part that does not print (broken IR) shows its
    ``repr`` instead of raising.
    """
    header = _render(lambda: format_program_header(program), lambda: repr(program.name), safe)
    lines: list[Line] = [(("header",), header)]
    for key, buffer in program.buffers.items():
        if getattr(buffer, "kind", None) != "param":
            text = _render(lambda: format_buffer(buffer), lambda: repr(buffer), safe)
            lines.append((("buffer", key), "  " + text))
    try:
        blocks = program_blocks(program)
    except (ValueError, AttributeError, TypeError):
        if not safe:
            raise
        blocks = Block(None, 1, list(range(len(program.kernels))))  # broken loops: flat
    _item_lines(program, blocks, "  ", safe, lines)
    lines.append((("end",), "}"))
    return lines


def _item_lines(program: Program, block: Block, indent: str, safe: bool, lines: list[Line]) -> None:
    """The kernels of ``block``, a repeat loop's inside ``repeat NAME count=N {`` (or
    ``repeat NAME while %FLAG {``) ... ``}``."""
    for item in block.items:
        if isinstance(item, Block):
            trips = f"while %{item.flag}" if item.flag is not None else f"count={item.count}"
            lines.append((("repeat", item.loop), f"{indent}repeat {item.loop} {trips} {{"))
            _item_lines(program, item, indent + "  ", safe, lines)
            lines.append((("end",), indent + "}"))
        else:
            lines.extend(keyed_kernel_lines(program.kernels[item], item, indent, safe))


def keyed_kernel_lines(
    kernel: Kernel, index: int = 0, indent: str = "", safe: bool = False
) -> list[Line]:
    """The lines of one kernel with their keys (see :func:`keyed_program_lines`)."""
    header = _render(lambda: format_kernel_header(kernel), lambda: repr(kernel.name), safe)
    lines: list[Line] = [(("kernel", index), indent + header)]
    if not kernel.schedule.is_default():
        text = _render(lambda: format_schedule(kernel.schedule), lambda: repr(kernel.schedule),
                       safe)
        lines.append((("schedule", index), f"{indent}  {text}"))
    _block_lines(kernel.body, (), indent + "  ", index, safe, lines)
    lines.append((("end",), indent + "}"))
    return lines


def _block_lines(
    body: tuple[Stmt, ...], path: tuple, indent: str, index: int, safe: bool, lines: list[Line]
) -> None:
    if safe and not isinstance(body, tuple):
        lines.append((("stmt", index, path), indent + repr(body)))
        return
    for position, stmt in enumerate(body):
        key = ("stmt", index, path + (position,))
        lines.append((key, indent + _render(lambda: format_statement(stmt), lambda: repr(stmt),
                                            safe)))
        if isinstance(stmt, Loop):
            _block_lines(stmt.body, path + (position,), indent + "  ", index, safe, lines)
            lines.append((("end",), indent + "}"))


# ---------------------------------------------------------------------------
# Equality


def program_difference(a: Program, b: Program) -> str | None:
    """The first difference between two programs, or None when they are equal.

    Programs are dataclasses, but their constant buffers hold numpy arrays, so
    ``==`` does not work on them; here arrays compare by dtype, shape and bytes
    (``-0.0`` differs from ``0.0``, NaNs with the same bits are equal).
    """
    for field_name in ("name", "params", "outputs", "arena_bytes", "loops", "conditions"):
        if getattr(a, field_name) != getattr(b, field_name):
            return f"{field_name}: {getattr(a, field_name)!r} != {getattr(b, field_name)!r}"
    if set(a.buffers) != set(b.buffers):
        return f"buffers: {sorted(a.buffers)} != {sorted(b.buffers)}"
    for key, x in a.buffers.items():
        y = b.buffers[key]
        for field_name in ("name", "type", "kind", "offset"):
            if getattr(x, field_name) != getattr(y, field_name):
                return f"buffer {key} {field_name}: {getattr(x, field_name)!r} != " + repr(
                    getattr(y, field_name)
                )
        if not _same_data(x.data, y.data):
            return f"buffer {key} data: {x.data!r} != {y.data!r}"
    if len(a.kernels) != len(b.kernels):
        return f"{len(a.kernels)} kernels != {len(b.kernels)} kernels"
    for kx, ky in zip(a.kernels, b.kernels):
        with deep_recursion(COMPARE_RECURSION_LIMIT):  # expression trees compare recursively
            if kx != ky:
                return f"kernel {kx.name}: {_kernel_difference(kx, ky)}"
    return None


def _same_data(x: np.ndarray | None, y: np.ndarray | None) -> bool:
    if x is None or y is None:
        return x is None and y is None
    x, y = np.asarray(x), np.asarray(y)
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


def _kernel_difference(x: Kernel, y: Kernel) -> str:
    for field_name in ("name", "args", "schedule", "origin", "loops"):
        if getattr(x, field_name) != getattr(y, field_name):
            return f"{field_name}: {getattr(x, field_name)!r} != {getattr(y, field_name)!r}"
    return f"body: {x.body!r} != {y.body!r}"


def programs_equal(a: Program, b: Program) -> bool:
    """True when the programs are equal (see :func:`program_difference`)."""
    return program_difference(a, b) is None

