"""The llvm backend's graph-level compile cache (``backends/llvm/compile_cache.py``).

A function compiled before -- in this process or, through the disk cache, in
an earlier one -- is found by its optimised graph IR and the backend options,
so it is neither lowered, rendered nor run through LLVM again; a damaged or
stale entry is never trusted; and the key changes with anything rendering
depends on (threads, CPU features, libmvec, the graph itself).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import tcomp  # noqa: E402
from tcomp.backends.llvm import compile_cache, runtime  # noqa: E402
from tcomp.backends.llvm.compile_cache import COUNTERS, graph_key  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# A small training step: matmuls, softmax cross-entropy, gradients, a constant output.
SCRIPT = r"""
import json, sys
import numpy as np
import tcomp
from tcomp import nn
from tcomp.backends.llvm.compile_cache import COUNTERS

def loss_fn(params, x, labels):
    h = nn.relu(x @ params["w1"] + params["b1"])
    return nn.cross_entropy(h @ params["w2"] + params["b2"], labels)

@tcomp.jit(backend="llvm")
def step(params, x, labels):
    loss, grads = tcomp.value_and_grad(loss_fn)(params, x, labels)
    new = tcomp.tree_map(lambda p, g: p - 0.1 * g, params, grads)
    return loss, new, tcomp.ones((2, 3))

rng = np.random.default_rng(0)
params = {"w1": rng.normal(size=(12, 16)).astype(np.float32), "b1": np.zeros(16, np.float32),
          "w2": rng.normal(size=(16, 5)).astype(np.float32), "b2": np.zeros(5, np.float32)}
x = rng.normal(size=(8, 12)).astype(np.float32)
labels = rng.integers(0, 5, size=8).astype(np.int32)
loss, new, ones = step(params, x, labels)
stats = step.compile_stats()[0]
counters = COUNTERS.as_dict()  # before as_text, which may parse the kernels back
lowered = step.lower(params, x, labels)
print(json.dumps({
    "loss": float(np.asarray(loss)).hex(),
    "new": {k: np.asarray(v).tobytes().hex() for k, v in sorted(new.items())},
    "ones": np.asarray(ones).tolist(),
    "cache": stats["cache"],
    "counters": counters,
    "kernels": lowered.as_text("kernels"),
    "source": lowered.as_text("source"),
}))
"""


def _fresh_process(cache_dir: Path, **env: str) -> dict:
    environment = {**os.environ, "TCOMP_CACHE_DIR": str(cache_dir), **env}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), environment.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=environment, capture_output=True, text=True,
        timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fresh_state() -> None:
    """Forget both in-memory levels, as a new process would."""
    compile_cache.clear_memory()
    runtime.clear_cache()


def test_a_warm_process_neither_lowers_nor_renders(tmp_path):
    cold = _fresh_process(tmp_path)
    assert cold["cache"] == "miss"
    assert cold["counters"]["lowerings"] == 1 and cold["counters"]["renders"] == 1
    assert cold["counters"]["llvm_compiles"] == 1
    warm = _fresh_process(tmp_path)
    assert warm["cache"] == "disk"
    counters = warm["counters"]
    assert (counters["lowerings"], counters["renders"], counters["llvm_compiles"]) == (0, 0, 0)
    assert counters["disk_hits"] == 1 and counters["misses"] == 0
    for name in ("loss", "new", "ones"):
        assert warm[name] == cold[name]  # bit for bit
    assert warm["ones"] == [[1.0] * 3] * 2
    # the kernel program is parsed back from the entry; the optimised IR is stored
    assert warm["kernels"] == cold["kernels"]
    assert warm["source"] == cold["source"]


def test_another_thread_count_is_another_entry(tmp_path):
    _fresh_process(tmp_path, TCOMP_NUM_THREADS="1")
    other = _fresh_process(tmp_path, TCOMP_NUM_THREADS="3")
    # lowered and rendered again; this small program renders to the same LLVM IR
    # (nothing is big enough to split across threads), so the object code is reused
    assert other["cache"] in ("miss", "disk-object") and other["counters"]["lowerings"] == 1


def _function():
    @tcomp.jit(backend="llvm")
    def f(x, y):
        return tcomp.exp(x) @ y + 1.0, tcomp.full((2,), 7.0)

    return f


def _inputs():
    rng = np.random.default_rng(1)
    return rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)


def _run(f):
    first, constant = f(*_inputs())
    return np.asarray(first), np.asarray(constant)


def _entries(cache_dir: Path, namespace: str) -> list[Path]:
    return sorted((cache_dir / namespace).glob("*.bin"))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    _fresh_state()
    yield tmp_path
    _fresh_state()


def test_memory_then_disk_hits_run_the_same(cache_dir):
    first = _function()
    expected = _run(first)
    lowerings = COUNTERS.lowerings
    again = _function()  # another jit function, the same graph: the in-memory level
    np.testing.assert_array_equal(_run(again)[0], expected[0])
    assert again.lower(*_inputs()).compile_info()["cache"] == "memory"
    assert COUNTERS.lowerings == lowerings
    del first, again  # the in-memory level holds entries while executables use them
    _fresh_state()
    warm = _function()
    got = _run(warm)
    assert warm.compile_stats()[0]["cache"] == "disk"
    assert COUNTERS.lowerings == lowerings
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


@pytest.mark.parametrize("namespace", ["llvm-graph", "llvm"])
def test_a_damaged_entry_is_rebuilt_never_loaded(cache_dir, namespace):
    expected = _run(_function())
    (entry,) = _entries(cache_dir, namespace)
    entry.write_bytes(entry.read_bytes()[:-5])
    _fresh_state()
    lowerings, rejected = COUNTERS.lowerings, runtime.disk_cache_stats().rejected
    rejected += compile_cache.disk_cache_stats().rejected
    rebuilt = _function()
    np.testing.assert_array_equal(_run(rebuilt)[0], expected[0])
    assert rebuilt.compile_stats()[0]["cache"] != "disk"
    assert COUNTERS.lowerings == lowerings + 1
    now_rejected = runtime.disk_cache_stats().rejected + compile_cache.disk_cache_stats().rejected
    assert now_rejected == rejected + 1
    # and the rebuilt entries are good again
    _fresh_state()
    warm = _function()
    np.testing.assert_array_equal(_run(warm)[0], expected[0])
    assert warm.compile_stats()[0]["cache"] == "disk"


def test_an_entry_whose_object_code_is_gone_is_compiled_again(cache_dir):
    expected = _run(_function())
    for entry in _entries(cache_dir, "llvm"):
        entry.unlink()
    _fresh_state()
    stale = COUNTERS.stale
    again = _function()
    np.testing.assert_array_equal(_run(again)[0], expected[0])
    assert COUNTERS.stale == stale + 1
    assert again.compile_stats()[0]["cache"] == "miss"


def test_an_entry_that_does_not_decode_is_not_trusted(cache_dir):
    f = _function()
    expected = _run(f)
    (entry,) = _entries(cache_dir, "llvm-graph")
    # a well-formed cache file (right key, checksums) holding a payload of another format
    key = graph_key(f.lower(*_inputs()).function("optimized"), _threads())
    compile_cache._disk_cache().store(key, b'{"format": "something else"}')
    assert entry.exists()
    _fresh_state()
    stale = COUNTERS.stale
    np.testing.assert_array_equal(_run(_function())[0], expected[0])
    assert COUNTERS.stale == stale + 1


def _threads() -> int:
    from tcomp.backends.llvm.backend import default_num_threads

    return default_num_threads()


def test_the_key_follows_what_rendering_depends_on(monkeypatch):
    fn = _function().lower(*_inputs()).function("optimized")
    key = graph_key(fn, 2)
    assert graph_key(fn, 2) == key
    assert graph_key(fn, 1) != key and graph_key(fn, 3) != key
    state = runtime.target_state()
    monkeypatch.setitem(state, "features", state["features"] + ",-avx512f")
    assert graph_key(fn, 2) != key
    monkeypatch.setitem(state, "features", state["features"].rsplit(",", 1)[0])
    assert graph_key(fn, 2) == key
    monkeypatch.setitem(state, "cpu", "another-cpu")
    assert graph_key(fn, 2) != key
    monkeypatch.undo()
    monkeypatch.setitem(state, "vector_functions", {})
    assert graph_key(fn, 2) != key or not runtime.vector_functions()
    monkeypatch.undo()
    monkeypatch.setattr(runtime, "LOOP_UNROLLING", not runtime.LOOP_UNROLLING)
    assert graph_key(fn, 2) != key
    monkeypatch.undo()
    # the graph: another constant is another key; source locations are not part of it
    @tcomp.jit(backend="llvm")
    def g(x, y):
        return tcomp.exp(x) @ y + 2.0, tcomp.full((2,), 7.0)

    assert graph_key(g.lower(*_inputs()).function("optimized"), 2) != key

    @tcomp.jit(backend="llvm")
    def f(x, y):  # the same function at another line: the same key
        return tcomp.exp(x) @ y + 1.0, tcomp.full((2,), 7.0)

    assert graph_key(f.lower(*_inputs()).function("optimized"), 2) == key
    assert key.splitlines()[-1].startswith("graph ")  # the graph enters as its digest


def test_the_cache_works_without_a_disk(monkeypatch):
    monkeypatch.setenv("TCOMP_CACHE_DIR", "off")
    _fresh_state()
    f = _function()
    expected = _run(f)
    assert f.compile_stats()[0]["cache"] == "miss"
    again = _function()
    np.testing.assert_array_equal(_run(again)[0], expected[0])
    assert again.compile_stats()[0]["cache"] == "memory"
    assert not (compile_cache.disk_cache_stats().stores or runtime.disk_cache_stats().stores)
    _fresh_state()


def test_compile_stats_and_the_info_log(cache_dir, caplog):
    f = _function()
    lowered = f.lower(*_inputs())
    assert f.compile_stats()[0]["backend_seconds"] is None  # traced, not compiled yet
    with caplog.at_level(logging.INFO, logger="tcomp.jit"):
        info = lowered.compile_info()
    assert info["cache"] == "miss"
    for name in ("trace_seconds", "passes_seconds", "backend_seconds", "lower_s", "render_s",
                 "optimise_s", "codegen_s", "load_s"):
        assert info[name] >= 0, name
    assert f.compile_stats() == [info]
    (record,) = [r for r in caplog.records if r.name == "tcomp.jit"]
    assert "compiled f" in record.getMessage() and "cache=miss" in record.getMessage()


def test_the_runtime_names_the_gomp_flag_the_renderer_uses():
    from tcomp.backends.llvm.threads import GOMP_FLAG

    assert runtime.GOMP_FLAG == GOMP_FLAG


def test_the_executable_allocates_with_the_renderers_alignment():
    from tcomp.backends.llvm import backend, render

    assert backend.ALIGNMENT == render.ALIGNMENT


def test_a_warm_start_does_not_import_the_lowering_or_the_renderer(tmp_path):
    _fresh_process(tmp_path)
    probe = SCRIPT + (
        "\nassert 'tcomp.ir.kernel.lowering' not in sys.modules or counters['lowerings']\n"
        "assert 'tcomp.backends.llvm.render' not in sys.modules or counters['renders']\n"
    )
    environment = {**os.environ, "TCOMP_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    # as_text("source") reads the stored IR: still nothing lowered or rendered
    probe = probe.replace('    "kernels": lowered.as_text("kernels"),\n', "")
    done = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------- only what this user's tcomp wrote is run

FORGED_IR = r"""
define void @tcomp_main(i8** %args) {
  %slot = getelementptr i8*, i8** %args, i64 2
  %out = load i8*, i8** %slot
  %first = bitcast i8* %out to float*
  store float 42.0, float* %first
  ret void
}
"""


def _forged_object_code() -> bytes:
    """Object code whose ``tcomp_main`` writes 42.0 into the first output and nothing else."""
    state = runtime.target_state()
    llvm = state["llvm"]
    machine = state["target"].create_target_machine(cpu=state["cpu"],
                                                    features=state["features"], jit=True)
    module = llvm.parse_assembly(FORGED_IR)
    module.triple = machine.triple
    return machine.emit_object(module)


def _forge_with_recomputed_digests(path: Path, payload: bytes) -> None:
    """The old attack: keep the header's magic and key digest, put in another payload and
    recompute its length and SHA-256 (no secret needed)."""
    import hashlib
    import struct

    data = path.read_bytes()
    magic, key_hash = data[:8], data[8:40]
    path.write_bytes(struct.pack("<8s32sQ32s", magic, key_hash, len(payload),
                                 hashlib.sha256(payload).digest()) + payload)


def test_object_code_planted_with_recomputed_digests_never_runs(cache_dir):
    expected = _run(_function())
    (entry,) = _entries(cache_dir, "llvm")
    _forge_with_recomputed_digests(entry, runtime._pack_entry(_forged_object_code(), "; forged"))
    _fresh_state()
    rejected = runtime.disk_cache_stats().rejected
    got = _run(_function())
    np.testing.assert_array_equal(got[0], expected[0])  # the forged code would write 42.0
    assert runtime.disk_cache_stats().rejected == rejected + 1


def _expected_outputs():
    x, y = _inputs()
    return np.exp(x.astype(np.float64)) @ y + 1.0


def test_a_world_writable_cache_folder_is_not_used(tmp_path, monkeypatch):
    from tcomp.backends import cache_trust

    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(folder))
    cache_trust.forget_warnings()
    _fresh_state()
    with pytest.warns(cache_trust.TcompCacheWarning) as caught:
        f = _function()
        got = _run(f)
        again = _function()  # the warning comes once per process and folder
        _run(again)
    assert len(caught) == 1
    assert str(caught[0].message).startswith(f"tcomp: not using the compile cache {folder}: "
                                             "it is writable by group/others (mode 0777)")
    np.testing.assert_allclose(got[0], _expected_outputs(), rtol=1e-5)
    assert f.compile_stats()[0]["cache"] == "miss"
    assert list(folder.iterdir()) == []  # no entries, no key, no compile log
    _fresh_state()
    cache_trust.forget_warnings()


def _forge_plan(plan: dict, how: str) -> None:
    if how == "a bigger output":
        plan["allocations"][0][0] = [8, 3]
    elif how == "an output of another dtype":
        plan["allocations"][0][1] = "float64"
    elif how == "a negative size":
        plan["allocations"][0][0] = [-4, 3]
    elif how == "a size of another type":
        plan["allocations"][0][0] = "12"
    elif how == "a parameter of another shape":
        plan["params"][0][0] = [4, 7]
    elif how == "a result slot out of range":
        plan["results"][0][1] = 99
    elif how == "a parameter returned as the result":
        plan["results"][0] = ["slot", 0, False]
    elif how == "truncated constant data":
        plan["constants"][0][2] = plan["constants"][0][2][:-2]
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", [
    "a bigger output", "an output of another dtype", "a negative size", "a size of another type",
    "a parameter of another shape", "a result slot out of range",
    "a parameter returned as the result", "truncated constant data",
])
def test_a_forged_run_plan_is_a_miss_never_a_wrong_run(cache_dir, how):
    f = _function()
    expected = _run(f)
    key = graph_key(f.lower(*_inputs()).function("optimized"), _threads())
    cache = compile_cache._disk_cache()
    data = json.loads(cache.load(key))
    assert data["plan"]["allocations"][0][:2] == [[4, 3], "float32"]  # what is forged
    _forge_plan(data["plan"], how)
    # stored as tcomp stores (authenticated): what a bug or a key reader could write
    cache.store(key, json.dumps(data).encode())
    _fresh_state()
    stale = COUNTERS.stale
    again = _function()
    got = _run(again)
    assert again.compile_stats()[0]["cache"] != "disk"
    assert COUNTERS.stale == stale + 1
    for value, reference in zip(got, expected):
        assert value.shape == reference.shape and value.dtype == reference.dtype
        np.testing.assert_array_equal(value, reference)
    _fresh_state()  # and the entry stored again is good
    warm = _function()
    np.testing.assert_array_equal(_run(warm)[0], expected[0])
    assert warm.compile_stats()[0]["cache"] == "disk"


def test_the_size_limit_keeps_the_object_code_of_a_graph_entry(cache_dir, monkeypatch):
    """A limit the graph entry fits but not with its object code: the store used to
    evict the object code it had just stored, and every later run compiled again."""
    expected = _run(_function())
    sizes = {namespace: sum(p.stat().st_size for p in _entries(cache_dir, namespace))
             for namespace in ("llvm", "llvm-graph")}
    for entry in cache_dir.rglob("*.bin"):
        entry.unlink()
    _fresh_state()
    limit = sizes["llvm"] + sizes["llvm-graph"] - 1
    monkeypatch.setenv("TCOMP_CACHE_MAX_MB", str(limit / 2**20))
    _run(_function())
    assert _entries(cache_dir, "llvm") and _entries(cache_dir, "llvm-graph")
    _fresh_state()
    warm = _function()
    np.testing.assert_array_equal(_run(warm)[0], expected[0])
    assert warm.compile_stats()[0]["cache"] == "disk"


SMALL = r"""
import json, resource, signal, sys
import numpy as np
import tcomp

limit = int(sys.argv[1])
if limit:  # files capped: a write past it fails (EFBIG), as on a full disk (ENOSPC)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

@tcomp.jit(backend="llvm")
def f(x):
    return tcomp.exp(x) * 2.0

print(json.dumps({"out": np.asarray(f(np.ones(4, np.float32))).tolist(),
                  "cache": f.compile_stats()[0]["cache"]}))
"""


def _small_process(cache: Path, limit: int = 0) -> dict:
    environment = {**os.environ, "TCOMP_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SMALL, str(limit)], env=environment,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_full_disk_that_takes_the_graph_entry_but_not_its_object_code(tmp_path):
    sizing = tmp_path / "sizing"
    _small_process(sizing)
    (graph,) = _entries(sizing, "llvm-graph")
    (code,) = _entries(sizing, "llvm")
    assert graph.stat().st_size < code.stat().st_size
    cache = tmp_path / "cache"
    first = _small_process(cache, limit=graph.stat().st_size + 16)
    assert first["cache"] == "miss"
    assert not _entries(cache, "llvm")
    assert not _entries(cache, "llvm-graph")  # no graph entry without its machine code
    assert not list(cache.rglob(".tmp-*"))
    second = _small_process(cache)  # room again: a plain miss that stores both
    assert second["cache"] == "miss" and second["out"] == first["out"]
    assert _small_process(cache)["cache"] == "disk"
