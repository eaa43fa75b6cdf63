"""DLPack: np.from_dlpack(tcomp.Array) and tcomp.from_dlpack(x), zero-copy on llvm.

The ctypes exporter (bfloat16, and cuda device pointers, which no GPU here can check)
is tested on host memory: numpy consumes its capsules, and a capsule read back field
by field says what a CUDA consumer would be told.
"""

from __future__ import annotations

import ctypes
import gc

import ml_dtypes
import numpy as np
import pytest

import tcomp
from tcomp.frontend.array import Array
from tcomp.frontend.dlpack import TcompDLPackError
from tcomp.frontend.dlpack_capsule import (
    FLAG_READ_ONLY,
    KDL_CPU,
    KDL_CUDA,
    DLManagedTensor,
    DLManagedTensorVersioned,
    export_capsule,
    live_exports,
)
from tcomp.ir.types import TensorType

pytest.importorskip("llvmlite")
HOST_BACKENDS = [b for b in ("reference", "llvm") if b in tcomp.available_backends()]

_get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi)
)
_set_name = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_SetName", ctypes.pythonapi)
)


def computed(x: np.ndarray, backend: str = "llvm") -> tcomp.Array:
    return tcomp.jit(lambda v: v * 2, backend=backend)(x)


# a capsule keeps a pointer to its name: these must live as long as the capsules
_USED_NAMES = {b"dltensor": b"used_dltensor", b"dltensor_versioned": b"used_dltensor_versioned"}


def take(capsule, name: bytes, versioned: bool):
    """Consumes ``capsule`` as a DLPack consumer does: renames it and returns its struct."""
    address = _get_pointer(capsule, name)
    assert _set_name(capsule, _USED_NAMES[name]) == 0
    return (DLManagedTensorVersioned if versioned else DLManagedTensor).from_address(address)


@pytest.mark.parametrize("backend", HOST_BACKENDS)
def test_numpy_reads_a_tcomp_array(backend: str) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    a = computed(x, backend)
    assert a.__dlpack_device__() == (KDL_CPU, 0)
    view = np.from_dlpack(a)
    np.testing.assert_array_equal(view, x * 2)
    assert not view.flags.writeable  # tcomp arrays are immutable
    if backend == "llvm":  # the result's own memory, no copy
        assert np.shares_memory(view, np.asarray(a))
    copied = np.from_dlpack(a, copy=True)
    assert copied.flags.writeable and not np.shares_memory(copied, np.asarray(a))


def test_a_legacy_consumer_gets_a_copy() -> None:
    a = computed(np.ones(3, np.float32))
    capsule = a.__dlpack__()  # no max_version: a pre-1.0 capsule has no read-only flag
    assert '"dltensor"' in repr(capsule)
    managed = take(capsule, b"dltensor", versioned=False)
    tensor = managed.dl_tensor
    assert tensor.data != np.asarray(a).ctypes.data  # so it points at a copy
    assert [tensor.shape[i] for i in range(tensor.ndim)] == [3]
    managed.deleter(ctypes.addressof(managed))  # numpy's deleter: the consumer is done
    with pytest.raises(TcompDLPackError, match="legacy DLPack consumer"):
        a.__dlpack__(copy=False)
    with pytest.raises(BufferError):  # TcompDLPackError is a BufferError, as DLPack asks
        a.__dlpack__(max_version=(1, 0), dl_device=(KDL_CUDA, 0))


def test_from_dlpack_shares_numpy_memory_on_llvm() -> None:
    x = np.arange(8, dtype=np.float32)
    a = tcomp.from_dlpack(x, backend="llvm")
    assert isinstance(a, Array) and a.backend == "llvm" and a.committed
    assert np.shares_memory(np.asarray(a), x)
    assert np.shares_memory(np.from_dlpack(a), x)  # and back again
    np.testing.assert_array_equal(np.asarray(tcomp.jit(lambda v: v + 1)(a)), x + 1)
    np.testing.assert_array_equal(np.asarray(a * 3.0), x * 3)
    del x
    gc.collect()
    np.testing.assert_array_equal(np.asarray(a), np.arange(8, dtype=np.float32))  # kept alive


def test_from_dlpack_of_any_producer_and_its_copies() -> None:
    class Producer:  # a foreign library's host array
        def __init__(self, data):
            self.data = data

        def __dlpack__(self, **kwargs):
            return self.data.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.data.__dlpack_device__()

    x = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
    shared = tcomp.from_dlpack(Producer(x), backend="llvm")
    assert np.shares_memory(np.asarray(shared), x)
    strided = tcomp.from_dlpack(x[:, ::2], backend="llvm")  # not C-contiguous: copied
    assert not np.shares_memory(np.asarray(strided), x)
    np.testing.assert_array_equal(np.asarray(strided), x[:, ::2])
    ints = tcomp.from_dlpack(np.arange(3, dtype=np.int64), backend="llvm")  # to int32: copied
    assert ints.dtype == np.int32
    if "reference" in HOST_BACKENDS:
        on_reference = tcomp.from_dlpack(x, backend="reference")
        assert on_reference.backend == "reference" and not np.shares_memory(
            np.asarray(on_reference), x
        )
        np.testing.assert_array_equal(np.asarray(on_reference), x)
    a = computed(x)
    assert tcomp.from_dlpack(a, backend="llvm") is a


def test_from_dlpack_refuses_device_memory_and_non_producers() -> None:
    class OnGpu:
        def __dlpack__(self, **kwargs):
            raise AssertionError("not asked")

        def __dlpack_device__(self):
            return (KDL_CUDA, 1)

    with pytest.raises(TcompDLPackError, match="CUDA device 1: copy it to the host first"):
        tcomp.from_dlpack(OnGpu())
    with pytest.raises(TcompDLPackError, match="has no __dlpack__"):
        tcomp.from_dlpack([1.0, 2.0])


@pytest.mark.parametrize("versioned", [False, True])
def test_the_ctypes_exporter_is_read_by_numpy_and_released(versioned: bool) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)

    class Exported:
        def __dlpack__(self, **kwargs):
            return export_capsule(
                x.ctypes.data,
                x.shape,
                x.dtype,
                (KDL_CPU, 0),
                owner=x,
                versioned=versioned,
                read_only=versioned,
            )

        def __dlpack_device__(self):
            return (KDL_CPU, 0)

    before = live_exports()
    view = np.from_dlpack(Exported())
    assert live_exports() == before + 1
    np.testing.assert_array_equal(view, x)
    assert np.shares_memory(view, x)
    if versioned:
        assert not view.flags.writeable  # the read-only flag reached numpy
    del view
    gc.collect()
    assert live_exports() == before  # numpy called the deleter
    capsule = Exported().__dlpack__()
    assert live_exports() == before + 1
    del capsule  # never consumed: the next sweep forgets it
    assert live_exports() == before


def test_bfloat16_exports_as_kdlbfloat() -> None:
    a = computed(np.array([1.0, -2.0, 0.5], ml_dtypes.bfloat16))
    before = live_exports()
    capsule = a.__dlpack__(max_version=(1, 0))
    managed = take(capsule, b"dltensor_versioned", versioned=True)
    tensor = managed.dl_tensor
    assert (tensor.dtype.code, tensor.dtype.bits, tensor.dtype.lanes) == (4, 16, 1)
    assert (tensor.device.device_type, tensor.ndim, tensor.shape[0], tensor.strides[0]) == (
        KDL_CPU,
        1,
        3,
        1,
    )
    assert tensor.data == np.asarray(a).ctypes.data  # no copy
    assert managed.flags & FLAG_READ_ONLY and (managed.version.major, managed.version.minor) == (
        1,
        0,
    )
    managed.deleter(ctypes.addressof(managed))  # the consumer is done
    assert live_exports() == before


def test_a_cuda_array_exports_its_device_pointer_after_synchronising() -> None:
    """The cuda path with stand-ins for the backend and its buffer (no GPU here): the
    pointer, device number, shape and read-only flag a CUDA consumer would get."""
    memory = np.zeros((2, 5), np.float32)
    calls = []

    class Buffer:
        handle = memory.ctypes.data  # pycuda's DeviceAllocation converts with int() the same way

    class Driver:
        index = 3

    class CudaBackend:
        name = "cuda"
        driver = Driver()

        def synchronize(self):
            calls.append("synchronize")

    a = Array(Buffer(), CudaBackend(), TensorType((2, 5), "float32"))
    assert a.__dlpack_device__() == (KDL_CUDA, 3)
    capsule = a.__dlpack__(stream=7, max_version=(1, 0))
    assert calls == ["synchronize"]
    managed = take(capsule, b"dltensor_versioned", versioned=True)
    tensor = managed.dl_tensor
    assert (tensor.device.device_type, tensor.device.device_id) == (KDL_CUDA, 3)
    assert tensor.data == memory.ctypes.data and [tensor.shape[i] for i in range(2)] == [2, 5]
    assert managed.flags & FLAG_READ_ONLY
    managed.deleter(ctypes.addressof(managed))
    with pytest.raises(TcompDLPackError, match="copy=True"):
        a.__dlpack__(max_version=(1, 0), copy=True)


@pytest.mark.skipif("opencl" not in tcomp.available_backends(), reason="no OpenCL device")
def test_opencl_arrays_say_to_copy_through_the_host() -> None:
    a = computed(np.ones(2, np.float32), "opencl")
    with pytest.raises(TcompDLPackError, match=r"np.asarray\(a\)"):
        a.__dlpack__(max_version=(1, 0))
