"""The shim's own error: a tinygrad feature that tcomp has no function for."""

from __future__ import annotations


class Unsupported(Exception):
    """Raised by the shim where tcomp has no function doing what a tinygrad method does.

    ``feature`` names what tcomp lacks (``"tcomp.lerp"``, ``"dtype uint64"``, ...); the
    runner counts such a test as "cannot run: tcomp lacks <feature>". The shim never
    composes a missing op out of others: the point is to measure tcomp.
    """

    def __init__(self, feature: str, detail: str = "") -> None:
        self.feature = feature
        super().__init__(f"tcomp lacks {feature}" + (f" ({detail})" if detail else ""))
