"""What one kernel of a compiled program does, as numbers and the user's lines.

Shared by the per-kernel profile (:mod:`tcomp.frontend.profile`), timelines
(:mod:`tcomp.frontend.timeline`) and ``tcomp inspect --stats``
(:mod:`tcomp.commands.kernel_timing`): the graph ops a kernel fuses (its
``origin``, such as ``%6 matmul``), the ``file:line`` of those ops in the
optimised graph, the bytes its arguments hold and its loop iterations.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tcomp.ir.graph import Function, Location, Node
from tcomp.ir.kernel.kernel import Kernel, Loop


def loop_iterations(body: tuple) -> int:
    """Iterations of the innermost loop bodies of a statement block (1 for straight code)."""
    loops = [stmt for stmt in body if isinstance(stmt, Loop)]
    if not loops:
        return 1
    return sum(loop.extent * loop_iterations(loop.body) for loop in loops)


def kernel_numbers(kernel: Kernel) -> list[int]:
    """Ops fused, bytes read, bytes written (args' size x itemsize), loop iterations."""
    read = written = 0
    for arg in kernel.args:
        nbytes = arg.size * np.dtype(arg.dtype).itemsize
        read += nbytes if arg.access in ("in", "inout") else 0
        written += nbytes if arg.access in ("out", "inout") else 0
    return [len(kernel.origin), read, written, loop_iterations(kernel.body)]


def nodes_by_name(function: Function) -> dict[str, Node]:
    """The nodes of a graph function by the name kernels give them in ``origin`` (``%6``)."""
    return {f"%{node.output.id}": node for node in function.nodes}


def kernel_lines(kernel: Kernel, nodes: dict[str, Node]) -> tuple[str, ...]:
    """The user's ``file:line`` of the graph ops ``kernel`` fuses, in order of first use
    (``nodes``: :func:`nodes_by_name` of the optimised function it was lowered from)."""
    lines = []
    for name in kernel.origin:
        node = nodes.get(name.split()[0])
        if node is not None and node.location is not None:
            lines.append(location_text(node.location))
    return tuple(dict.fromkeys(lines))


def location_text(location: Location | Any) -> str:
    """``file:line``, the file relative to the working folder when it lies inside it."""
    file = location.file
    try:
        relative = os.path.relpath(file)
        if not relative.startswith(os.pardir):
            file = relative
    except ValueError:  # another drive (Windows)
        pass
    return f"{file}:{location.line}"
