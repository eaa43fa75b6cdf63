"""The errors tcomp raises, for ``except`` clauses in user code, and its warnings.

Each error derives from :class:`TcompError` and from the built-in exception
of the same meaning, so ``except ValueError`` catches a shape mismatch too
(and ``except TypeError`` a call with the wrong arguments:
:class:`TcompCallError`; ``except FloatingPointError`` the NaN or infinity that a
``check_finite`` function found: :class:`TcompFloatingPointError`). :class:`TcompRetraceWarning` and
:class:`TcompFloat64Warning` are ``UserWarning``s.
"""

from tcomp.ir.errors import (
    TcompArgumentError,
    TcompAxisError,
    TcompBackendError,
    TcompCallError,
    TcompDistributedError,
    TcompDistributedTimeoutError,
    TcompError,
    TcompFloat64Warning,
    TcompFloatingPointError,
    TcompIndexError,
    TcompMemoryError,
    TcompNonFiniteError,
    TcompParseError,
    TcompRetraceWarning,
    TcompShapeError,
    TcompTracerError,
    TcompTypeError,
    TcompVerifyError,
)

__all__ = [
    "TcompArgumentError",
    "TcompAxisError",
    "TcompBackendError",
    "TcompCallError",
    "TcompDistributedError",
    "TcompDistributedTimeoutError",
    "TcompError",
    "TcompFloat64Warning",
    "TcompFloatingPointError",
    "TcompIndexError",
    "TcompMemoryError",
    "TcompNonFiniteError",
    "TcompParseError",
    "TcompRetraceWarning",
    "TcompShapeError",
    "TcompTracerError",
    "TcompTypeError",
    "TcompVerifyError",
]
