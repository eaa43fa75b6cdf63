"""Arena temporaries whose byte ranges overlap within one kernel.

The memory plan (``plan_memory`` in the lowering) gives each temporary an
``offset`` into one arena, and a runtime passes ``arena + offset`` for each
temporary arg. :func:`overlapping_temps` reads those offsets back: the args
of one kernel that may cover the same bytes, which a renderer must not mark
as non-aliasing (``noalias`` in LLVM IR, ``restrict`` in C). It reads only
the program's buffers, so any program with an arena plan (however it was
made or parsed) can be asked.
"""

from __future__ import annotations

from tcomp.ir.kernel.kernel import Kernel, Program
from tcomp.ir.types import numpy_dtype


def overlapping_temps(program: Program, kernel: Kernel) -> frozenset[str]:
    """Args of ``kernel`` that are arena temps whose byte ranges overlap another arg's: a
    renderer must not promise the compiler that they do not alias (no ``noalias`` /
    ``restrict``), since a runtime may pass ``arena + offset`` for each."""
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
