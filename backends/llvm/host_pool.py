"""Big output arrays of the llvm backend come from a cache of blocks, not fresh pages.

glibc serves an allocation of more than 32 MiB from a fresh ``mmap`` and
unmaps it on ``free``: every call of a function with a big output faulted
in and zeroed all of its pages again (a 64 MiB output: 16384 page faults,
about half the time of a ``x * 2`` over 2**24 floats on this 2-core
machine). :func:`output_array` hands out blocks of at least ``MIN_BYTES``
from :class:`HostPool` instead:

- a block is page-aligned memory from ``aligned_alloc``, in the size
  classes of the GPU buffer pool (:func:`tcomp.backends.gpu.memory.size_class`).
  Page-aligned, not just 64-byte aligned: a big numpy array (``malloc``'s
  ``mmap``) starts 16 bytes into a page, and an output starting 48 bytes
  after an input modulo 4 KiB makes each load of the input wait for the
  store just issued to the output (4K aliasing: GELU over 2**24 floats read
  in place took 15% longer with the 64-byte aligned outputs ``aligned_alloc``
  placed 64 bytes into a page);
- the array handed out is a numpy view of a small ctypes object over the
  block; numpy's views of it keep that object alive, and when the last one
  dies a ``weakref.finalize`` on it gives the block back (so an output the
  caller keeps, or a slice of it, is never reused under it);
- given-back blocks wait in the cache for the next call of that size, up to
  ``CACHE_BYTES`` in all; beyond that they are freed.

:attr:`HostPool.stats` counts what happened (blocks allocated, reused, given
back, freed; bytes cached now); :meth:`HostPool.snapshot` copies it, so a
test compares two moments instead of addresses.
"""

from __future__ import annotations

import ctypes
import math
import weakref
from dataclasses import dataclass, replace

import numpy as np

from tcomp.backends.gpu.memory import size_class
from tcomp.ir.errors import TcompMemoryError
from tcomp.ir.fork_safe import ForkSafeLock

MIN_BYTES = 1 << 20  # smaller arrays: glibc's heap already reuses them
CACHE_BYTES = 256 << 20
ALIGNMENT = 4096  # a page: see the module docstring


@dataclass
class HostPoolStats:
    """Blocks allocated, reused, given back and freed, and the bytes cached now."""

    allocations: int = 0
    reuses: int = 0
    returns: int = 0
    frees: int = 0
    cached_bytes: int = 0


class HostPool:
    """Caches released host blocks by size class (see the module docstring)."""

    def __init__(self, cache_bytes: int = CACHE_BYTES) -> None:
        self.cache_bytes = cache_bytes
        self.stats = HostPoolStats()
        self._free: dict[int, list[int]] = {}
        self._lock = ForkSafeLock()  # a forked child gets its own
        libc = ctypes.CDLL(None)
        self._alloc = libc.aligned_alloc
        self._alloc.restype = ctypes.c_void_p
        self._alloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
        self._release_memory = libc.free
        self._release_memory.argtypes = [ctypes.c_void_p]

    def array(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised C-contiguous array over a pooled block."""
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        block = size_class(nbytes)
        block = -(-block // ALIGNMENT) * ALIGNMENT
        address = self._take(block)
        holder = (ctypes.c_char * block).from_address(address)
        weakref.finalize(holder, self._give_back, address, block)
        # a ctypes array has the buffer protocol, which numpy's stubs do not list
        flat = np.frombuffer(holder, dtype=np.uint8, count=nbytes)  # type: ignore[call-overload]
        return flat.view(dtype).reshape(shape)

    def snapshot(self) -> HostPoolStats:
        """A copy of :attr:`stats` as it is now (the live one keeps counting)."""
        with self._lock:
            return replace(self.stats)

    def _take(self, block: int) -> int:
        with self._lock:
            cached = self._free.get(block)
            if cached:
                self.stats.reuses += 1
                self.stats.cached_bytes -= block
                return cached.pop()
            self.stats.allocations += 1
        address = self._alloc(ALIGNMENT, block)
        if not address:
            raise TcompMemoryError.allocating(block, "an output block of the llvm host pool")
        return address

    def _give_back(self, address: int, block: int) -> None:
        with self._lock:
            self.stats.returns += 1
            if self.stats.cached_bytes + block <= self.cache_bytes:
                self._free.setdefault(block, []).append(address)
                self.stats.cached_bytes += block
                return
            self.stats.frees += 1
        self._release_memory(address)

    def clear(self) -> None:
        """Frees every cached block (blocks in use come back later, as usual)."""
        with self._lock:
            blocks = [address for group in self._free.values() for address in group]
            self._free.clear()
            self.stats.frees += len(blocks)
            self.stats.cached_bytes = 0
        for address in blocks:
            self._release_memory(address)


POOL = HostPool()


def output_array(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An output array: from :data:`POOL` when it has at least ``MIN_BYTES``, else numpy's."""
    if math.prod(shape) * dtype.itemsize < MIN_BYTES:  # (np.prod costs 7 us a call)
        return np.empty(shape, dtype)
    return POOL.array(shape, dtype)
