"""The ``llvm`` backend: kernel IR rendered to LLVM IR and JIT-compiled for the host CPU.

``compile`` lowers the graph-IR function to a kernel-IR :class:`Program`,
renders it (:mod:`tcomp.backends.llvm.render`), and compiles it in-process
(:mod:`tcomp.backends.llvm.runtime`). Buffers are C-contiguous numpy arrays:
``from_host`` makes a 64-byte aligned read-only copy; each call allocates
its outputs (and the temp arena) and makes one ctypes call into
``tcomp_main``.

``TCOMP_NUM_THREADS`` (read when a function is compiled) caps the threads a
parallel kernel uses; ``TCOMP_NUM_THREADS=1`` turns threading off. By
default it is the number of CPUs this process may run on. Parallel kernels
run on libgomp's thread pool when the runtime finds libgomp, else on
threads created per call; libm calls vectorise through glibc's libmvec
when it is there (see ``runtime.py``).
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, Sequence

import numpy as np

from tcomp.backends.base import Backend, Executable
from tcomp.backends.llvm.render import ALIGNMENT, buffer_layout, render_program
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.graph import Function
from tcomp.ir.kernel.kernel import Program
from tcomp.ir.types import numpy_dtype

THREADS_ENV = "TCOMP_NUM_THREADS"


def default_num_threads() -> int:
    """``TCOMP_NUM_THREADS`` when set, else the CPUs available to this process."""
    configured = os.environ.get(THREADS_ENV, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data is ``ALIGNMENT``-byte aligned."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
    return raw[start : start + nbytes].view(dtype).reshape(shape)


class LLVMExecutable(Executable):
    """A compiled program: ``program`` (kernel IR), ``llvm_ir`` (as rendered),
    ``as_text()`` (optimised LLVM IR), ``compile_seconds``."""

    def __init__(self, program: Program, num_threads: int = 1) -> None:
        from tcomp.backends.llvm.runtime import (
            compile_module,
            threading_runtime,
            vector_functions,
        )

        self.program = program
        self.num_threads = num_threads
        threading = threading_runtime() if num_threads > 1 else "pthread"
        module = render_program(
            program, num_threads, threading=threading, vector_functions=vector_functions()
        )
        self.llvm_ir = str(module)
        self._compiled = compile_module(self.llvm_ir)  # holds the engine alive
        self.compile_seconds = self._compiled.compile_seconds
        self._layout = buffer_layout(program)
        buffers = program.buffers
        self._params = [
            (tuple(buffers[n].type.shape), numpy_dtype(buffers[n].type.dtype))
            for n in program.params
        ]
        # per slot after the params: (shape, dtype, kind) of what each call allocates
        self._allocations: list[tuple[tuple[int, ...], np.dtype, str]] = []
        for kind, name in self._layout.slots[len(self._params) :]:
            if kind == "arena":
                self._allocations.append(((program.arena_bytes,), np.dtype(np.uint8), kind))
            else:
                buffer = buffers[name]
                dtype = numpy_dtype(buffer.type.dtype)
                self._allocations.append((tuple(buffer.type.shape), dtype, kind))
        self._pointer_array = ctypes.c_void_p * max(len(self._layout.slots), 1)
        # per output: ("slot", slot number, freeze?) or ("constant", array, False)
        self._results: list[tuple[str, Any, bool]] = []
        constants: dict[str, np.ndarray] = {}
        for name in program.outputs:
            buffer = buffers[name]
            if buffer.kind == "constant":
                if name not in constants:
                    array = np.array(buffer.data, dtype=numpy_dtype(buffer.type.dtype), order="C")
                    array = array.reshape(buffer.type.shape)
                    array.setflags(write=False)
                    constants[name] = array
                self._results.append(("constant", constants[name], False))
            else:
                # never freeze the caller's own array (an output that is a parameter)
                self._results.append(("slot", self._layout.slot(name), buffer.kind != "param"))

    def __call__(self, buffers: Sequence[Any]) -> list[Any]:
        if len(buffers) != len(self._params):
            raise ValueError(
                f"{self.program.name}: expects {len(self._params)} inputs, got {len(buffers)}"
            )
        arrays: list[np.ndarray] = []
        for array, (shape, dtype) in zip(buffers, self._params):
            if type(array) is not np.ndarray or array.dtype is not dtype:
                array = np.asarray(array)
            if array.dtype != dtype or not array.flags.c_contiguous:
                array = np.ascontiguousarray(array, dtype=dtype)
            if array.shape != shape:
                array = array.reshape(shape)
            arrays.append(array)
        for shape, dtype, kind in self._allocations:
            arrays.append(np.empty(shape, dtype) if kind == "output" else aligned_empty(shape, dtype))
        pointers = self._pointer_array(*[a.ctypes.data for a in arrays])
        self._compiled.entry(pointers)  # the one call into compiled code
        results = []
        for kind, what, freeze in self._results:
            if kind == "constant":
                results.append(what)
                continue
            array = arrays[what]
            if freeze:
                array.setflags(write=False)
            results.append(array)
        return results

    def as_text(self) -> str:
        return self._compiled.optimized_ir


class LLVMBackend(Backend):
    """Compiles each function to native code for this CPU with LLVM (via llvmlite)."""

    name = "llvm"

    def __init__(self) -> None:
        try:
            import llvmlite.binding  # noqa: F401
        except ImportError as error:
            raise TcompBackendError(
                "the llvm backend needs llvmlite: pip install llvmlite"
            ) from error
        try:
            from tcomp.ir.kernel.lowering import lower_function  # noqa: F401
        except ImportError as error:
            raise TcompBackendError(
                "the llvm backend needs tcomp.ir.kernel.lowering, not in this build yet"
            ) from error

    def compile(self, function: Function) -> Executable:
        from tcomp.ir.kernel.lowering import lower_function

        return self.compile_program(lower_function(function))

    def compile_program(self, program: Program, num_threads: int | None = None) -> LLVMExecutable:
        """Compiles an already lowered kernel-IR program."""
        if num_threads is None:
            num_threads = default_num_threads()
        return LLVMExecutable(program, num_threads)

    def from_host(self, array: np.ndarray) -> Any:
        copy = aligned_empty(array.shape, array.dtype)
        copy[...] = array
        copy.setflags(write=False)
        return copy

    def to_host(self, buffer: Any) -> np.ndarray:
        return np.array(buffer, copy=True)
