"""The ``llvm`` backend: kernel IR rendered to LLVM IR and JIT-compiled for the host CPU.

``compile`` lowers the graph-IR function to a kernel-IR :class:`Program`,
renders it (:mod:`tcomp.backends.llvm.render`), and compiles it in-process
(:mod:`tcomp.backends.llvm.runtime`); a function compiled before, in this
process or (through the disk cache) an earlier one, is found by its graph IR
and skips all three (:mod:`tcomp.backends.llvm.compile_cache`). Buffers are
C-contiguous numpy arrays:
a call reads a numpy input in place (``borrow``; copied only when it is of
another dtype, not C-contiguous or not aligned to its element size, which
``compile_info()["input_copies"]`` reports), ``from_host`` makes a 64-byte
aligned read-only copy (host data that becomes an Array), ``host_view``
shows a result's memory read-only without a copy; each call allocates its
outputs (and the temp arena) and makes one ctypes call into ``tcomp_main``.

``compile_profiled`` compiles a function with a timestamp around each kernel
(a separate cache entry); ``LLVMExecutable.profile_calls`` runs it and reads
each call's nanoseconds per kernel back (see ``render.py``), and
``timed_call`` runs it once, for a timeline, with the native call's start.

``TCOMP_NUM_THREADS`` (read when a function is compiled) caps the threads a
parallel kernel uses; ``TCOMP_NUM_THREADS=1`` turns threading off. By
default it is the number of CPUs this process may run on. Parallel kernels
run on libgomp's thread pool when the runtime finds libgomp, else on
threads created per call; libm calls vectorise through glibc's libmvec
when it is there (see ``runtime.py``).
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from tcomp.backends.base import Backend, Executable
from tcomp.backends.llvm import interrupt
from tcomp.backends.llvm.addresses import data_address
from tcomp.backends.llvm.host_pool import MIN_BYTES, POOL, output_array
from tcomp.backends.options import NUM_THREADS_ENV, CompileOptions, num_threads_from_environment
from tcomp.ir.errors import TcompBackendError, TcompMemoryError
from tcomp.ir.graph import Function
from tcomp.ir.kernel.kernel import Program
from tcomp.ir.types import numpy_dtype

logger = logging.getLogger("tcomp.llvm")

THREADS_ENV = NUM_THREADS_ENV
ALIGNMENT = 64  # bytes; equals render.ALIGNMENT (not imported: a cache hit never renders)
_PROFILE_LOCK = threading.Lock()  # held while profile_calls reads a module's counters


def _new_profile_lock() -> None:  # a forked child: the thread holding it is not there
    global _PROFILE_LOCK
    _PROFILE_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_profile_lock)


def default_num_threads() -> int:
    """``TCOMP_NUM_THREADS`` when set, else the CPUs available to this process (read now:
    for callers that were not handed :class:`CompileOptions`)."""
    return num_threads_from_environment()


def scratch_array(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A call's arena (or a temp outside it), dropped when the call returns: from the
    host pool (:mod:`tcomp.backends.llvm.host_pool`) when it has at least ``MIN_BYTES``,
    so the next call reuses its pages, else :func:`aligned_empty`. From glibc, an arena
    over 32 MiB was a fresh ``mmap`` every call: the 4-layer GPT's 65 MiB arena was
    faulted in and zeroed page by page on each train step."""
    if math.prod(shape) * np.dtype(dtype).itemsize >= MIN_BYTES:
        return POOL.array(shape, np.dtype(dtype))
    return aligned_empty(shape, dtype)


def aligned_empty(
    shape: tuple[int, ...], dtype: np.dtype, what: str = "an array"
) -> np.ndarray:
    """An uninitialised C-contiguous array whose data is ``ALIGNMENT``-byte aligned.

    When memory runs out: :class:`TcompMemoryError` saying how many bytes, for
    ``what`` (with the shape and dtype).
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    try:
        raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    except MemoryError as error:
        raise TcompMemoryError.allocating(nbytes, f"{what} ({array_text(shape, dtype)})") from error
    start = (-data_address(raw)) % ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


def array_text(shape: Sequence[int], dtype: np.dtype) -> str:
    """``float32[1024, 8]``: a shape and dtype as error messages show them."""
    return f"{np.dtype(dtype).name}[{', '.join(map(str, shape))}]"


@dataclass(frozen=True)
class RunPlan:
    """What a call needs besides the machine code: the pointer array's slots.

    ``params``: (shape, dtype) per parameter; ``allocations``: (shape, dtype,
    kind) per later slot (``output`` arrays, the ``arena`` and unplanned
    ``temp`` buffers, allocated each call); ``results``: per output,
    ``("slot", slot, freeze)`` or ``("constant", index into constants, False)``;
    ``constants``: (shape, dtype, little-endian bytes) of constant outputs.
    Dtypes are tcomp names (``float32``). JSON-able, so the graph-level cache
    stores it (see :mod:`tcomp.backends.llvm.compile_cache`).
    """

    name: str
    params: tuple[tuple[tuple[int, ...], str], ...]
    allocations: tuple[tuple[tuple[int, ...], str, str], ...]
    results: tuple[tuple[str, int, bool], ...]
    constants: tuple[tuple[tuple[int, ...], str, bytes], ...] = ()
    work: int = 0  # scalar operations per call, roughly: a long call is interruptible

    @classmethod
    def of(cls, program: Program) -> "RunPlan":
        from tcomp.backends.llvm.render import buffer_layout
        from tcomp.ir.kernel.analysis import kernel_work

        layout = buffer_layout(program)
        buffers = program.buffers
        params = tuple(
            (tuple(buffers[n].type.shape), buffers[n].type.dtype) for n in program.params
        )
        allocations: list[tuple[tuple[int, ...], str, str]] = []
        for kind, name in layout.slots[len(params) :]:
            if kind == "arena":
                allocations.append(((program.arena_bytes,), "uint8", kind))
            else:
                buffer = buffers[name]
                allocations.append((tuple(buffer.type.shape), buffer.type.dtype, kind))
        results: list[tuple[str, int, bool]] = []
        constants: list[tuple[tuple[int, ...], str, bytes]] = []
        constant_index: dict[str, int] = {}
        for name in program.outputs:
            buffer = buffers[name]
            if buffer.kind == "constant":
                if name not in constant_index:
                    dtype = numpy_dtype(buffer.type.dtype).newbyteorder("<")
                    data = np.asarray(buffer.data, dtype=dtype).tobytes(order="C")
                    constant_index[name] = len(constants)
                    constants.append((tuple(buffer.type.shape), buffer.type.dtype, data))
                results.append(("constant", constant_index[name], False))
            else:
                # never freeze the caller's own array (an output that is a parameter)
                results.append(("slot", layout.slot(name), buffer.kind != "param"))
        work = sum(kernel_work(kernel) * math.prod(program.loops.get(loop, 1)
                                                   for loop in kernel.loops)
                   for kernel in program.kernels)  # a scan's body runs count times
        if program.conditions:  # a while loop may run long, or forever: Ctrl-C must stop it
            work = interrupt.UNBOUNDED_WORK
        return cls(
            program.name, params, tuple(allocations), tuple(results), tuple(constants), work
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": [[list(shape), dtype] for shape, dtype in self.params],
            "allocations": [[list(shape), dtype, kind] for shape, dtype, kind in self.allocations],
            "results": [list(result) for result in self.results],
            "constants": [[list(s), d, data.hex()] for s, d, data in self.constants],
            "work": self.work,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunPlan":
        """The plan :meth:`to_json` gave; ``ValueError`` for anything that is not exactly
        such a plan (checked field by field: :mod:`tcomp.backends.llvm.plan_check`)."""
        from tcomp.backends.llvm.plan_check import plan_from_json

        return plan_from_json(data)

    def problem_with(self, function: Function) -> str | None:
        """Why this plan cannot run ``function`` (None when its parameters and results
        have the function's types): a plan from the cache is checked before use."""
        from tcomp.backends.llvm.plan_check import plan_problem

        return plan_problem(self, function)


class LLVMExecutable(Executable):
    """A compiled program: ``program`` (kernel IR), ``llvm_ir`` (as rendered),
    ``as_text()`` (optimised LLVM IR), ``compile_seconds``, ``compile_info()``.

    Made from a kernel-IR program (lowered here, rendered and compiled), or by
    :mod:`tcomp.backends.llvm.compile_cache` from a cache entry (``restore``):
    then ``program`` is parsed back from its text and ``llvm_ir`` rendered
    again only when asked for.
    """

    profiled = False  # rendered with a timestamp around each kernel (profile_calls)
    _input_copies: dict[int, str] | None = None  # input number -> why a call copied it
    _cache_entry: object = None  # the compile cache's in-memory entry, kept alive by this
    # how long the previous call took (None before the first): interrupt.call decides by
    # it whether a call runs on the Ctrl-C worker thread
    _last_call_seconds: float | None = None

    def __init__(
        self, program: Program, num_threads: int = 1, profiled: bool = False,
        object_cache: Any = None,
    ) -> None:
        """``object_cache``: the disk cache of object code (``runtime.object_cache`` of
        the compile's options); None: the one the environment chooses now."""
        from tcomp.backends.llvm.runtime import compile_module

        started = time.perf_counter()
        self.profiled = profiled
        self._program: Program | None = program
        self._program_text: str | None = None
        self.num_threads = num_threads
        text = self._render(program)
        rendered = time.perf_counter()
        self._llvm_ir: str | None = text
        self._compiled = compile_module(text, object_cache)  # holds the engine alive
        self._set_plan(RunPlan.of(program))
        self.info: dict[str, Any] = {"render_s": rendered - started}
        if self._compiled.created < rendered:  # made before: an in-memory hit by the IR
            self.info["cache"] = "memory-object"
        else:
            self.info["cache"] = "disk-object" if self._compiled.disk_hit else "miss"
            self.info.update(self._compiled.timings)

    @classmethod
    def restore(
        cls,
        plan: RunPlan,
        compiled: Any,
        num_threads: int,
        program_text: str | None,
        info: dict[str, Any],
        program: Program | None = None,
        profiled: bool = False,
    ) -> "LLVMExecutable":
        """An executable for ``plan`` running ``compiled`` (a runtime ``CompiledModule``)
        without lowering or rendering; ``program_text`` is parsed back when asked for
        (unless ``program`` is given)."""
        executable = cls.__new__(cls)
        executable.profiled = profiled
        executable._program = program
        executable._program_text = program_text
        executable._llvm_ir = None
        executable.num_threads = num_threads
        executable._compiled = compiled
        executable._set_plan(plan)
        executable.info = dict(info)
        return executable

    def _set_plan(self, plan: RunPlan) -> None:
        self.plan = plan
        self.compile_seconds = self._compiled.compile_seconds
        self._params = [(shape, numpy_dtype(dtype)) for shape, dtype in plan.params]
        self._allocations = [
            (shape, np.dtype(np.uint8) if kind == "arena" else numpy_dtype(dtype), kind)
            for shape, dtype, kind in plan.allocations
        ]
        self._pointer_array = ctypes.c_void_p * max(len(plan.params) + len(plan.allocations), 1)
        constants = []
        for shape, dtype, data in plan.constants:
            array = np.frombuffer(data, dtype=numpy_dtype(dtype).newbyteorder("<"))
            array = array.astype(numpy_dtype(dtype)).reshape(shape)
            array.setflags(write=False)
            constants.append(array)
        # per output: ("slot", slot number, freeze?) or ("constant", array, False)
        self._results: list[tuple[str, Any, bool]] = [
            (kind, constants[index] if kind == "constant" else index, freeze)
            for kind, index, freeze in plan.results
        ]

    def _render(self, program: Program) -> str:
        from tcomp.backends.llvm.compile_cache import COUNTERS
        from tcomp.backends.llvm.render import render_program
        from tcomp.backends.llvm.runtime import threading_runtime, vector_functions

        COUNTERS.renders += 1
        threading = threading_runtime() if self.num_threads > 1 else "pthread"
        module = render_program(
            program, self.num_threads, threading=threading, vector_functions=vector_functions(),
            profile=self.profiled,
        )
        return str(module)

    @property
    def program(self) -> Program:
        """The kernel-IR program (parsed back from the cache entry's text after a cache hit)."""
        if self._program is None:
            from tcomp.ir.kernel.parser import parse_program

            if self._program_text is None:
                raise TcompBackendError(f"{self.plan.name}: the kernel program was not kept")
            self._program = parse_program(self._program_text)
        return self._program

    @property
    def llvm_ir(self) -> str:
        """The LLVM IR as rendered, before optimisation (rendered again after a cache hit)."""
        if self._llvm_ir is None:
            self._llvm_ir = self._render(self.program)
        return self._llvm_ir

    def __call__(self, buffers: Sequence[Any]) -> list[Any]:
        if len(buffers) != len(self._params):
            raise ValueError(
                f"{self.plan.name}: expects {len(self._params)} inputs, got {len(buffers)}"
            )
        arrays: list[np.ndarray] = []
        for index, (array, (shape, dtype)) in enumerate(zip(buffers, self._params)):
            if type(array) is not np.ndarray:
                array = np.asarray(array)
            # read in place (compiled code never writes a parameter), unless the kernels
            # cannot address it: another dtype, not C-contiguous, or not aligned to its
            # element size (loads assume no more than that: any other address is fine)
            flags = array.flags
            if (array.dtype is not dtype and array.dtype != dtype) or not (
                flags.c_contiguous and flags.aligned
            ):
                array = self._copied_input(index, array, dtype)
            if array.shape != shape:
                array = array.reshape(shape)
            arrays.append(array)
        for shape, dtype, kind in self._allocations:
            try:
                arrays.append(
                    output_array(shape, dtype) if kind == "output" else scratch_array(shape, dtype)
                )
            except MemoryError as error:
                raise self._out_of_memory(shape, dtype, kind) from error
        pointers = self._pointer_array(*[data_address(a) for a in arrays])
        # the one call into compiled code (a long one on a worker thread, so that Ctrl-C
        # stops it: see tcomp.backends.llvm.interrupt)
        self._last_call_seconds = interrupt.call(
            self._compiled.entry, pointers, self.plan.work, self._last_call_seconds
        )
        results = []
        for kind, what, freeze in self._results:
            if kind == "constant":
                results.append(what)
                continue
            array = arrays[what]
            # a parameter returned as it is stays the caller's own buffer (not frozen here;
            # see tcomp.frontend.eager.own_results), unless this call copied it
            if freeze or array is not buffers[what]:
                array.setflags(write=False)
            results.append(array)
        return results

    def _copied_input(self, index: int, array: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """A C-contiguous, aligned copy of input ``index`` in ``dtype``; says why in
        ``compile_info()["input_copies"]`` and on the ``tcomp.llvm`` logger (DEBUG)."""
        if array.dtype != dtype:
            why = f"dtype {array.dtype.str} ({array.dtype.name}), not {dtype.name}"
        elif not array.flags.c_contiguous:
            why = f"not C-contiguous (strides {array.strides})"
        else:
            why = (f"data at an address {array.ctypes.data % dtype.alignment} bytes past a "
                   f"multiple of {dtype.alignment}, its element alignment")
        why = f"{array_text(array.shape, array.dtype)}: {why}"
        if self._input_copies is None:
            self._input_copies = {}
        self._input_copies[index] = why
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s: input %d copied before the call: %s", self.plan.name, index, why)
        return np.array(array, dtype=dtype, order="C", copy=True)  # aligned by numpy

    def profile_calls(
        self, buffers: Sequence[Any], repeats: int
    ) -> list[tuple[list[float], float]]:
        """Runs a profiled program (``compile_profiled``) once to warm up, then ``repeats``
        times; per timed call: the seconds of each kernel, measured inside the native call
        (``clock_gettime`` around each), and the call's wall time as this caller sees it
        (allocations and the ctypes call included), in program order."""
        from tcomp.backends.llvm.runtime import PROFILE_HEADER, profile_counters

        if not self.profiled:
            raise TcompBackendError(
                f"{self.plan.name}: compiled without profiling (use compile_profiled)"
            )
        kernels = len(self.program.kernels)
        counters = profile_counters(self._compiled, PROFILE_HEADER + kernels)
        samples: list[tuple[list[float], float]] = []
        with _PROFILE_LOCK:  # one profile at a time reads the module's counters
            self(buffers)
            while len(samples) < repeats:
                before = counters[:]
                started = time.perf_counter()
                self(buffers)
                wall = time.perf_counter() - started
                after = counters[:]
                # calls: 1, or 2 when an interrupt meant for another thread made the
                # runtime run it again (see interrupt.call)
                calls = after[0] - before[0]
                if calls < 1:  # pragma: no cover - a call always completes once
                    continue
                per_kernel = [
                    (after[slot] - before[slot]) / calls * 1e-9
                    for slot in range(PROFILE_HEADER, PROFILE_HEADER + kernels)
                ]
                samples.append((per_kernel, wall / calls))
        return samples

    def timed_call(self, buffers: Sequence[Any]) -> tuple[list[Any], list[float], int, int]:
        """One call of a profiled program: its outputs, each kernel's seconds, and the
        ``CLOCK_MONOTONIC`` nanoseconds at which the native call began and that it took
        (kernels run one after another from that start; see ``render.py``)."""
        from tcomp.backends.llvm.runtime import PROFILE_HEADER, profile_counters

        if not self.profiled:
            raise TcompBackendError(
                f"{self.plan.name}: compiled without profiling (use compile_profiled)"
            )
        kernels = len(self.program.kernels)
        counters = profile_counters(self._compiled, PROFILE_HEADER + kernels + 1)
        with _PROFILE_LOCK:  # one profile at a time reads the module's counters
            before = counters[:]
            outputs = self(buffers)
            after = counters[:]
        calls = max(after[0] - before[0], 1)  # 2 when an interrupt made it run again
        per_kernel = [
            (after[slot] - before[slot]) / calls * 1e-9
            for slot in range(PROFILE_HEADER, PROFILE_HEADER + kernels)
        ]
        return outputs, per_kernel, after[-1], (after[1] - before[1]) // calls

    def _out_of_memory(self, shape: tuple[int, ...], dtype: np.dtype, kind: str) -> TcompMemoryError:
        """The error for a call's ``kind`` buffer (``output``, ``arena``, ``temp``) that
        could not be allocated: its bytes, shape and dtype, and this program's name."""
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        what = {"output": "an output", "arena": "the temporary arena"}.get(kind, "a temporary")
        if kind != "arena":
            what += f" {array_text(shape, dtype)}"
        return TcompMemoryError.allocating(nbytes, f"{what} of {self.plan.name} (llvm backend)")

    def as_text(self) -> str:
        return self._compiled.optimized_ir

    def compile_info(self) -> dict[str, Any]:
        """Seconds per step of this compile and where the result came from: ``cache`` is
        ``memory`` or ``disk`` (graph-level hit: nothing lowered, rendered or compiled),
        ``memory-object`` or ``disk-object`` (rendered, then the machine code found by
        the LLVM IR) or ``miss``; ``stale`` is set when a damaged disk entry was
        replaced. ``input_copies`` (only once a call copied one): per input number, why
        the latest copy was made (see :meth:`__call__`: a numpy input is read in place
        when it is C-contiguous, of the parameter's dtype and aligned to its element)."""
        info = dict(self.info)
        if self._input_copies:
            info["input_copies"] = dict(self._input_copies)
        return info

    def cache_key_parts(self) -> dict[str, str] | None:
        """The graph-level key by part (set by :mod:`tcomp.backends.llvm.compile_cache`;
        None for a program compiled without it, such as ``compile_program``)."""
        return getattr(self, "key_parts", None)


class LLVMBackend(Backend):
    """Compiles each function to native code for this CPU with LLVM (via llvmlite)."""

    name = "llvm"

    def __init__(self) -> None:
        # llvmlite is a dependency of tcomp, so this fails only in an environment that
        # lost it (installed with --no-deps, uninstalled later, a broken wheel)
        try:
            import llvmlite.binding  # noqa: F401
        except ImportError as error:
            raise TcompBackendError(
                f"the llvm backend cannot import llvmlite ({error}); llvmlite is a "
                "dependency of tcomp: reinstall tcomp, or pip install llvmlite"
            ) from error

    def compile(self, function: Function) -> Executable:
        """Lowers, renders and compiles ``function``, or takes the result from the
        graph-level cache (:mod:`tcomp.backends.llvm.compile_cache`), with the
        options the environment sets now."""
        return self.compile_with(function, CompileOptions.from_environment())

    def compile_with(self, function: Function, options: CompileOptions) -> Executable:
        """:meth:`compile` with ``options`` chosen by the caller (``num_threads``, the
        disk cache's folder and limit, ``verify_passes`` for the kernel pipeline)."""
        from tcomp.backends.llvm.compile_cache import compile_function

        return compile_function(function, options)

    def find_by_trace(self, traced: Function, options: CompileOptions) -> Executable | None:
        """The executable cached for ``traced`` by :mod:`tcomp.backends.llvm.trace_cache`."""
        from tcomp.backends.llvm.trace_cache import find_by_trace

        return find_by_trace(traced, options)

    def record_trace(
        self, traced: Function, executable: Executable, options: CompileOptions
    ) -> None:
        """Keys ``executable``'s cache entry by ``traced`` too (a warm start skips the passes)."""
        from tcomp.backends.llvm.trace_cache import record_trace

        record_trace(traced, executable, options)

    def compile_profiled(
        self, function: Function, options: CompileOptions | None = None
    ) -> "LLVMExecutable":
        """``function`` compiled with a timestamp around each kernel (its own cache entry,
        in memory and on disk): :meth:`LLVMExecutable.profile_calls` runs it."""
        from tcomp.backends.llvm.compile_cache import compile_function

        if options is None:
            options = CompileOptions.from_environment()
        return compile_function(function, options, profile=True)

    def compile_program(self, program: Program, num_threads: int | None = None) -> LLVMExecutable:
        """Compiles an already lowered kernel-IR program."""
        if num_threads is None:
            num_threads = default_num_threads()
        return LLVMExecutable(program, num_threads)

    def from_host(self, array: np.ndarray) -> Any:
        """A 64-byte aligned read-only copy: for host data that becomes an Array (which
        must not change when the caller's array does); a call's numpy inputs are
        :meth:`borrow`-ed instead."""
        copy = aligned_empty(array.shape, array.dtype, "an input copied to the llvm backend")
        copy[...] = array
        copy.setflags(write=False)
        return copy

    def borrow(self, array: Any) -> np.ndarray:
        """What passes the numpy input ``array`` to one call: the array itself, read in
        place (compiled code never writes a parameter; :meth:`LLVMExecutable.__call__`
        copies only an input it cannot address, and says why in ``compile_info()``)."""
        return np.asarray(array)

    def host_view(self, buffer: Any) -> np.ndarray:
        """``buffer``'s memory as a read-only numpy array that keeps it alive, without a
        copy: ``np.asarray(Array)``. Its base is a read-only memoryview, so numpy cannot
        make it writable again (``setflags(write=True)`` raises ValueError)."""
        if not buffer.flags.c_contiguous:  # pragma: no cover - buffers are C-contiguous
            buffer = np.ascontiguousarray(buffer)
        raw = buffer.reshape(-1).view(np.uint8)
        raw.setflags(write=False)
        # frombuffer keeps the read-only memoryview as the base (np.ndarray(buffer=...)
        # would look through it to a writable array under a pooled block)
        view = np.frombuffer(memoryview(raw), dtype=np.uint8)
        return view.view(buffer.dtype).reshape(buffer.shape)

    def to_host(self, buffer: Any) -> np.ndarray:
        return np.array(buffer, copy=True)
