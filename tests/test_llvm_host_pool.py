"""Big llvm outputs come from a cache of blocks (backends/llvm/host_pool.py).

A block is reused only once nothing refers to the array over it (not the
output, not a slice of it); results stay right while old outputs are kept.
The tests read the pool's counters (blocks allocated, reused, given back),
never addresses: where the allocator puts a block is not the pool's to say.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import tcomp
from tcomp.backends.llvm import host_pool
from tcomp.backends.llvm.host_pool import MIN_BYTES, HostPool

N = MIN_BYTES // 4 + 17  # float32 elements: just over the pooled size
F32 = np.dtype(np.float32)


def _double():
    return tcomp.jit(lambda v: v * 2.0, backend="llvm")


def test_a_dropped_output_is_reused_by_the_next_call():
    f = _double()
    x = np.arange(N, dtype=np.float32)
    f(x)  # compiled; this output is dropped at once
    gc.collect()
    host_pool.POOL.clear()  # nothing cached: the next output takes a new block
    first = f(x)
    start = host_pool.POOL.snapshot()
    del first
    gc.collect()
    dropped = host_pool.POOL.snapshot()
    assert dropped.returns == start.returns + 1  # its block came back to the cache
    assert dropped.cached_bytes > start.cached_bytes
    second = f(x)
    after = host_pool.POOL.snapshot()
    assert after.reuses == dropped.reuses + 1  # the dropped block, the only one cached
    assert after.allocations == dropped.allocations  # no new block
    assert after.cached_bytes == start.cached_bytes
    np.testing.assert_array_equal(np.asarray(second), x * 2)


def test_a_big_arena_takes_the_same_block_every_call():
    """The arena of intermediates is dropped when a call returns: from the pool, the next
    call reuses its pages instead of faulting in fresh ones (a 65 MiB GPT arena)."""
    f = tcomp.jit(lambda v: tcomp.exp(v) @ (v.T * 2.0) + 1.0, backend="llvm")
    x = np.linspace(-1, 1, 512 * 600, dtype=np.float32).reshape(512, 600)
    program = f.lower(x).kernel_program()
    assert program.arena_bytes >= MIN_BYTES  # exp(v) and v.T * 2 are matmul operands
    want = np.exp(x) @ (x.T * 2.0) + 1.0
    f(x)
    gc.collect()
    start = host_pool.POOL.snapshot()
    for _ in range(3):
        got = np.asarray(f(x))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
        del got
        gc.collect()
    after = host_pool.POOL.snapshot()
    assert after.allocations == start.allocations  # arena and output: cached blocks
    assert after.reuses >= start.reuses + 6


def test_kept_outputs_stay_right_while_later_calls_run():
    f = _double()
    x = np.arange(N, dtype=np.float32)
    kept = f(x)
    dropped = f(x + 1)
    del dropped
    gc.collect()
    others = [f(x + k) for k in range(2, 6)]
    np.testing.assert_array_equal(np.asarray(kept), x * 2)
    for k, out in zip(range(2, 6), others):
        np.testing.assert_array_equal(np.asarray(out), (x + k) * 2)


def test_kept_arrays_and_slices_hold_their_blocks():
    pool = HostPool()
    kept = pool.array((N,), F32)
    part = pool.array((N,), F32)[::3]  # only a slice of the second array survives
    kept[:], part[:] = 1.0, 2.0
    gc.collect()
    assert pool.stats.returns == 0  # both blocks still referred to
    others = [pool.array((N,), F32) for _ in range(4)]
    for other in others:
        other[:] = 3.0
    assert (pool.stats.allocations, pool.stats.reuses) == (6, 0)
    assert not any(np.shares_memory(o, kept) or np.shares_memory(o, part) for o in others)
    assert (kept == 1.0).all() and (part == 2.0).all()
    del part
    gc.collect()
    assert pool.stats.returns == 1  # the slice was the last reference to its block
    again = pool.array((N,), F32)
    assert pool.stats.reuses == 1 and not np.shares_memory(again, kept)


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
