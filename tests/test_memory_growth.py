"""Process memory stays flat over thousands of calls of a compiled function.

Each call allocates its outputs and temp arena; a leak of either (or of
buffers the runtime keeps alive) would show as resident memory growing with
the number of calls. The test warms up first (allocator pools, caches), then
compares resident memory before and after many more calls.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import tcomp
from tcomp import nn

CALLS = 3000


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to read RSS")
def test_training_steps_do_not_grow_process_memory():
    rng = np.random.default_rng(0)
    params = {
        "w": rng.normal(size=(64, 128)).astype(np.float32),
        "b": np.zeros(128, np.float32),
        "v": rng.normal(size=(128, 10)).astype(np.float32),
    }
    x = rng.normal(size=(32, 64)).astype(np.float32)
    labels = rng.integers(0, 10, 32)

    def loss_fn(p, x, labels):
        return nn.cross_entropy(nn.relu(x @ p["w"] + p["b"]) @ p["v"], labels)

    @tcomp.jit
    def step(p, x, labels):
        loss, grads = tcomp.value_and_grad(loss_fn)(p, x, labels)
        return loss, tcomp.tree_map(lambda a, g: a - 0.01 * g, p, grads)

    current = params
    for _ in range(300):  # warm up: compile, allocator pools
        loss, current = step(current, x, labels)
    before = resident_bytes()
    for _ in range(CALLS):
        loss, current = step(current, x, labels)
    growth = resident_bytes() - before
    assert np.isfinite(float(loss))
    assert step.trace_count == 1
    # one step allocates ~50 KB of outputs and temps: a leak of them would be
    # over 100 MB here; allow a few MB for allocator noise
    assert growth < 8 * 2**20, f"resident memory grew by {growth / 2**20:.1f} MiB over {CALLS} calls"
