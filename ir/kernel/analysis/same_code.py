"""Kernels that are the same code on different buffers.

A model repeats itself: the four blocks of a transformer lower to four copies
of each kernel, differing only in which buffers they read and write. A
renderer that emits one function per distinct kernel (and calls it with each
copy's buffers) gives the backend compiler a quarter of the code to optimise.
:func:`code_key` is the test: two kernels with equal keys compute the same
thing on their args taken in order (same loop nest, same expressions, same
schedule, same element types, sizes and access of each arg); kernel names,
buffer names and the origin comment do not count.
"""

from __future__ import annotations

import re

from tcomp.ir.kernel.kernel import Kernel
from tcomp.ir.kernel.printer import format_schedule, statement_lines, type_name

_BUFFER_REFERENCE = re.compile(r"%([\w.]+)")


def code_key(kernel: Kernel, aliased: frozenset[str] = frozenset()) -> str:
    """The text of ``kernel`` with its args renamed by position (``%a0``, ``%a1``, ...).

    ``aliased``: args that may share memory with another arg (see
    :func:`~tcomp.ir.kernel.analysis.overlapping_temps`); a renderer treats them
    differently, so they are part of the key.
    """
    positions = {arg.name: f"a{number}" for number, arg in enumerate(kernel.args)}
    args = ", ".join(
        f"{arg.access} %{positions[arg.name]}: {type_name(arg.dtype)}[{arg.size}]"
        + (" aliased" if arg.name in aliased else "")
        for arg in kernel.args
    )

    def rename(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"%{positions[name]}" if name in positions else match.group(0)

    body = "\n".join(statement_lines(kernel.body, ""))
    return f"({args})\n{format_schedule(kernel.schedule)}\n" + _BUFFER_REFERENCE.sub(rename, body)
