"""The CUDA driver through pycuda, the first choice when it is installed.

Modules are compiled by :mod:`tcomp.backends.cuda.compiler` (NVRTC or nvcc,
for the device's architecture) and loaded with ``module_from_buffer``; all
copies and launches go to one pycuda stream, on the device's primary
context (pushed once, popped at exit).

Transfers of 64 KiB and more stage through page-locked host buffers, as in
:mod:`tcomp.backends.cuda.libcuda` (the rules are
:mod:`tcomp.backends.cuda.staging`'s): ``pagelocked_empty`` buffers by size
class, ``memcpy_htod_async`` / ``memcpy_dtoh_async`` on the stream, and one
``Event`` (no timing) per buffer, recorded after its upload and queried or
waited on before the buffer is reused. An upload returns without waiting
for the GPU; a download synchronises the stream before copying out.
:meth:`PyCudaDriver.close` frees the buffers.
"""

from __future__ import annotations

import atexit
import ctypes
from typing import Any, Sequence

import numpy as np

from tcomp.backends.cuda.compiler import compile_cuda, compiler_version
from tcomp.backends.cuda.staging import StagingPool
from tcomp.backends.gpu.driver import DeviceInfo, DeviceOutOfMemory, Driver, launch_shape
from tcomp.ir.errors import TcompBackendError

DEFAULT_BLOCK = 256


class PyCudaDriver(Driver):
    """One CUDA device through pycuda: its primary context and one stream."""

    dialect = "cuda"

    def __init__(self, index: int = 0) -> None:
        import pycuda.driver as drv

        self.drv = drv
        self.index = index  # the device number (DLPack's device_id)
        try:
            drv.init()
            count = drv.Device.count()
            if not 0 <= index < count:
                raise TcompBackendError(
                    f"cuda device {index} does not exist here: the driver sees {count} device(s)"
                )
            self.device = drv.Device(index)
            self.context = self.device.retain_primary_context()
            self.context.push()
            atexit.register(_pop_context, self.context)
            self.stream = drv.Stream()
        except drv.Error as error:
            raise TcompBackendError(f"cuda: the driver did not start: {error}") from None
        attribute = drv.device_attribute
        major, minor = self.device.compute_capability()
        self.info = DeviceInfo(
            backend="cuda",
            name=self.device.name(),
            platform=f"CUDA driver {drv.get_driver_version()}; {compiler_version()}",
            arch=f"sm_{major}{minor}",
            max_work_group_size=self.device.get_attribute(attribute.MAX_THREADS_PER_BLOCK),
            local_mem_bytes=self.device.get_attribute(attribute.MAX_SHARED_MEMORY_PER_BLOCK),
            total_memory_bytes=int(self.device.total_memory()),
            float64=True,
            float16=major >= 6,
        )
        # functions prepared for their argument list, kept alive so that an id is never
        # reused by a new, unprepared function
        self._prepared: dict[int, Any] = {}
        self.staging = StagingPool(_PyCudaPinned(self))

    def alloc(self, nbytes: int) -> Any:
        try:
            return self.drv.mem_alloc(nbytes)
        except self.drv.MemoryError as error:
            raise DeviceOutOfMemory(nbytes) from error

    def free(self, handle: Any) -> None:
        handle.free()

    def upload(self, handle: Any, host: np.ndarray) -> None:
        staging = self.staging.acquire(host.nbytes)
        if staging is None:  # from pageable memory the driver stages the bytes itself
            self.drv.memcpy_htod_async(handle, host, self.stream)
            return
        try:
            ctypes.memmove(staging.address, host.ctypes.data, host.nbytes)
            self.drv.memcpy_htod_async(handle, staging.handle[: host.nbytes], self.stream)
        except BaseException:
            self.staging.release(staging)
            raise
        self.staging.in_flight(staging)  # reused once the copy has completed

    def download(self, handle: Any, host: np.ndarray) -> None:
        staging = self.staging.acquire(host.nbytes, download=True)
        try:
            target = host if staging is None else staging.handle[: host.nbytes]
            try:
                self.drv.memcpy_dtoh_async(target, handle, self.stream)
            except self.drv.Error as error:
                raise TcompBackendError(f"cuda: reading a result failed: {error}") from None
            self.synchronize()
            if staging is not None:
                ctypes.memmove(host.ctypes.data, staging.address, host.nbytes)
        finally:
            if staging is not None:
                self.staging.release(staging)

    def close(self) -> None:
        """Frees the pinned staging buffers (waiting for their copies)."""
        self.staging.close()

    def compile(self, source: str, name: str) -> bytes:
        return compile_cuda(source, name, self.info.arch)

    def load(self, binary: bytes) -> Any:
        try:
            return self.drv.module_from_buffer(binary)
        except self.drv.Error as error:
            raise TcompBackendError(f"cuda: loading a module failed: {error}") from None

    def function(self, module: Any, name: str) -> Any:
        return module.get_function(name)

    def launch(
        self, function: Any, global_size: int, local_size: int | None, args: Sequence[Any]
    ) -> None:
        if id(function) not in self._prepared:
            function.prepare("P" * len(args))
            self._prepared[id(function)] = function
        grid, block = launch_shape(global_size, local_size, DEFAULT_BLOCK)
        function.prepared_async_call(
            (grid, 1), (block, 1, 1), self.stream, *[int(arg) for arg in args]
        )

    def synchronize(self) -> None:
        try:
            self.stream.synchronize()
        except self.drv.Error as error:
            raise TcompBackendError(f"cuda: a kernel failed: {error}") from None
        self.staging.synchronized()

    def memory_info(self) -> tuple[int, int]:
        free, total = self.drv.mem_get_info()
        return int(free), int(total)


class _PyCudaPinned:
    """Pinned host memory and events for :class:`StagingPool`, through pycuda (the
    handle of a buffer is its page-locked uint8 array)."""

    def __init__(self, driver: PyCudaDriver) -> None:
        self.driver = driver
        self.drv = driver.drv

    def host_alloc(self, nbytes: int) -> tuple[int, Any]:
        try:
            array = self.drv.pagelocked_empty(nbytes, np.uint8)
        except self.drv.Error as error:
            raise TcompBackendError(f"cuda: pinned host memory: {error}") from None
        return int(array.ctypes.data), array

    def host_free(self, handle: Any) -> None:
        handle.base.free()

    def event_create(self) -> Any:
        try:
            return self.drv.Event(self.drv.event_flags.DISABLE_TIMING)
        except self.drv.Error as error:
            raise TcompBackendError(f"cuda: creating an event: {error}") from None

    def event_record(self, event: Any) -> None:
        event.record(self.driver.stream)

    def event_done(self, event: Any) -> bool:
        return bool(event.query())

    def event_wait(self, event: Any) -> None:
        event.synchronize()

    def event_destroy(self, event: Any) -> None:
        del event  # pycuda destroys an event when it is collected


def _pop_context(context: Any) -> None:
    try:
        context.pop()
    except Exception:  # noqa: BLE001 - the process is ending; nothing to report to
        pass
