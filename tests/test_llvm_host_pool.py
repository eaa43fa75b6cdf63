"""Big llvm outputs come from a cache of blocks (backends/llvm/host_pool.py).

A block is reused only once nothing refers to the array over it (not the
output, not a slice of it); results stay right while old outputs are kept.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import tcomp
from tcomp.backends.llvm import host_pool
from tcomp.backends.llvm.host_pool import MIN_BYTES, HostPool

N = MIN_BYTES // 4 + 17  # float32 elements: just over the pooled size


def _double():
    return tcomp.jit(lambda v: v * 2.0, backend="llvm")


def _address(array) -> int:
    return np.asarray(array).ctypes.data


def test_a_dropped_output_is_reused_by_the_next_call():
    f = _double()
    x = np.arange(N, dtype=np.float32)
    first = f(x)
    address = _address(first)
    del first
    gc.collect()
    second = f(x)
    assert _address(second) == address
    np.testing.assert_array_equal(np.asarray(second), x * 2)


def test_kept_outputs_and_slices_are_never_reused():
    f = _double()
    x = np.arange(N, dtype=np.float32)
    kept = f(x)
    part = np.asarray(f(x + 1))[::3]  # only a slice of the second output survives
    gc.collect()
    others = [f(x + k) for k in range(2, 6)]
    addresses = {_address(o) for o in others}
    assert _address(kept) not in addresses
    np.testing.assert_array_equal(np.asarray(kept), x * 2)
    np.testing.assert_array_equal(part, ((x + 1) * 2)[::3])
    for k, out in zip(range(2, 6), others):
        np.testing.assert_array_equal(np.asarray(out), (x + k) * 2)


def test_small_outputs_stay_with_numpy():
    f = _double()
    stats = host_pool.POOL.stats
    before = (stats.allocations, stats.reuses)
    out = np.asarray(f(np.ones(100, np.float32)))
    assert (stats.allocations, stats.reuses) == before
    np.testing.assert_array_equal(out, 2.0)
    f(np.ones(N, np.float32))
    assert (stats.allocations, stats.reuses) != before


def test_the_cache_is_bounded_and_clears():
    pool = HostPool(cache_bytes=3 * MIN_BYTES)
    arrays = [pool.array((MIN_BYTES // 4,), np.dtype(np.float32)) for _ in range(5)]
    for a in arrays:
        a[:] = 1.0
    del arrays, a
    gc.collect()
    assert pool.stats.returns == 5
    assert pool.stats.cached_bytes <= 3 * MIN_BYTES and pool.stats.frees >= 2
    again = pool.array((MIN_BYTES // 4,), np.dtype(np.float32))
    assert pool.stats.reuses == 1
    del again
    gc.collect()
    pool.clear()
    assert pool.stats.cached_bytes == 0


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_])
def test_pooled_arrays_behave_like_numpy_arrays(dtype):
    pool = HostPool()
    a = pool.array((3, MIN_BYTES // 8), np.dtype(dtype))
    assert a.flags.c_contiguous and a.flags.writeable and a.ctypes.data % 64 == 0
    assert a.shape == (3, MIN_BYTES // 8) and a.dtype == dtype
    a.fill(1)
    assert a.sum() == a.size


def test_a_training_loop_reuses_blocks():
    w = np.zeros((512, 1024), np.float32)
    step = tcomp.jit(lambda w, g: w - 0.1 * g, backend="llvm")
    g = np.ones_like(w)
    before = host_pool.POOL.stats.allocations
    for _ in range(20):
        w = step(w, g)
    gc.collect()
    assert host_pool.POOL.stats.allocations - before <= 3
    np.testing.assert_allclose(np.asarray(w), -2.0, rtol=1e-6)
