"""LLVM's optimisation in a helper process, once this process has run it many times.

llvmlite keeps about 100 KB for good each time it optimises a module (the
pass builder's instrumentation callbacks are never freed), so a process that
compiles thousands of programs -- a function retraced with ever new shapes --
would grow without bound, whatever tcomp frees. The first
:data:`IN_PROCESS_LIMIT` optimisations run in this process (no start-up cost
for the common case); later ones run in a helper process
(``python -m tcomp.backends.llvm.compile_worker``), which is replaced after
:data:`WORKER_LIMIT` runs, so that what LLVM keeps goes with it. The helper
runs the same code on the same CPU with the same LLVM: the object code is
the same bytes.

The helper speaks a small binary protocol on its stdin and stdout (its own
``print``s go to stderr): a request is one length-prefixed LLVM IR text; a
reply is a status byte and three length-prefixed fields (object code,
optimised IR, the step timings as JSON; or an error message). A helper that
cannot be started, or dies, makes the optimisation run in this process
instead (said once on the ``tcomp.jit`` logger): compiling never fails
because of it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import struct
import subprocess
import sys
from typing import IO, Callable

from tcomp.ir.errors import TcompBackendError

IN_PROCESS_LIMIT = 256  # optimisations run in this process (about 25 MB that LLVM keeps)
WORKER_LIMIT = 256  # optimisations one helper runs before it is replaced
_LENGTH = struct.Struct("<Q")
_OK, _FAILED = b"\x00", b"\x01"

Optimised = tuple[bytes, str, dict[str, float]]  # object code, optimised IR, timings

logger = logging.getLogger("tcomp.jit")

_in_process_runs = 0
_worker: "_Worker | None" = None
_worker_failed = False  # a helper could not be started: stay in process


def optimise(text: str, in_process: Callable[[str], Optimised]) -> Optimised:
    """``in_process(text)`` here, or the same in the helper process once this process
    has optimised :data:`IN_PROCESS_LIMIT` modules (see the module docstring).
    The caller holds the runtime's lock, so calls never overlap."""
    global _in_process_runs
    if _in_process_runs < IN_PROCESS_LIMIT or _worker_failed:
        _in_process_runs += 1
        return in_process(text)
    worker = _current_worker()
    if worker is None:
        return in_process(text)
    try:
        return worker.optimise(text)
    except (EOFError, OSError) as error:  # the helper died: this one runs it instead
        logger.info("LLVM optimises in this process: its helper stopped (%s)", error)
        return in_process(text)


def _current_worker() -> "_Worker | None":
    global _worker, _worker_failed
    if _worker is not None and _worker.runs >= WORKER_LIMIT:
        _discard(_worker)
    if _worker is None:
        try:
            _worker = _Worker()
        except OSError as error:
            _worker_failed = True
            logger.info("LLVM optimises in this process: its helper did not start (%s)", error)
            return None
    return _worker


class _Worker:
    """One helper process and the pipes to it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tcomp.backends.llvm.compile_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None  # PIPEs
        self.to_helper: IO[bytes] = self.process.stdin
        self.from_helper: IO[bytes] = self.process.stdout
        self.runs = 0

    def optimise(self, text: str) -> Optimised:
        self.runs += 1
        try:
            _write_fields(self.to_helper, [text.encode()])
            status = _read_exactly(self.from_helper, 1)
            fields = _read_fields(self.from_helper, 3 if status == _OK else 1)
        except BaseException:  # the helper died, or Ctrl-C: out of step with it now
            _discard(self)
            raise
        if status != _OK:
            raise TcompBackendError(f"llvm backend: LLVM rejected the module: {fields[0].decode()}")
        object_code, optimized_ir, timings = fields
        return object_code, optimized_ir.decode(), json.loads(timings)

    def close(self) -> None:
        """Closes the pipes (the helper's loop ends) and waits for it to exit."""
        for stream in (self.to_helper, self.from_helper):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _discard(worker: _Worker) -> None:
    """Stops ``worker``; the next optimisation starts a new helper."""
    global _worker
    worker.close()
    if _worker is worker:
        _worker = None


def _after_fork_in_child() -> None:
    # the helper's pipes belong to the parent; a child starts its own when it needs one
    global _worker
    _worker = None


def _shutdown() -> None:
    """At exit: the helper ends with its pipes, before the interpreter does."""
    if _worker is not None:
        _discard(_worker)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_shutdown)


def _write_fields(stream: IO[bytes], fields: list[bytes]) -> None:
    for field in fields:
        stream.write(_LENGTH.pack(len(field)))
        stream.write(field)
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) != size:
        raise EOFError("the LLVM helper process closed its pipe")
    return data


def _read_fields(stream: IO[bytes], count: int) -> list[bytes]:
    fields = []
    for _ in range(count):
        (length,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
        fields.append(_read_exactly(stream, length) if length else b"")
    return fields


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The helper's loop: optimise each request with the runtime until ``requests`` ends."""
    from tcomp.backends.llvm import runtime

    state = runtime.target_state()
    while True:
        try:
            (text,) = _read_fields(requests, 1)
        except EOFError:
            return
        try:
            object_code, optimized_ir, timings = runtime.optimise_and_emit(state, text.decode())
        except Exception as error:  # LLVM's verifier or parser: the parent raises it
            replies.write(_FAILED)
            _write_fields(replies, [f"{type(error).__name__}: {error}".encode()])
            continue
        replies.write(_OK)
        _write_fields(replies, [object_code, optimized_ir.encode(), json.dumps(timings).encode()])


def _main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the replies
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    _main()
