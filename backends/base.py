"""The contract between tcomp and a backend.

A backend turns a graph-IR :class:`Function` into an :class:`Executable`
and moves arrays between the host and its own memory. Device buffers are
opaque to the rest of tcomp: ``tcomp.Array`` holds one with its backend and
hands it back unchanged when the array is passed into another compiled
function, so results stay on the device between calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np

from tcomp.backends.options import CompileOptions
from tcomp.ir.graph import Function


class Executable(ABC):
    """A compiled function: device buffers in, device buffers out."""

    @abstractmethod
    def __call__(self, buffers: Sequence[Any]) -> list[Any]:
        """Runs the function on one buffer per parameter and returns one per output."""

    def as_text(self) -> str:
        """The backend's own form of the program (LLVM IR, OpenCL C, ...); empty when it has none."""
        return ""

    def compile_info(self) -> dict[str, Any]:
        """What compiling took, for users and logs: seconds per step (``*_s`` keys) and
        whether a cache supplied the result (``cache``); empty when the backend keeps none."""
        return {}

    def cache_key_parts(self) -> dict[str, str] | None:
        """The parts of the cache key this program was looked up by, by name (what the
        compile log compares to say why a call missed); None for a backend with no
        cache. Call it after the first run: some backends build lazily."""
        return None


class Backend(ABC):
    """A target: compiles graph IR and owns the memory of its results."""

    name: str

    @abstractmethod
    def compile(self, function: Function) -> Executable:
        """Compiles an optimised graph-IR function (options it needs: read from the
        environment now)."""

    def compile_with(self, function: Function, options: CompileOptions) -> Executable:
        """Compiles ``function`` with ``options`` (built once at the API edge, see
        :mod:`tcomp.backends.options`). A backend that reads options overrides this;
        the default ignores them and calls :meth:`compile`."""
        return self.compile(function)

    def find_by_trace(self, traced: Function, options: CompileOptions) -> Executable | None:
        """The executable compiled earlier for the function that the graph passes make
        of ``traced`` (the graph IR as traced, before any pass), or None. A hit skips the
        passes as well as the compile; a backend with a cache that outlives the process
        overrides this (llvm), the default finds nothing."""
        return None

    def record_trace(
        self, traced: Function, executable: Executable, options: CompileOptions
    ) -> None:
        """Notes that ``executable`` (from :meth:`compile_with`) is what ``traced``
        compiles to, for :meth:`find_by_trace` to answer later; the default keeps nothing."""

    @abstractmethod
    def from_host(self, array: np.ndarray) -> Any:
        """Copies a host array into a device buffer (the array is already the right dtype)."""

    @abstractmethod
    def to_host(self, buffer: Any) -> np.ndarray:
        """Copies a device buffer back into a new host array."""
