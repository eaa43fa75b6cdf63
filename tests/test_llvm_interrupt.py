"""Ctrl-C during a long llvm call stops it early, and the process stays usable.

Two levels: compiled code leaves its loops once the interrupt flag is set
(checked here directly, with buffers of the test's own), and a real SIGINT
during a long call on the main thread raises ``KeyboardInterrupt`` well
before the call would have finished (checked in a child process, so the
signal never reaches the test runner).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import tcomp  # noqa: E402
from tcomp.backends.llvm import interrupt  # noqa: E402
from tcomp.backends.llvm.render import buffer_layout, render_text  # noqa: E402
from tcomp.backends.llvm.runtime import compile_module, run  # noqa: E402


def _compiled(fn, *args):
    program = tcomp.jit(fn, backend="llvm").lower(*args).kernel_program()
    kinds = [kind for kind, _ in buffer_layout(program).slots]
    assert kinds == ["param"] * len(args) + ["output"], kinds  # no temps: our buffers suffice
    return compile_module(render_text(program))


def _run_with_flag(compiled, inputs, out, flag: int) -> None:
    interrupt.FLAG.value = flag
    try:
        run(compiled, [a.ctypes.data for a in inputs] + [out.ctypes.data])
    finally:
        interrupt.FLAG.value = 0


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (lambda x: tcomp.sum(tcomp.exp(x), axis=1), [(64, 96)]),  # rows of a reduction
        (lambda a, b: a @ b, [(64, 80), (80, 48)]),  # the blocked matmul's depth loop
    ],
    ids=["row-reduction", "matmul"],
)
def test_a_set_flag_stops_the_kernels_and_a_clear_one_does_not(fn, shapes):
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=shape).astype(np.float32) for shape in shapes]
    compiled = _compiled(fn, *inputs)
    want = np.asarray(tcomp.jit(fn, backend="reference")(*inputs))
    out = np.full(want.shape, np.nan, np.float32)
    _run_with_flag(compiled, inputs, out, flag=1)
    assert np.isnan(out).all(), "an interrupted call must not run its loops"
    _run_with_flag(compiled, inputs, out, flag=0)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


_CHILD = textwrap.dedent(
    """
    import os, signal, threading, time
    import numpy as np
    import tcomp

    @tcomp.jit
    def heavy(a, b):
        x = a
        for _ in range(120):  # well over INTERRUPTIBLE_SECONDS, so the worker runs it
            x = tcomp.tanh(x @ b)
        return x

    n = 512
    rng = np.random.default_rng(1)
    a = rng.random((n, n), dtype=np.float32) / n
    b = rng.random((n, n), dtype=np.float32)
    want = np.asarray(heavy(a, b))  # compiles; one full call
    started = time.perf_counter()
    heavy(a, b)
    full = time.perf_counter() - started
    threading.Timer(full / 10, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    started = time.perf_counter()
    try:
        heavy(a, b)
        print("NOT INTERRUPTED")
    except KeyboardInterrupt:
        stopped = time.perf_counter() - started
        again = np.asarray(heavy(a, b))
        print(f"interrupted {stopped:.3f} {full:.3f} {np.array_equal(again, want)}")
    """
)


def test_ctrl_c_stops_a_long_call_early_and_the_process_goes_on():
    env = {**os.environ, "TCOMP_CACHE_DIR": "off", "TCOMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[0] == "interrupted", result.stdout
    stopped, full, same = float(words[1]), float(words[2]), words[3]
    # a call shorter than this stays on the calling thread, where Ctrl-C waits for its end
    assert full >= 2 * interrupt.INTERRUPTIBLE_SECONDS, f"make heavy() heavier: {full} s"
    # the signal came at a tenth of the call: stopping takes at most one poll interval more
    assert stopped < 0.6 * full, (stopped, full)
    assert same == "True", "a call after the interrupt must give the same result"


def test_short_calls_stay_on_the_calling_thread(monkeypatch):
    seen = []
    monkeypatch.setattr(interrupt, "_call_on_worker", lambda *a: seen.append(a))
    interrupt.call(lambda pointers: None, None, interrupt.INTERRUPTIBLE_WORK - 1)
    assert seen == []
    interrupt.call(lambda pointers: None, None, interrupt.INTERRUPTIBLE_WORK)
    assert len(seen) == 1


def test_after_the_first_call_the_previous_calls_time_decides(monkeypatch):
    seen = []
    monkeypatch.setattr(interrupt, "_call_on_worker", lambda *a: seen.append(a))
    short, long = interrupt.INTERRUPTIBLE_SECONDS / 2, interrupt.INTERRUPTIBLE_SECONDS
    # a big estimate whose calls turned out quick stays on the calling thread
    interrupt.call(lambda pointers: None, None, interrupt.INTERRUPTIBLE_WORK, short)
    assert seen == []
    # a small estimate whose previous call was long goes to the worker
    interrupt.call(lambda pointers: None, None, 0, long)
    assert len(seen) == 1
    # a program that may run forever always does, however quick its last call was
    interrupt.call(lambda pointers: None, None, interrupt.UNBOUNDED_WORK, short)
    assert len(seen) == 2


def test_a_call_returns_the_time_it_took():
    def entry(pointers):
        time.sleep(0.02)

    seconds = interrupt.call(entry, None, 0)
    assert 0.02 <= seconds < 5.0


def test_an_executable_passes_its_previous_calls_time(monkeypatch):
    times = []
    real = interrupt.call

    def spy(entry, pointers, work, last_seconds=None):
        times.append(last_seconds)
        return real(entry, pointers, work, last_seconds)

    monkeypatch.setattr(interrupt, "call", spy)
    f = tcomp.jit(lambda a: a * 2.0 + 1.0, backend="llvm")
    x = np.arange(8, dtype=np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(np.asarray(f(x)), x * 2.0 + 1.0)
    assert times[0] is None and all(t is not None and t > 0 for t in times[1:]), times


def test_a_program_with_a_while_loop_is_always_interruptible():
    def count_up(n):
        return tcomp.while_loop(lambda i: i < n, lambda i: i + 1, tcomp.zeros((), "int32"))

    jitted = tcomp.jit(count_up, backend="llvm")
    assert int(jitted(np.int32(3))) == 3
    executable = jitted.lower(np.int32(3))._program.executable
    assert executable.plan.work == interrupt.UNBOUNDED_WORK


def test_a_call_overlapping_another_threads_interrupt_runs_again(monkeypatch):
    calls = []

    def entry(pointers):
        calls.append(pointers)
        if len(calls) == 1:  # as if another thread's interrupt began and ended meanwhile
            interrupt._sequence += 2

    monkeypatch.setattr(interrupt, "_sequence", 0)
    interrupt.call(entry, "p", 0)
    assert calls == ["p", "p"]
