"""``tcomp inspect --stats --time``: measured time per kernel, and the stats table.

The measuring is :func:`tcomp.frontend.profile.measure` (what
``Lowered.profile`` uses too), per backend:

- ``llvm`` compiles the whole program into one native function; a profiled
  build of it (a separate compile and cache entry) reads
  ``clock_gettime(CLOCK_MONOTONIC)`` before and after each kernel inside
  that call, so each kernel gets its own time.
- GPU backends (``opencl``, ``cuda``) launch one device function per kernel on
  one in-order queue. Each launch is timed on its own: the queue is drained
  (``synchronize``) before it, the launch enqueued, the queue drained again.

Either way the whole program runs in order each repeat, so every kernel reads
the values the previous ones wrote; a kernel's time is the median over repeats.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from tcomp.frontend.kernel_stats import kernel_numbers
from tcomp.ir.kernel.kernel import Program


@dataclass
class Timing:
    """Median seconds per kernel (None: not measured apart), of the whole call, and a
    line saying how they were measured."""

    per_kernel: list[float | None]
    whole_program: float | None
    note: str


def time_program(lowered: Any, leaves: list[Any], repeats: int) -> Timing:
    """Times each kernel of the program of ``lowered`` on the example arguments ``leaves``."""
    from tcomp.frontend.profile import measure

    measured = measure(lowered._program, leaves, repeats)
    per_kernel: list[float | None] = [statistics.median(s) for s in measured.per_kernel]
    whole = statistics.median(measured.calls)
    note = f"time: {measured.how}"
    if hasattr(lowered._program.backend, "compile_profiled"):  # llvm: one native call
        note += f"; a whole call took {whole * 1e6:.1f} us (median)"
    return Timing(per_kernel, whole, note)


# ---------------------------------------------------------------------------- the table


def microseconds(seconds: float | None) -> str:
    """``12.3`` (microseconds, one decimal), or ``-`` when not measured."""
    return "-" if seconds is None else f"{seconds * 1e6:.1f}"


def stats_rows(program: Program, timing: Timing | None) -> list[tuple[str, ...]]:
    """The table's rows: one per kernel, then ``total``."""
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
