"""Per-kernel profiles: which kernels of a compiled program take the time, and what they fuse.

:meth:`tcomp.frontend.lowered.Lowered.profile` (``f.lower(*args).profile(*args)``,
this module's :func:`lowered_profile`; :func:`profile` does both steps) runs
the program on the arguments, times each kernel and returns a
:class:`Profile`: the kernels by time, each with the graph ops it fuses and
the user's ``file:line`` of those ops; ``str()`` of it is the table.
``tcomp inspect --stats --time`` measures through :func:`measure` too.

How a kernel is timed depends on how its backend runs the program:

- ``llvm`` runs the whole program as one native call, so it is timed from
  inside: a second build of the program (``LLVMBackend.compile_profiled``,
  a separate cache entry; the ordinary build stays as fast as before) reads
  ``clock_gettime(CLOCK_MONOTONIC)`` before and after each kernel and sums
  the nanoseconds per call. The sum over kernels is at most the call's wall
  time, which also counts allocating the outputs and the ctypes call.
- GPU backends (``opencl``, ``cuda``) launch one device function per kernel
  on one in-order queue: each launch is timed on its own, the queue drained
  (``synchronize``) before it and after it, through the executable's
  ``run(buffers, around=...)`` hook.

Every timed call runs the whole program in order, so each kernel reads what
the previous ones wrote; one untimed call warms up first. A kernel's time is
the median over the timed calls.
"""

from __future__ import annotations

import statistics
import time
import weakref
from dataclasses import dataclass
from typing import Any

from tcomp.frontend.kernel_stats import kernel_lines, nodes_by_name
from tcomp.ir.errors import TcompArgumentError
from tcomp.ir.fork_safe import ForkSafeLock

OPS_SHOWN = 6  # graph ops a table row names before it elides the middle

_PROFILED_LOCK = ForkSafeLock()  # a forked child gets its own
# id of an optimised graph function (unhashable: compared by structure) -> its profiled
# llvm executable, dropped when the function is collected
_PROFILED: dict[int, Any] = {}


@dataclass(frozen=True)
class Measurement:
    """Raw samples: per kernel (program order) its seconds in each timed call, and the
    seconds of each timed call as a whole; ``how`` says how, in one line."""

    per_kernel: list[list[float]]
    calls: list[float]
    how: str
    program: Any  # the kernel-IR Program that ran


@dataclass(frozen=True)
class KernelTime:
    """One kernel: ``seconds`` (the median of ``samples``, one per timed call), the graph
    ops it fuses (``%6 matmul``) and the user's lines of those ops (``model.py:12``)."""

    name: str
    seconds: float
    samples: tuple[float, ...]
    ops: tuple[str, ...]
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    """The kernels of one program with their times (``kernels`` in program order; see
    :meth:`by_time`), the wall time of each timed call, and how it was measured."""

    function: str
    backend: str
    kernels: tuple[KernelTime, ...]
    call_samples: tuple[float, ...]
    how: str

    @property
    def repeats(self) -> int:
        return len(self.call_samples)

    @property
    def call_seconds(self) -> float:
        """The median wall time of a whole call."""
        return statistics.median(self.call_samples)

    @property
    def kernel_seconds(self) -> float:
        """The sum of the kernels' median times."""
        return sum(kernel.seconds for kernel in self.kernels)

    def by_time(self) -> list[KernelTime]:
        """The kernels, slowest first (program order among equal times)."""
        return sorted(self.kernels, key=lambda kernel: -kernel.seconds)

    def table(self) -> str:
        """One row per kernel, slowest first: its median time, its share of the kernels'
        total, how many graph ops it fuses, the user's lines and the ops themselves."""
        total = self.kernel_seconds
        header = ("kernel", "time (us)", "share", "ops", "lines", "graph ops")
        rows = [header]
        for kernel in self.by_time():
            share = kernel.seconds / total if total > 0 else 0.0
            rows.append((
                kernel.name, f"{kernel.seconds * 1e6:.1f}", f"{share:.1%}",
                str(len(kernel.ops)), _lines_text(kernel.lines) or "-",
                _ops_text(kernel.ops) or "-",
            ))
        rows.append(("total", f"{total * 1e6:.1f}", "", "", "", ""))
        right = {1, 2, 3}
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = []
        for row in rows:
            cells = [c.rjust(w) if i in right else c.ljust(w)
                     for i, (c, w) in enumerate(zip(row, widths))]
            lines.append("  ".join(cells).rstrip())
        lines.append(
            f"{self.function} on {self.backend}: {self.how}; a whole call took "
            f"{self.call_seconds * 1e6:.1f} us (median)"
        )
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.table()


def lowered_profile(lowered: Any, *args: Any, repeats: int = 10, **kwargs: Any) -> Profile:
    """``Lowered.profile(*args, repeats=10, **kwargs)``: runs the lowered program on
    ``args`` (those given to ``lower``, or others of the same signature) ``repeats``
    times after one warm-up call and times each kernel (see the module docstring); on
    ``llvm`` through a profiled build, a separate compile and cache entry.
    ``print()`` the :class:`Profile` for its table of kernels by time."""
    from tcomp.frontend.jit import BoundJitMethod

    owner = lowered._owner
    if owner is None:
        raise TcompArgumentError("profile: this Lowered was not made by f.lower(...)")
    if isinstance(owner, BoundJitMethod):
        jitted, args = owner._jitted, (owner._instance, *args)
        program, leaves = jitted._program_for(args, kwargs, owner._extra_static)
    else:
        program, leaves = owner._program_for(args, kwargs, frozenset())
    if program.signature != lowered._program.signature:
        raise TcompArgumentError(
            "profile: these arguments have another signature than the lowered program's; "
            "pass arguments of the same shapes, dtypes and static values"
        )
    return profile_program(lowered._program, leaves, repeats)


def profile(f: Any, *args: Any, repeats: int = 10, **kwargs: Any) -> Profile:
    """``f.lower(*args, **kwargs).profile(*args, repeats=repeats, **kwargs)`` for a
    ``tcomp.jit`` function ``f``."""
    return f.lower(*args, **kwargs).profile(*args, repeats=repeats, **kwargs)


def profile_program(program: Any, leaves: list[Any], repeats: int = 10) -> Profile:
    """The :class:`Profile` of a jitted signature's ``CompiledProgram`` run on ``leaves``
    (its flattened arguments), ``repeats`` timed calls after one warm-up call."""
    measured = measure(program, leaves, repeats)
    nodes = nodes_by_name(program.optimized)
    kernels = [
        KernelTime(
            kernel.name, statistics.median(samples), tuple(samples), tuple(kernel.origin),
            kernel_lines(kernel, nodes),
        )
        for kernel, samples in zip(measured.program.kernels, measured.per_kernel)
    ]
    backend = getattr(program.backend, "name", program.signature.backend)
    return Profile(program.optimized.name, backend, tuple(kernels),
                   tuple(measured.calls), measured.how)


def measure(program: Any, leaves: list[Any], repeats: int) -> Measurement:
    """Times each kernel of ``program`` (a ``CompiledProgram``) on ``leaves``: see the
    module docstring. A backend that runs graph IR directly has no kernels to time."""
    if repeats < 1:
        raise TcompArgumentError(f"profile: repeats={repeats}; give at least 1")
    backend = program.backend
    if hasattr(backend, "compile_profiled"):
        return _measure_profiled(program, leaves, repeats)
    compiled = program.compiled()
    if hasattr(compiled, "run") and hasattr(backend, "synchronize"):
        return _measure_launches(compiled, backend, leaves, repeats)
    name = getattr(backend, "name", program.signature.backend)
    raise TcompArgumentError(
        f"the backend {name!r} has no kernels to profile: it runs graph IR directly "
        f"(profile on llvm, opencl or cuda: tcomp.jit(f, backend='llvm'))"
    )


def backend_inputs(backend: Any, leaves: list[Any]) -> list[Any]:
    """The arguments as the backend's buffers (as a jitted call passes them)."""
    from tcomp.frontend.eager import to_backend
    from tcomp.frontend.jit import _as_backend_input

    return [to_backend(_as_backend_input(leaf), backend) for leaf in leaves]


def built_profiled_executable(program: Any) -> Any | None:
    """The profiled build of ``program`` if one was made already, else None (runs no
    graph pass: a build needs the optimised function)."""
    function = program.optimized_if_run
    if function is None:
        return None
    with _PROFILED_LOCK:
        return _PROFILED.get(id(function))


def profiled_executable(program: Any) -> Any:
    """The profiled build of ``program`` (one per optimised function while it lives)."""
    function = program.optimized
    key = id(function)
    with _PROFILED_LOCK:
        executable = _PROFILED.get(key)
    if executable is None:
        compiled = program.backend.compile_profiled(function, program.options)
        with _PROFILED_LOCK:
            executable = _PROFILED.get(key)
            if executable is None:
                executable = _PROFILED[key] = compiled
                weakref.finalize(function, _forget, key)
    return executable


def _forget(key: int) -> None:
    with _PROFILED_LOCK:
        _PROFILED.pop(key, None)


def _measure_profiled(program: Any, leaves: list[Any], repeats: int) -> Measurement:
    executable = profiled_executable(program)
    buffers = backend_inputs(program.backend, leaves)
    samples = executable.profile_calls(buffers, repeats)
    kernels = executable.program.kernels
    per_kernel = [[sample[0][index] for sample in samples] for index in range(len(kernels))]
    how = (
        f"median of {repeats} calls per kernel, clock_gettime around each kernel inside "
        "a profiled build of the program"
    )
    return Measurement(per_kernel, [sample[1] for sample in samples], how, executable.program)


def _measure_launches(compiled: Any, backend: Any, leaves: list[Any], repeats: int) -> Measurement:
    buffers = backend_inputs(backend, leaves)
    synchronize = backend.synchronize
    per_kernel: list[list[float]] = [[] for _ in compiled.program.kernels]
    this_call = [0.0] * len(per_kernel)

    def around(index: int, launch: Any) -> None:
        synchronize()
        started = time.perf_counter()
        launch()
        synchronize()
        this_call[index] += time.perf_counter() - started

    compiled.run(buffers, around)  # warm-up: not counted
    calls = []
    for _ in range(repeats):
        this_call[:] = [0.0] * len(per_kernel)
        started = time.perf_counter()
        compiled.run(buffers, around)
        synchronize()
        calls.append(time.perf_counter() - started)
        for samples, seconds in zip(per_kernel, this_call):
            samples.append(seconds)
    how = (
        f"median of {repeats} launches per kernel, the device queue drained "
        "before and after each"
    )
    return Measurement(per_kernel, calls, how, compiled.program)


def _lines_text(lines: tuple[str, ...]) -> str:
    """``model.py:12,14 other.py:3``: lines grouped by file, in order of first use."""
    by_file: dict[str, list[str]] = {}
    for text in lines:
        file, _, line = text.rpartition(":")
        by_file.setdefault(file, []).append(line)
    return " ".join(f"{file}:{','.join(numbers)}" for file, numbers in by_file.items())


def _ops_text(ops: tuple[str, ...]) -> str:
    """The graph ops joined by ``, ``, the middle elided beyond :data:`OPS_SHOWN`."""
    if len(ops) <= OPS_SHOWN:
        return ", ".join(ops)
    head = OPS_SHOWN - 2
    return ", ".join([*ops[:head], "...", *ops[-2:]])
