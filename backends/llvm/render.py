"""Kernel-IR programs rendered as one LLVM module (llvmlite.ir only: pure, no driver).

The module exports one function, ``void tcomp_main(ptr buffers)``, that runs
the kernels in order (a scan's body kernels, in a repeat loop of the program,
inside a native counted loop: rendered once, run ``count`` times; a while_loop's
kernels inside a native loop that loads its condition buffer before each run and
polls the interrupt flag) (returning early once the runtime's interrupt flag is
set: see :mod:`tcomp.backends.llvm.interrupt`). ``buffers`` is an array of pointers, in the order
:func:`buffer_layout` gives: the parameters (``program.params``), then the
output buffers (in order of first appearance in ``program.outputs``), then
the arena (when ``arena_bytes > 0``; planned temps live at their byte
``offset`` in it), then one slot per temp without an offset. Constants are
internal global constants of the module.

With ``profile=True`` (a separate compile: see ``LLVMBackend.compile_profiled``)
the module also defines the i64 array :data:`PROFILE_SYMBOL` (external, so
that the runtime finds its address): ``[calls, ns of whole calls, ns of k0,
ns of k1, ..., start]``. ``tcomp_main`` reads ``clock_gettime(CLOCK_MONOTONIC)``
before and after each kernel, sums the nanoseconds in locals and adds them
(atomically) to the array only when the call ran to the end: a call stopped
by the interrupt flag adds nothing. The last slot, ``start``, is overwritten
with the ``CLOCK_MONOTONIC`` nanoseconds at which that call began (timelines
place its kernels with it: :mod:`tcomp.frontend.timeline`).

Each distinct kernel is an internal function (see :mod:`tcomp.backends.llvm.stmts`);
kernels that are the same code on other buffers (the blocks of a transformer:
:func:`~tcomp.ir.kernel.analysis.code_key`) call one function, so LLVM
optimises it once.
A kernel whose schedule names a ``parallel`` loop (the ``schedule-cpu`` pass keeps
it only where a split pays: :mod:`tcomp.ir.kernel.lowering.schedule_cpu`) is split,
when ``num_threads > 1``, into ``num_threads`` chunks run on pthreads by the module's
``tcomp.parallel`` (see :mod:`tcomp.backends.llvm.threads`), given the kernel's task
and an array of its buffer pointers; every other kernel is called directly. The
renderer decides nothing about threads itself: a schedule whose ``parallel`` loop
cannot be split is refused (:func:`~tcomp.ir.kernel.verifier.verify_cpu_schedule`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from llvmlite import ir

from tcomp.backends.llvm.contraction import (
    SHARED_CONTEXT,
    render_contraction_kernel,
    shared_scratch_bytes,
)
from tcomp.backends.llvm.exprs import I8, I32, I64, PTR, memory_type
from tcomp.backends.llvm.loops import check_interrupt, counted_loop
from tcomp.backends.llvm.stmts import render_kernel
from tcomp.backends.llvm.team import render_team_dispatch, render_team_entry
from tcomp.backends.llvm.threads import TASK_FN, render_gomp_parallel, render_parallel_for
from tcomp.backends.llvm.vecmath import VariantTable, keep_declarations
from tcomp.ir.kernel.analysis import (
    CPU_MIN_EXTENT,
    blocked_contraction,
    code_key,
    overlapping_temps,
    parallel_loop,
)
from tcomp.ir.kernel.kernel import Block, Kernel, Program, program_blocks
from tcomp.ir.kernel.verifier import verify_cpu_schedule
from tcomp.ir.recursion import deep_recursion
from tcomp.ir.types import numpy_dtype

ENTRY = "tcomp_main"
PROGRAM = "tcomp.program"  # the kernels in order, when tcomp_main runs them in a team
# parallel kernels a program needs before its calls run in one team (backends/llvm/team.py)
TEAM_MIN_KERNELS = 2
# the profile counters of a profiled module: [calls, ns of whole calls, ns per kernel...,
# ns at the latest call's start]
PROFILE_SYMBOL = "tcomp_profile"
PROFILE_HEADER = 2  # slots before the first kernel's
CLOCK_MONOTONIC = getattr(time, "CLOCK_MONOTONIC", 1)  # the C constant (1 on Linux)
TIMESPEC = ir.LiteralStructType([ir.IntType(64), ir.IntType(64)])  # tv_sec, tv_nsec (LP64)
ALIGNMENT = 64
RENDER_RECURSION_LIMIT = 20000  # Python frames to render a deep fused expression


@dataclass(frozen=True)
class BufferLayout:
    """Where each buffer lives at run time.

    ``slots``: ``(kind, name)`` per entry of the pointer array, kind one of
    ``param``, ``output``, ``arena`` (name ``""``), ``temp``.
    """

    slots: tuple[tuple[str, str], ...]

    def slot(self, name: str) -> int:
        for index, (_, slot_name) in enumerate(self.slots):
            if slot_name == name:
                return index
        raise KeyError(name)

    @property
    def arena_slot(self) -> int | None:
        for index, (kind, _) in enumerate(self.slots):
            if kind == "arena":
                return index
        return None


def buffer_layout(program: Program) -> BufferLayout:
    """The pointer-array order of ``tcomp_main`` for ``program`` (see the module docstring)."""
    slots: list[tuple[str, str]] = [("param", name) for name in program.params]
    outputs = [b.name for b in program.buffers_of_kind("output")]
    ordered = [n for n in dict.fromkeys(program.outputs) if n in outputs]
    ordered += [n for n in outputs if n not in ordered]
    slots += [("output", name) for name in ordered]
    if program.arena_bytes > 0:
        slots.append(("arena", ""))
    for buffer in program.buffers_of_kind("temp"):
        if buffer.offset is None or program.arena_bytes <= 0:
            slots.append(("temp", buffer.name))
    return BufferLayout(tuple(slots))


def render_program(
    program: Program,
    num_threads: int = 1,
    threading: str = "pthread",
    vector_functions: VariantTable | None = None,
    profile: bool = False,
) -> ir.Module:
    """The LLVM module of ``program`` (``str()`` of it is the LLVM IR text).

    ``threading`` picks how parallel kernels run: ``pthread`` (threads created
    per call) or ``gomp`` (libgomp's pool; the runtime must provide it).
    ``vector_functions``: the libmvec variants the runtime found (see
    :mod:`tcomp.backends.llvm.vecmath`); none by default. ``profile``: time
    each kernel into :data:`PROFILE_SYMBOL` (see the module docstring). Kernels run on
    threads as their schedules say (``parallel``); :class:`TcompVerifyError` when one
    names a loop that cannot be split.
    """
    verify_cpu_schedule(program)
    # expressions are trees rendered recursively: a chain of hundreds of fused ops
    # is deeper than Python's default limit
    with deep_recursion(RENDER_RECURSION_LIMIT):
        return _render_program(program, num_threads, threading, vector_functions, profile)


def _render_program(
    program: Program,
    num_threads: int,
    threading: str,
    vector_functions: VariantTable | None,
    profile: bool,
) -> ir.Module:
    module = ir.Module(name=_module_name(program.name))
    layout = buffer_layout(program)
    constants = {
        b.name: _constant_global(module, b.name, b.data, b.type.dtype)
        for b in program.buffers_of_kind("constant")
    }
    kernel_functions = []
    emitted: dict[str, tuple[ir.Function, ir.Function | None, int]] = {}
    for number, kernel in enumerate(program.kernels):
        aliased = overlapping_temps(program, kernel)
        split = num_threads > 1 and kernel.schedule.parallel is not None  # as schedule-cpu chose
        key = f"split={split}\n{code_key(kernel, aliased)}"
        if key not in emitted:  # the same code on other buffers calls the same function
            name = f"kernel{number}.{_module_name(kernel.name)}"
            emitted[key] = _render_kernel_function(
                module, kernel, name, aliased, split, num_threads, threading, vector_functions
            )
        kernel_functions.append((kernel, *emitted[key]))
    split_kernels = sum(1 for _, _, task, _ in kernel_functions if task is not None)
    in_team = threading == "gomp" and num_threads > 1 and split_kernels >= TEAM_MIN_KERNELS
    if in_team:  # the program runs on thread 0 of one team (backends/llvm/team.py)
        main = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR]), name=PROGRAM)
        main.linkage = "internal"
        team = main.args[1]
        team.name = "team"
    else:
        main = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), name=ENTRY)
    buffers = main.args[0]
    buffers.name = "buffers"
    entry = main.append_basic_block("entry")  # stack slots only; branches to "start"
    b = ir.IRBuilder(main.append_basic_block("start"))
    stop = main.append_basic_block("interrupted")
    clock = _ProfileClock(b, len(kernel_functions)) if profile else None
    render_runner = render_gomp_parallel if threading == "gomp" else render_parallel_for

    def call_kernel(number: int) -> None:
        kernel, function, task, scratch = kernel_functions[number]
        if number > 0:
            check_interrupt(b, stop)  # Ctrl-C: the rest of the kernels need not run
        started = clock.now() if clock is not None else None
        pointers = _kernel_pointers(b, buffers, program, layout, constants, kernel)
        if task is None:
            b.call(function, pointers)
        else:
            loop = parallel_loop(kernel, CPU_MIN_EXTENT)
            assert loop is not None
            args = _pointer_array(b, pointers, entry)
            context, raw = _shared_context(b, args, scratch, entry) if scratch else (args, None)
            runner = render_runner(module, num_threads)  # one per module
            if in_team:
                dispatch = render_team_dispatch(module, num_threads, runner)
                whole = ir.Constant(I32, 1 if scratch else 0)  # a shared contraction
                b.call(dispatch, [team, task, context, ir.Constant(I64, loop.extent), whole])
            else:
                b.call(runner, [task, context, ir.Constant(I64, loop.extent)])
            if raw is not None:
                b.call(module.globals["free"], [raw])
        if clock is not None:
            clock.add(number, clock.now(), started)

    def render_block(block: Block) -> None:
        for item in block.items:
            if isinstance(item, Block) and item.flag is not None:
                flag = _buffer_pointer(b, buffers, program, layout, constants, item.flag)
                dtype = program.buffers[item.flag].type.dtype
                _while(b, item, flag, memory_type(dtype), stop, lambda: render_block(item))
            elif isinstance(item, Block):
                _repeat(b, item, lambda: render_block(item))
            else:
                call_kernel(item)

    render_block(program_blocks(program))
    if clock is not None:
        check_interrupt(b, stop)  # the last kernel may have stopped early: keep no times
        clock.commit()
    b.ret_void()
    b.position_at_end(stop)
    b.ret_void()
    b.position_at_end(entry)
    b.branch(main.basic_blocks[1])
    if in_team:
        render_team_entry(module, main, num_threads, ENTRY)
    keep_declarations(module)
    return module


def _repeat(b: ir.IRBuilder, block: Block, render_body) -> None:
    """A native counted loop around ``render_body()``: a scan's kernels, ``block.count``
    times (the backend's one counted loop, :func:`~tcomp.backends.llvm.loops.counted_loop`)."""
    with counted_loop(b, 0, block.count, f"{block.loop}.step"):
        render_body()


def _while(b: ir.IRBuilder, block: Block, flag: ir.Value, flag_type: ir.Type, stop: ir.Block,
           render_body) -> None:
    """A native while loop around ``render_body()``: a while_loop's kernels, run while
    the one element at ``flag`` is non-zero (tested before each run), each test first
    polling the interrupt flag (Ctrl-C leaves through ``stop``: the loop may never end)."""
    main = b.function
    head = main.append_basic_block(f"{block.loop}.head")
    body = main.append_basic_block(f"{block.loop}.body")
    done = main.append_basic_block(f"{block.loop}.done")
    b.branch(head)
    b.position_at_end(head)
    check_interrupt(b, stop)
    value = b.load(flag, typ=flag_type)
    b.cbranch(b.icmp_unsigned("!=", value, ir.Constant(flag_type, 0)), body, done)
    b.position_at_end(body)
    render_body()
    b.branch(head)
    b.position_at_end(done)


class _ProfileClock:
    """The timestamps of a profiled ``tcomp_main`` (see the module docstring): one
    ``timespec`` and one i64 sum per kernel on the stack, the start of the call, and
    :meth:`commit`, which adds them to :data:`PROFILE_SYMBOL`."""

    def __init__(self, b: ir.IRBuilder, kernels: int) -> None:
        module = b.module
        self.b = b
        ty = ir.ArrayType(I64, PROFILE_HEADER + kernels + 1)  # + the latest call's start
        counters = ir.GlobalVariable(module, ty, name=PROFILE_SYMBOL)
        counters.initializer = ir.Constant(ty, None)  # zeros
        counters.align = ALIGNMENT
        self.counters, self.type = counters, ty
        self.clock_gettime = module.globals.get("clock_gettime") or ir.Function(
            module, ir.FunctionType(I32, [I32, PTR]), name="clock_gettime")
        self.timespec = b.alloca(TIMESPEC, name="now")
        self.sums = [b.alloca(I64, name=f"ns.k{number}") for number in range(kernels)]
        for pointer in (self.timespec, *self.sums):
            pointer.type = PTR  # opaque, as LLVM has them
        for total in self.sums:
            b.store(ir.Constant(I64, 0), total)
        self.started = self.now()

    def now(self) -> ir.Value:
        """Nanoseconds of ``CLOCK_MONOTONIC``, read here."""
        b, zero = self.b, ir.Constant(I32, 0)
        b.call(self.clock_gettime, [ir.Constant(I32, CLOCK_MONOTONIC), self.timespec])
        fields = [b.gep(self.timespec, [zero, ir.Constant(I32, n)], source_etype=TIMESPEC)
                  for n in (0, 1)]
        for field in fields:
            field.type = PTR
        seconds, nanoseconds = (b.load(field, typ=I64) for field in fields)
        return b.add(b.mul(seconds, ir.Constant(I64, 1_000_000_000)), nanoseconds)

    def add(self, number: int, end: ir.Value, start: ir.Value) -> None:
        """Kernel ``number`` ran from ``start`` to ``end``."""
        b, total = self.b, self.sums[number]
        b.store(b.add(b.load(total, typ=I64), b.sub(end, start)), total)

    def commit(self) -> None:
        """Adds this call (one call, its nanoseconds, each kernel's) to the counters."""
        b = self.b
        values = [ir.Constant(I64, 1), b.sub(self.now(), self.started)]
        values += [b.load(total, typ=I64) for total in self.sums]
        for slot, value in enumerate([*values, self.started]):
            address = b.gep(self.counters, [ir.Constant(I64, 0), ir.Constant(I64, slot)],
                            inbounds=True, source_etype=self.type)
            address.type = PTR
            operation = "xchg" if slot == len(values) else "add"  # the start: the latest
            b.atomic_rmw(operation, address, value, "monotonic")


def _module_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._" else "_" for c in name) or "program"


def _constant_global(
    module: ir.Module, name: str, data: np.ndarray | None, dtype: str
) -> ir.GlobalVariable:
    array = np.ascontiguousarray(np.asarray(data, dtype=numpy_dtype(dtype)))
    raw = bytearray(array.tobytes())
    ty = ir.ArrayType(I8, len(raw))
    variable = ir.GlobalVariable(module, ty, name=f"const.{_module_name(name)}")
    variable.linkage = "internal"
    variable.global_constant = True
    variable.align = ALIGNMENT
    variable.initializer = ir.Constant(ty, raw)
    return variable


def _buffer_pointer(
    b: ir.IRBuilder,
    buffers: ir.Value,
    program: Program,
    layout: BufferLayout,
    constants: dict[str, ir.GlobalVariable],
    name: str,
) -> ir.Value:
    if name in constants:
        return constants[name]
    buffer = program.buffers[name]
    if buffer.kind == "temp" and buffer.offset is not None and program.arena_bytes > 0:
        arena = _slot_pointer(b, buffers, layout.arena_slot)
        return b.gep(arena, [ir.Constant(I64, buffer.offset)], inbounds=True, source_etype=I8)
    return _slot_pointer(b, buffers, layout.slot(name))


def _slot_pointer(b: ir.IRBuilder, buffers: ir.Value, slot: int | None) -> ir.Value:
    assert slot is not None
    address = b.gep(buffers, [ir.Constant(I64, slot)], inbounds=True, source_etype=PTR)
    return b.load(address, typ=PTR)


def _kernel_pointers(b, buffers, program, layout, constants, kernel: Kernel) -> list[ir.Value]:
    return [
        _buffer_pointer(b, buffers, program, layout, constants, arg.name) for arg in kernel.args
    ]


def _render_kernel_function(
    module: ir.Module,
    kernel: Kernel,
    name: str,
    aliased: frozenset[str],
    split: bool,
    num_threads: int,
    threading: str,
    vector_functions: VariantTable | None,
) -> tuple[ir.Function, ir.Function | None, int]:
    """The function of ``kernel`` and, when ``split``, its task (which the module's
    parallel-for runs on ``num_threads`` threads); with the scratch bytes a shared
    contraction's caller gives."""
    # hook: a scheduled contraction renders as a packed, register-blocked matmul
    # (it reads its operands after writing some outputs, so never with aliased args)
    contraction = None if aliased else blocked_contraction(kernel)
    # the threads of a split, blocked contraction share its row blocks and packing
    shared = contraction is not None and split and not contraction.outer
    if contraction is not None:
        function = render_contraction_kernel(
            module, kernel, contraction, name, aliased, split, vector_functions, shared,
            num_threads,
        )
    else:
        function = render_kernel(module, kernel, name, aliased, split, vector_functions)
    if not split:
        return function, None, 0
    task = _render_task(module, len(kernel.args), function, shared)
    scratch = (shared_scratch_bytes(kernel, contraction, num_threads)
               if shared and contraction else 0)
    return function, task, scratch


def _pointer_array(
    b: ir.IRBuilder, pointers: list[ir.Value], entry: ir.Block | None = None
) -> ir.Value:
    """The kernel's buffer pointers in an array on the stack (what its task reads);
    the slot is made in ``entry`` when given (a call inside a loop must not grow the
    stack at each step)."""
    if entry is not None:
        with b.goto_block(entry):
            array = b.alloca(PTR, size=ir.Constant(I64, len(pointers)), name="args")
    else:
        array = b.alloca(PTR, size=ir.Constant(I64, len(pointers)), name="args")
    array.type = PTR  # opaque pointers, as everywhere in these modules
    for number, pointer in enumerate(pointers):
        slot = b.gep(array, [ir.Constant(I64, number)], inbounds=True, source_etype=PTR)
        b.store(pointer, slot)
    return array


def _shared_context(
    b: ir.IRBuilder, buffers: ir.Value, scratch: int, entry: ir.Block | None = None
) -> tuple[ir.Value, ir.Value]:
    """A ``SHARED_CONTEXT`` on the stack (``buffers``, counters at 0, ``scratch`` bytes
    from ``malloc``, 64-byte aligned): what the tasks of a blocked contraction get in
    place of ``buffers`` (see ``contraction.py``). Returns it and the pointer to free.
    The slot is made in ``entry`` when given."""
    if entry is not None:
        with b.goto_block(entry):
            context = b.alloca(SHARED_CONTEXT, name="shared")
    else:
        context = b.alloca(SHARED_CONTEXT, name="shared")
    context.type = PTR
    zero = ir.Constant(I32, 0)

    def field(number: int) -> ir.Value:
        return b.gep(context, [zero, ir.Constant(I32, number)], source_etype=SHARED_CONTEXT)

    b.store(buffers, field(0))
    for number in (1, 2, 3, 4):
        b.store(ir.Constant(I64, 0), field(number))
    malloc = b.module.globals.get("malloc") or ir.Function(
        b.module, ir.FunctionType(PTR, [I64]), name="malloc")
    raw = b.call(malloc, [ir.Constant(I64, scratch)])
    address = b.ptrtoint(raw, I64)
    pad = b.sub(ir.Constant(I64, ALIGNMENT), b.and_(address, ir.Constant(I64, ALIGNMENT - 1)))
    b.store(b.gep(raw, [pad], source_etype=I8), field(5))
    return context, raw


def _render_task(
    module: ir.Module, arg_count: int, function: ir.Function, shared: bool = False
) -> ir.Function:
    """``void task(ptr args, i64 start, i64 end)``: the kernel on one chunk of its loop.
    ``args`` is the array of the kernel's ``arg_count`` buffer pointers (see
    :func:`_pointer_array`), or with ``shared`` a :func:`_shared_context` holding that
    array, which the kernel also gets, after its buffers. One task serves every kernel
    that calls ``function``."""
    task = ir.Function(module, TASK_FN, name=f"{function.name}.task")
    task.linkage = "internal"
    args, start, end = task.args
    b = ir.IRBuilder(task.append_basic_block("entry"))
    counter = []
    if shared:
        zero = ir.Constant(I32, 0)
        context = args
        slot = b.gep(context, [zero, zero], source_etype=SHARED_CONTEXT)
        args = b.load(slot, typ=PTR)
        counter = [context]
    pointers = [_slot_pointer(b, args, number) for number in range(arg_count)] + counter
    b.call(function, pointers + [start, end])
    b.ret_void()
    return task


def render_text(
    program: Program,
    num_threads: int = 1,
    threading: str = "pthread",
    vector_functions: VariantTable | None = None,
    profile: bool = False,
) -> str:
    """The LLVM IR text of ``program`` (what the runtime compiles)."""
    return str(
        render_program(
            program, num_threads, threading=threading, vector_functions=vector_functions,
            profile=profile,
        )
    )
