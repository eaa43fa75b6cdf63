"""Device memory for the GPU backends: a caching pool and the buffers ``tcomp.Array`` holds.

Allocating device memory is slow (a driver call that may synchronise the
device), and a training loop asks for the same sizes every step. The
:class:`BufferPool` keeps blocks that were released, sorted by size class,
and hands one out again for the next request of that class, so after its
first step a loop allocates nothing from the driver (``pool.stats`` counts
driver allocations; a test holds it to that). Size classes: multiples of
512 bytes up to 1 MiB, then four classes per power of two, so a block is
at most 25% larger than asked for.

A :class:`DeviceBuffer` returns its block to the pool when Python drops it
(``tcomp.Array`` results, temps after a call). That is safe without waiting
for the device because every copy and launch goes to one in-order queue:
the next user of the block runs after the last one.

When the driver reports that the device is full, the pool frees every cached
block and tries once more; if that fails too, the error says how much was
asked for, how much the device has free, what tcomp holds, and what to try.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tcomp.backends.gpu.driver import DeviceOutOfMemory, Driver
from tcomp.ir.errors import TcompBackendError

SMALL_CLASS = 512
SMALL_LIMIT = 1 << 20


def size_class(nbytes: int) -> int:
    """The block size the pool allocates for a request of ``nbytes`` (see the module
    docstring); at least one small class, so a zero-size array still has a handle."""
    nbytes = max(int(nbytes), 1)
    if nbytes <= SMALL_LIMIT:
        return -(-nbytes // SMALL_CLASS) * SMALL_CLASS
    step = 1 << (nbytes.bit_length() - 3)  # a quarter of the power of two below
    return -(-nbytes // step) * step


@dataclass
class PoolStats:
    """Counters of a pool since it was made (bytes are block sizes, not requests)."""

    driver_allocations: int = 0  # blocks the driver allocated
    reuses: int = 0  # requests served from the cache
    bytes_in_use: int = 0  # held by live buffers
    bytes_cached: int = 0  # released, kept for reuse
    peak_bytes_in_use: int = 0
    trims: int = 0  # times the cache was emptied to make room


class BufferPool:
    """Caches released device blocks by size class (see the module docstring)."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.stats = PoolStats()
        self._free: dict[int, list[Any]] = {}

    def acquire(self, nbytes: int) -> tuple[Any, int]:
        """A block of at least ``nbytes`` bytes: (handle, its size class)."""
        block = size_class(nbytes)
        cached = self._free.get(block)
        if cached:
            handle = cached.pop()
            self.stats.reuses += 1
            self.stats.bytes_cached -= block
        else:
            handle = self._allocate(block, nbytes)
            self.stats.driver_allocations += 1
        self.stats.bytes_in_use += block
        self.stats.peak_bytes_in_use = max(self.stats.peak_bytes_in_use, self.stats.bytes_in_use)
        return handle, block

    def release(self, handle: Any, block: int) -> None:
        """Takes a block back into the cache (it may be handed out again at once)."""
        self._free.setdefault(block, []).append(handle)
        self.stats.bytes_in_use -= block
        self.stats.bytes_cached += block

    def trim(self) -> int:
        """Frees every cached block; returns the bytes given back to the device."""
        freed = 0
        for block, handles in self._free.items():
            for handle in handles:
                self.driver.free(handle)
                freed += block
        self._free.clear()
        self.stats.bytes_cached = 0
        return freed

    def _allocate(self, block: int, requested: int) -> Any:
        try:
            return self.driver.alloc(block)
        except DeviceOutOfMemory:
            self.trim()
            self.stats.trims += 1
        try:
            return self.driver.alloc(block)
        except DeviceOutOfMemory:
            raise TcompBackendError(self.out_of_memory_message(requested)) from None

    def out_of_memory_message(self, requested: int) -> str:
        free, total = self.driver.memory_info()
        return (
            f"{self.driver.info.describe()}: out of device memory: asked for "
            f"{_mib(requested)}, the device has {_mib(free)} free of {_mib(total)}; "
            f"tcomp's arrays hold {_mib(self.stats.bytes_in_use)}. Try a smaller batch, "
            f"gradient accumulation over smaller batches, or dropping arrays you no "
            f"longer need (del them) before the call"
        )


def _mib(nbytes: int) -> str:
    return f"{nbytes / (1 << 20):.1f} MiB"


class DeviceBuffer:
    """A block of device memory holding one C-contiguous array (``shape``, ``dtype``);
    the block goes back to its pool when the buffer is dropped."""

    __slots__ = ("handle", "block", "shape", "dtype", "nbytes", "_pool", "__weakref__")

    def __init__(self, pool: BufferPool, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.nbytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        self._pool: BufferPool | None = None
        self.handle, self.block = pool.acquire(self.nbytes)
        self._pool = pool

    def __del__(self) -> None:
        pool = self._pool
        if pool is not None:
            self._pool = None
            pool.release(self.handle, self.block)

    def __repr__(self) -> str:
        return f"DeviceBuffer({self.shape}, {self.dtype}, {self.nbytes} bytes)"
