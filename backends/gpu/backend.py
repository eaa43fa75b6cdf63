"""The backend shared by ``opencl`` and ``cuda``: graph IR to kernels to a device binary.

``compile`` lowers the graph-IR function to a kernel-IR program through
``GPU_PIPELINE`` of :mod:`tcomp.ir.kernel.passes` (the same fusion as the
``llvm`` backend, reductions split in more parts, no reduction-term reuse),
renders it in the driver's C dialect, and builds it; see
:mod:`tcomp.backends.gpu.executable` for a call.
Buffers are :class:`~tcomp.backends.gpu.memory.DeviceBuffer`: ``tcomp.Array``
results stay on the device between calls and go back to the pool when
dropped.

The driver opens on first need, not when the backend is made: a machine
with no device (or no driver package) still lowers and renders, so
``tcomp.jit(f, backend="cuda").lower(x).as_text("source")`` works anywhere;
running raises the driver's clear error ("no NVIDIA driver ...").

Binaries are cached in memory by source text and, unless the driver keeps
its own cache of builds from source (PoCL and NVIDIA's OpenCL do), on disk (the
folder of the compile's options, ``CompileOptions.cache_dir``: ``TCOMP_CACHE_DIR``
when ``jit`` traced; namespace ``<backend>-binaries``) under a key that holds the source, the
device, the driver and compiler versions and the tcomp version: a new driver
or device compiles afresh, and a damaged entry is rebuilt, never loaded.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from tcomp.backends.base import Backend, Executable
from tcomp.backends.cache import options_cache, shared_cache
from tcomp.backends.gpu.driver import Driver
from tcomp.backends.gpu.memory import BufferPool, DeviceBuffer
from tcomp.backends.options import CompileOptions
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.graph import Function
from tcomp.ir.kernel.kernel import Program
from tcomp.ir.recursion import deep_recursion

PLAN_RECURSION_LIMIT = 20000  # Python frames to plan and render deep fused expressions


def transfer_view(host: np.ndarray) -> np.ndarray:
    """``host`` as the drivers can copy it: a bfloat16 array (ml_dtypes' dtype, which
    numpy's buffer protocol refuses: pyopencl and pycuda copy through it) viewed as its
    uint16 bits, the same memory; any other array as it is."""
    if host.dtype.kind == "V" and host.dtype.itemsize == 2:
        return host.view(np.uint16)
    return host


if TYPE_CHECKING:
    from tcomp.backends.cfamily.dialect import Dialect


class GPUBackend(Backend):
    """A GPU backend over one :class:`Driver` (see the module docstring)."""

    def __init__(
        self, name: str, dialect: "str | Dialect", open_driver: Callable[[], Driver]
    ) -> None:
        from tcomp.backends.cfamily.dialect import get_dialect

        self.name = name
        self._dialect = get_dialect(dialect) if isinstance(dialect, str) else dialect
        self._open_driver = open_driver
        self._driver: Driver | None = None
        self._driver_error: TcompBackendError | None = None
        self._pool: BufferPool | None = None
        self._modules: dict[str, Any] = {}  # source text -> loaded module

    @property
    def driver(self) -> Driver:
        """The device's driver, opened on first use (raises its error when it cannot open)."""
        if self._driver is None:
            if self._driver_error is not None:
                raise self._driver_error
            try:
                self._driver = self._open_driver()
            except TcompBackendError as error:
                self._driver_error = error
                raise
        return self._driver

    @property
    def dialect(self) -> "Dialect":
        """The C dialect sources are rendered in. A CUDA device older than sm_80 (no
        ``mma.sync`` for 16-bit floats) gets half matmuls without tensor cores; where no
        device opens (rendering on a machine with no GPU) the dialect's choice stands."""
        if self._dialect.tensor_cores != "mma":
            return self._dialect
        try:
            arch = self.driver.info.arch
        except TcompBackendError:
            return self._dialect
        if arch.startswith("sm_") and arch[3:].isdigit() and int(arch[3:]) < 80:
            return dataclasses.replace(self._dialect, tensor_cores="none")
        return self._dialect

    @property
    def pool(self) -> BufferPool:
        if self._pool is None:
            self._pool = BufferPool(self.driver)
        return self._pool

    def check_available(self) -> None:
        """Raises the driver's TcompBackendError when nothing can run here."""
        self.driver  # noqa: B018 - opening it is the check

    def compile(self, function: Function) -> Executable:
        """:meth:`compile_with` the options the environment sets now."""
        return self.compile_with(function, CompileOptions.from_environment())

    def compile_with(self, function: Function, options: CompileOptions) -> Executable:
        """Lowers (``GPU_PIPELINE``, then ``map-gpu`` for this device's dialect; verified
        after each pass when ``options.verify_passes``), renders and builds ``function``
        for this device (the binary cache in ``options.cache_dir``)."""
        from tcomp.backends.gpu.executable import GPUExecutable
        from tcomp.ir.kernel.passes import GPU_PIPELINE, lower

        started = time.perf_counter()
        verify = options.verify_passes
        program = self.map_gpu(lower(function, GPU_PIPELINE, verify_each=verify), verify)
        self.check_dtypes(program)
        with deep_recursion(PLAN_RECURSION_LIMIT):  # planning walks expression trees
            return GPUExecutable(self, program, time.perf_counter() - started, options)

    def compile_program(
        self, program: Program, options: CompileOptions | None = None
    ) -> Executable:
        """Builds an already lowered kernel-IR program (``map-gpu`` runs on it, verified
        after when ``options.verify_passes``; a launch its schedules already hold is
        checked). ``options``: by default the environment's now."""
        from tcomp.backends.gpu.executable import GPUExecutable

        if options is None:
            options = CompileOptions.from_environment()
        program = self.map_gpu(program, options.verify_passes)
        self.check_dtypes(program)
        with deep_recursion(PLAN_RECURSION_LIMIT):
            return GPUExecutable(self, program, 0.0, options)

    def map_gpu(self, program: Program, verify: bool) -> Program:
        """The ``map-gpu`` pass for this device's dialect (:func:`tcomp.backends.cfamily.map_gpu`),
        verified after when ``verify``."""
        from tcomp.backends.cfamily import map_gpu
        from tcomp.ir.kernel.verifier import verify_program

        with deep_recursion(PLAN_RECURSION_LIMIT):
            mapped = map_gpu(program, self.dialect)
        if verify:
            verify_program(mapped, "map-gpu")
        return mapped

    def check_dtypes(self, program: Program) -> None:
        """A clear error for a dtype the device cannot compute in (no check before the
        driver has opened: rendering needs no device)."""
        if self._driver is None:
            return
        info = self._driver.info
        for buffer in program.buffers.values():
            dtype = buffer.type.dtype
            if dtype == "float64" and not info.float64:
                raise TcompBackendError(
                    f"{info.describe()} has no float64 support (the buffer {buffer.name} of "
                    f"{program.name} is float64): use float32 inputs, or another backend"
                )

    def build(
        self, source: str, name: str, options: CompileOptions | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """The loaded module of ``source`` and where it came from (``cache``: ``memory``,
        ``disk``, ``miss``, or ``driver`` when the driver keeps its own binary cache).
        The disk cache is the one of ``options`` (None: of the environment now)."""
        module = self._modules.get(source)
        if module is not None:
            return module, {"cache": "memory"}
        if self.driver.keeps_binary_cache:
            module = self._modules[source] = self.driver.build_source(source, name)
            return module, {"cache": "driver"}
        namespace = f"{self.name}-binaries"
        cache = shared_cache(namespace) if options is None else options_cache(namespace, options)
        key = self._cache_key(source)
        binary = cache.load(key)
        origin = "disk"
        if binary is not None:
            try:
                module = self.driver.load(binary)
            except TcompBackendError:
                module = None  # a binary the driver no longer takes: build afresh
        if module is None:
            origin = "miss"
            binary = self.driver.compile(source, name)
            cache.store(key, binary)
            module = self.driver.load(binary)
        self._modules[source] = module
        return module, {"cache": origin}

    def _cache_key(self, source: str) -> str:
        from tcomp import __version__

        return f"tcomp {__version__}\n{self.driver.compiler_identity()}\n{source}"

    def from_host(self, array: np.ndarray) -> DeviceBuffer:
        host = np.asarray(array, order="C")  # ascontiguousarray would make 0-d arrays 1-d
        buffer = DeviceBuffer(self.pool, host.shape, host.dtype)
        if buffer.nbytes:
            self.driver.upload(buffer.handle, transfer_view(host))
        return buffer

    def to_host(self, buffer: Any) -> np.ndarray:
        if not isinstance(buffer, DeviceBuffer):
            return np.array(buffer, copy=True)
        host = np.empty(buffer.shape, buffer.dtype)
        if buffer.nbytes:
            self.driver.download(buffer.handle, transfer_view(host))
        return host

    def synchronize(self) -> None:
        """Waits for every copy and kernel enqueued so far (for timing)."""
        self.driver.synchronize()

    def memory_stats(self) -> dict[str, int]:
        """The buffer pool's counters (driver allocations, reuses, bytes in use and
        cached, peak) and the device's free and total bytes."""
        free, total = self.driver.memory_info()
        stats = dict(vars(self.pool.stats))
        stats.update(device_free_bytes=free, device_total_bytes=total)
        return stats
