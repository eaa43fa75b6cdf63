"""Kernel-IR programs rendered as OpenCL C or CUDA C source (pure: imports no driver).

Each :class:`Kernel` becomes one function, ``__kernel void`` (OpenCL) or
``extern "C" __global__ void`` (CUDA), named ``<program>_<kernel>``, taking
one pointer per kernel arg in ``kernel.args`` order (inputs ``const``; all
``restrict`` except arena temps whose byte ranges overlap another arg's).
Each buffer is its own argument, constants and arena temps included: the
runtime uploads constants once and may either allocate each temp on its own
or pass ``arena + offset`` (CUDA) / a sub-buffer (OpenCL; the offset must
meet ``CL_DEVICE_MEM_BASE_ADDR_ALIGN``). :func:`launch_plan` lists, per
kernel, the function name, the buffer names in argument order and the
global size.

The schedule's ``parallel`` loop, when it is the outermost loop after only
``Let`` statements (pure, so every work-item recomputes them), becomes the
global index with a bounds check; its extent is the global size. A kernel
without one runs as a single work-item (global size 1). Other loops are C
``for`` loops, ``Let`` / ``Assign`` typed locals, loads and stores pointer
accesses with a 64-bit index. Example (softmax, OpenCL, abridged)::

    /* k0: %1 reduce_max, ... */
    __kernel void softmax_k0(__global const float* restrict p0,
                             __global float* restrict t18) {
      const long i0 = (long)get_global_id(0);
      if (i0 >= 8) return;
      float acc0 = -INFINITY;
      for (long r0 = 0; r0 < 32; ++r0) {
        float v0 = p0[(i0 * 32) + r0];
        acc0 = tc_max_f32(acc0, v0);
      }
      ...
    }

CUDA sources must be compiled with ``Dialect.compile_options``
(``--fmad=false``: no contraction into fma, so each operation rounds as
numpy's); OpenCL sources say ``#pragma OPENCL FP_CONTRACT OFF`` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcomp.backends.cfamily.dialect import Dialect, get_dialect
from tcomp.backends.cfamily.exprs import ExprRenderer, check_dtype
from tcomp.backends.cfamily.helpers import bare, c_name, render_helpers
from tcomp.ir.kernel.kernel import Assign, Kernel, Let, Loop, Program, Stmt, Store
from tcomp.ir.types import numpy_dtype

INDENT = "  "


@dataclass(frozen=True)
class KernelLaunch:
    """How a runtime launches one rendered kernel: ``function(*buffers)`` over
    ``global_size`` work-items (a 1-d range; the kernel checks its own bound)."""

    kernel: str  # the kernel-IR name (k0, k1...)
    function: str  # the C function name
    buffers: tuple[str, ...]  # program buffer names, in argument order
    global_size: int


def function_name(program: Program, kernel: Kernel) -> str:
    return f"{c_name(program.name)}_{c_name(kernel.name)}"


def parallel_loop(kernel: Kernel) -> Loop | None:
    """The loop ``kernel.schedule.parallel`` names, when the body is that loop after
    nothing but ``Let`` statements; else None (the kernel runs as one work-item)."""
    name = kernel.schedule.parallel
    if name is None or not kernel.body:
        return None
    *prefix, loop = kernel.body
    if not all(isinstance(stmt, Let) for stmt in prefix):
        return None
    if isinstance(loop, Loop) and loop.var.name == name and loop.extent >= 1:
        return loop
    return None


def launch_plan(program: Program) -> list[KernelLaunch]:
    """Per kernel, in program order: what a runtime needs to launch it (see the module
    docstring)."""
    plan = []
    for kernel in program.kernels:
        loop = parallel_loop(kernel)
        plan.append(
            KernelLaunch(
                kernel=kernel.name,
                function=function_name(program, kernel),
                buffers=tuple(arg.name for arg in kernel.args),
                global_size=loop.extent if loop is not None else 1,
            )
        )
    return plan


def render_program(program: Program, dialect: str | Dialect) -> str:
    """The OpenCL C (``dialect="opencl"``) or CUDA C (``"cuda"``) source of ``program``."""
    d = get_dialect(dialect) if isinstance(dialect, str) else dialect
    exprs = ExprRenderer(d)
    kernels = [_render_kernel(program, kernel, exprs) for kernel in program.kernels]
    uses_f64 = any(
        b.type.dtype == "float64" for b in program.buffers.values()
    ) or any(kind[1] == "float64" for kind in exprs.used)
    parts = [d.header + (d.fp64_header if uses_f64 else ""), f"/* program {program.name}: {len(kernels)} kernel(s) */\n"]
    helpers = render_helpers(exprs.used, d)
    if helpers:
        parts.append("\n" + helpers)
    for text in kernels:
        parts.append("\n" + text)
    return "".join(parts)


def _render_kernel(program: Program, kernel: Kernel, exprs: ExprRenderer) -> str:
    d = exprs.dialect
    aliased = aliased_args(program, kernel)
    params = []
    for arg in kernel.args:
        check_dtype(arg.dtype)
        elem = d.byte_type if arg.dtype == "bool" else exprs.ctype(arg.dtype)
        const = "const " if arg.access == "in" else ""
        restrict = "" if arg.name in aliased else " restrict"
        if d.name == "cuda" and restrict:
            restrict = " __restrict__"
        params.append(f"{d.pointer_space}{const}{elem}*{restrict} {c_name(arg.name)}")
    name = function_name(program, kernel)
    head = f"{d.kernel_prefix} void {name}("
    separator = ",\n" + " " * len(head)
    lines = [f"/* {kernel.name}: {', '.join(kernel.origin)} */"] if kernel.origin else []
    lines.append(f"{head}{separator.join(params)}) {{")
    loop = parallel_loop(kernel)
    writer = _BodyWriter(exprs, lines)
    if loop is None:
        writer.block(kernel.body, 1)
    else:
        writer.block(kernel.body[:-1], 1)
        index = loop.var.name
        lines.append(f"{INDENT}const {d.index_type} {index} = {d.global_id};")
        lines.append(f"{INDENT}if ({index} >= {loop.extent}) return;")
        writer.block(loop.body, 1)
    lines.append("}")
    return "\n".join(lines) + "\n"


class _BodyWriter:
    def __init__(self, exprs: ExprRenderer, lines: list[str]) -> None:
        self.exprs = exprs
        self.lines = lines

    def block(self, body: tuple[Stmt, ...], depth: int) -> None:
        pad = INDENT * depth
        r = self.exprs.render
        for stmt in body:
            if isinstance(stmt, Loop):
                if stmt.extent == 0:
                    continue
                v, t = stmt.var.name, self.exprs.dialect.index_type
                self.lines.append(f"{pad}for ({t} {v} = 0; {v} < {stmt.extent}; ++{v}) {{")
                self.block(stmt.body, depth + 1)
                self.lines.append(f"{pad}}}")
            elif isinstance(stmt, Let):
                t = self.exprs.ctype(stmt.var.dtype)
                self.lines.append(f"{pad}{t} {stmt.var.name} = {bare(r(stmt.value))};")
            elif isinstance(stmt, Assign):
                self.lines.append(f"{pad}{stmt.var.name} = {bare(r(stmt.value))};")
            elif isinstance(stmt, Store):
                value = bare(r(stmt.value))
                if stmt.value.dtype == "bool":
                    value = f"({self.exprs.dialect.byte_type})({value})"
                target = f"{c_name(stmt.buffer)}[{bare(r(stmt.index))}]"
                self.lines.append(f"{pad}{target} = {value};")
            else:
                raise TypeError(f"c-family renderer: not a statement: {stmt!r}")


def aliased_args(program: Program, kernel: Kernel) -> frozenset[str]:
    """Args of ``kernel`` that are arena temps whose byte ranges overlap another arg's
    (no ``restrict`` on them, in case the runtime passes ``arena + offset``)."""
    ranges = []
    for arg in kernel.args:
        buffer = program.buffers.get(arg.name)
        if buffer is None or buffer.kind != "temp" or buffer.offset is None:
            continue
        if program.arena_bytes <= 0:
            continue
        size = buffer.size * numpy_dtype(buffer.type.dtype).itemsize
        ranges.append((arg.name, buffer.offset, buffer.offset + size))
    aliased: set[str] = set()
    for i, (name_a, lo_a, hi_a) in enumerate(ranges):
        for name_b, lo_b, hi_b in ranges[i + 1 :]:
            if lo_a < hi_b and lo_b < hi_a:
                aliased.update((name_a, name_b))
    return frozenset(aliased)
