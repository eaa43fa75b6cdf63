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


class TcompBackendError(TcompError, RuntimeError):
    """An unknown, unavailable or failing backend."""


class TcompVerifyError(TcompError, ValueError):
    """IR that breaks an invariant; the message names the op and prints the IR around it."""


class TcompParseError(TcompError, ValueError):
    """IR text that cannot be parsed; the message gives the line and column."""


class TcompNonFiniteError(TcompError, FloatingPointError):
    """A NaN or infinity where the caller asked tcomp to check for them."""


def with_location(message: str, location: object | None) -> str:
    """Appends ``at file:line`` to an error message when a location is known."""
    if location is None:
        return message
    return f"{message}\n  at {location}"


class TcompIndexError(TcompError, IndexError):
    """An index out of range or an indexing form tcomp does not support."""
