"""Jitted functions shared by threads: one trace and one compile per signature.

Threads that call a jitted function with a signature it has not traced yet
wait for the one thread that traces and compiles it; different signatures,
and different functions, trace at the same time (the current trace is
thread-local). A trace that raises gives each waiting thread its own try.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np
import pytest
from frontend_helpers import check

import tcomp
from tcomp.frontend import jit as jit_module

THREADS = 8
TIMEOUT = 60  # seconds: a deadlock fails the test instead of hanging it


def _run_together(work: Callable[[int], Any], threads: int = THREADS) -> list[Any]:
    """Runs ``work(i)`` on ``threads`` threads released together by a barrier; returns
    each one's result, or the exception it raised."""
    barrier = threading.Barrier(threads, timeout=TIMEOUT)
    results: list[Any] = [None] * threads

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            results[index] = error

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(TIMEOUT)
    assert not any(worker.is_alive() for worker in workers), "a thread is stuck"
    return results


def _counting_compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one each time a jitted program is compiled."""
    compiles: list[int] = []
    real = jit_module.CompiledProgram._compile

    def counted(program: jit_module.CompiledProgram) -> None:
        compiles.append(1)
        real(program)

    monkeypatch.setattr(jit_module.CompiledProgram, "_compile", counted)
    return compiles


def test_the_first_call_from_many_threads_traces_and_compiles_once(monkeypatch, backend):
    compiles = _counting_compiles(monkeypatch)
    traces: list[int] = []

    def affine(x):
        traces.append(1)
        return tcomp.tanh(x * 2.0 + 1.0)

    jitted = tcomp.jit(affine, backend=backend)
    inputs = [np.full(16, i / 10, np.float32) for i in range(THREADS)]
    results = _run_together(lambda i: jitted(inputs[i]))
    for x, result in zip(inputs, results):
        assert not isinstance(result, BaseException), result
        check(result, np.tanh(x * 2 + 1), np.float32, backend, rtol=1e-5, atol=1e-6)
    assert jitted.trace_count == 1 and len(traces) == 1
    assert len(compiles) == 1 and jitted.cache_size == 1


def test_threads_with_different_signatures_trace_at_the_same_time():
    # each trace waits until the other is inside its trace too: tracing one
    # signature must not hold up another (nor mix their tracers)
    both_tracing = threading.Barrier(2, timeout=TIMEOUT)

    def double(x):
        both_tracing.wait()
        return x * 2

    jitted = tcomp.jit(double, backend="reference")
    results = _run_together(lambda i: jitted(np.ones(i + 1, np.float32)), threads=2)
    for i, result in enumerate(results):
        assert not isinstance(result, BaseException), result
        check(result, np.full(i + 1, 2, np.float32), np.float32, "reference")
    assert jitted.trace_count == 2


def test_two_functions_trace_on_two_threads_at_once():
    both_tracing = threading.Barrier(2, timeout=TIMEOUT)

    def plus_one(x):
        y = x + 1
        both_tracing.wait()  # the other thread is mid-trace now
        return y * 3

    def minus_one(x):
        y = x - 1
        both_tracing.wait()
        return y * 5

    functions = [tcomp.jit(plus_one, backend="reference"), tcomp.jit(minus_one, backend="reference")]
    x = np.arange(4, dtype=np.float32)
    results = _run_together(lambda i: functions[i](x), threads=2)
    check(results[0], (x + 1) * 3, np.float32, "reference")
    check(results[1], (x - 1) * 5, np.float32, "reference")


def test_a_trace_that_raises_lets_each_waiting_thread_try_itself():
    traces: list[int] = []

    def broken(x):
        traces.append(1)
        raise ValueError("broken on purpose")

    jitted = tcomp.jit(broken, backend="reference")
    results = _run_together(lambda i: jitted(np.ones(3, np.float32)))
    assert all(isinstance(r, ValueError) and "broken on purpose" in str(r) for r in results)
    assert len({id(r) for r in results}) == THREADS  # each thread its own error
    assert len(traces) == THREADS and jitted.cache_size == 0
    assert not jitted._tracing  # nothing left waiting


def test_a_compile_that_raises_is_tried_again_by_the_next_caller(monkeypatch):
    failures = [RuntimeError("the first compile fails")]
    real = jit_module.CompiledProgram._compile

    def flaky(program: jit_module.CompiledProgram) -> None:
        if failures:
            raise failures.pop()
        real(program)

    monkeypatch.setattr(jit_module.CompiledProgram, "_compile", flaky)
    jitted = tcomp.jit(lambda x: x + 1, backend="reference")
    with pytest.raises(RuntimeError, match="the first compile fails"):
        jitted(np.ones(2, np.float32))
    check(jitted(np.ones(2, np.float32)), np.full(2, 2, np.float32), np.float32, "reference")
    assert jitted.trace_count == 1


def test_an_eager_grad_called_from_many_threads_traces_once(monkeypatch):
    monkeypatch.setenv("TCOMP_BACKEND", "reference")
    traces: list[int] = []

    def loss(w):
        traces.append(1)
        return (w * w).sum()

    gradient = tcomp.grad(loss)
    inputs = [np.full(4, i, np.float32) for i in range(THREADS)]
    results = _run_together(lambda i: gradient(inputs[i]))
    for x, result in zip(inputs, results):
        assert not isinstance(result, BaseException), result
        np.testing.assert_allclose(np.asarray(result), 2 * x)
    assert len(traces) == 1
