"""Programs found by their traced graph IR (``backends/llvm/trace_cache.py``).

A warm start (the disk cache filled by an earlier process) follows the link
from the traced graph to the compiled program and runs no graph pass; the
optimised graph is still there when asked for. A link is never trusted: a
damaged one, one naming other backend options, or one whose program is gone
is removed, and the call runs the passes and compiles (or loads) as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import tcomp  # noqa: E402
from tcomp import nn  # noqa: E402
from tcomp.backends.cache import shared_cache  # noqa: E402
from tcomp.backends.compile_log import function_identity, load_records  # noqa: E402
from tcomp.backends.llvm import compile_cache, runtime, trace_cache  # noqa: E402
from tcomp.backends.llvm.backend import default_num_threads  # noqa: E402
from tcomp.backends.llvm.compile_cache import COUNTERS  # noqa: E402
from tcomp.ir.text import print_function  # noqa: E402


def _loss(w, x):
    return nn.logsumexp(x @ w, axis=-1).sum() * 0.5


def _step_fn(w, x):
    loss, grad = tcomp.value_and_grad(_loss)(w, x)
    return loss, w - 0.1 * grad


def _step():
    return tcomp.jit(_step_fn, backend="llvm")


def _inputs():
    rng = np.random.default_rng(3)
    return rng.normal(size=(6, 5)).astype(np.float32), rng.normal(size=(4, 6)).astype(np.float32)


def _run(step) -> list[np.ndarray]:
    return [np.array(value) for value in step(*_inputs())]


def _fresh_state() -> None:
    """Forget every in-memory level (graph entries, machine code, trace links)."""
    compile_cache.clear_memory()
    runtime.clear_cache()


def _links(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / trace_cache.NAMESPACE).glob("*.bin"))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    _fresh_state()
    yield tmp_path
    _fresh_state()


def _warm(cache_dir: Path):
    """A cold compile, then the same function as a new process would see it."""
    cold = _step()
    expected = _run(cold)
    assert cold.compile_stats()[0]["cache"] == "miss"
    assert len(_links(cache_dir)) == 1
    _fresh_state()
    return expected


def test_a_warm_start_runs_no_graph_pass(cache_dir):
    expected = _warm(cache_dir)
    lowerings = COUNTERS.lowerings
    warm = _step()
    for got, want in zip(_run(warm), expected):
        np.testing.assert_array_equal(got, want)  # bit for bit
    stats = warm.compile_stats()[0]
    assert stats["cache"] == "disk" and stats["found_by"] == "trace"
    assert stats["passes_seconds"] == 0.0
    program = next(iter(warm._programs.values()))
    assert program.optimized_if_run is None  # the passes never ran
    assert COUNTERS.lowerings == lowerings
    # the optimised stage is still there: the passes run when it is asked for
    lowered = warm.lower(*_inputs())
    cold_text = tcomp.jit(_step_fn, backend="llvm").lower(*_inputs()).as_text("optimized")
    assert lowered.as_text("optimized") == cold_text
    assert program.optimized_if_run is not None


def test_a_damaged_link_is_removed_and_the_call_runs_the_passes(cache_dir):
    expected = _warm(cache_dir)
    for link in _links(cache_dir):
        link.write_bytes(b"damaged")
    step = _step()
    for got, want in zip(_run(step), expected):
        np.testing.assert_array_equal(got, want)
    stats = step.compile_stats()[0]
    assert stats["cache"] == "disk" and "found_by" not in stats  # by the optimised graph
    assert stats["passes_seconds"] > 0
    assert len(_links(cache_dir)) == 1  # linked again, and it works:
    _fresh_state()
    again = _step()
    _run(again)
    assert again.compile_stats()[0].get("found_by") == "trace"


def test_a_link_naming_other_backend_options_is_not_followed(cache_dir):
    expected = _warm(cache_dir)
    lowered = _step().lower(*_inputs())
    parts = trace_cache.trace_key_parts(lowered.function("traced"), default_num_threads())
    graph_parts = compile_cache.graph_key_parts(
        lowered.function("optimized"), default_num_threads()
    )
    forged = {**graph_parts, "cpu": "cpu some-other-cpu +avx512f"}
    key = "\n".join(parts.values())
    shared_cache(trace_cache.NAMESPACE).store(
        key, json.dumps({"format": trace_cache.FORMAT, "graph_parts": forged}).encode()
    )
    _fresh_state()
    step = _step()
    for got, want in zip(_run(step), expected):
        np.testing.assert_array_equal(got, want)
    assert "found_by" not in step.compile_stats()[0]


def test_a_link_to_a_removed_program_compiles_again(cache_dir):
    expected = _warm(cache_dir)
    for entry in (cache_dir / compile_cache.NAMESPACE).glob("*.bin"):
        entry.unlink()
    step = _step()
    for got, want in zip(_run(step), expected):
        np.testing.assert_array_equal(got, want)
    stats = step.compile_stats()[0]
    # lowered again; the machine code of the same LLVM IR is still on disk
    assert stats["cache"] == "disk-object" and stats["passes_seconds"] > 0
    assert len(list((cache_dir / compile_cache.NAMESPACE).glob("*.bin"))) == 1


def test_the_compile_log_of_a_warm_start_keeps_the_graph_text(cache_dir):
    _warm(cache_dir)
    _run(_step())
    records = load_records(function_identity(_step_fn))
    assert [r.outcome for r in records] == ["miss", "disk"]
    cold, warm = records
    assert cold.graph is None  # only the newest record of a signature keeps its text
    optimized = _step().lower(*_inputs()).function("optimized")
    assert warm.graph == print_function(optimized, locations=False)
    assert warm.key_parts == cold.key_parts
