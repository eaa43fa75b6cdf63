"""Ctrl-C during a long native call: the call stops within a moment, the process goes on.

Python runs its signal handlers (and so raises ``KeyboardInterrupt``) only
when the main thread is back in the interpreter: a ctypes call into
compiled code that runs for 20 seconds would see Ctrl-C only when it
returns. Two halves make it stop early instead:

- Compiled code polls the process-wide i32 ``tcomp_interrupt``
  (:data:`FLAG_SYMBOL`, registered by the runtime): ``tcomp_main`` before
  each kernel, every kernel at the top of each iteration of its outermost
  loop that holds another loop, a blocked matmul once per depth block. Once
  it reads non-zero, each loop leaves early and ``tcomp_main`` returns; the
  outputs are then garbage, and nobody sees them.
- :func:`call` runs a long call made on the main thread on a worker thread
  instead, and waits for it interruptibly. A call is long when the program's
  previous call took at least :data:`INTERRUPTIBLE_SECONDS` (the caller passes
  that time back in); a first call, when its estimate is at least
  :data:`INTERRUPTIBLE_WORK` scalar operations; a program with a while loop
  (:data:`UNBOUNDED_WORK`: it may run forever), always. Handing a call to the
  worker and back wakes two threads: 0.1-0.2 ms on an idle 2-core VM, and
  several ms when other processes hold the cores (the Keras autoencoder's 1.5 ms
  train step took 1.7 ms on the calling thread against 3.8 ms handed over, under
  load), so only calls long enough for Ctrl-C to matter pay it. On Ctrl-C (or any
  exception while waiting) it sets the flag, waits for the native call to
  return, clears the flag and raises the ``KeyboardInterrupt``. The buffers
  stay alive until the native code is done with them.

The flag is one for the process, so a call on another thread that overlaps
an interrupt may have been cut short too: :func:`call` tells by a sequence
number (odd while the flag is set, bumped when it is set and when it is
cleared) and runs such a call again, so it never returns a cut-short result.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

FLAG_SYMBOL = "tcomp_interrupt"
FLAG = ctypes.c_int32(0)  # read by compiled code: non-zero = stop now
# calls doing fewer scalar operations (a few milliseconds at most) run on the calling
# thread: handing a call to the worker costs tens of microseconds to milliseconds. Used
# for a program's first call only: later calls go by the time the previous one took.
INTERRUPTIBLE_WORK = 2**28
# a call whose program's previous call was shorter runs on the calling thread: Ctrl-C
# waits at most about this long
INTERRUPTIBLE_SECONDS = 0.05
# the work of a program that may run forever (a while loop): every call is interruptible
UNBOUNDED_WORK = 2**62

_state_lock = threading.Lock()
_sequence = 0  # odd while FLAG is set (a seqlock)


@dataclass
class _Job:
    entry: Any
    pointers: Any
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            self.entry(self.pointers)
        except BaseException as error:  # pragma: no cover - ctypes calls do not raise
            self.error = error
        finally:
            self.done.set()


class _Worker:
    """One daemon thread that runs long native calls, one after another (a persistent
    thread, so that libgomp's thread pool, which belongs to the thread that starts a
    parallel region, is made once)."""

    def __init__(self) -> None:
        self.jobs: "queue.SimpleQueue[_Job]" = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="tcomp-llvm-call", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            self.jobs.get().run()


_worker: _Worker | None = None


def _the_worker() -> _Worker:
    global _worker
    if _worker is None:
        _worker = _Worker()
    return _worker


def _after_fork_in_child() -> None:
    # the worker thread does not exist in a forked child; nor does a caller waiting for it
    global _worker, _state_lock, _sequence
    _worker = None
    _state_lock = threading.Lock()
    FLAG.value = 0
    _sequence = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def call(entry: Any, pointers: Any, work: int, last_seconds: float | None = None) -> float:
    """Calls compiled ``entry(pointers)`` and returns the seconds it took: on a worker
    thread, interruptibly, when the call is long (:func:`is_long`: ``work`` scalar
    operations, ``last_seconds`` the previous call of the same program took, None for a
    first call) and this is the main thread (the one that gets Ctrl-C); on this thread
    otherwise."""
    started = time.perf_counter()
    if is_long(work, last_seconds) and threading.current_thread() is threading.main_thread():
        _call_on_worker(entry, pointers)
        return time.perf_counter() - started
    while True:
        before = _sequence
        if before % 2:  # another thread's interrupt is being handled: let it finish
            time.sleep(0.001)
            continue
        entry(pointers)
        if _sequence == before:
            return time.perf_counter() - started
        # an interrupt overlapped this call, which may have stopped early: run it again


def is_long(work: int, last_seconds: float | None) -> bool:
    """Whether a call runs on the worker (see the module docstring)."""
    if work >= UNBOUNDED_WORK:
        return True
    if last_seconds is None:
        return work >= INTERRUPTIBLE_WORK
    return last_seconds >= INTERRUPTIBLE_SECONDS


def _call_on_worker(entry: Any, pointers: Any) -> None:
    job = _Job(entry, pointers)
    _the_worker().jobs.put(job)
    try:
        job.done.wait()  # a signal handler's exception (Ctrl-C) comes out of this wait
    except BaseException:
        _stop(job)
        raise
    if job.error is not None:  # pragma: no cover - see _Job.run
        raise job.error


def _stop(job: _Job) -> None:
    """Sets the flag, waits (through further Ctrl-Cs) until the native call has returned,
    then clears the flag."""
    global _sequence
    with _state_lock:
        _sequence += 1
        FLAG.value = 1
    try:
        while True:
            try:
                job.done.wait()
                break
            except BaseException:  # Ctrl-C again: the call is stopping already
                continue
    finally:
        with _state_lock:
            FLAG.value = 0
            _sequence += 1
