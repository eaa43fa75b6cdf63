"""One signature of a jitted function and its program: traced, optimised on demand, compiled once.

:class:`Signature` is what a program is specialised on; :class:`CompiledProgram`
holds the traced graph IR, runs the graph passes the first time something
needs the optimised function, and compiles on the first call (asking the
backend first for a program it already has for the traced graph:
:meth:`tcomp.backends.base.Backend.find_by_trace`). :mod:`tcomp.frontend.jit`
makes and keeps them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from tcomp.backends.base import Backend, Executable
from tcomp.backends.options import CompileOptions
from tcomp.frontend.distributed_split_exec import compile_split
from tcomp.frontend.pytree import TreeDef
from tcomp.ir.fork_safe import ForkSafeLock
from tcomp.ir.graph import Function
from tcomp.ir.passes import DEFAULT_PIPELINE, run_pipeline

logger = logging.getLogger("tcomp.jit")

# Leaf signature: shape, dtype name, weakly typed (a Python scalar).
LeafSpec = tuple[tuple[int, ...], str, bool]


@dataclass(frozen=True)
class Signature:
    """What one compiled program is specialised on."""

    names: tuple[str, ...]  # the dynamic arguments passed (defaults left out are not)
    treedefs: tuple[TreeDef, ...]
    leaves: tuple[LeafSpec, ...]
    statics: tuple[tuple[str, type, Any], ...]  # (name, type, value)
    backend: str


@dataclass
class CompiledProgram:
    """The stages of one signature's program, compiled on first run (by one thread:
    others that need it meanwhile wait for that compile)."""

    signature: Signature
    traced: Function
    out_tree: TreeDef
    backend: Backend
    executable: Executable | None = None
    leaf_paths: list[str] = field(default_factory=list)
    trace_seconds: float = 0.0
    passes_seconds: float = 0.0  # the graph passes, once they ran (see `optimized`)
    compile_seconds: float | None = None  # backend.compile, once it ran
    logged: bool = False  # the first call is in the compile log
    last_used: int = 0  # when its function last ran it (a count of calls): the LRU order
    options: CompileOptions = field(default_factory=CompileOptions)  # read when traced
    # tcomp.debug.print/callback in the function: outputs after the user's (frontend/debug.py)
    effects: Any = None
    # options.check_finite: what the checked variant scans, set with `optimized`
    finite_check: Any = field(default=None, repr=False, compare=False)
    _optimized: Function | None = field(default=None, repr=False, compare=False)
    _lock: ForkSafeLock = field(default_factory=ForkSafeLock, repr=False, compare=False)
    # a lock of its own: the compile (under _lock) may need the passes
    _passes_lock: ForkSafeLock = field(default_factory=ForkSafeLock, repr=False, compare=False)

    @property
    def optimized(self) -> Function:
        """The traced function after the graph passes, run on first use: a compile that
        the backend finds by the traced graph (:meth:`Backend.find_by_trace`, llvm's
        disk cache on a warm start) never needs them. In a ``check_finite`` program it
        also returns the values kernels write (:mod:`tcomp.frontend.finite_check`)."""
        optimized = self._optimized
        if optimized is None:
            with self._passes_lock:
                if self._optimized is None:
                    started = time.perf_counter()
                    optimized = run_pipeline(
                        self.traced, DEFAULT_PIPELINE, verify_each=self.options.verify_passes
                    )
                    if self.options.check_finite:  # kernel outputs become outputs too
                        from tcomp.frontend.finite_check import checked_function

                        optimized, self.finite_check = checked_function(optimized)
                    self._optimized = optimized
                    self.passes_seconds = time.perf_counter() - started
                optimized = self._optimized
        return optimized

    @property
    def optimized_if_run(self) -> Function | None:
        """:attr:`optimized` if the graph passes ran, else None (runs nothing)."""
        return self._optimized

    def compiled(self) -> Executable:
        """The executable, compiled on the first call. Threads that ask while another
        compiles wait for it; when the compile raises, the next caller tries again."""
        executable = self.executable
        if executable is None:
            with self._lock:
                if self.executable is None:
                    self._compile()
                executable = self.executable
        return executable

    def claim_first_call(self) -> bool:
        """True exactly once: for the call that adds this program to the compile log."""
        if self.logged:
            return False
        with self._lock:
            first, self.logged = not self.logged, True
        return first

    def _compile(self) -> None:
        started = time.perf_counter()
        # a checked program shares its traced graph with the unchecked one: no link
        checked = self.options.check_finite
        executable = None if checked else self.backend.find_by_trace(self.traced, self.options)
        if executable is None:
            optimized = self.optimized  # the graph passes run here, timed on their own
            compiling = time.perf_counter()
            # collectives (tcomp.distributed inside jit): kernel groups and host steps
            executable = compile_split(self.backend, optimized, self.options)
            if executable is None:
                executable = self.backend.compile_with(optimized, self.options)
                if not checked:
                    self.backend.record_trace(self.traced, executable, self.options)
            self.compile_seconds = time.perf_counter() - compiling
        else:
            self.compile_seconds = time.perf_counter() - started
        self.executable = executable
        if logger.isEnabledFor(logging.INFO):
            stats = self.stats()
            details = " ".join(
                f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in stats.items()
                if k not in ("function", "backend_seconds", "trace_seconds", "passes_seconds")
            )
            logger.info(
                "compiled %s: trace %.4fs, passes %.4fs, backend %s %.4fs (%s)",
                stats["function"], self.trace_seconds, self.passes_seconds,
                self.signature.backend, self.compile_seconds, details,
            )

    def stats(self) -> dict[str, Any]:
        """Seconds spent tracing, in the graph passes and in ``backend.compile`` (None
        before the first run), then what the backend reports (``Executable.compile_info``)."""
        stats: dict[str, Any] = {
            "function": self.traced.name,
            "trace_seconds": self.trace_seconds,
            "passes_seconds": self.passes_seconds,
            "backend_seconds": self.compile_seconds,
        }
        info = getattr(self.executable, "compile_info", None)
        if info is not None:
            stats.update(info())
        return stats
