"""``CompileOptions``: the configuration a compile reads, built once from the environment.

This module is the only place tcomp reads its environment variables (README,
"Environment variables"); everything below the API edge takes the values as
arguments. ``jit`` builds one :class:`CompileOptions` with
:meth:`CompileOptions.from_environment` when it traces a new signature (so a
variable is read when a function is compiled, never at import) and passes it
down: ``verify_passes`` to ``ir.passes.run_pipeline(verify_each=...)``, the
whole value to ``Backend.compile_with`` (llvm: ``num_threads``; llvm, opencl and
cuda: ``verify_passes`` for the kernel pipeline, ``cache_dir`` and ``cache_max_mb``
for the disk cache, :func:`tcomp.backends.cache.options_cache`). A program keeps
the options it was traced with: a later change of the environment is not its.

An entry point that was handed no options (``Backend.compile`` called directly)
builds them here with :meth:`CompileOptions.from_environment`, once. A lower helper
called without them by tests and tools (``shared_cache(namespace)``,
``LLVMExecutable(program)``, ``runtime.compile_module(text)``) reads the one
variable it needs through the matching ``*_from_environment`` function, at that
moment.

| field | variable | default |
| --- | --- | --- |
| ``verify_passes`` | ``TCOMP_VERIFY_PASSES`` (set and not ``0``) | False |
| ``num_threads`` | ``TCOMP_NUM_THREADS`` (>= 1) | the CPUs this process may run on |
| ``cache_dir`` | ``TCOMP_CACHE_DIR`` (``off``/``0``/``none``/``disabled``: None) | ``$XDG_CACHE_HOME/tcomp`` or ``~/.cache/tcomp`` |
| ``cache_max_mb`` | ``TCOMP_CACHE_MAX_MB`` | 1024 |
| ``jit_cache_size`` | ``TCOMP_JIT_CACHE_SIZE`` (0: None, no bound) | 64 |
| ``check_finite`` | ``TCOMP_CHECK_FINITE`` (set and not ``0``) | False |

``TCOMP_ENABLE_X64`` is read here too (:func:`enable_x64_from_environment`), by
``tcomp.config.enable_x64`` when a jitted call has float64 arguments: it is not a
compile option (it changes the signature, so it is read before one exists).
``TCOMP_MPI_TIMEOUT`` (:func:`mpi_timeout_text_from_environment`) is read by
``tcomp.distributed`` when a collective waits (seconds; ``frontend/distributed_comm.py``
parses and checks it). ``TCOMP_MPI_OVERLAP`` (:func:`mpi_overlap_from_environment`) is
read when a program with collectives is split for a compiled backend
(``frontend/distributed_split_exec.py``).

It imports only the standard library, so ``backends`` and ``frontend`` may both
use it; ``ir`` never imports it and takes plain values (``verify_each``).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from tcomp.ir.user_frames import user_stacklevel

__all__ = [
    "BACKEND_ENV", "CACHE_DIR_ENV", "CACHE_MAX_MB_ENV", "CompileOptions", "DEFAULT_CACHE_MAX_MB",
    "CHECK_FINITE_ENV", "DEFAULT_JIT_CACHE_SIZE", "ENABLE_X64_ENV", "JIT_CACHE_SIZE_ENV",
    "MPI_OVERLAP_ENV", "MPI_TIMEOUT_ENV", "NUM_THREADS_ENV", "mpi_overlap_from_environment",
    "mpi_timeout_text_from_environment",
    "VERIFY_PASSES_ENV", "available_cpus", "backend_name_from_environment",
    "cache_dir_from_environment", "check_finite_from_environment", "enable_x64_from_environment",
    "cache_max_mb_from_environment", "jit_cache_size_from_environment",
    "num_threads_from_environment", "verify_passes_from_environment",
]

VERIFY_PASSES_ENV = "TCOMP_VERIFY_PASSES"
NUM_THREADS_ENV = "TCOMP_NUM_THREADS"
CACHE_DIR_ENV = "TCOMP_CACHE_DIR"
CACHE_MAX_MB_ENV = "TCOMP_CACHE_MAX_MB"
JIT_CACHE_SIZE_ENV = "TCOMP_JIT_CACHE_SIZE"
BACKEND_ENV = "TCOMP_BACKEND"
ENABLE_X64_ENV = "TCOMP_ENABLE_X64"
CHECK_FINITE_ENV = "TCOMP_CHECK_FINITE"
MPI_TIMEOUT_ENV = "TCOMP_MPI_TIMEOUT"
MPI_OVERLAP_ENV = "TCOMP_MPI_OVERLAP"

DEFAULT_CACHE_MAX_MB = 1024
DEFAULT_JIT_CACHE_SIZE = 64  # signatures kept per jitted function
_CACHE_OFF = ("off", "0", "none", "disabled")


def _text(name: str) -> str:
    return os.environ.get(name, "").strip()


def verify_passes_from_environment() -> bool:
    """``TCOMP_VERIFY_PASSES``: set to anything but ``""`` or ``0`` verifies after each pass."""
    return os.environ.get(VERIFY_PASSES_ENV, "") not in ("", "0")


def check_finite_from_environment() -> bool:
    """``TCOMP_CHECK_FINITE``: set to anything but ``""`` or ``0`` compiles jitted functions
    with finite checks (``tcomp.jit(..., check_finite=True)``) unless they say otherwise."""
    return os.environ.get(CHECK_FINITE_ENV, "").strip() not in ("", "0")


def mpi_timeout_text_from_environment() -> str:
    """``TCOMP_MPI_TIMEOUT`` as set, stripped (``""`` when unset): the seconds a
    ``tcomp.distributed`` collective may wait for the other ranks."""
    return _text(MPI_TIMEOUT_ENV)


def mpi_overlap_from_environment() -> bool:
    """``TCOMP_MPI_OVERLAP``: ``0`` makes a jitted program's collectives blocking (each
    waited on as soon as it started); unset or anything else lets them overlap the
    kernel groups that do not read their results."""
    return _text(MPI_OVERLAP_ENV) != "0"


def available_cpus() -> int:
    """The CPUs this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def num_threads_from_environment() -> int:
    """``TCOMP_NUM_THREADS`` when set to a whole number (at least 1), else :func:`available_cpus`."""
    configured = _text(NUM_THREADS_ENV)
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            pass
    return available_cpus()


def cache_dir_from_environment() -> Path | None:
    """The cache folder the environment chooses (None when the cache is off)."""
    configured = _text(CACHE_DIR_ENV)
    if configured.lower() in _CACHE_OFF:
        return None
    if configured:
        return Path(configured).expanduser()
    xdg = _text("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "tcomp"


def cache_max_mb_from_environment() -> float:
    """``TCOMP_CACHE_MAX_MB`` (MiB, not below 0); the default 1024 when unset or not a number."""
    configured = _text(CACHE_MAX_MB_ENV)
    try:
        megabytes = float(configured) if configured else DEFAULT_CACHE_MAX_MB
    except ValueError:
        megabytes = DEFAULT_CACHE_MAX_MB
    return max(megabytes, 0)


def jit_cache_size_from_environment() -> int | None:
    """How many signatures each jitted function keeps programs for; None: no bound.

    ``TCOMP_JIT_CACHE_SIZE``: a whole number N >= 1 keeps N, ``0`` keeps every
    signature (no bound), unset or empty keeps :data:`DEFAULT_JIT_CACHE_SIZE`. Any
    other value warns (``RuntimeWarning``, at the user's line) and counts as the default.
    """
    text = _text(JIT_CACHE_SIZE_ENV)
    if not text:
        return DEFAULT_JIT_CACHE_SIZE
    try:
        size = int(text)
    except ValueError:
        size = -1
    if size < 0:
        warnings.warn(
            f"{JIT_CACHE_SIZE_ENV}={text!r} is not a whole number >= 0 (0: no bound); "
            f"using the default, {DEFAULT_JIT_CACHE_SIZE}",
            RuntimeWarning,
            stacklevel=user_stacklevel(),
        )
        return DEFAULT_JIT_CACHE_SIZE
    return size if size > 0 else None


def enable_x64_from_environment() -> bool | None:
    """``TCOMP_ENABLE_X64``: ``0``, ``false``, ``no``, ``off`` (any case) give False
    (float64 arguments of jitted functions become float32), ``1``, ``true``, ``yes``,
    ``on`` give True (they stay float64); unset or empty gives None, the default (they
    stay float64, and a big one warns once). Any other value warns (``RuntimeWarning``,
    at the user's line) and counts as unset."""
    text = _text(ENABLE_X64_ENV).lower()
    if not text:
        return None
    if text in ("0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    warnings.warn(
        f"{ENABLE_X64_ENV}={_text(ENABLE_X64_ENV)!r} is not one of 0/false/no/off or "
        "1/true/yes/on; float64 stays float64 (the default)",
        RuntimeWarning,
        stacklevel=user_stacklevel(),
    )
    return None


def backend_name_from_environment() -> str:
    """``TCOMP_BACKEND`` as written (stripped; empty when unset): the registry checks it."""
    return _text(BACKEND_ENV)


@dataclass(frozen=True)
class CompileOptions:
    """What one compile is configured with (see the module docstring's table).

    ``CompileOptions()`` is the built-in defaults with the cache off and one thread
    (a value for tests and tools); :meth:`from_environment` is what ``jit`` uses.
    """

    verify_passes: bool = False
    num_threads: int = 1
    cache_dir: Path | None = None
    cache_max_mb: float = DEFAULT_CACHE_MAX_MB
    jit_cache_size: int | None = DEFAULT_JIT_CACHE_SIZE
    check_finite: bool = False

    def __post_init__(self) -> None:
        if self.num_threads < 1:
            raise ValueError(f"num_threads must be at least 1, not {self.num_threads}")
        if self.jit_cache_size is not None and self.jit_cache_size < 1:
            raise ValueError(f"jit_cache_size must be at least 1 or None, not {self.jit_cache_size}")

    @classmethod
    def from_environment(cls) -> "CompileOptions":
        """Reads every variable once, now (a bad ``TCOMP_JIT_CACHE_SIZE`` warns here)."""
        return cls(
            verify_passes=verify_passes_from_environment(),
            num_threads=num_threads_from_environment(),
            cache_dir=cache_dir_from_environment(),
            cache_max_mb=cache_max_mb_from_environment(),
            jit_cache_size=jit_cache_size_from_environment(),
            check_finite=check_finite_from_environment(),
        )

    def with_changes(self, **changes: object) -> "CompileOptions":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)  # type: ignore[arg-type]
