"""``tcomp.Array``: a result of a compiled function, held in its backend's memory."""

from __future__ import annotations

from typing import Any

import numpy as np

from tcomp.frontend.array_methods import ArrayMethods
from tcomp.ir.types import TensorType, numpy_dtype


class Array(ArrayMethods):
    """An array owned by a backend (device memory for GPU backends).

    ``np.asarray(a)`` and ``a.numpy()`` copy it to the host; passing it
    back into a function compiled for the same backend hands the buffer
    over without a host round trip. Arrays are immutable.

    An array made from host data by an eager operation (``x + 1.0`` turns
    ``1.0`` into an array, ``tcomp.zeros(3)``) is *uncommitted*: it lives on
    the default backend but follows the committed array it meets, so
    ``np.float32(2) + a`` runs on ``a``'s backend. Results of compiled
    functions are committed to their backend.
    """

    __slots__ = ("_buffer", "_backend", "aval", "weak", "_host", "committed")

    def __init__(self, buffer: Any, backend: Any, aval: TensorType, committed: bool = True) -> None:
        self._buffer = buffer
        self._backend = backend
        self.aval = aval
        self.weak = False
        self._host: np.ndarray | None = None
        self.committed = committed

    @property
    def shape(self) -> tuple[int, ...]:
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return numpy_dtype(self.aval.dtype)

    @property
    def backend(self) -> str:
        """The name of the backend that holds the array."""
        return self._backend.name

    def numpy(self) -> np.ndarray:
        """A host copy as a writable numpy array."""
        return np.array(self._host_view(), copy=True)

    def _host_view(self) -> np.ndarray:
        if self._host is None:
            host = self._backend.to_host(self._buffer)
            host.setflags(write=False)
            self._host = host
        return self._host

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        host = self._host_view()
        return host.astype(dtype) if dtype is not None else np.array(host, copy=True)

    def __repr__(self) -> str:
        body = np.array2string(self._host_view(), separator=", ", prefix="Array(")
        return f"Array({body}, dtype={self.aval.dtype}, backend={self.backend})"

    def __bool__(self) -> bool:
        return bool(self._host_view())

    def __float__(self) -> float:
        return float(self._host_view())

    def __int__(self) -> int:
        return int(self._host_view())

    def __index__(self) -> int:
        return self._host_view().__index__()

    def item(self) -> Any:
        return self._host_view().item()

    def tolist(self) -> Any:
        return self._host_view().tolist()

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "tcomp arrays are immutable; build a new one (tcomp.where, tcomp.concatenate) "
            "or convert with np.array(a) first"
        )
