"""``tcomp.profile(path)``: a timeline of every jitted call, for Perfetto and chrome://tracing.

::

    with tcomp.profile("trace.json"):
        for _ in range(3):
            params = train_step(params, x, labels)

records each call of a ``tcomp.jit`` function made inside the block, on any
thread and any backend, and writes Chrome's Trace Event Format (a JSON
object whose ``traceEvents`` are complete events, ``"ph": "X"``, with ``ts``
and ``dur`` in microseconds from the block's start, and ``"ph": "M"``
metadata events naming processes and threads) when the block ends. Open the
file in https://ui.perfetto.dev or chrome://tracing.

Tracks:

- ``tcomp host``: one track per Python thread. Each call is a ``call`` span
  (function, backend, argument types, whether it compiled); inside it, in
  order: ``trace`` (a new signature), ``inputs`` (the arguments made the
  backend's buffers: host-to-device copies on GPUs, with their bytes), on a
  signature's first call ``graph passes`` and the backend's ``compile``
  with its steps (``lower``, ``render``, ``LLVM optimise``, ``LLVM
  codegen``, ``load`` on llvm; ``device build`` on GPUs) and where it came
  from (``miss``, ``memory``, ``disk`` ...), laid out from the seconds
  ``CompiledProgram.stats()`` reports so that they end when the compile
  ended, and last ``run``.
- one process per device queue, with one ``device`` span per call and one
  ``kernel`` span per kernel inside it (``k0``, ``k1`` ...), whose ``args``
  hold the graph ops it fuses, the user's ``file:line``, the bytes it reads
  and writes and its loop iterations. On ``llvm`` the call runs a profiled
  build of the program (a separate compile and cache entry, made on first
  use and shown as ``profiled build``) that reads ``CLOCK_MONOTONIC`` around
  each kernel inside the native call: the kernels are placed from the
  call's start, back to back. On ``opencl`` and ``cuda`` each launch is timed
  alone, the queue drained before and after it (as
  :meth:`~tcomp.frontend.lowered.Lowered.profile` does), which serialises
  the calls made inside the block. The ``reference`` backend runs graph IR
  directly: its calls have a ``run`` span and no device track.

Timestamps are the host's ``CLOCK_MONOTONIC``, which the profiled llvm build
reads too. Calls made inside the traced function of another are inlined and
are not calls; eager operations outside ``jit`` are not recorded. One block
records at a time.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Callable

from tcomp.ir.errors import TcompArgumentError

HOST_PID = 1  # the host process's id in the trace; devices get 2, 3 ...
DEVICE_TID = 1  # the one queue of a device

_ACTIVE: Timeline | None = None  # the block recording now (read on every jitted call)
_ACTIVE_LOCK = threading.Lock()


if hasattr(time, "clock_gettime_ns"):

    def now_ns() -> int:
        """The host's ``CLOCK_MONOTONIC`` in nanoseconds (what the profiled llvm build reads)."""
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC)

else:  # pragma: no cover - Windows: llvm's kernels are then placed from the call's end
    now_ns = time.perf_counter_ns


def recording() -> Timeline | None:
    """The :class:`Timeline` recording now, or None (cheap: every jitted call asks)."""
    return _ACTIVE


class Timeline:
    """A recording of jitted calls as trace events (see the module docstring).

    Use it as a context manager (``with tcomp.profile(path) as timeline``); on
    exit it writes ``path`` (when given) even when the block raised. ``events``
    is the list of trace events so far; :meth:`to_json` the whole trace.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.events: list[dict[str, Any]] = []
        self.origin_ns = 0
        self._lock = threading.Lock()
        self._threads: dict[int, int] = {}  # Python thread ident -> tid
        self._devices: dict[str, int] = {}  # device description -> pid
        self._remembered: dict[int, tuple[Any, Any]] = {}  # id(key) -> (key, value)
        # held while a GPU call's kernels are timed: calls from several threads would
        # interleave on the one queue (llvm's profiled calls hold a lock of their own)
        self.device_lock = threading.Lock()

    def __enter__(self) -> Timeline:
        global _ACTIVE
        if self.path is not None and not self.path.parent.is_dir():
            raise TcompArgumentError(
                f"tcomp.profile: cannot write {self.path}: the folder {self.path.parent} "
                "does not exist"
            )
        with _ACTIVE_LOCK:
            if _ACTIVE is not None:
                raise TcompArgumentError(
                    "tcomp.profile: another tcomp.profile block is recording already; "
                    "one records at a time (end the other block first)"
                )
            self.origin_ns = now_ns()
            self._metadata("process_name", HOST_PID, 0, name=f"tcomp host (pid {os.getpid()})")
            self._metadata("process_sort_index", HOST_PID, 0, sort_index=0)
            _ACTIVE = self
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        global _ACTIVE
        with _ACTIVE_LOCK:
            if _ACTIVE is self:
                _ACTIVE = None
        if self.path is not None:
            self.write(self.path)

    # ------------------------------------------------------------------ recording

    def record_call(self, jitted: Any, args: tuple, kwargs: dict, extra_static: frozenset) -> Any:
        """Runs one call of ``jitted`` (what ``JitFunction.__call__`` does) and records it."""
        from tcomp.frontend.timeline_call import record_call

        return record_call(self, jitted, args, kwargs, extra_static)

    def host_track(self) -> tuple[int, int]:
        """(pid, tid) of the calling Python thread's track, named on first use."""
        ident = threading.get_ident()
        with self._lock:
            tid = self._threads.get(ident)
            if tid is None:
                tid = self._threads[ident] = len(self._threads) + 1
                self._metadata_locked(
                    "thread_name", HOST_PID, tid, name=threading.current_thread().name
                )
        return HOST_PID, tid

    def device_track(self, description: str) -> tuple[int, int]:
        """(pid, tid) of the queue of the device ``description`` names, named on first use."""
        with self._lock:
            pid = self._devices.get(description)
            if pid is None:
                pid = self._devices[description] = HOST_PID + 1 + len(self._devices)
                self._metadata_locked("process_name", pid, 0, name=description)
                self._metadata_locked("process_sort_index", pid, 0, sort_index=pid)
                self._metadata_locked("thread_name", pid, DEVICE_TID, name="queue")
        return pid, DEVICE_TID

    def remember(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()``, computed once per ``key`` object while this block records."""
        with self._lock:
            found = self._remembered.get(id(key))
        if found is not None and found[0] is key:
            return found[1]
        value = make()
        with self._lock:
            self._remembered[id(key)] = (key, value)  # holds key: its id stays its own
        return value

    def span(
        self,
        track: tuple[int, int],
        name: str,
        category: str,
        start_ns: int,
        end_ns: int,
        args: dict[str, Any] | None = None,
    ) -> None:
        """A complete event on ``track`` from ``start_ns`` to ``end_ns`` (``now_ns`` clock)."""
        pid, tid = track
        start = max(start_ns - self.origin_ns, 0)
        event = {
            "name": name,
            "cat": category,
            "ph": "X",
            "ts": start / 1000,
            "dur": max(end_ns - self.origin_ns - start, 0) / 1000,
            "pid": pid,
            "tid": tid,
            "args": dict(args or {}),
        }
        with self._lock:
            self.events.append(event)

    def _metadata(self, kind: str, pid: int, tid: int, **args: Any) -> None:
        with self._lock:
            self._metadata_locked(kind, pid, tid, **args)

    def _metadata_locked(self, kind: str, pid: int, tid: int, **args: Any) -> None:
        self.events.append({"name": kind, "ph": "M", "pid": pid, "tid": tid, "args": args})

    # ------------------------------------------------------------------ output

    def to_json(self) -> dict[str, Any]:
        """The trace: ``{"traceEvents": [...], "displayTimeUnit": "ms", ...}``."""
        with self._lock:
            events = list(self.events)
        return {
            "traceEvents": events,
            "displayTimeUnit": "ms",
            "otherData": {"producer": "tcomp.profile", "clock": "CLOCK_MONOTONIC"},
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Writes the trace as JSON to ``path``."""
        try:
            Path(path).write_text(json.dumps(self.to_json(), indent=None) + "\n")
        except OSError as error:
            raise TcompArgumentError(
                f"tcomp.profile: cannot write the trace to {path}: {error.strerror}"
            ) from error


def profile(path: str | os.PathLike[str] | None = None) -> Timeline:
    """``with tcomp.profile("trace.json"):`` records every jitted call made in the block
    and writes a timeline for Perfetto (https://ui.perfetto.dev) or chrome://tracing
    when the block ends (see :mod:`tcomp.frontend.timeline`). Without a path nothing is
    written: read ``timeline.events`` or ``timeline.to_json()`` of ``as timeline``."""
    return Timeline(path)
