"""The MPI communicator behind :mod:`tcomp.distributed`, and waiting on it with a deadline.

mpi4py is imported the first time something here needs it (``import tcomp`` does not
start MPI); without it every entry point raises :class:`TcompDistributedError` with the
install command. Every collective is started non-blocking (``Iallreduce`` ...) and
waited on by :func:`wait_all`, which polls the requests until ``TCOMP_MPI_TIMEOUT``
seconds (default 300) have passed and then raises
:class:`TcompDistributedTimeoutError`: a rank that died or hangs makes the others fail
with a clear error instead of waiting forever. After such an error the process cannot
leave MPI cleanly (``MPI_Finalize`` would wait for the missing rank), so it calls
``MPI_Abort`` when Python exits, which makes the launcher stop the remaining ranks.
"""

from __future__ import annotations

import atexit
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from tcomp.backends.options import MPI_TIMEOUT_ENV, mpi_timeout_text_from_environment
from tcomp.frontend.location import user_location
from tcomp.ir.errors import (
    TcompArgumentError,
    TcompDistributedError,
    TcompDistributedTimeoutError,
    with_location,
)

INSTALL_HINT = "pip install 'tcomp[mpi]'  (mpi4py and the MPICH wheel)"
DEFAULT_TIMEOUT_S = 300.0
TIMEOUT_VARIABLE = MPI_TIMEOUT_ENV
# Polling: spin this many times without sleeping, then sleep with a doubling pause up to
# MAX_SLEEP_S, so a quick collective costs no sleep and a long wait little CPU.
_SPINS = 200
_MAX_SLEEP_S = 1e-3


@dataclass
class _State:
    comm: Any = None
    timeout_s: float | None = None  # None: read TCOMP_MPI_TIMEOUT at each wait
    abort_at_exit: bool = False
    # Requests and buffers of collectives that never completed: MPI may still write into
    # the buffers, so they are kept alive until the process ends.
    abandoned: list[Any] = field(default_factory=list)


_state = _State()


def mpi() -> Any:
    """The ``mpi4py.MPI`` module, imported (and MPI initialised) on first use."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise TcompDistributedError(
            f"tcomp.distributed needs mpi4py and an MPI library, which are not installed "
            f"({error}); install them with: {INSTALL_HINT}"
        ) from None
    return MPI


def init(comm: Any = None, timeout: float | None = None) -> None:
    """Chooses the communicator (default ``MPI.COMM_WORLD``) and the timeout in seconds
    of every collective (default: ``TCOMP_MPI_TIMEOUT``, else 300). Optional: the first
    collective, :func:`rank` or :func:`size` initialises with the defaults. ``comm`` may
    be any mpi4py intracommunicator, e.g. ``MPI.COMM_WORLD.Split(color)``."""
    if timeout is not None:
        _state.timeout_s = _checked_timeout(timeout, "init(timeout=...)")
    _state.comm = comm if comm is not None else mpi().COMM_WORLD


def communicator() -> Any:
    """The communicator in use (``MPI.COMM_WORLD`` unless :func:`init` chose another)."""
    if _state.comm is None:
        init()
    return _state.comm


def rank() -> int:
    """This process's rank in the communicator: 0 to ``size() - 1``."""
    return int(communicator().Get_rank())


def size() -> int:
    """The number of processes in the communicator (1 when not launched by ``mpiexec``)."""
    return int(communicator().Get_size())


def is_initialized() -> bool:
    """Whether MPI has been initialised in this process; never imports mpi4py itself."""
    module = sys.modules.get("mpi4py.MPI")
    return bool(module is not None and module.Is_initialized())


def timeout_s() -> float:
    """Seconds a collective may take: :func:`init`'s ``timeout``, else ``TCOMP_MPI_TIMEOUT``,
    else 300."""
    if _state.timeout_s is not None:
        return _state.timeout_s
    text = mpi_timeout_text_from_environment()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        raise TcompArgumentError(
            f"{TIMEOUT_VARIABLE}={text!r}: expected a number of seconds"
        ) from None
    return _checked_timeout(value, TIMEOUT_VARIABLE)


def _checked_timeout(value: float, what: str) -> float:
    if not value > 0:
        raise TcompArgumentError(f"{what}: the timeout must be a positive number of seconds, got {value!r}")
    return float(value)


def wait_all(requests: Sequence[Any], what: str, keep_alive: Sequence[Any] = ()) -> None:
    """Waits for the non-blocking MPI ``requests`` of the collective ``what`` (a phrase
    for the error: ``"all_reduce (3 buckets)"``) until the timeout; ``keep_alive`` are the
    buffers they use, kept alive if the wait is abandoned."""
    if not requests:
        return
    MPI = mpi()
    requests = list(requests)
    limit = timeout_s()
    deadline = time.monotonic() + limit
    spins, pause = 0, 1e-6
    try:
        while not MPI.Request.Testall(requests):
            if time.monotonic() > deadline:
                abandon(requests, keep_alive)
                message = _timeout_message(what, limit)
                raise TcompDistributedTimeoutError(with_location(message, user_location()))
            spins += 1
            if spins > _SPINS:
                time.sleep(pause)
                pause = min(pause * 2, _MAX_SLEEP_S)
    except MPI.Exception as error:
        abandon(requests, keep_alive)
        raise TcompDistributedError(
            f"tcomp.distributed: {what} failed on rank {rank()} of {size()}: "
            f"{error.Get_error_string()}"
        ) from None


def progress(requests: Sequence[Any]) -> None:
    """One non-blocking ``Testall`` on ``requests``: lets MPI move them along (an MPI
    library without a progress thread advances a collective only inside MPI calls).
    Errors are left for :func:`wait_all` to report."""
    if not requests:
        return
    MPI = mpi()
    try:
        MPI.Request.Testall(list(requests))
    except MPI.Exception:
        pass


def _timeout_message(what: str, limit: float) -> str:
    return (
        f"tcomp.distributed: {what} on rank {rank()} of {size()} did not complete within "
        f"{limit:g} s ({TIMEOUT_VARIABLE}): another rank died, hangs, or runs a different "
        "program. This process calls MPI_Abort when it exits, so that the launcher stops "
        "the other ranks."
    )


def abandon(requests: Sequence[Any], buffers: Sequence[Any]) -> None:
    """Keeps a failed collective's requests and buffers alive and arranges ``MPI_Abort``
    at exit (``MPI_Finalize`` would wait for the missing rank forever)."""
    _state.abandoned.append((list(requests), list(buffers)))
    if not _state.abort_at_exit:
        _state.abort_at_exit = True
        # Registered after mpi4py's own exit handler, so it runs first (atexit is LIFO).
        atexit.register(_abort_at_exit)


def _abort_at_exit() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    communicator().Abort(1)
