"""Where the user's code is on the stack, for warnings that should name their line."""

from __future__ import annotations

import sys
from types import FrameType


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` called by our caller that makes the warning
    name the user's line: the first frame up the stack outside tcomp's own modules."""
    level = 1
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and _is_tcomp_module(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    return level


def _is_tcomp_module(name: str) -> bool:
    return name == "tcomp" or name.startswith("tcomp.")
