"""A pool of page-locked (pinned) host buffers that CUDA transfers stage through.

A copy from pageable numpy memory makes the driver stage the bytes itself
(and an "async" copy from pageable memory is not asynchronous). With a
pinned staging buffer an upload is: copy the numpy bytes into the buffer
(on the host, before :meth:`upload` returns, so the caller may overwrite its
array at once), enqueue ``cuMemcpyHtoDAsync`` from it on the driver's stream
(it overlaps the kernels already enqueued: the call does not wait for the
GPU) and record an event after it. The buffer is reused only once that event
has completed: :meth:`StagingPool.acquire` queries the events (no wait), takes
a completed or never-used buffer of the size class, allocates a new one
while the pool is under its cap, and only then waits on the oldest pending
event of the class. A download enqueues ``cuMemcpyDtoHAsync`` into a buffer
(a pending one will do: the stream orders its copy after the upload's),
synchronises the stream (as before: a download is blocking and reports a
kernel's error) and copies the bytes into the numpy array.

Size classes are powers of two from :data:`STAGING_MIN` (smaller transfers
take the plain path: staging them costs more than it saves) up to
:data:`STAGING_MAX_CLASS` (larger ones take the plain path too); the pool
holds at most :data:`STAGING_CAPACITY` bytes in all. A failed pinned
allocation turns staging off (plain path from then on). :meth:`close` waits
for pending copies and frees every buffer and event.

The pool does not call CUDA itself: a driver gives it a :class:`PinnedOps`
(``cuMemHostAlloc`` and events through ctypes, or pycuda's
``pagelocked_empty`` and ``Event``), so its rules are testable without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tcomp.ir.errors import TcompBackendError

STAGING_MIN = 64 << 10  # transfers below this many bytes take the plain path
STAGING_MAX_CLASS = 64 << 20  # the largest staging buffer
STAGING_CAPACITY = 256 << 20  # pinned bytes the pool holds in all


class PinnedOps(Protocol):
    """What the pool needs from a CUDA driver."""

    def host_alloc(self, nbytes: int) -> tuple[int, Any]:
        """A pinned host buffer of ``nbytes``: (its address, a handle for host_free)."""

    def host_free(self, handle: Any) -> None: ...

    def event_create(self) -> Any: ...

    def event_record(self, event: Any) -> None:
        """Records ``event`` on the driver's stream (after everything enqueued so far)."""

    def event_done(self, event: Any) -> bool:
        """Whether ``event`` has completed (does not wait)."""

    def event_wait(self, event: Any) -> None: ...

    def event_destroy(self, event: Any) -> None: ...


def staging_class(nbytes: int) -> int:
    """The staging buffer size for a transfer of ``nbytes``: the next power of two, at
    least :data:`STAGING_MIN`."""
    size = STAGING_MIN
    while size < nbytes:
        size *= 2
    return size


@dataclass(eq=False)
class Staging:
    """One pinned buffer: ``reserved`` while a transfer fills or drains it, ``pending``
    while ``event`` (recorded after an async copy from it) may not have completed."""

    size: int
    address: int
    handle: Any
    event: Any
    reserved: bool = False
    pending: bool = False


@dataclass
class StagingStats:
    allocations: int = 0  # pinned buffers allocated
    staged: int = 0  # transfers that went through a staging buffer
    waits: int = 0  # times acquire waited on a pending event


@dataclass(eq=False)
class StagingPool:
    """Pinned staging buffers by size class (see the module docstring)."""

    ops: PinnedOps
    minimum: int = STAGING_MIN
    max_class: int = STAGING_MAX_CLASS
    capacity: int = STAGING_CAPACITY
    classes: dict[int, list[Staging]] = field(default_factory=dict)
    held: int = 0  # pinned bytes allocated
    enabled: bool = True
    stats: StagingStats = field(default_factory=StagingStats)

    def acquire(self, nbytes: int, download: bool = False) -> Staging | None:
        """A reserved buffer for a transfer of ``nbytes``, or None: take the plain path
        (too small, too large, no room, or pinned memory is unavailable). A
        ``download`` may take a buffer whose upload is still pending, without waiting:
        its device-to-host copy is enqueued on the same in-order stream, so it writes
        the buffer only after the upload has read it, and the host reads the buffer
        only after synchronising."""
        if not self.enabled or nbytes < self.minimum:
            return None
        size = max(staging_class(nbytes), self.minimum)
        if size > self.max_class or size > self.capacity:
            return None
        buffers = self.classes.setdefault(size, [])
        for staging in buffers:  # a free one, or one whose copy has completed
            if staging.reserved:
                continue
            if staging.pending and not download and not self.ops.event_done(staging.event):
                continue
            return self._reserve(staging)
        if self.held + size <= self.capacity:
            fresh = self._allocate(size)
            if fresh is not None:
                buffers.append(fresh)
                return self._reserve(fresh)
        for staging in buffers:  # every one busy: wait for the oldest pending copy
            if not staging.reserved:
                self.ops.event_wait(staging.event)
                self.stats.waits += 1
                return self._reserve(staging)
        return None

    def _reserve(self, staging: Staging) -> Staging:
        staging.reserved, staging.pending = True, False
        self.stats.staged += 1
        # the oldest pending buffer goes last: the next wait is on the oldest copy
        buffers = self.classes[staging.size]
        buffers.remove(staging)
        buffers.append(staging)
        return staging

    def _allocate(self, size: int) -> Staging | None:
        try:
            address, handle = self.ops.host_alloc(size)
        except TcompBackendError:
            self.enabled = False  # no pinned memory here: plain copies from now on
            return None
        try:
            event = self.ops.event_create()
        except TcompBackendError:
            self.ops.host_free(handle)
            self.enabled = False
            return None
        self.held += size
        self.stats.allocations += 1
        return Staging(size, address, handle, event)

    def in_flight(self, staging: Staging) -> None:
        """An async copy from ``staging`` was enqueued: record its event; the buffer is
        reused once the event has completed."""
        self.ops.event_record(staging.event)
        staging.reserved, staging.pending = False, True

    def release(self, staging: Staging) -> None:
        """``staging`` is free at once (its copy is known to be done, or never ran)."""
        staging.reserved = staging.pending = False

    def synchronized(self) -> None:
        """The stream has drained: every recorded copy is done."""
        for buffers in self.classes.values():
            for staging in buffers:
                staging.pending = False

    def close(self) -> None:
        """Waits for pending copies, then frees every buffer and event."""
        for buffers in self.classes.values():
            for staging in buffers:
                if staging.pending:
                    self.ops.event_wait(staging.event)
                self.ops.event_destroy(staging.event)
                self.ops.host_free(staging.handle)
        self.classes.clear()
        self.held = 0
        self.enabled = False
