"""Statements, kernels and programs of the kernel IR.

A :class:`Kernel` is one loop nest: statements over flat, row-major buffers,
with a :class:`Schedule` kept beside it as data (which loop runs across
threads, vector widths, unrolling, tiles; on GPUs the launch). The
algorithm says *what* each element is; the schedule says *how* the loops
run, and renderers read both.

A :class:`Program` is what a backend compiles for one graph-IR function:
its buffers (parameters, outputs, temporaries, constants) and the kernels
that run in order. Example (``print_program``)::

    program @f(%p0: f32[4,3]) -> (%t1) {
      out %t1: f32[4]
      kernel k0(in %p0: f32[12], out %t1: f32[4]) {  // exp %1, reduce_sum %2
        schedule {parallel=i0}
        for i0 in 0..4 {
          let acc0: f32 = 0.0:f32
          for r0 in 0..3 {
            acc0 = acc0 + exp(%p0[(i0 * 3) + r0])
          }
          %t1[i0] = acc0
        }
      }
    }
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union

import numpy as np

from tcomp.ir.kernel.expr import Expr, Var
from tcomp.ir.types import TensorType

# ---------------------------------------------------------------------------
# Statements


@dataclass(frozen=True)
class Loop:
    """``for var in 0 .. var.extent-1: body``."""

    var: Var
    body: tuple["Stmt", ...]

    @property
    def extent(self) -> int:
        assert self.var.extent is not None
        return self.var.extent


@dataclass(frozen=True)
class Let:
    """Declares the local scalar ``var`` with a first value (visible to the end of its block)."""

    var: Var
    value: Expr


@dataclass(frozen=True)
class Assign:
    """Gives the local scalar ``var`` a new value."""

    var: Var
    value: Expr


@dataclass(frozen=True)
class Store:
    """``buffer[index] = value`` (flat element index)."""

    buffer: str
    index: Expr
    value: Expr


Stmt = Union[Loop, Let, Assign, Store]


def walk_statements(body: tuple[Stmt, ...]) -> Iterator[Stmt]:
    """Every statement of ``body``, loops before their bodies."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, Loop):
            yield from walk_statements(stmt.body)


def statement_exprs(stmt: Stmt) -> tuple[Expr, ...]:
    """The expressions a statement evaluates (not those of nested statements)."""
    if isinstance(stmt, Store):
        return (stmt.index, stmt.value)
    if isinstance(stmt, (Let, Assign)):
        return (stmt.value,)
    return ()


# ---------------------------------------------------------------------------
# Kernels

# How a GPU runs a kernel (GpuLaunch.kind), as backends/cfamily's map-gpu pass decides:
GPU_KINDS = (
    "single",  # no parallel loop: one work-item runs the nest
    "nest",  # the parallel nest's first `collapse` loops as one index: a work-item each
    "coarsened",  # that nest, `coarsen` indices per work-item, group-strided
    "vector",  # that nest, `coarsen` (4) consecutive indices as one vector access per buffer
    "group_reduction",  # one work-group of `local` work-items per index of the nest (if any)
    "tiled_matmul",  # a contraction: work-groups of 16 x 16 with a `tm x tn` register tile
    "tensor_core",  # a 16-bit float contraction on tensor cores (mma.sync)
)


@dataclass(frozen=True)
class GpuLaunch:
    """Where a kernel runs on a GPU: its ``kind`` (one of :data:`GPU_KINDS`), the
    work-items in all (``global_size``), the work-group size (``local_size``; None: any
    size, the kernel checks its own bound; a group reduction's group size), how many
    loops of the parallel nest fold into the grid (``collapse``: the schedule's
    ``parallel`` loop and the independent loops perfectly nested in it, outermost first;
    0 for a kernel run whole by one work-item or one work-group, and for the matmul
    kinds), the register tile ``tm x tn`` of a tiled matmul and the indices per
    work-item (``coarsen``) of a coarsened or vector nest (a vector nest's vector width).
    Tensor cores are the kind ``tensor_core``. Printed in the schedule as
    ``gpu={kind: nest, global: 6400, collapse: 2}`` (fields at their defaults left out,
    but those of the kind); renderers generate what it says, and
    :func:`tcomp.ir.kernel.analysis.gpu_nest.launch_problem` says when a kernel cannot
    run as it says."""

    kind: str
    global_size: int
    local_size: int | None = None
    tm: int = 1
    tn: int = 1
    coarsen: int = 1
    collapse: int = 0


@dataclass
class Schedule:
    """How a kernel's loops run, as data (renderers read it; the algorithm is unchanged).

    - ``parallel``: the loop variable whose iterations are split across threads
      (CPU) or grid blocks (GPU); None runs the kernel on one thread;
    - ``vector``: loop variable -> SIMD width hint;
    - ``unroll``: loop variable -> unroll factor;
    - ``tile``: loop variable -> tile size (for blocked loop nests);
    - ``columns``: loop variable -> columns per block, for a vector loop holding a
      reduction down columns that the CPU renders a block of columns at a time
      (:mod:`tcomp.ir.kernel.analysis.columns`; set by ``schedule-cpu``);
    - ``gpu``: the launch a GPU backend chose (:class:`GpuLaunch`); None on CPUs.
    """

    parallel: str | None = None
    vector: dict[str, int] = field(default_factory=dict)
    unroll: dict[str, int] = field(default_factory=dict)
    tile: dict[str, int] = field(default_factory=dict)
    columns: dict[str, int] = field(default_factory=dict)
    gpu: GpuLaunch | None = None

    def is_default(self) -> bool:
        return (
            self.parallel is None
            and not (self.vector or self.unroll or self.tile or self.columns)
            and self.gpu is None
        )


@dataclass(frozen=True)
class KernelArg:
    """A buffer a kernel touches: its program-wide name, element type, size in
    elements, and whether the kernel reads it (``in``), writes it (``out``) or both."""

    name: str
    dtype: str
    size: int
    access: str  # "in" | "out" | "inout"


@dataclass
class Kernel:
    """One loop nest over flat buffers (see the module docstring).

    ``origin`` names the graph-IR nodes fused into it, for ``as_text("kernels")``.
    ``loops`` names the program's repeat loops (``Program.loops``) the kernel runs
    inside, outermost first: a scan's or a while_loop's body kernels (empty: once per call).
    """

    name: str
    args: tuple[KernelArg, ...]
    body: tuple[Stmt, ...]
    schedule: Schedule = field(default_factory=Schedule)
    origin: tuple[str, ...] = ()
    loops: tuple[str, ...] = ()

    def arg(self, name: str) -> KernelArg:
        for arg in self.args:
            if arg.name == name:
                return arg
        raise KeyError(name)


# ---------------------------------------------------------------------------
# Programs

BUFFER_KINDS = ("param", "output", "temp", "constant")


@dataclass
class ProgramBuffer:
    """A tensor-sized buffer of a program.

    ``kind``: ``param`` (an input of the function, never written), ``output``
    (allocated per call and returned), ``temp`` (lives within a call; the
    memory plan gives it an ``offset`` into one arena, temps whose lifetimes
    do not overlap sharing storage), ``constant`` (``data`` holds it).
    """

    name: str
    type: TensorType
    kind: str
    data: np.ndarray | None = None
    offset: int | None = None  # temps: byte offset into the program's arena, once planned

    @property
    def size(self) -> int:
        return self.type.size


@dataclass
class Program:
    """The kernels of one graph-IR function and the buffers they use.

    ``params`` and ``outputs`` list buffer names in the function's order; an
    output may name a parameter or constant buffer directly (the function
    returns its input, or a constant) and the same buffer may be returned twice.
    """

    name: str
    buffers: dict[str, ProgramBuffer]
    params: list[str]
    outputs: list[str]
    kernels: list[Kernel]
    arena_bytes: int = 0  # the memory plan's total for temps (0: not planned)
    # repeat loops by name: how many times the kernels tagged with it (Kernel.loops)
    # run, in order, as a block; the kernels of one loop are consecutive (a scan)
    loops: dict[str, int] = field(default_factory=dict)
    # while loops by name (a name is in ``loops`` or here, not both): the one-element
    # bool or int32 buffer read before each run of the loop's kernels; they run again
    # while it is non-zero (a while_loop: a kernel of the loop writes it each time)
    conditions: dict[str, str] = field(default_factory=dict)

    def buffers_of_kind(self, kind: str) -> list[ProgramBuffer]:
        return [b for b in self.buffers.values() if b.kind == kind]


@dataclass
class Block:
    """A program's kernels as a tree: ``items`` are kernel indices and nested blocks;
    ``loop`` names the repeat loop (None at the top), ``count`` its trip count; a while
    loop has ``flag`` (its condition buffer, ``Program.conditions``) and count 0: its
    items run while the flag's one element is non-zero, tested before each run."""

    loop: str | None
    count: int
    items: list["int | Block"]
    flag: str | None = None


def program_blocks(program: Program) -> Block:
    """The kernels of ``program`` grouped by their repeat loops (see :class:`Block`).

    Raises ``ValueError`` when a kernel names a loop the program lacks, or a loop's
    kernels are not consecutive."""
    top = Block(None, 1, [])
    stack = [top]
    closed: set[str] = set()
    for index, kernel in enumerate(program.kernels):
        loops = tuple(kernel.loops)
        common = 0
        while (common < len(loops) and common + 1 < len(stack)
               and stack[common + 1].loop == loops[common]):
            common += 1
        while len(stack) > common + 1:
            closed.add(stack.pop().loop)  # type: ignore[arg-type]
        for name in loops[common:]:
            if name not in program.loops and name not in program.conditions:
                raise ValueError(f"kernel {kernel.name} runs in loop {name!r}, which the "
                                 "program does not declare")
            if name in closed or any(b.loop == name for b in stack):
                raise ValueError(f"the kernels of loop {name!r} are not consecutive")
            if name in program.loops:
                block = Block(name, program.loops[name], [])
            else:
                block = Block(name, 0, [], program.conditions[name])
            stack[-1].items.append(block)
            stack.append(block)
        stack[-1].items.append(index)
    return top
