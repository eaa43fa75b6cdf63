"""Sorting one test's outcome into pass, fail, differs, refused, unsupported, crash,
error, skip.

- **pass**: the test ran to the end. Where the suite expected torch's exception class
  for bad input and tcomp refused it with its own error, the reason says so (the
  worker lets tcomp's error stand in and the test goes on).
- **skip**: the suite skipped it itself.
- **unsupported**: the shim's :class:`~bench.op_suite.errors.Unsupported` (tcomp has no
  function for a tinygrad feature, or lacks a dtype).
- **refused**: tcomp raised one of its own errors (a ``TcompError`` subclass).
- **fail**: a wrong value, shape or dtype: an ``AssertionError``, or the suite's
  comparison wrapping one.
- **differs**: a fail that :mod:`bench.op_suite.conventions` explains by a documented
  tcomp convention (numpy's or JAX's where torch's differs); runnable, not passing.
- **crash**: any other exception whose innermost frame of interest is in tcomp's code.
- **error**: any other exception raised in the shim, the suite or torch (the harness,
  not tcomp); **timeout**: the test ran past the runner's limit.
"""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass
from typing import Any, Iterable

from bench.op_suite.conventions import convention_for
from bench.op_suite.errors import Unsupported

OUTCOMES = (
    "pass",
    "fail",
    "differs",
    "refused",
    "unsupported",
    "crash",
    "error",
    "timeout",
    "skip",
)


@dataclass(frozen=True)
class Outcome:
    """One test's class and a one-line reason (empty for a pass)."""

    kind: str
    reason: str = ""
    where: str = ""


def _tcomp_roots() -> tuple[str, ...]:
    import tcomp.backends
    import tcomp.frontend
    import tcomp.ir

    return tuple(
        os.path.dirname(os.path.abspath(m.__file__ or "")) + os.sep
        for m in (tcomp, tcomp.frontend, tcomp.ir, tcomp.backends)
    )


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _one_line(exc: BaseException) -> str:
    """The error's type and first line; for numpy's tolerance message, also how many
    elements differ and by how much."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    details = [
        line
        for line in lines[1:]
        if line.startswith(("Mismatched elements", "Max absolute")) or "location mismatch" in line
    ]
    if details:
        text = " ".join([text, *details])
    return f"{type(exc).__name__}: {text}"[:300]


def owner(filename: str, suite_path: str, tcomp_roots: tuple[str, ...] | None = None) -> str | None:
    """Whose code a frame's file is: ``tcomp``, ``shim``, ``suite``, ``torch`` or None
    (numpy, the standard library: not a party of interest)."""
    path = os.path.abspath(filename)
    shim_root = os.path.dirname(os.path.abspath(__file__)) + os.sep
    if path.startswith(shim_root):
        return "shim"
    if suite_path and path == os.path.abspath(suite_path):
        return "suite"
    roots = _tcomp_roots() if tcomp_roots is None else tcomp_roots
    if any(path.startswith(r) for r in roots):
        return "tcomp"
    if f"{os.sep}torch{os.sep}" in path:
        return "torch"
    return None


def classify(
    exc: BaseException | None,
    frames: list[tuple[str, int, str]],
    suite_path: str,
    skipped: str | None = None,
    tcomp_roots: tuple[str, ...] | None = None,
    expected_error: str | None = None,
    stood_in: tuple[str, ...] = (),
    test_id: str = "",
) -> Outcome:
    """The outcome of a test that raised ``exc`` (None: it passed) with the traceback
    ``frames`` (``(filename, line, function)``, outermost first). ``expected_error``:
    the error the suite expected where another escaped (noted in a refusal's reason);
    ``stood_in``: the bad-input checks a tcomp error met in place of torch's class."""
    if skipped is not None:
        return Outcome("skip", skipped)
    if exc is None:
        return Outcome("pass", _stood_in_note(stood_in))
    from tcomp.ir.errors import TcompError

    chain = list(_chain(exc))
    for e in chain:
        if isinstance(e, Unsupported):
            return Outcome("unsupported", e.feature)
    if isinstance(exc, TcompError):
        note = f"(the suite expects {expected_error}) " if expected_error else ""
        return Outcome(
            "refused", note + _one_line(exc), _innermost(frames, suite_path, tcomp_roots)
        )
    if any(isinstance(e, AssertionError) for e in chain):
        reason, where = _one_line(exc), _innermost(frames, suite_path, tcomp_roots)
        convention = convention_for(test_id, reason)
        if convention is not None:
            return Outcome("differs", f"{convention.why} [{reason}]", where)
        return Outcome("fail", reason, where)
    for filename, line, function in reversed(frames):
        who = owner(filename, suite_path, tcomp_roots)
        if who == "tcomp":
            return Outcome("crash", _one_line(exc), f"{filename}:{line} in {function}")
        if who is not None:
            return Outcome("error", f"[{who}] {_one_line(exc)}", f"{filename}:{line} in {function}")
    return Outcome("error", _one_line(exc))


def _stood_in_note(stood_in: tuple[str, ...]) -> str:
    if not stood_in:
        return ""
    counts = collections.Counter(stood_in)  # first-seen order, each check once
    return "tcomp's error stood in for torch's: " + ", ".join(
        s + (f" (x{n})" if n > 1 else "") for s, n in counts.items()
    )


def _innermost(
    frames: list[tuple[str, int, str]], suite_path: str, roots: tuple[str, ...] | None
) -> str:
    for filename, line, function in reversed(frames):
        if owner(filename, suite_path, roots) is not None:
            return f"{filename}:{line} in {function}"
    return ""


def frames_of(tb: Any) -> list[tuple[str, int, str]]:
    """``(filename, line, function)`` of each frame of a traceback, outermost first."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return frames
