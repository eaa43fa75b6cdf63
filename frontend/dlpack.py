"""DLPack: ``tcomp.Array`` to other array libraries and back, without a copy where memory allows.

Export (``Array.__dlpack__`` / ``__dlpack_device__``, so ``np.from_dlpack(a)``,
``torch.from_dlpack(a)``): ``llvm`` and ``reference`` arrays are host memory
(``llvm``: the result's own buffer, no copy; ``reference``: its host copy);
``cuda`` arrays hand over their device pointer after the device has finished
the work that computes them; ``opencl`` buffers cannot be shared (an error
says to copy through the host). A consumer that asks for DLPack 1.0 gets the
memory flagged read-only; a legacy consumer of host memory gets a copy, since
it could not be told that the memory must not be written.

Import (``tcomp.from_dlpack(x, backend=None)``): host data of any DLPack
producer (a numpy array, a CPU torch tensor, a ``tcomp.Array``) becomes a
``tcomp.Array``; on a backend that reads host memory in place (``llvm``) it
shares ``x``'s memory when ``x`` is C-contiguous, aligned and of a tcomp dtype,
so writing to ``x`` afterwards changes the Array. Device data of another
library is refused (copy it to the host first).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcomp.frontend.array import Array
from tcomp.frontend.dlpack_capsule import KDL_CPU, KDL_CUDA, KDL_OPENCL, export_capsule
from tcomp.frontend.values import canonical_host_array
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.types import TensorType, canonical_dtype

_DEVICE_NAMES = {
    1: "CPU",
    2: "CUDA",
    3: "CUDA host",
    4: "OpenCL",
    7: "Vulkan",
    8: "Metal",
    10: "ROCm",
    13: "CUDA managed",
    14: "oneAPI",
}


class TcompDLPackError(TcompBackendError, BufferError):
    """An array that cannot be exported or imported through DLPack as asked (a
    ``BufferError``, as the DLPack protocol specifies, and a ``TcompBackendError``)."""


def array_device(array: Array) -> tuple[int, int]:
    """``Array.__dlpack_device__``: ``(kDLCPU, 0)`` for host memory, ``(kDLCUDA, n)`` on
    ``cuda`` device n, ``(kDLOpenCL, 0)`` on ``opencl`` (which cannot export)."""
    kind = _memory(array)
    if kind == "cuda":
        return (KDL_CUDA, _cuda_ordinal(array))
    if kind == "opencl":
        return (KDL_OPENCL, 0)
    return (KDL_CPU, 0)


def export_array(
    array: Array,
    stream: Any = None,
    max_version: tuple[int, int] | None = None,
    dl_device: tuple[int, int] | None = None,
    copy: bool | None = None,
) -> Any:
    """``Array.__dlpack__``: a DLPack capsule of ``array`` (see the module docstring)."""
    versioned = max_version is not None and tuple(max_version)[0] >= 1
    kind = _memory(array)
    device = array_device(array)
    if dl_device is not None and tuple(dl_device) != device:
        raise TcompDLPackError(
            f"__dlpack__(dl_device={tuple(dl_device)}): this tcomp.Array is on "
            f"{_device_text(device)} ({array.backend}); tcomp exports only where it lives"
        )
    if kind == "cuda":
        return _export_cuda(array, versioned, copy)
    if kind != "host":
        raise TcompDLPackError(
            f"a tcomp.Array on {array.backend} cannot be shared through DLPack (its buffers "
            "are not addressable memory); copy it to the host: np.asarray(a) or a.numpy()"
        )
    if stream is not None:
        raise TcompDLPackError(f"__dlpack__(stream={stream!r}): host memory takes no stream (None)")
    host = array._host_view()
    # a legacy capsule cannot carry the read-only flag: such a consumer gets a copy
    copied = bool(copy) or (not versioned and not host.flags.writeable)
    if copied:
        if copy is False:
            raise TcompDLPackError(
                "__dlpack__(copy=False) without max_version >= (1, 0): a legacy DLPack "
                "consumer cannot be told that tcomp's memory is read-only; ask for version 1"
            )
        host = np.array(host, copy=True)
    if host.dtype.name == "bfloat16":  # numpy's exporter has no bfloat16
        return export_capsule(
            host.ctypes.data,
            host.shape,
            host.dtype,
            device,
            owner=(array, host),
            versioned=versioned,
            read_only=not host.flags.writeable,
            copied=copied,
        )
    if not versioned:
        return host.__dlpack__()
    try:
        return host.__dlpack__(max_version=tuple(max_version))
    except TypeError:  # numpy before 2.1 exports legacy capsules only: of a writable copy
        return np.array(host, copy=True).__dlpack__()


def _export_cuda(array: Array, versioned: bool, copy: bool | None) -> Any:
    """The device pointer of a ``cuda`` Array, once the stream has computed it.

    Untested here (no NVIDIA GPU where this was written): it relies on
    ``DeviceBuffer.handle`` converting to the pointer with ``int()`` (pycuda's
    ``DeviceAllocation``, libcuda's integer) and on the driver's ``index``.
    """
    if copy:
        raise TcompDLPackError(
            "__dlpack__(copy=True) of a cuda tcomp.Array: tcomp exports its device memory "
            "as it is (read-only); for a copy on the host use a.numpy()"
        )
    buffer = getattr(array._buffer, "handle", None)
    if buffer is None:
        raise TcompDLPackError("this cuda tcomp.Array holds no device buffer to export")
    array._backend.synchronize()  # every kernel computing it has finished, whatever stream reads it
    return export_capsule(
        int(buffer),
        array.shape,
        array.dtype,
        (KDL_CUDA, _cuda_ordinal(array)),
        owner=(array, array._buffer),
        versioned=versioned,
        read_only=True,
    )


def from_dlpack(x: Any, backend: str | None = None) -> Array:
    """``x`` (an object with ``__dlpack__``: numpy, CPU torch/JAX/CuPy-on-host arrays, a
    ``tcomp.Array``) as a ``tcomp.Array`` on ``backend`` (the default backend when None).
    On ``llvm`` it shares ``x``'s memory where it can (C-contiguous, aligned, a tcomp
    dtype); otherwise, and on other backends, the data is copied once."""
    from tcomp.backends.registry import get_backend

    target = get_backend(backend)
    if isinstance(x, Array):
        if x._backend is target:
            return x
        host = x._host_view()
    elif isinstance(x, np.ndarray):
        host = x
    else:
        host = _import_host(x)
    converted = canonical_host_array(host, "tcomp.from_dlpack")
    aval = TensorType(tuple(converted.shape), canonical_dtype(converted.dtype))
    flags = converted.flags
    if (
        converted is host
        and getattr(target, "borrow", None) is not None
        and flags.c_contiguous
        and flags.aligned
    ):
        shared = host.view()  # the same memory; tcomp never writes through it
        shared.setflags(write=False)
        return Array(shared, target, aval, committed=backend is not None)
    buffer = target.from_host(np.asarray(converted, order="C"))
    return Array(buffer, target, aval, committed=backend is not None)


def _import_host(x: Any) -> np.ndarray:
    """``x``'s memory as a numpy array (numpy's DLPack import), for host memory only."""
    if not hasattr(x, "__dlpack__"):
        raise TcompDLPackError(
            f"tcomp.from_dlpack: a {type(x).__name__} has no __dlpack__ method; for other "
            "data use tcomp's functions on it directly, or np.asarray first"
        )
    device = tuple(x.__dlpack_device__()) if hasattr(x, "__dlpack_device__") else (KDL_CPU, 0)
    if device[0] not in (KDL_CPU, 3):
        raise TcompDLPackError(
            f"tcomp.from_dlpack takes host memory; this {type(x).__name__} is on "
            f"{_device_text(device)}: copy it to the host first (for torch: x.cpu())"
        )
    try:
        return np.from_dlpack(x)
    except (BufferError, TypeError, ValueError, RuntimeError) as error:
        raise TcompDLPackError(
            f"tcomp.from_dlpack: numpy could not import this {type(x).__name__} ({error})"
        ) from None


_HOST_BACKENDS = ("llvm", "reference")  # buffers (llvm) or host copies (reference) in host memory


def _memory(array: Array) -> str:
    """Where ``array``'s buffer lives: ``host``, ``cuda``, or another backend's name."""
    name = array.backend
    return "host" if name in _HOST_BACKENDS else name


def _cuda_ordinal(array: Array) -> int:
    return int(getattr(array._backend.driver, "index", 0))


def _device_text(device: tuple[int, int]) -> str:
    kind, number = device
    return f"{_DEVICE_NAMES.get(kind, f'device type {kind}')} device {number}"
