"""Per-kernel profiles on llvm: a profiled build times each kernel inside the native call.

The profiled program (``LLVMBackend.compile_profiled``, ``render_program(...,
profile=True)``) computes what the plain one computes; its kernel times are
non-negative and add up to no more than the call; it is a cache entry of its
own, in memory and on disk; the interrupt flag still stops it (and a stopped
call records nothing); ``Lowered.profile`` tabulates the kernels by time with
the graph ops and the user's lines each fuses. No assertion here depends on
how fast anything runs.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import tcomp  # noqa: E402
from tcomp import nn  # noqa: E402
from tcomp.backends.llvm import compile_cache, interrupt, render, runtime  # noqa: E402
from tcomp.backends.llvm.backend import default_num_threads  # noqa: E402
from tcomp.backends.llvm.compile_cache import COUNTERS, graph_key  # noqa: E402
from tcomp.backends.registry import get_backend  # noqa: E402
from tcomp.frontend.profile import backend_inputs, profile_program  # noqa: E402
from tcomp.ir.errors import TcompArgumentError, TcompBackendError  # noqa: E402

SLACK = 2e-4  # seconds: the wall clock and the kernels' clock are both CLOCK_MONOTONIC


def mlp_loss(params, x, labels):
    h = nn.relu(x @ params["w1"] + params["b1"])  # the line of k0
    return nn.cross_entropy(h @ params["w2"] + params["b2"], labels)


def mlp_args(rows: int = 64, hidden: int = 32):
    rng = np.random.default_rng(0)
    params = {
        "w1": rng.normal(size=(8, hidden)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": rng.normal(size=(hidden, 5)).astype(np.float32),
        "b2": np.zeros(5, np.float32),
    }
    x = rng.normal(size=(rows, 8)).astype(np.float32)
    return params, x, rng.integers(0, 5, size=rows).astype(np.int32)


def big_step(a, b):
    """A matmul large enough to be split across threads (when there are several), then
    a row softmax: a parallel kernel and a plain one."""
    return nn.softmax(tcomp.tanh(a @ b), axis=-1)


def big_args():
    rng = np.random.default_rng(2)
    return (rng.normal(size=(256, 128)).astype(np.float32) / 16,
            rng.normal(size=(128, 256)).astype(np.float32))


def _profiled(fn, args):
    """(the plain CompiledProgram, the profiled executable, the call's buffers)."""
    f = tcomp.jit(fn, backend="llvm")
    program, leaves = f._program_for(args, {}, frozenset())
    profiled = get_backend("llvm").compile_profiled(program.optimized)
    return f, program, profiled, backend_inputs(program.backend, leaves)


@pytest.mark.parametrize("fn, make_args", [(mlp_loss, mlp_args), (big_step, big_args)],
                         ids=["mlp", "parallel-matmul"])
def test_the_profiled_program_computes_what_the_plain_one_does(fn, make_args):
    args = make_args()
    f, program, profiled, buffers = _profiled(fn, args)
    assert profiled.profiled and not program.compiled().profiled
    plain = [np.asarray(out) for out in program.compiled()(buffers)]
    timed = [np.asarray(out) for out in profiled(buffers)]
    want = [np.asarray(out) for out in tcomp.tree_flatten(
        tcomp.jit(fn, backend="reference")(*args))[0]]
    for got_plain, got_timed, expected in zip(plain, timed, want):
        np.testing.assert_allclose(got_timed, got_plain, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got_timed, expected, rtol=1e-4, atol=1e-5)
    assert len(profiled.program.kernels) == len(program.compiled().program.kernels)
    assert "clock_gettime" in profiled.llvm_ir and render.PROFILE_SYMBOL in profiled.llvm_ir
    assert "clock_gettime" not in program.compiled().llvm_ir


@pytest.mark.parametrize("fn, make_args", [(mlp_loss, mlp_args), (big_step, big_args)],
                         ids=["mlp", "parallel-matmul"])
def test_kernel_times_are_non_negative_and_fit_in_the_call(fn, make_args):
    args = make_args()
    _, _, profiled, buffers = _profiled(fn, args)
    samples = profiled.profile_calls(buffers, 5)
    assert len(samples) == 5
    kernels = len(profiled.program.kernels)
    for per_kernel, wall in samples:
        assert len(per_kernel) == kernels
        assert all(seconds >= 0 for seconds in per_kernel)
        assert sum(per_kernel) <= wall + SLACK  # each kernel runs inside the call
    profile = tcomp.jit(fn, backend="llvm").lower(*args).profile(*args, repeats=5)
    assert profile.repeats == 5 and len(profile.kernels) == kernels
    assert all(kernel.seconds >= 0 for kernel in profile.kernels)
    for number in range(profile.repeats):
        in_kernels = sum(kernel.samples[number] for kernel in profile.kernels)
        assert in_kernels <= profile.call_samples[number] + SLACK


def test_the_counters_add_one_call_per_call():
    _, _, profiled, buffers = _profiled(mlp_loss, mlp_args())
    kernels = len(profiled.program.kernels)
    counters = runtime.profile_counters(profiled._compiled, runtime.PROFILE_HEADER + kernels)
    before = counters[:]
    for _ in range(3):
        profiled(buffers)
    after = counters[:]
    assert after[0] - before[0] == 3
    spent = [a - b for a, b in zip(after, before)]
    assert all(ns >= 0 for ns in spent)
    assert sum(spent[runtime.PROFILE_HEADER:]) <= spent[1]  # kernels within the calls


def test_the_runtime_and_the_renderer_agree_on_the_counters():
    assert runtime.PROFILE_SYMBOL == render.PROFILE_SYMBOL
    assert runtime.PROFILE_HEADER == render.PROFILE_HEADER
    assert "clock_gettime" in runtime._LIBC_SYMBOLS


def test_a_plain_build_has_no_counters():
    f = tcomp.jit(mlp_loss, backend="llvm")
    args = mlp_args()
    plain = f.lower(*args)._program.compiled()
    with pytest.raises(TcompBackendError, match="compiled without profiling"):
        plain.profile_calls([], 1)
    with pytest.raises(TcompBackendError, match="not compiled with profiling"):
        runtime.profile_counters(plain._compiled, 3)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    compile_cache.clear_memory()
    runtime.clear_cache()
    yield tmp_path
    compile_cache.clear_memory()
    runtime.clear_cache()


def test_profiled_and_plain_compiles_are_separate_cache_entries(cache_dir):
    args = mlp_args(rows=48)
    function = tcomp.jit(mlp_loss, backend="llvm").lower(*args).function("optimized")
    backend = get_backend("llvm")
    threads = default_num_threads()
    assert graph_key(function, threads) != graph_key(function, threads, profile=True)
    assert graph_key(function, threads, profile=True).count("; profile") == 1

    misses = COUNTERS.misses
    plain = backend.compile(function)
    profiled = backend.compile_profiled(function)
    assert COUNTERS.misses == misses + 2  # the plain entry does not answer the profiled one
    assert plain.compile_info()["cache"] == "miss"
    assert profiled.compile_info()["cache"] == "miss"
    assert plain._compiled.key_digest != profiled._compiled.key_digest
    assert plain.cache_key_parts()["options"] != profiled.cache_key_parts()["options"]
    again = backend.compile_profiled(function)
    assert again.compile_info()["cache"] == "memory" and again.profiled
    assert again._compiled is profiled._compiled
    assert (cache_dir / "llvm-graph").is_dir()
    assert len(list((cache_dir / "llvm-graph").glob("*.bin"))) == 2
    assert len(list((cache_dir / "llvm").glob("*.bin"))) == 2

    del plain, profiled, again
    gc.collect()
    compile_cache.clear_memory()
    runtime.clear_cache()
    warm_profiled = backend.compile_profiled(function)
    warm_plain = backend.compile(function)
    assert warm_profiled.compile_info()["cache"] == "disk" and warm_profiled.profiled
    assert warm_plain.compile_info()["cache"] == "disk" and not warm_plain.profiled
    # each got its own machine code back: only the profiled one has counters
    buffers = backend_inputs(backend, tcomp.tree_flatten(args)[0])
    (per_kernel, _), = warm_profiled.profile_calls(buffers, 1)
    assert len(per_kernel) == len(warm_profiled.program.kernels)
    with pytest.raises(TcompBackendError):
        runtime.profile_counters(warm_plain._compiled, 3)
    # rendered again from the kernels after a disk hit: with the timestamps, or without
    assert "clock_gettime" in warm_profiled.llvm_ir
    assert "clock_gettime" not in warm_plain.llvm_ir
    np.testing.assert_allclose(np.asarray(warm_profiled(buffers)[0]),
                               np.asarray(warm_plain(buffers)[0]), rtol=1e-6)


def test_the_interrupt_flag_stops_a_profiled_call_which_then_records_nothing():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(64, 80)).astype(np.float32), rng.normal(size=(80, 48)).astype(np.float32)

    def fn(x, y):
        return tcomp.tanh(x @ y) * 2.0

    program = tcomp.jit(fn, backend="llvm").lower(a, b).kernel_program()
    kinds = [kind for kind, _ in render.buffer_layout(program).slots]
    assert kinds == ["param", "param", "output"], kinds  # our buffers suffice
    compiled = runtime.compile_module(render.render_text(program, profile=True))
    counters = runtime.profile_counters(
        compiled, runtime.PROFILE_HEADER + len(program.kernels))
    out = np.full((64, 48), np.nan, np.float32)
    pointers = [a.ctypes.data, b.ctypes.data, out.ctypes.data]
    before = counters[:]
    interrupt.FLAG.value = 1
    try:
        runtime.run(compiled, pointers)
    finally:
        interrupt.FLAG.value = 0
    assert np.isnan(out).all(), "an interrupted call must not run its loops"
    assert counters[:] == before, "a stopped call adds no times"
    runtime.run(compiled, pointers)
    np.testing.assert_allclose(out, np.tanh(a @ b) * 2.0, rtol=1e-4, atol=1e-5)
    assert counters[0] == before[0] + 1


def test_lowered_profile_tabulates_kernels_by_time_with_ops_and_lines():
    args = mlp_args()
    lowered = tcomp.jit(mlp_loss, backend="llvm").lower(*args)
    profile = lowered.profile(*args, repeats=3)
    program = lowered.kernel_program()
    assert [k.name for k in profile.kernels] == [k.name for k in program.kernels]
    assert [k.ops for k in profile.kernels] == [k.origin for k in program.kernels]
    times = [k.seconds for k in profile.by_time()]
    assert times == sorted(times, reverse=True)
    line = mlp_loss.__code__.co_firstlineno + 1  # the line of k0
    first = profile.kernels[0]
    assert any(op.endswith(" matmul") for op in first.ops)
    assert any(text.endswith(f"test_llvm_profile.py:{line}") for text in first.lines)
    table = str(profile)
    rows = table.splitlines()
    assert rows[0].split()[:2] == ["kernel", "time"]
    assert [row.split()[0] for row in rows[1:-2]] == [k.name for k in profile.by_time()]
    assert rows[-2].startswith("total")
    assert "clock_gettime around each kernel" in rows[-1]
    assert f"test_llvm_profile.py:{line}" in table
    assert profile.backend == "llvm" and profile.function == "mlp_loss"


def test_profile_takes_arguments_of_the_lowered_signature_only():
    f = tcomp.jit(mlp_loss, backend="llvm")
    lowered = f.lower(*mlp_args(rows=16))
    other = mlp_args(rows=32)
    profile = lowered.profile(*mlp_args(rows=16), repeats=1)
    assert profile.repeats == 1
    with pytest.raises(TcompArgumentError, match="another signature"):
        lowered.profile(*other, repeats=1)
    with pytest.raises(TcompArgumentError, match="repeats"):
        lowered.profile(*mlp_args(rows=16), repeats=0)


def test_profile_on_the_reference_backend_says_there_are_no_kernels():
    args = mlp_args()
    lowered = tcomp.jit(mlp_loss, backend="reference").lower(*args)
    with pytest.raises(TcompArgumentError, match="no kernels to profile"):
        lowered.profile(*args, repeats=1)


def test_profile_program_reuses_one_profiled_build_per_program():
    args = mlp_args(rows=24)
    f = tcomp.jit(mlp_loss, backend="llvm")
    program, leaves = f._program_for(args, {}, frozenset())
    renders = COUNTERS.renders
    first = profile_program(program, leaves, repeats=1)
    second = profile_program(program, leaves, repeats=1)
    assert COUNTERS.renders <= renders + 1  # compiled (at most) once, then reused
    assert [k.name for k in first.kernels] == [k.name for k in second.kernels]


class _Scaled:
    def __init__(self, scale: float) -> None:
        self.scale = scale

    @tcomp.jit(backend="llvm", static_argnames=("power",))
    def forward(self, x, power):
        return tcomp.tanh(x * self.scale) ** power @ x.T


def test_profile_of_a_method_and_with_static_arguments():
    from tcomp.frontend.profile import profile

    x = np.random.default_rng(3).normal(size=(16, 8)).astype(np.float32)
    model = _Scaled(0.5)
    table = model.forward.lower(x, power=2).profile(x, power=2, repeats=2)
    assert table.repeats == 2 and table.kernels
    assert table.function == profile(model.forward, x, power=2, repeats=1).function
    with pytest.raises(TcompArgumentError, match="another signature"):
        model.forward.lower(x, power=2).profile(x, power=3, repeats=1)
