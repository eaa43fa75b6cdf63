"""The error classes of tcomp.

They live in ir/ because the IR raises them and ir/ imports nothing above it;
``tcomp.errors`` re-exports them for users. Every tcomp error derives from
:class:`TcompError` and from the matching built-in (``ValueError``,
``TypeError`` ...) so that ordinary ``except`` clauses keep working.
"""

from __future__ import annotations


class TcompError(Exception):
    """Base class of every error tcomp raises on purpose."""


class TcompShapeError(TcompError, ValueError):
    """Shapes that do not fit the operation (broadcasting, matmul, reshape ...)."""


class TcompTypeError(TcompError, TypeError):
    """A dtype or argument type that the operation does not accept."""


class TcompTracerError(TcompError, TypeError):
    """Python control flow or a conversion that needs the value of a traced array."""


class TcompArgumentError(TcompError, ValueError):
    """Arguments that do not match what the function or its compiled version expects."""


class TcompCallError(TcompArgumentError, TypeError):
    """A call whose arguments do not fit the function's parameters: too many or too few,
    an unknown keyword, ``argnums`` beyond the arguments passed.

    A ``TypeError``, as Python, numpy and JAX raise for a call that does not bind, and
    still a :class:`TcompArgumentError` (a ``ValueError``) for code written before.
    """


class TcompBackendError(TcompError, RuntimeError):
    """An unknown, unavailable or failing backend."""


class TcompVerifyError(TcompError, ValueError):
    """IR that breaks an invariant; the message names the op and prints the IR around it."""


class TcompParseError(TcompError, ValueError):
    """IR text that cannot be parsed; the message gives the line and column."""


class TcompNonFiniteError(TcompError, FloatingPointError):
    """A NaN or infinity where the caller asked tcomp to check for them."""


class TcompFloatingPointError(TcompNonFiniteError):
    """A call of a function jitted with ``check_finite=True`` (or ``TCOMP_CHECK_FINITE=1``)
    wrote a NaN or an infinity.

    The message names the graph op that produced the first one (its ``file:line``, and
    whether it is in the forward or the backward pass), the kernel that ran it, the
    shapes, and its inputs' ranges; or the argument that already held one. ``report``
    holds the same facts as data (``tcomp.frontend.finite_report.NonFiniteReport``) for
    tools such as ``tcomp inspect --check-finite``; it is None when raised by hand.
    """

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class TcompMemoryError(TcompError, MemoryError):
    """Memory for an array could not be allocated; the message says how much, and for what.

    Make one with :meth:`allocating`.
    """

    @classmethod
    def allocating(cls, nbytes: int, what: str) -> "TcompMemoryError":
        """The error for a failed allocation of ``nbytes`` bytes for ``what``."""
        return cls(
            f"out of memory: cannot allocate {format_bytes(nbytes)} ({nbytes} bytes) for {what}"
        )


class TcompRetraceWarning(UserWarning):
    """A jitted function was traced again and again (each new signature compiles anew).

    Not an error: silence it with ``warnings.filterwarnings("ignore",
    category=TcompRetraceWarning)``.
    """


class TcompFloat64Warning(UserWarning):
    """A jitted function got float64 data that looks like a model's weights, and will
    compute in float64 (often several times slower than float32).

    The rule: given once per process, for the first new signature of any jitted
    function that has a float64 array argument (numpy or ``tcomp.Array``) of 1024
    elements or more, while ``tcomp.config.enable_x64`` is left at its default (not set
    in code, ``TCOMP_ENABLE_X64`` unset). Setting it either way says float64 is meant
    (True) or converts such arguments to float32 (False), and silences it; so does
    ``warnings.filterwarnings("ignore", category=TcompFloat64Warning)``.
    """


def format_bytes(nbytes: int) -> str:
    """``nbytes`` for people: ``512 B``, ``1.5 KiB``, ``4.0 TiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    size, unit = float(nbytes), 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{nbytes} B" if unit == 0 else f"{size:.1f} {units[unit]}"


def with_location(message: str, location: object | None) -> str:
    """Appends ``at file:line`` to an error message when a location is known."""
    if location is None:
        return message
    return f"{message}\n  at {location}"


class TcompIndexError(TcompError, IndexError):
    """An index out of range or an indexing form tcomp does not support."""


class TcompAxisError(TcompShapeError, IndexError):
    """An axis out of range for the array's rank: a ``ValueError`` and an ``IndexError``,
    as numpy's ``AxisError`` is (so ``except IndexError`` code written for numpy works)."""


class TcompDistributedError(TcompError, RuntimeError):
    """A collective of :mod:`tcomp.distributed` that cannot run: MPI not installed, ranks
    that disagree on what they run (the message names the ranks and the difference), a
    failing MPI call."""


class TcompDistributedTimeoutError(TcompDistributedError, TimeoutError):
    """A collective that did not complete within ``TCOMP_MPI_TIMEOUT`` seconds: another rank
    died, hangs, or runs a different program."""
