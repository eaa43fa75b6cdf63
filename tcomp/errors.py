"""The errors tcomp raises, for ``except`` clauses in user code.

Each derives from :class:`TcompError` and from the built-in exception of
the same meaning, so ``except ValueError`` catches a shape mismatch too.
"""

from tcomp.ir.errors import (
    TcompArgumentError,
    TcompBackendError,
    TcompError,
    TcompIndexError,
    TcompNonFiniteError,
    TcompParseError,
    TcompShapeError,
    TcompTracerError,
    TcompTypeError,
    TcompVerifyError,
)

__all__ = [
    "TcompArgumentError",
    "TcompBackendError",
    "TcompError",
    "TcompIndexError",
    "TcompNonFiniteError",
    "TcompParseError",
    "TcompShapeError",
    "TcompTracerError",
    "TcompTypeError",
    "TcompVerifyError",
]
