"""``plan_memory``: temporaries share one arena by liveness.

A temporary lives from the first kernel that touches it to the last. Walking
the kernels in order, the temporaries that died before kernel ``k`` give
their byte ranges back, then those first used by ``k`` take the lowest free
range that fits (first fit, ranges aligned to 64 bytes), growing the arena
when none does. A temporary used inside a repeat loop (a scan's body: ``Kernel.loops``)
lives from the loop's first kernel to its last. Two temporaries whose
lifetimes overlap never share a byte;
outputs, parameters and constants are not in the arena.

Example: k0 writes %t1 (400 B), k1 reads %t1 and writes %t2 (400 B), k2
reads %t2 and writes %t3 (400 B): %t1 at 0, %t2 at 448 (alive with %t1 in
k1), %t3 at 0 again (%t1 died after k1); ``arena_bytes`` = 896.

Which temps of one kernel may share bytes under a plan is an analysis
renderers need: :func:`tcomp.ir.kernel.analysis.overlap.overlapping_temps`.
"""

from __future__ import annotations

import dataclasses

from tcomp.ir.kernel.kernel import Program
from tcomp.ir.types import numpy_dtype

ALIGNMENT = 64


def _aligned(size: int) -> int:
    return (size + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def temp_lifetimes(program: Program) -> dict[str, tuple[int, int]]:
    """Each temporary used by a kernel: (first kernel index, last kernel index)."""
    temps = {b.name for b in program.buffers_of_kind("temp")}
    lifetimes: dict[str, tuple[int, int]] = {}
    for k, kernel in enumerate(program.kernels):
        for arg in kernel.args:
            if arg.name in temps:
                first, _ = lifetimes.get(arg.name, (k, k))
                lifetimes[arg.name] = (first, k)
    # a temp touched inside a repeat loop lives through the whole loop: the next
    # step reads the carries, slices and step index the last one left
    spans: dict[str, tuple[int, int]] = {}
    for k, kernel in enumerate(program.kernels):
        for loop in kernel.loops:
            first, _ = spans.get(loop, (k, k))
            spans[loop] = (first, k)
    for loop_first, loop_last in spans.values():
        for name, (first, last) in lifetimes.items():
            if first <= loop_last and last >= loop_first:
                lifetimes[name] = (min(first, loop_first), max(last, loop_last))
    return lifetimes


class _FreeList:
    """Free byte ranges of the arena below its current end, first fit."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []  # (offset, size), sorted, coalesced
        self.end = 0

    def allocate(self, size: int) -> int:
        for i, (offset, free) in enumerate(self.ranges):
            if free >= size:
                if free == size:
                    del self.ranges[i]
                else:
                    self.ranges[i] = (offset + size, free - size)
                return offset
        if self.ranges and self.ranges[-1][0] + self.ranges[-1][1] == self.end:
            offset, _ = self.ranges.pop()  # extend the free tail
        else:
            offset = self.end
        self.end = offset + size
        return offset

    def release(self, offset: int, size: int) -> None:
        self.ranges.append((offset, size))
        self.ranges.sort()
        merged: list[tuple[int, int]] = []
        for start, length in self.ranges:
            if merged and merged[-1][0] + merged[-1][1] == start:
                merged[-1] = (merged[-1][0], merged[-1][1] + length)
            else:
                merged.append((start, length))
        self.ranges = merged


def plan_memory(program: Program) -> Program:
    """A copy of ``program`` whose temporaries have arena ``offset``s and whose
    ``arena_bytes`` covers them (see the module docstring)."""
    lifetimes = temp_lifetimes(program)
    sizes = {}
    for name in lifetimes:
        buffer = program.buffers[name]
        sizes[name] = _aligned(buffer.size * numpy_dtype(buffer.type.dtype).itemsize)
    offsets: dict[str, int] = {}
    free = _FreeList()
    live: list[str] = []
    for k in range(len(program.kernels)):
        for name in [n for n in live if lifetimes[n][1] < k]:
            live.remove(name)
            free.release(offsets[name], sizes[name])
        for name, (first, _) in lifetimes.items():
            if first != k:
                continue
            if sizes[name] == 0:
                offsets[name] = 0  # an empty temporary takes no space
            else:
                offsets[name] = free.allocate(sizes[name])
                live.append(name)
    buffers = {
        name: dataclasses.replace(buffer, offset=offsets.get(name, 0))
        if buffer.kind == "temp" else buffer
        for name, buffer in program.buffers.items()
    }
    return dataclasses.replace(program, buffers=buffers, arena_bytes=free.end)
