"""``tcomp inspect --stats --time``: measured time per kernel, and the stats table.

How a program is timed depends on how its backend runs it:

- GPU backends (``opencl``, ``cuda``) launch one device function per kernel on
  one in-order queue. Each launch is timed on its own: the queue is drained
  (``synchronize``) before it, the launch enqueued, the queue drained again.
  The whole program runs in order each repeat, so every kernel reads the
  values the previous ones wrote; a kernel's time is the median over repeats.
- ``llvm`` compiles the whole program into one native function, so a single
  kernel cannot be timed apart from the others: the table says so and gives
  the median time of the whole call instead (one row, ``whole program``).

The GPU launches are driven from outside the executable (its launch list,
slots and buffer pool), the same way ``GPUExecutable.__call__`` drives them.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tcomp.ir.kernel.kernel import Loop, Program


@dataclass
class Timing:
    """Median seconds per kernel (None: not measured apart) and of the whole program."""

    per_kernel: list[float | None]
    whole_program: float | None
    note: str


def median_seconds(run: Callable[[], None], repeats: int) -> float:
    """The median wall time of ``run()`` over ``repeats`` calls, after one warm-up call."""
    run()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def time_program(lowered: Any, leaves: list[Any], repeats: int) -> Timing:
    """Times the compiled program of ``lowered`` on the example arguments ``leaves``."""
    compiled = lowered._program.compiled()
    backend = lowered._program.backend
    if hasattr(compiled, "run") and hasattr(backend, "driver"):
        return time_gpu_launches(compiled, backend, leaves, repeats)
    return time_whole_program(compiled, backend, leaves, repeats)


def backend_inputs(backend: Any, leaves: list[Any]) -> list[Any]:
    """The example arguments as the backend's buffers (as a jitted call passes them)."""
    from tcomp.frontend.eager import to_backend
    from tcomp.frontend.jit import _as_backend_input

    return [to_backend(_as_backend_input(leaf), backend) for leaf in leaves]


def time_whole_program(compiled: Any, backend: Any, leaves: list[Any], repeats: int) -> Timing:
    """One native call per run (``llvm``): only the whole program's time is measured."""
    buffers = backend_inputs(backend, leaves)
    synchronize = getattr(backend, "synchronize", lambda: None)

    def run() -> None:
        compiled(buffers)
        synchronize()

    name = getattr(backend, "name", "this backend")
    seconds = median_seconds(run, repeats)
    note = (
        f"{name} runs the whole program as one native call: kernels are not timed apart; "
        f"'whole program' is the median of {repeats} calls"
    )
    return Timing([None] * len(compiled.program.kernels), seconds, note)


def time_gpu_launches(compiled: Any, backend: Any, leaves: list[Any], repeats: int) -> Timing:
    """Each kernel's launch, the queue drained before and after it; the median per kernel
    (through the executable's ``run(buffers, around=...)`` hook)."""
    buffers = backend_inputs(backend, leaves)
    synchronize = backend.synchronize
    samples: list[list[float]] = [[] for _ in compiled.program.kernels]
    counting = False

    def around(index: int, launch: Any) -> None:
        synchronize()
        started = time.perf_counter()
        launch()
        synchronize()
        if counting:
            samples[index].append(time.perf_counter() - started)

    compiled.run(buffers, around)  # warm-up: not counted
    counting = True
    for _ in range(repeats):
        compiled.run(buffers, around)
    per_kernel: list[float | None] = [statistics.median(s) for s in samples]
    note = (
        f"time: median of {repeats} launches per kernel, the device queue drained "
        "before and after each"
    )
    return Timing(per_kernel, None, note)


# ---------------------------------------------------------------------------- the table


def loop_iterations(body: tuple) -> int:
    """Iterations of the innermost loop bodies of a statement block (1 for straight code)."""
    loops = [stmt for stmt in body if isinstance(stmt, Loop)]
    if not loops:
        return 1
    return sum(loop.extent * loop_iterations(loop.body) for loop in loops)


def microseconds(seconds: float | None) -> str:
    """``12.3`` (microseconds, one decimal), or ``-`` when not measured."""
    return "-" if seconds is None else f"{seconds * 1e6:.1f}"


def kernel_numbers(kernel: Any) -> list[int]:
    """Ops fused, bytes read, bytes written (args' size x itemsize), loop iterations."""
    read = written = 0
    for arg in kernel.args:
        nbytes = arg.size * np.dtype(arg.dtype).itemsize
        read += nbytes if arg.access in ("in", "inout") else 0
        written += nbytes if arg.access in ("out", "inout") else 0
    return [len(kernel.origin), read, written, loop_iterations(kernel.body)]


def stats_rows(program: Program, timing: Timing | None) -> list[tuple[str, ...]]:
    """The table's rows: one per kernel, ``total``, and ``whole program`` when timed so."""
    rows = []
    totals = [0, 0, 0, 0]
    for index, kernel in enumerate(program.kernels):
        numbers = kernel_numbers(kernel)
        totals = [t + n for t, n in zip(totals, numbers)]
        time_cell = () if timing is None else (microseconds(timing.per_kernel[index]),)
        rows.append((kernel.name, *map(str, numbers), *time_cell))
    if timing is None:
        return [*rows, ("total", *map(str, totals))]
    measured = [t for t in timing.per_kernel if t is not None]
    total_time = microseconds(sum(measured)) if measured else "-"
    rows.append(("total", *map(str, totals), total_time))
    if timing.whole_program is not None:
        rows.append(("whole program", "", "", "", "", microseconds(timing.whole_program)))
    return rows


def stats_table(program: Program, timing: Timing | None = None) -> str:
    """Per kernel: ops fused, bytes read and written, loop iterations (and with
    ``timing``, a ``time (us)`` column and a line saying how it was measured)."""
    header: tuple[str, ...] = ("kernel", "ops", "bytes read", "bytes written", "iterations")
    if timing is not None:
        header += ("time (us)",)
    rows = [header, *stats_rows(program, timing)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    if timing is not None:
        lines.append(timing.note)
    return "\n".join(lines) + "\n"
