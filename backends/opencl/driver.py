"""The OpenCL driver: pyopencl calls behind the shared GPU runtime's :class:`Driver`.

Device choice: ``backend="opencl"`` takes the first GPU of any platform,
else the first device; ``"opencl:N"`` takes device N of the list that
``tcomp backends`` prints (platforms in order, each platform's devices in
order); ``TCOMP_OPENCL_DEVICE=N`` does the same for plain ``"opencl"``.
One context and one in-order queue per device.

PoCL's CPU device compiles a program to LLVM bitcode in clBuildProgram and
generates each kernel's machine code only when the kernel is first enqueued,
specialised for the launch: its work-group size, a zero global offset, and
whether the grid is narrower than :data:`POCL_SMALL_GRID` (its
``-smallgrid`` variant). ``clGetProgramInfo(CL_PROGRAM_BINARIES)`` builds
generic variants that a program built from source never runs, and querying
a kernel's work-group info builds nothing, so :meth:`OpenCLDriver.warm_up_size`
tells :class:`~tcomp.backends.gpu.executable.GPUExecutable` to make those
first launches at load, on scratch buffers, over as few work-items as give
the same variant.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Sequence

import numpy as np

from tcomp.backends.gpu.driver import (
    DeviceInfo,
    DeviceOutOfMemory,
    Driver,
    build_error_message,
    launch_shape,
)
from tcomp.ir.errors import TcompBackendError

DEVICE_ENV = "TCOMP_OPENCL_DEVICE"
DEFAULT_LOCAL_SIZE = 128
# PoCL's grid_width_specialization_limit on CPU devices (USHRT_MAX from 1.8 to 8.0-dev): a
# launch whose grid is narrower runs a "-smallgrid" variant of the work-group function
POCL_SMALL_GRID = 65535
# built when a PoCL CPU device opens: a compiler that cannot build this builds nothing
PROBE_SOURCE = "__kernel void tcomp_probe(__global float *x) { x[0] = 1.0f; }"


def import_pyopencl() -> Any:
    """pyopencl, or a TcompBackendError that says how to install it."""
    try:
        import pyopencl
    except ImportError as error:
        raise TcompBackendError(
            'the opencl backend needs pyopencl: pip install "tcomp[opencl]" '
            '(or pip install "pyopencl[pocl]" for a CPU device through PoCL)'
        ) from error
    return pyopencl


def list_devices() -> list[Any]:
    """Every OpenCL device of every platform, in platform order."""
    cl = import_pyopencl()
    try:
        platforms = cl.get_platforms()
    except cl.Error as error:  # no ICD loader or no platform installed
        raise TcompBackendError(f"the opencl backend found no OpenCL platform: {error}") from None
    return [device for platform in platforms for device in platform.get_devices()]


def choose_device(spec: str | None) -> Any:
    """The device ``spec`` names (an index as text, see the module docstring)."""
    cl = import_pyopencl()
    devices = list_devices()
    if not devices:
        raise TcompBackendError("the opencl backend found no OpenCL device on any platform")
    spec = spec if spec is not None else os.environ.get(DEVICE_ENV, "").strip() or None
    if spec is None:
        gpus = [d for d in devices if d.type & cl.device_type.GPU]
        return (gpus or devices)[0]
    try:
        return devices[int(spec)]
    except (ValueError, IndexError):
        names = ", ".join(f"{i}: {d.name.strip()}" for i, d in enumerate(devices))
        raise TcompBackendError(
            f"opencl device {spec!r} does not exist here; the devices are {names}"
        ) from None


def builds_at_first_launch(device: Any) -> bool:
    """True for a CPU device of PoCL, which generates a kernel's machine code at its
    first launch for each work-group size and grid kind (see the module docstring)."""
    cl = import_pyopencl()
    return "pocl" in device.platform.version.lower() and bool(device.type & cl.device_type.CPU)


def pocl_warm_up_size(width: int, group: int) -> int:
    """The fewest work-items, in groups of ``group``, whose launch makes PoCL build the
    same work-group function as a launch over ``width`` work-items: one group for a small
    grid, else the fewest groups that reach :data:`POCL_SMALL_GRID`."""
    if width < POCL_SMALL_GRID:
        return group
    return -(-POCL_SMALL_GRID // group) * group


class OpenCLDriver(Driver):
    """One OpenCL device with its context and in-order queue."""

    dialect = "opencl"

    def __init__(self, spec: str | None = None) -> None:
        self.cl = cl = import_pyopencl()
        self.device = device = choose_device(spec)
        self.context = cl.Context([device])
        self.queue = cl.CommandQueue(self.context)
        extensions = device.extensions.split()
        platform = device.platform
        self.info = DeviceInfo(
            backend="opencl",
            name=device.name.strip(),
            platform=f"{platform.name} {platform.version}; driver {device.driver_version}",
            arch=device.version.strip(),
            max_work_group_size=int(device.max_work_group_size),
            local_mem_bytes=int(device.local_mem_size),
            total_memory_bytes=int(device.global_mem_size),
            float64="cl_khr_fp64" in extensions or bool(device.double_fp_config),
            float16="cl_khr_fp16" in extensions,
        )
        self._max_alloc = int(device.max_mem_alloc_size)
        from pyopencl.characterize import has_src_build_cache

        self.keeps_binary_cache = bool(has_src_build_cache(device))
        self.builds_at_first_launch = builds_at_first_launch(device)
        self._launched: dict[tuple[int, int], Any] = {}  # (kernel id, local size) -> kernel
        if self.builds_at_first_launch:
            self._check_compiler()

    def _check_compiler(self) -> None:
        """Builds a one-line program, so a PoCL that can build nothing on this machine
        (its LLVM does not know the CPU: "unknown target CPU 'generic'") makes the
        backend unavailable, with the reason, instead of failing every program."""
        _, log = self._build(PROBE_SOURCE)
        if log is not None:
            raise TcompBackendError(
                f"{self.info.describe()}: its OpenCL compiler builds no program on this "
                f"machine (a one-line kernel failed): {log.strip()}"
            )

    def alloc(self, nbytes: int) -> Any:
        cl = self.cl
        if nbytes > self._max_alloc:
            raise DeviceOutOfMemory(nbytes)
        try:
            return cl.Buffer(self.context, cl.mem_flags.READ_WRITE, size=nbytes)
        except (cl.MemoryError, cl.LogicError) as error:
            raise DeviceOutOfMemory(nbytes) from error

    def free(self, handle: Any) -> None:
        handle.release()

    def upload(self, handle: Any, host: np.ndarray) -> None:
        # pyopencl keeps ``host`` alive until the copy has finished
        self.cl.enqueue_copy(self.queue, handle, host, is_blocking=False)

    def download(self, handle: Any, host: np.ndarray) -> None:
        try:
            self.cl.enqueue_copy(self.queue, host, handle, is_blocking=True)
        except self.cl.Error as error:
            raise TcompBackendError(f"{self.info.describe()}: reading a result failed: {error}") from None

    def build_source(self, source: str, name: str) -> Any:
        built, log = self._build(source)
        if log is not None:
            raise TcompBackendError(build_error_message("opencl", name, log, source))
        return built

    def _build(self, source: str) -> tuple[Any, str | None]:
        """``(program, None)`` built for this device, or ``(None, the compiler's log)``."""
        cl = self.cl
        program = cl.Program(self.context, source)
        try:
            with warnings.catch_warnings():
                if not os.environ.get("PYOPENCL_COMPILER_OUTPUT"):
                    # NVIDIA's compiler reports informational output for most programs;
                    # PYOPENCL_COMPILER_OUTPUT=1 shows it, as pyopencl documents
                    warnings.simplefilter("ignore", cl.CompilerWarning)
                return program.build(options=["-cl-std=CL1.2"], cache_dir=False), None
        except cl.Error as error:
            try:
                log = program.get_build_info(self.device, cl.program_build_info.LOG)
            except cl.Error:
                log = str(error)
            return None, log or str(error)

    def compile(self, source: str, name: str) -> bytes:
        program = self.build_source(source, name)
        return bytes(program.get_info(self.cl.program_info.BINARIES)[0])

    def load(self, binary: bytes) -> Any:
        cl = self.cl
        try:
            return cl.Program(self.context, [self.device], [binary]).build()
        except cl.Error as error:
            raise TcompBackendError(f"{self.info.describe()}: a cached binary did not load: {error}") from None

    def function(self, module: Any, name: str) -> Any:
        kernel = self.cl.Kernel(module, name)
        limit = kernel.get_work_group_info(
            self.cl.kernel_work_group_info.WORK_GROUP_SIZE, self.device
        )
        return (kernel, int(min(DEFAULT_LOCAL_SIZE, limit, self.info.max_work_group_size)))

    def launch(
        self, function: Any, global_size: int, local_size: int | None, args: Sequence[Any]
    ) -> None:
        kernel, default_local = function
        groups, local_size = launch_shape(global_size, local_size, default_local)
        global_size = groups * local_size
        kernel.set_args(*args)
        self.cl.enqueue_nd_range_kernel(self.queue, kernel, (global_size,), (local_size,))
        key = (id(kernel), local_size)
        if key not in self._launched:
            # PoCL finishes compiling a kernel for a work-group size at its first launch, on
            # its own threads, spawning a linker; a Python thread that changes os.environ
            # meanwhile can crash that spawn. The first launch of each waits until done.
            self._launched[key] = kernel
            self.queue.finish()

    def warm_up_size(self, function: Any, global_size: int, local_size: int | None) -> int | None:
        """Work-items for a launch at load that builds what this launch would (see the
        module docstring); None when the device built everything at load, or when the
        kernel has run with this work-group size already."""
        if not self.builds_at_first_launch:
            return None
        kernel, default_local = function
        groups, group = launch_shape(global_size, local_size, default_local)
        if (id(kernel), group) in self._launched:
            return None
        return pocl_warm_up_size(groups * group, group)

    def synchronize(self) -> None:
        try:
            self.queue.finish()
        except self.cl.Error as error:
            raise TcompBackendError(f"{self.info.describe()}: a kernel failed: {error}") from None

    def memory_info(self) -> tuple[int, int]:
        return 0, self.info.total_memory_bytes  # core OpenCL cannot tell free memory
