"""``tcomp.Array``: a result of a compiled function, held in its backend's memory."""

from __future__ import annotations

from typing import Any

import numpy as np

from tcomp.frontend.array_methods import ArrayMethods
from tcomp.ir.types import TensorType, numpy_dtype


class Array(ArrayMethods):
    """An array owned by a backend (device memory for GPU backends).

    Arrays are immutable. ``np.asarray(a)`` on a backend whose buffers are
    host memory (``llvm``) is a read-only view of ``a``'s memory, no copy,
    that keeps it alive (writes raise ``ValueError``); on the others
    (``reference``, ``opencl``, ``cuda``) it is a host copy. ``a.numpy()``
    and ``np.array(a)`` (numpy's ``copy=True``) are always a writable copy;
    ``np.asarray(a, copy=False)`` raises ``ValueError`` where a copy is
    needed (device memory, another dtype). Passing ``a`` back into a
    function compiled for the same backend hands the buffer over without a
    host round trip.

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
        """A host copy as a writable numpy array (``np.asarray(a)`` may be a read-only view)."""
        return np.array(self._host_view(), copy=True)

    def _host_view(self) -> np.ndarray:
        """The array on the host, read-only: a view of the buffer where the backend has
        one (``host_view``: ``llvm``), else a copy made once (``to_host``)."""
        host = self._host
        if host is None:
            view = getattr(self._backend, "host_view", None)
            if view is not None:
                host = view(self._buffer)
            else:
                host = self._backend.to_host(self._buffer)
                host.setflags(write=False)
            self._host = host
        return host

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """numpy's conversion protocol (numpy 2: ``copy`` True, False or None)."""
        host = self._host_view()
        if dtype is not None and np.dtype(dtype) != host.dtype:
            if copy is False:
                raise ValueError(
                    f"np.asarray(..., copy=False): a {host.dtype} tcomp.Array as "
                    f"{np.dtype(dtype)} needs a copy"
                )
            return host.astype(dtype)
        if copy:
            return np.array(host, copy=True)
        if getattr(self._backend, "host_view", None) is not None:
            # a read-only view of the buffer; a fresh one each time, so that setting
            # .shape on it cannot reshape what the next caller gets
            return host.view()
        if copy is False:
            raise ValueError(
                f"np.asarray(..., copy=False): this tcomp.Array is in {self.backend} device "
                "memory; on the host it is a copy (np.asarray(a) or a.numpy())"
            )
        return np.array(host, copy=True)

    def __dlpack__(
        self,
        stream: Any = None,
        *,
        max_version: tuple[int, int] | None = None,
        dl_device: tuple[int, int] | None = None,
        copy: bool | None = None,
    ) -> Any:
        """The DLPack protocol (``np.from_dlpack(a)``, ``torch.from_dlpack(a)``): the
        array's memory, read-only, without a copy on ``llvm``; see
        :mod:`tcomp.frontend.dlpack` for the other backends."""
        from tcomp.frontend.dlpack import export_array

        return export_array(self, stream, max_version, dl_device, copy)

    def __dlpack_device__(self) -> tuple[int, int]:
        """``(device type, device number)`` as DLPack counts them: ``(1, 0)`` for host memory."""
        from tcomp.frontend.dlpack import array_device

        return array_device(self)

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
