"""A lock that a forked child gets anew.

``os.fork`` copies a lock in whatever state it is: one held by another
thread of the parent stays held in the child, where that thread does not
exist, and the child's first ``with lock`` hangs forever. tcomp's locks
guard state that a fork from another thread may well find held: the jit's
per-function state across a trace or a compile (seconds), the compile
cache's and the host pool's tables (briefly, but on every compile and call).
It lives in ``ir`` so that every layer may use it. :class:`ForkSafeLock`
notices that it is in another process than the one that made it and
replaces its lock (a child starts with one thread, so nobody else holds it).
"""

from __future__ import annotations

import os
import threading
from typing import Any


class ForkSafeLock:
    """A ``threading.Lock`` for ``with`` statements, made anew in a forked child."""

    __slots__ = ("_lock", "_process")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process = os.getpid()

    def _current(self) -> threading.Lock:
        process = os.getpid()
        if process != self._process:  # a forked child: the parent's holder is not here
            self._lock = threading.Lock()
            self._process = process
        return self._lock

    def __enter__(self) -> "ForkSafeLock":
        self._current().acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._lock.release()
