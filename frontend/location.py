"""The user's source location: the innermost stack frame outside tcomp itself."""

from __future__ import annotations

import os
import sys

from tcomp.ir.graph import Location


def _package_dirs() -> tuple[str, ...]:
    import tcomp
    import tcomp.backends
    import tcomp.frontend
    import tcomp.ir

    dirs = {os.path.dirname(os.path.abspath(m.__file__)) for m in (tcomp, tcomp.frontend, tcomp.ir, tcomp.backends)}
    return tuple(d + os.sep for d in dirs)


_PACKAGE_DIRS: tuple[str, ...] | None = None


def user_location() -> Location | None:
    """file:line of the innermost caller that is not tcomp's own code, or None."""
    global _PACKAGE_DIRS
    if _PACKAGE_DIRS is None:
        _PACKAGE_DIRS = _package_dirs()
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIRS) and not filename.startswith("<frozen"):
            return Location(filename, frame.f_lineno)
        frame = frame.f_back
    return None
