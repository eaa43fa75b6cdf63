"""The CUDA driver API through ctypes: the fallback when pycuda is not installed.

pycuda builds from source against the CUDA toolkit and cannot be installed
everywhere; the driver library ``libcuda.so.1`` comes with every NVIDIA
driver. This module calls the dozen driver-API functions the runtime needs
directly, so ``backend="cuda"`` works on any machine with a driver and no
Python package beyond numpy. Every call's status is checked and a failure
becomes a TcompBackendError with the driver's own error name.

Transfers of 64 KiB and more stage through page-locked host buffers
(:mod:`tcomp.backends.cuda.staging`): ``cuMemHostAlloc`` buffers by size
class (at most 256 MiB in all, none above 64 MiB), ``cuMemcpyHtoDAsync`` /
``cuMemcpyDtoHAsync`` on the driver's stream, and one event per buffer
(``cuEventCreate`` without timing, ``cuEventRecord`` after the copy,
``cuEventQuery`` / ``cuEventSynchronize`` before the buffer is reused). An
upload copies the array into a buffer and returns without waiting for the
GPU (the copy overlaps kernels already enqueued); a download copies into a
buffer, synchronises the stream and copies out. Smaller and larger
transfers, and every transfer once a pinned allocation has failed, copy
straight from / to the numpy array as before. :meth:`LibCudaDriver.close`
frees the buffers and events (``cuMemFreeHost``, ``cuEventDestroy``).
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Sequence

import numpy as np

from tcomp.backends.cuda.compiler import compile_cuda, compiler_version
from tcomp.backends.cuda.staging import StagingPool
from tcomp.backends.gpu.driver import DeviceInfo, DeviceOutOfMemory, Driver, launch_shape
from tcomp.ir.errors import TcompBackendError

CUDA_ERROR_OUT_OF_MEMORY = 2
CUDA_ERROR_NOT_READY = 600
CU_EVENT_DISABLE_TIMING = 2
ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1
ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8
ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
DEFAULT_BLOCK = 256


def load_libcuda() -> ctypes.CDLL:
    """The driver library, or a TcompBackendError saying that no NVIDIA driver is here."""
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise TcompBackendError(
        "the cuda backend needs an NVIDIA GPU driver: libcuda.so.1 was not found "
        "(rendering CUDA source needs none: tcomp.jit(f, backend='cuda').lower(...)"
        ".as_text('source') works anywhere)"
    )


class LibCudaDriver(Driver):
    """One CUDA device through ``libcuda.so.1``: its primary context and one stream."""

    dialect = "cuda"

    def __init__(self, index: int = 0) -> None:
        self.lib = lib = load_libcuda()
        self.index = index  # the device number (DLPack's device_id)
        lib.cuGetErrorName.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        lib.cuModuleGetFunction.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p]
        lib.cuLaunchKernel.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.cuMemcpyHtoDAsync_v2.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        lib.cuMemcpyDtoHAsync_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_void_p]
        lib.cuMemFree_v2.argtypes = [ctypes.c_uint64]
        lib.cuModuleLoadData.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.cuStreamSynchronize.argtypes = [ctypes.c_void_p]
        lib.cuCtxSetCurrent.argtypes = [ctypes.c_void_p]
        lib.cuMemHostAlloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_uint]
        lib.cuMemFreeHost.argtypes = [ctypes.c_void_p]
        lib.cuEventCreate.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint]
        lib.cuEventRecord.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.cuEventQuery.argtypes = [ctypes.c_void_p]
        lib.cuEventSynchronize.argtypes = [ctypes.c_void_p]
        lib.cuEventDestroy_v2.argtypes = [ctypes.c_void_p]
        self.check(lib.cuInit(0), "cuInit")
        count = ctypes.c_int()
        self.check(lib.cuDeviceGetCount(ctypes.byref(count)), "cuDeviceGetCount")
        if not 0 <= index < count.value:
            raise TcompBackendError(
                f"cuda device {index} does not exist here: the driver sees {count.value} device(s)"
            )
        self.device = ctypes.c_int()
        self.check(lib.cuDeviceGet(ctypes.byref(self.device), index), "cuDeviceGet")
        self.context = ctypes.c_void_p()
        self.check(lib.cuDevicePrimaryCtxRetain(ctypes.byref(self.context), self.device), "cuDevicePrimaryCtxRetain")
        self.check(lib.cuCtxSetCurrent(self.context), "cuCtxSetCurrent")
        self._thread = threading.get_ident()
        self.stream = ctypes.c_void_p()
        self.check(lib.cuStreamCreate(ctypes.byref(self.stream), 0), "cuStreamCreate")
        self.info = self._device_info()
        self.staging = StagingPool(_LibCudaPinned(self))

    def _device_info(self) -> DeviceInfo:
        lib = self.lib
        name = ctypes.create_string_buffer(256)
        self.check(lib.cuDeviceGetName(name, 256, self.device), "cuDeviceGetName")
        major, minor = self.attribute(ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), self.attribute(
            ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
        )
        version = ctypes.c_int()
        self.check(lib.cuDriverGetVersion(ctypes.byref(version)), "cuDriverGetVersion")
        total = ctypes.c_size_t()
        self.check(lib.cuDeviceTotalMem_v2(ctypes.byref(total), self.device), "cuDeviceTotalMem")
        return DeviceInfo(
            backend="cuda",
            name=name.value.decode(errors="replace"),
            platform=f"CUDA driver {version.value}; {compiler_version()}",
            arch=f"sm_{major}{minor}",
            max_work_group_size=self.attribute(ATTRIBUTE_MAX_THREADS_PER_BLOCK),
            local_mem_bytes=self.attribute(ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK),
            total_memory_bytes=int(total.value),
            float64=True,
            float16=major >= 6,
        )

    def attribute(self, attribute: int) -> int:
        value = ctypes.c_int()
        self.check(self.lib.cuDeviceGetAttribute(ctypes.byref(value), attribute, self.device), "cuDeviceGetAttribute")
        return value.value

    def check(self, status: int, call: str) -> None:
        """Raises a TcompBackendError naming ``call`` and the driver's error for a failure."""
        if status == 0:
            return
        name = ctypes.c_char_p()
        self.lib.cuGetErrorName(status, ctypes.byref(name))
        text = name.value.decode() if name.value else f"error {status}"
        raise TcompBackendError(f"cuda: {call} failed: {text}")

    def _current(self) -> None:
        if threading.get_ident() != self._thread:  # another thread: make the context current
            self.check(self.lib.cuCtxSetCurrent(self.context), "cuCtxSetCurrent")
            self._thread = threading.get_ident()

    def alloc(self, nbytes: int) -> int:
        self._current()
        pointer = ctypes.c_uint64()
        status = self.lib.cuMemAlloc_v2(ctypes.byref(pointer), ctypes.c_size_t(nbytes))
        if status == CUDA_ERROR_OUT_OF_MEMORY:
            raise DeviceOutOfMemory(nbytes)
        self.check(status, f"cuMemAlloc({nbytes} bytes)")
        return pointer.value

    def free(self, handle: int) -> None:
        self.check(self.lib.cuMemFree_v2(handle), "cuMemFree")

    def upload(self, handle: int, host: np.ndarray) -> None:
        self._current()
        staging = self.staging.acquire(host.nbytes)
        if staging is None:  # from pageable memory the driver stages the bytes itself
            self.check(
                self.lib.cuMemcpyHtoDAsync_v2(handle, host.ctypes.data, host.nbytes, self.stream),
                "cuMemcpyHtoDAsync",
            )
            return
        try:
            ctypes.memmove(staging.address, host.ctypes.data, host.nbytes)
            self.check(
                self.lib.cuMemcpyHtoDAsync_v2(handle, staging.address, host.nbytes, self.stream),
                "cuMemcpyHtoDAsync",
            )
        except BaseException:
            self.staging.release(staging)
            raise
        self.staging.in_flight(staging)  # reused once the copy has completed

    def download(self, handle: int, host: np.ndarray) -> None:
        self._current()
        staging = self.staging.acquire(host.nbytes, download=True)
        if staging is None:
            self.check(
                self.lib.cuMemcpyDtoHAsync_v2(host.ctypes.data, handle, host.nbytes, self.stream),
                "cuMemcpyDtoHAsync",
            )
            self.synchronize()
            return
        try:
            self.check(
                self.lib.cuMemcpyDtoHAsync_v2(staging.address, handle, host.nbytes, self.stream),
                "cuMemcpyDtoHAsync",
            )
            self.synchronize()
            ctypes.memmove(host.ctypes.data, staging.address, host.nbytes)
        finally:
            self.staging.release(staging)

    def close(self) -> None:
        """Frees the pinned staging buffers and their events (waiting for their copies)."""
        if self.staging.enabled or self.staging.classes:
            self._current()
            self.staging.close()

    def compile(self, source: str, name: str) -> bytes:
        return compile_cuda(source, name, self.info.arch)

    def load(self, binary: bytes) -> Any:
        self._current()
        module = ctypes.c_void_p()
        self.check(self.lib.cuModuleLoadData(ctypes.byref(module), binary), "cuModuleLoadData")
        return module

    def function(self, module: Any, name: str) -> Any:
        function = ctypes.c_void_p()
        self.check(self.lib.cuModuleGetFunction(ctypes.byref(function), module, name.encode()), f"cuModuleGetFunction({name})")
        return function

    def launch(
        self, function: Any, global_size: int, local_size: int | None, args: Sequence[Any]
    ) -> None:
        grid, block = launch_shape(global_size, local_size, DEFAULT_BLOCK)
        count = len(args)
        values = (ctypes.c_uint64 * max(count, 1))(*args)
        base = ctypes.addressof(values)
        params = (ctypes.c_void_p * max(count, 1))(*[base + 8 * i for i in range(count)])
        self.check(
            self.lib.cuLaunchKernel(
                function, grid, 1, 1, block, 1, 1, 0, self.stream, ctypes.addressof(params), None
            ),
            "cuLaunchKernel",
        )

    def synchronize(self) -> None:
        status = self.lib.cuStreamSynchronize(self.stream)
        if status != 0:
            self.check(status, "a kernel (reported at cuStreamSynchronize)")
        self.staging.synchronized()

    def memory_info(self) -> tuple[int, int]:
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        self.check(self.lib.cuMemGetInfo_v2(ctypes.byref(free), ctypes.byref(total)), "cuMemGetInfo")
        return int(free.value), int(total.value)

    def compiler_identity(self) -> str:
        return f"cuda|{self.info.name}|{self.info.arch}|{self.info.platform}"


class _LibCudaPinned:
    """Pinned host memory and events for :class:`StagingPool`, through ``libcuda``."""

    def __init__(self, driver: LibCudaDriver) -> None:
        self.driver = driver

    def host_alloc(self, nbytes: int) -> tuple[int, Any]:
        pointer = ctypes.c_void_p()
        self.driver.check(self.driver.lib.cuMemHostAlloc(ctypes.byref(pointer), nbytes, 0), "cuMemHostAlloc")
        return int(pointer.value or 0), pointer.value

    def host_free(self, handle: Any) -> None:
        self.driver.check(self.driver.lib.cuMemFreeHost(handle), "cuMemFreeHost")

    def event_create(self) -> Any:
        event = ctypes.c_void_p()
        self.driver.check(self.driver.lib.cuEventCreate(ctypes.byref(event), CU_EVENT_DISABLE_TIMING), "cuEventCreate")
        return event

    def event_record(self, event: Any) -> None:
        self.driver.check(self.driver.lib.cuEventRecord(event, self.driver.stream), "cuEventRecord")

    def event_done(self, event: Any) -> bool:
        status = self.driver.lib.cuEventQuery(event)
        if status == CUDA_ERROR_NOT_READY:
            return False
        self.driver.check(status, "cuEventQuery")
        return True

    def event_wait(self, event: Any) -> None:
        self.driver.check(self.driver.lib.cuEventSynchronize(event), "cuEventSynchronize")

    def event_destroy(self, event: Any) -> None:
        self.driver.check(self.driver.lib.cuEventDestroy_v2(event), "cuEventDestroy")
