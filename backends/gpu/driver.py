"""What the shared GPU runtime needs from a driver (pyopencl, pycuda, libcuda).

A :class:`Driver` is the thin, stateful layer over one device: it allocates
and frees raw device memory, copies bytes between host and device on one
in-order queue (OpenCL) or stream (CUDA), compiles a source text into a
binary and loads it as a module, and launches a function of it over a 1-d
range. Everything above it (buffer pool, launch plans, constants, temps,
binary caching, errors in the user's terms) lives once in
:mod:`tcomp.backends.gpu`, so each driver stays a page of calls into its API.

All work goes to one in-order queue, so a buffer released to the pool may
be handed to the next kernel at once: that kernel runs after every earlier
use. Downloads are blocking; uploads may return before the copy is done
(the driver keeps the host memory alive or has already staged it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


class DeviceOutOfMemory(Exception):
    """Raised by :meth:`Driver.alloc` when the device has no room; the pool frees its
    cached blocks and retries before turning it into a user-facing error."""


@dataclass(frozen=True)
class DeviceInfo:
    """What tcomp knows about the device: for error messages, cache keys and limits."""

    backend: str  # "opencl" or "cuda"
    name: str  # the device's own name
    platform: str  # driver / platform version text (part of every binary-cache key)
    arch: str  # what compiled code targets: "sm_90", or the OpenCL device version
    max_work_group_size: int
    local_mem_bytes: int
    total_memory_bytes: int
    float64: bool  # can run double precision
    float16: bool

    def describe(self) -> str:
        return f"{self.backend} device {self.name!r} ({self.arch})"


class Driver(ABC):
    """One device, one context, one in-order queue (see the module docstring)."""

    dialect: str  # the C-family dialect its sources are written in
    info: DeviceInfo
    # True when the driver caches builds from source itself (PoCL, NVIDIA's OpenCL):
    # tcomp's disk cache then stays out of the way (fetching binaries costs a second build)
    keeps_binary_cache: bool = False

    @abstractmethod
    def alloc(self, nbytes: int) -> Any:
        """A raw device allocation of at least ``nbytes`` (> 0) bytes; raises
        :class:`DeviceOutOfMemory` when the device has no room."""

    @abstractmethod
    def free(self, handle: Any) -> None:
        """Gives an allocation back to the device."""

    @abstractmethod
    def upload(self, handle: Any, host: np.ndarray) -> None:
        """Copies the C-contiguous ``host`` array into the start of ``handle``."""

    @abstractmethod
    def download(self, handle: Any, host: np.ndarray) -> None:
        """Fills the C-contiguous ``host`` array from the start of ``handle`` (blocking)."""

    @abstractmethod
    def compile(self, source: str, name: str) -> bytes:
        """Compiles ``source`` (the driver's dialect) into a device binary; a build error
        raises :class:`tcomp.errors.TcompBackendError` naming ``name`` with the
        compiler's log and the numbered source (:func:`build_error_message`)."""

    @abstractmethod
    def load(self, binary: bytes) -> Any:
        """Loads a binary that :meth:`compile` made (now or, through the disk cache, in an
        earlier process on the same device and driver) as a module."""

    def build_source(self, source: str, name: str) -> Any:
        """A loaded module straight from ``source`` (used when :attr:`keeps_binary_cache`)."""
        return self.load(self.compile(source, name))

    def compiler_identity(self) -> str:
        """Everything besides the source that a binary depends on (device, driver and
        compiler versions, options): part of the disk-cache key."""
        return f"{self.info.backend}|{self.info.name}|{self.info.arch}|{self.info.platform}"

    @abstractmethod
    def function(self, module: Any, name: str) -> Any:
        """The launchable function ``name`` of a built module."""

    @abstractmethod
    def launch(
        self, function: Any, global_size: int, local_size: int | None, args: Sequence[Any]
    ) -> None:
        """Enqueues ``function(*args)`` over ``global_size`` work-items (a multiple of
        ``local_size`` when it is given) in groups of ``local_size``."""

    def warm_up_size(self, function: Any, global_size: int, local_size: int | None) -> int | None:
        """For a driver that finishes a function's device code only at its first launch
        (PoCL's CPU device): how many work-items a launch on scratch buffers needs to
        finish it for this launch's geometry, so that it happens at load. None when
        nothing is left to build: the default, where loading the module built it all."""
        return None

    @abstractmethod
    def synchronize(self) -> None:
        """Waits until every enqueued copy and launch has finished; raises a
        TcompBackendError for an error a kernel left behind."""

    @abstractmethod
    def memory_info(self) -> tuple[int, int]:
        """(free bytes, total bytes) of device memory, as the driver reports them
        (free is 0 when the driver cannot say)."""

    def close(self) -> None:
        """Frees what the driver holds besides device allocations (the CUDA drivers'
        pinned staging buffers); the driver may still be used after it, without them.
        Nothing by default."""


def launch_shape(global_size: int, local_size: int | None, default_group: int) -> tuple[int, int]:
    """(work-groups, work-items per group) for a 1-d launch of ``global_size`` work-items:
    ``local_size`` when the kernel fixed it, else ``default_group`` (no more than the
    range); at least one group, so a kernel over nothing still runs its own bound check."""
    group = local_size or min(default_group, max(global_size, 1))
    return max(-(-global_size // group), 1), group


def numbered_source(source: str) -> str:
    """The source with 1-based line numbers, for build-error messages."""
    lines = source.splitlines()
    width = len(str(len(lines)))
    return "\n".join(f"{number:>{width}} | {line}" for number, line in enumerate(lines, 1))


# Compiler logs that blame the device's toolchain, not the program: PoCL's bundled LLVM
# does not know some (virtual) CPUs, reports the host CPU as "generic" and then refuses
# to compile anything for it.
TOOLCHAIN_FAULTS = ("unknown target CPU",)


def build_error_message(backend: str, name: str, log: str, source: str) -> str:
    """The text of a TcompBackendError for a program the device compiler rejected."""
    if any(fault in log for fault in TOOLCHAIN_FAULTS):
        cause = ("the device's own compiler cannot build for this processor, whatever the "
                 "program (for PoCL: its LLVM does not recognise this CPU; pick another "
                 "OpenCL platform or another backend)")
    else:
        cause = "a tcomp bug: please report it with this message"
    return (
        f"{backend}: the device compiler rejected the generated program {name!r} "
        f"({cause})\n"
        f"--- compiler log ---\n{log.strip()}\n--- source ---\n{numbered_source(source)}"
    )
