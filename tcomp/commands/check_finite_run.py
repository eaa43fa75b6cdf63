"""``tcomp inspect FILE.py:FUNC --check-finite``: one call of the checked variant.

Runs ``tcomp.jit(FUNC, check_finite=True)`` (with ``--stage grad``, of
``tcomp.grad(FUNC)``) once on the example arguments. When every value its
kernels wrote is finite it prints one line saying so, then a table of the
outputs (path, type, min, max); when one is not, it prints the
:class:`~tcomp.ir.errors.TcompFloatingPointError`'s first line and its report
as a table (the op, its line and pass, the kernel, the shapes and the inputs'
ranges) and exits with status 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EXIT_NON_FINITE = 1


def checked(fn: Any) -> Any:
    """A copy of the :class:`JitFunction` ``fn`` that compiles the checked variant."""
    from tcomp.frontend.jit import JitFunction

    copy = JitFunction(fn._fn, fn._backend_name, check_finite=True)
    copy._static_names = fn._static_names
    copy.__name__ = fn.__name__
    return copy


def run_checked(fn: Any, positional: tuple, keywords: dict) -> tuple[int, str]:
    """(exit status, text) of one checked call of ``fn`` (a JitFunction)."""
    from tcomp.frontend.pytree import leaf_paths, tree_flatten
    from tcomp.ir.errors import TcompFloatingPointError

    jitted = checked(fn)
    try:
        result = jitted(*positional, **keywords)
    except TcompFloatingPointError as error:
        report = error.report
        headline = str(error).splitlines()[0]
        if report is None:
            return EXIT_NON_FINITE, f"check-finite: {headline}\n"
        return EXIT_NON_FINITE, f"check-finite: {report.headline()}\n" + table(report.rows())
    leaves, tree = tree_flatten(result)
    program = next(iter(jitted._programs.values()))
    count = len(program.finite_check.values) if program.finite_check is not None else 0
    backend = program.signature.backend
    head = (f"check-finite: {jitted.__name__} on {backend}: no NaN or infinity "
            f"({count} kernel output{'s' if count != 1 else ''} checked)\n")
    rows = [("output", "type", "min", "max")]
    for leaf, path in zip(leaves, leaf_paths(tree)):
        array = np.asarray(leaf)
        shape = ",".join(map(str, array.shape))
        low, high = ("-", "-") if array.size == 0 else (_number(array.min()), _number(array.max()))
        rows.append(("out" + path, f"{array.dtype.name}[{shape}]", low, high))
    return 0, head + table(rows, header=True)


def table(rows: list[tuple[str, ...]], header: bool = False) -> str:
    """Columns padded to their widest cell; the last one free."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    if header:
        lines.insert(1, "  ".join("-" * w for w in [*widths, len(rows[0][-1])]))
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    return f"{float(value):.6g}"
