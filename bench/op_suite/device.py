"""tinygrad's ``Device`` and ``helpers`` switches, as the suite reads them."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

from bench.op_suite.dtypes import TCOMP_DTYPES, DType, dtypes


def getenv(key: str, default: Any = 0) -> Any:
    """``os.environ[key]`` converted to ``type(default)`` (tinygrad's helper)."""
    value = os.environ.get(key)
    if value is None:
        return default
    return type(default)(value)


DEBUG = getenv("DEBUG")
IMAGE = 0


class _Dev:
    """``DEV``: tinygrad's device description; none of tinygrad's interfaces."""

    interface = "TCOMP"
    renderer = "TCOMP"
    device = "TCOMP"


DEV = _Dev()


@contextmanager
def Context(**_: Any) -> Iterator[None]:  # noqa: N802 -- tinygrad's name
    """tinygrad's context of option overrides; none apply to tcomp."""
    yield


class _Renderer:
    @staticmethod
    def supported_dtypes() -> list[DType]:
        return [d for d in dtypes.all if d.name in TCOMP_DTYPES]


class _CompiledDevice:
    renderer = _Renderer()


class _Device:
    """``Device``: one device, ``Device.DEFAULT == "TCOMP"``."""

    DEFAULT = "TCOMP"

    def __getitem__(self, name: str) -> _CompiledDevice:
        return _CompiledDevice()

    def canonicalize(self, device: Any) -> str:
        return "TCOMP"


Device = _Device()
