"""Pinned staging buffers for CUDA transfers (tcomp.backends.cuda.staging, libcuda).

Without a GPU, :class:`LibCudaDriver` runs on a fake of the ``libcuda``
function table that records every call and models the stream: an async
copy from pinned memory is queued and runs (reading the staging bytes *then*)
only when an event after it or the stream is synchronised, so a staging
buffer reused too early would put wrong bytes on the "device". Checked:

- an upload of 64 KiB or more copies into a pinned buffer, enqueues
  ``cuMemcpyHtoDAsync`` from it, records an event and returns before the copy
  ran; the caller may overwrite its array at once;
- a buffer whose event has not completed is not reused: a second buffer is
  allocated, or (at the cap) ``cuEventSynchronize`` runs first; once the
  event has completed the buffer is reused without waiting;
- small and oversized transfers take the plain path; a failed pinned
  allocation turns staging off;
- a download goes through a pinned buffer, synchronises and copies out;
- ``close`` waits for pending copies and frees every pinned buffer and event.

The same round trips on a real device are skipped without one.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tcomp.backends.cuda import libcuda
from tcomp.backends.cuda.staging import (
    STAGING_MAX_CLASS,
    STAGING_MIN,
    StagingPool,
    staging_class,
)
from tcomp.ir.errors import TcompBackendError

NOT_READY = 600


def _obj(ref):
    return ref._obj  # the object behind ctypes.byref(...)


def _key(handle) -> int:
    return handle.value if hasattr(handle, "value") else int(handle)


class _Function:
    def __init__(self, lib: "FakeLibCuda", name: str) -> None:
        self.lib, self.name, self.argtypes = lib, name, None

    def __call__(self, *args):
        self.lib.calls.append((self.name, args))
        implementation = getattr(self.lib, "do_" + self.name, None)
        return 0 if implementation is None else implementation(*args) or 0


class FakeLibCuda:
    """The driver functions LibCudaDriver calls, on host memory, with a lazy stream."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.device: dict[int, bytearray] = {}
        self.pinned: dict[int, ctypes.Array] = {}
        self.queue: list[tuple] = []
        self.events: dict[int, bool] = {}  # event -> completed
        self.fail_host_alloc = False
        self._next = 0x1000

    def __getattr__(self, name: str):
        if not name.startswith("cu"):
            raise AttributeError(name)
        function = _Function(self, name)
        self.__dict__[name] = function
        return function

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def _fresh(self) -> int:
        self._next += 0x1000
        return self._next

    def is_pinned(self, address: int) -> bool:
        return any(a <= address < a + len(buf) for a, buf in self.pinned.items())

    def run(self, until: int | None = None) -> None:
        """Runs the queued work in order (up to and including event ``until``)."""
        while self.queue:
            item = self.queue.pop(0)
            if item[0] == "htod":
                _, dst, src, n = item
                self.device[dst][:n] = ctypes.string_at(src, n)
            elif item[0] == "dtoh":
                _, dst, src, n = item
                ctypes.memmove(dst, bytes(self.device[src][:n]), n)
            else:
                self.events[item[1]] = True
                if item[1] == until:
                    return

    # -- setup ------------------------------------------------------------------
    def do_cuGetErrorName(self, status, ref):
        _obj(ref).value = b"CUDA_ERROR_FAKE"

    def do_cuDeviceGetCount(self, ref):
        _obj(ref).value = 1

    def do_cuDevicePrimaryCtxRetain(self, ref, device):
        _obj(ref).value = 1

    def do_cuStreamCreate(self, ref, flags):
        _obj(ref).value = 7

    def do_cuDeviceGetName(self, buffer, size, device):
        buffer.value = b"Fake GPU"

    def do_cuDeviceGetAttribute(self, ref, attribute, device):
        _obj(ref).value = {75: 8, 76: 0, 1: 1024, 8: 49152}.get(attribute, 0)

    def do_cuDriverGetVersion(self, ref):
        _obj(ref).value = 12000

    def do_cuDeviceTotalMem_v2(self, ref, device):
        _obj(ref).value = 1 << 30

    # -- memory, copies, events -------------------------------------------------
    def do_cuMemAlloc_v2(self, ref, size):
        address = self._fresh() << 20
        self.device[address] = bytearray(size.value)
        _obj(ref).value = address

    def do_cuMemHostAlloc(self, ref, size, flags):
        if self.fail_host_alloc:
            return 2  # out of memory
        buffer = ctypes.create_string_buffer(size)
        self.pinned[ctypes.addressof(buffer)] = buffer
        _obj(ref).value = ctypes.addressof(buffer)

    def do_cuMemFreeHost(self, pointer):
        del self.pinned[int(pointer)]

    def do_cuMemcpyHtoDAsync_v2(self, dst, src, n, stream):
        if self.is_pinned(src):
            self.queue.append(("htod", dst, src, n))
        else:  # pageable: the driver stages the bytes before it returns
            self.device[dst][:n] = ctypes.string_at(src, n)

    def do_cuMemcpyDtoHAsync_v2(self, dst, src, n, stream):
        self.queue.append(("dtoh", dst, src, n))

    def do_cuStreamSynchronize(self, stream):
        self.run()

    def do_cuEventCreate(self, ref, flags):
        event = self._fresh()
        self.events[event] = True
        _obj(ref).value = event

    def do_cuEventRecord(self, event, stream):
        self.events[_key(event)] = False
        self.queue.append(("event", _key(event)))

    def do_cuEventQuery(self, event):
        return 0 if self.events[_key(event)] else NOT_READY

    def do_cuEventSynchronize(self, event):
        if not self.events[_key(event)]:
            self.run(until=_key(event))

    def do_cuEventDestroy_v2(self, event):
        del self.events[_key(event)]


@pytest.fixture
def fake(monkeypatch):
    lib = FakeLibCuda()
    monkeypatch.setattr(libcuda, "load_libcuda", lambda: lib)
    monkeypatch.setattr(libcuda, "compiler_version", lambda: "fake")
    driver = libcuda.LibCudaDriver()
    lib.calls.clear()
    return lib, driver


def _data(nbytes: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8)


def _on_device(lib: FakeLibCuda, handle: int, n: int) -> np.ndarray:
    return np.frombuffer(bytes(lib.device[handle][:n]), np.uint8)


def test_small_uploads_take_the_plain_path(fake):
    lib, driver = fake
    host = _data(STAGING_MIN - 1, 0)
    handle = driver.alloc(host.nbytes)
    driver.upload(handle, host)
    (copy,) = [args for name, args in lib.calls if name == "cuMemcpyHtoDAsync_v2"]
    assert copy[1] == host.ctypes.data
    assert "cuMemHostAlloc" not in lib.names() and "cuEventRecord" not in lib.names()
    assert np.array_equal(_on_device(lib, handle, host.nbytes), host)


def test_an_upload_stages_through_pinned_memory_and_does_not_wait(fake):
    lib, driver = fake
    host = _data(100_000, 1)
    expected = host.copy()
    handle = driver.alloc(host.nbytes)
    driver.upload(handle, host)
    names = lib.names()
    assert names.index("cuMemHostAlloc") < names.index("cuMemcpyHtoDAsync_v2") < names.index("cuEventRecord")
    (alloc,) = [args for name, args in lib.calls if name == "cuMemHostAlloc"]
    assert alloc[1] == staging_class(100_000) == 128 << 10
    (copy,) = [args for name, args in lib.calls if name == "cuMemcpyHtoDAsync_v2"]
    assert lib.is_pinned(copy[1]) and copy[2] == host.nbytes
    assert "cuStreamSynchronize" not in names and "cuEventSynchronize" not in names
    assert not _on_device(lib, handle, host.nbytes).any()  # still queued
    host[:] = 0  # the caller may overwrite its array at once
    driver.synchronize()
    assert np.array_equal(_on_device(lib, handle, host.nbytes), expected)


def test_a_buffer_is_not_reused_before_its_event_completed(fake):
    lib, driver = fake
    a, b = _data(STAGING_MIN, 2), _data(STAGING_MIN, 3)
    ha, hb = driver.alloc(a.nbytes), driver.alloc(b.nbytes)
    driver.upload(ha, a)
    driver.upload(hb, b)  # a's copy is pending: a second buffer
    sources = [args[1] for name, args in lib.calls if name == "cuMemcpyHtoDAsync_v2"]
    assert len(lib.pinned) == 2 and sources[0] != sources[1]
    driver.synchronize()
    assert np.array_equal(_on_device(lib, ha, a.nbytes), a)
    assert np.array_equal(_on_device(lib, hb, b.nbytes), b)


def test_at_the_cap_an_upload_waits_for_the_oldest_copy(fake):
    lib, driver = fake
    driver.staging.capacity = STAGING_MIN  # room for one buffer
    a, b = _data(STAGING_MIN, 4), _data(STAGING_MIN, 5)
    ha, hb = driver.alloc(a.nbytes), driver.alloc(b.nbytes)
    driver.upload(ha, a)
    (event,) = [args[0] for name, args in lib.calls if name == "cuEventRecord"]
    driver.upload(hb, b)
    names = lib.names()
    assert len(lib.pinned) == 1 and names.count("cuMemHostAlloc") == 1
    waits = [args[0] for name, args in lib.calls if name == "cuEventSynchronize"]
    assert [_key(w) for w in waits] == [_key(event)]
    copies = [i for i, name in enumerate(names) if name == "cuMemcpyHtoDAsync_v2"]
    assert copies[0] < names.index("cuEventSynchronize") < copies[1]
    # the fake ran a's copy at that wait, reading the staging bytes: still a's
    assert np.array_equal(_on_device(lib, ha, a.nbytes), a)
    driver.synchronize()
    assert np.array_equal(_on_device(lib, hb, b.nbytes), b)
    assert driver.staging.stats.waits == 1


def test_a_completed_buffer_is_reused_without_waiting(fake):
    lib, driver = fake
    a = _data(STAGING_MIN, 6)
    handle = driver.alloc(a.nbytes)
    driver.upload(handle, a)
    lib.run()  # the GPU finished the copy (no host-side synchronisation)
    driver.upload(handle, a[::-1].copy())
    assert len(lib.pinned) == 1 and "cuEventSynchronize" not in lib.names()
    assert "cuEventQuery" in lib.names()
    driver.synchronize()
    assert np.array_equal(_on_device(lib, handle, a.nbytes), a[::-1])


def test_oversized_transfers_take_the_plain_path(fake):
    lib, driver = fake
    driver.staging.max_class = STAGING_MIN
    host = _data(STAGING_MIN + 1, 7)
    handle = driver.alloc(host.nbytes)
    driver.upload(handle, host)
    back = np.zeros_like(host)
    driver.download(handle, back)
    assert "cuMemHostAlloc" not in lib.names() and np.array_equal(back, host)
    pool = StagingPool(driver.staging.ops)
    assert pool.acquire(STAGING_MAX_CLASS + 1) is None and pool.acquire(256 << 20) is None


def test_a_failed_pinned_allocation_turns_staging_off(fake):
    lib, driver = fake
    lib.fail_host_alloc = True
    host = _data(STAGING_MIN, 8)
    handle = driver.alloc(host.nbytes)
    driver.upload(handle, host)
    driver.upload(handle, host)
    assert lib.names().count("cuMemHostAlloc") == 1 and not driver.staging.enabled
    assert np.array_equal(_on_device(lib, handle, host.nbytes), host)


def test_a_download_stages_synchronises_and_copies_out(fake):
    lib, driver = fake
    host = _data(300_000, 9)
    handle = driver.alloc(host.nbytes)
    driver.upload(handle, host)
    back = np.zeros_like(host)
    driver.download(handle, back)
    assert np.array_equal(back, host)
    dtoh = [args for name, args in lib.calls if name == "cuMemcpyDtoHAsync_v2"]
    assert len(dtoh) == 1 and lib.is_pinned(dtoh[0][0])
    names = lib.names()
    assert names.index("cuMemcpyDtoHAsync_v2") < len(names) - 1 - names[::-1].index("cuStreamSynchronize")
    # the stream drained: both uses share the one buffer of the class, now free
    assert len(lib.pinned) == 1
    (staging,) = driver.staging.classes[staging_class(host.nbytes)]
    assert not staging.reserved and not staging.pending


def test_close_waits_and_frees_every_pinned_buffer(fake):
    lib, driver = fake
    for size in (STAGING_MIN, 200_000, 200_000):
        host = _data(size, size)
        driver.upload(driver.alloc(size), host)
    assert len(lib.pinned) == 3
    driver.close()
    names = lib.names()
    assert lib.pinned == {} and names.count("cuMemFreeHost") == 3
    assert names.count("cuEventDestroy_v2") == 3 and lib.queue == []
    assert names.index("cuEventSynchronize") < names.index("cuMemFreeHost")
    # still usable, without staging
    host = _data(STAGING_MIN, 10)
    handle = driver.alloc(host.nbytes)
    driver.upload(handle, host)
    assert np.array_equal(_on_device(lib, handle, host.nbytes), host) and lib.pinned == {}


def test_a_failed_copy_gives_the_buffer_back(fake):
    lib, driver = fake
    host = _data(STAGING_MIN, 11)
    handle = driver.alloc(host.nbytes)
    lib.do_cuMemcpyHtoDAsync_v2 = lambda *args: 1
    with pytest.raises(TcompBackendError, match="cuMemcpyHtoDAsync"):
        driver.upload(handle, host)
    (staging,) = driver.staging.classes[STAGING_MIN]
    assert not staging.reserved and not staging.pending


def _real_driver(kind: str):
    try:
        if kind == "libcuda":
            return libcuda.LibCudaDriver()
        from tcomp.backends.cuda.pycuda_driver import PyCudaDriver

        return PyCudaDriver()
    except (TcompBackendError, ImportError) as error:
        pytest.skip(f"needs a CUDA GPU ({kind}): {error}")


@pytest.mark.parametrize("kind", ["libcuda", "pycuda"])
def test_round_trips_on_a_real_device(kind):
    driver = _real_driver(kind)
    try:
        for size in (1000, STAGING_MIN, 3 << 20):
            host = _data(size, size)
            expected = host.copy()
            handle = driver.alloc(size)
            driver.upload(handle, host)
            host[:] = 0  # overwritten at once: the device must still get the old bytes
            back = np.zeros(size, np.uint8)
            driver.download(handle, back)
            assert np.array_equal(back, expected)
            driver.free(handle)
        assert driver.staging.stats.staged >= 2
    finally:
        driver.close()
