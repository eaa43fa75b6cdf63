"""Process memory stays flat over thousands of calls of a compiled function.

Each call allocates its outputs and temp arena; a leak of either (or of
buffers the runtime keeps alive) would show as resident memory growing with
the number of calls. The test warms up first (allocator pools, caches), then
compares resident memory before and after many more calls.

Compiled programs (and, on llvm, their machine code and execution engines)
are freed when their jitted function is collected or its bounded signature
cache drops them: no process-wide cache holds them strongly.
"""

from __future__ import annotations

import gc
import os
import weakref

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


# ---------------------------------------------------------------------------
# Compiled programs live as long as their jitted function (or its cache) keeps them


def _unique_scale() -> float:
    """A constant no other test compiles, so the compiled code is this test's alone."""
    return float(np.random.default_rng().uniform(2, 3))


def _weak_program_parts(jitted, x) -> list[weakref.ref]:
    """Weak references to the program of ``jitted`` for ``x``, its executable and, on
    llvm, the compiled module and its llvmlite execution engine."""
    program = jitted.lower(x)._program
    executable = program.compiled()
    parts = [program, executable]
    compiled = getattr(executable, "_compiled", None)  # llvm: runtime.CompiledModule
    if compiled is not None:
        parts += [compiled, compiled.engine]
    return [weakref.ref(part) for part in parts]


def test_a_collected_jitted_function_frees_its_programs(backend):
    scale = _unique_scale()
    jitted = tcomp.jit(lambda x: tcomp.tanh(x * scale), backend=backend)
    x = np.ones(8, np.float32)
    jitted(x)
    refs = _weak_program_parts(jitted, x)
    del jitted
    gc.collect()
    alive = [ref() for ref in refs if ref() is not None]
    assert not alive, f"still alive after the jitted function was collected: {alive}"


def test_programs_dropped_from_the_signature_cache_are_freed(monkeypatch, backend):
    monkeypatch.setenv("TCOMP_JIT_CACHE_SIZE", "2")
    scale = _unique_scale()
    jitted = tcomp.jit(lambda x: x * scale, backend=backend)
    first = np.ones(3, np.float32)
    jitted(first)
    refs = _weak_program_parts(jitted, first)
    jitted(np.ones(4, np.float32))
    jitted(np.ones(5, np.float32))  # the third signature drops the first
    gc.collect()
    assert jitted.cache_size == 2
    assert all(ref() is None for ref in refs)


def test_the_llvm_in_memory_caches_forget_collected_programs():
    if "llvm" not in tcomp.available_backends():
        pytest.skip("the llvm backend is not available here")
    from tcomp.backends.llvm import compile_cache, runtime

    scale = _unique_scale()
    jitted = tcomp.jit(lambda x: x - scale, backend="llvm")
    x = np.ones(6, np.float32)
    jitted(x)
    module_digest = jitted.lower(x)._program.compiled()._compiled.key_digest
    assert module_digest in runtime._CACHE
    graph_entries = len(compile_cache._MEMORY)
    del jitted
    gc.collect()
    assert module_digest not in runtime._CACHE  # weak: nothing else holds the machine code
    assert len(compile_cache._MEMORY) < graph_entries
