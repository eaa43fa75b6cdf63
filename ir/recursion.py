"""``deep_recursion``: a recursion limit raised for a block only, safe across threads.

The lowering inlines and hoists by recursion, once per fused node and
expression level, so a long chain of elementwise ops needs more than
Python's default 1000 frames. ``sys.setrecursionlimit`` is process-wide:
saving and restoring it around each lowering is wrong when two threads lower
at once (the first to finish restores the low limit under the other, and the
other then "restores" the raised one for good). ``deep_recursion`` counts the
blocks inside it: the first raises the limit (never lowers it), the last
restores what was there before, so after the outermost block the limit is
exactly what the user had::

    with deep_recursion(MIN_RECURSION_LIMIT):
        program = fuse_function(fn)
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator

__all__ = ["deep_recursion"]

_LOCK = threading.Lock()
_depth = 0  # blocks inside deep_recursion now, over all threads
_saved = 0  # the limit before the outermost block
_raised = 0  # the limit the outermost block set


@contextlib.contextmanager
def deep_recursion(limit: int) -> Iterator[None]:
    """Runs the block with ``sys.getrecursionlimit()`` at least ``limit``; the limit in
    force before the outermost such block is back once the last one (in any thread)
    ends. A block that asks for more than the current one raises it further."""
    global _depth, _saved, _raised
    with _LOCK:
        if _depth == 0:
            _saved = sys.getrecursionlimit()
            _raised = _saved
        if limit > _raised:
            sys.setrecursionlimit(limit)
            _raised = limit
        _depth += 1
    try:
        yield
    finally:
        with _LOCK:
            _depth -= 1
            if _depth == 0:
                if sys.getrecursionlimit() == _raised:  # unless someone else changed it since
                    sys.setrecursionlimit(_saved)


def _after_fork_in_child() -> None:
    # The threads inside a block are not in the child: nobody would end their blocks.
    global _LOCK, _depth
    _LOCK = threading.Lock()
    if _depth:
        _depth = 0
        if sys.getrecursionlimit() == _raised:
            sys.setrecursionlimit(_saved)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
