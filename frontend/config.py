"""``tcomp.config``: switches set in code, each with an environment variable behind it.

``tcomp.config.enable_x64`` (``TCOMP_ENABLE_X64``) decides what a jitted function does
with float64 arguments: keep them (True, the default) or convert them to float32 at
the boundary (False), as JAX's x64-off mode does; see :mod:`tcomp.frontend.precision`.
A value set here wins over the variable; ``None`` goes back to the variable.
"""

from __future__ import annotations

from tcomp.backends.options import enable_x64_from_environment
from tcomp.ir.errors import TcompTypeError


class Config:
    """tcomp's run-time switches (one instance: ``tcomp.config``)."""

    __slots__ = ("_enable_x64",)

    def __init__(self) -> None:
        self._enable_x64: bool | None = None

    @property
    def enable_x64(self) -> bool:
        """Whether float64 arguments of jitted functions stay float64 (True, the default)
        or become float32 before the signature is built (False: numpy float64 arrays and
        scalars, float64 ``tcomp.Array``s; Python floats are weak float32 either way).

        Set True or False here, or None to follow ``TCOMP_ENABLE_X64`` (``0``/``false``:
        False; ``1``/``true``: True; unset: True). The switch acts on arguments only: a
        float64 asked for in the function (``x.astype("float64")``) stays float64.
        """
        if self._enable_x64 is not None:
            return self._enable_x64
        return enable_x64_from_environment() is not False

    @enable_x64.setter
    def enable_x64(self, value: bool | None) -> None:
        if value is not None and not isinstance(value, bool):
            raise TcompTypeError(
                f"tcomp.config.enable_x64 takes True, False or None (follow "
                f"TCOMP_ENABLE_X64), not {value!r}"
            )
        self._enable_x64 = value

    def x64_chosen(self) -> bool:
        """Whether ``enable_x64`` was chosen, here or through ``TCOMP_ENABLE_X64`` (the
        float64 warning is only for a user who has not chosen)."""
        return self._enable_x64 is not None or enable_x64_from_environment() is not None

    def __repr__(self) -> str:
        return f"tcomp.config(enable_x64={self.enable_x64})"


config = Config()
