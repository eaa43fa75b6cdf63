"""The ``reference`` backend: graph IR interpreted with numpy.

Buffers are read-only numpy arrays, so a result passed back into a compiled
function is used as it is, without a copy.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tcomp.backends.base import Backend, Executable
from tcomp.backends.reference.executor import evaluate
from tcomp.ir.graph import Function


class ReferenceExecutable(Executable):
    def __init__(self, function: Function) -> None:
        self.function = function

    def __call__(self, buffers: Sequence[Any]) -> list[Any]:
        results = evaluate(self.function, buffers)
        for result in results:
            result.setflags(write=False)
        return results


class ReferenceBackend(Backend):
    """Runs every function on the numpy reference executor."""

    name = "reference"

    def compile(self, function: Function) -> Executable:
        return ReferenceExecutable(function)

    def from_host(self, array: np.ndarray) -> Any:
        frozen = np.array(array, copy=True, order="C")
        frozen.setflags(write=False)
        return frozen

    def to_host(self, buffer: Any) -> np.ndarray:
        return np.array(buffer, copy=True)
