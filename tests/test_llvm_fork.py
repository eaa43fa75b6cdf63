"""os.fork while another thread compiles or traces leaves children that compile and run.

Before tcomp held llvmlite's lock across fork, a child forked while another
thread was inside LLVM inherited that lock held by a thread it does not
have, and hung at its first compile (15 of 20 children in the audit). The
scenario runs in a child process of its own, so the test runner is never
forked with threads running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("llvmlite")

if not hasattr(os, "fork"):  # pragma: no cover - POSIX only
    pytest.skip("os.fork is POSIX only", allow_module_level=True)

# Prepended to each scenario: waits for forked children, killing any still running after
# 60 s, and prints their exit codes (0: ran correctly; "hung": killed).
_WAIT_FOR_CHILDREN = textwrap.dedent(
    """
    import os, time

    def print_exit_codes(children, seconds=60):
        deadline, codes = time.time() + seconds, {}
        while len(codes) < len(children) and time.time() < deadline:
            for pid in children:
                if pid not in codes:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        codes[pid] = os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
        for pid in children:
            if pid not in codes:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                codes[pid] = "hung"
        print(" ".join(str(codes[pid]) for pid in children))
    """
)


def _run_scenario(scenario: str) -> list[str]:
    """Runs ``scenario`` in a fresh Python (cache off); the exit codes it prints."""
    env = {**os.environ, "TCOMP_CACHE_DIR": "off"}
    result = subprocess.run(
        [sys.executable, "-c", _WAIT_FOR_CHILDREN + scenario], capture_output=True, text=True,
        env=env, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


_SCENARIO = textwrap.dedent(
    """
    import os, threading, time
    import numpy as np
    import tcomp

    stop, warm = threading.Event(), threading.Event()

    def compile_forever():
        n = 1
        while not stop.is_set():
            n += 1
            f = tcomp.jit(lambda x, n=n: tcomp.tanh(x * float(n)) @ x.T)
            f(np.ones((n % 7 + 2, 3), np.float32))
            warm.set()

    threading.Thread(target=compile_forever, daemon=True).start()
    # after the first compile: tcomp's modules are imported (a fork during a first import
    # would leave Python's per-module import lock held, a hazard of any lazy import)
    warm.wait()
    children = []
    for i in range(12):
        time.sleep(0.03)
        pid = os.fork()
        if pid == 0:
            x = np.arange(6, dtype=np.float32).reshape(2, 3)
            got = np.asarray(tcomp.jit(lambda x: tcomp.exp(x) + float(i))(x))
            os._exit(0 if np.allclose(got, np.exp(x) + i) else 3)
        children.append(pid)
    print_exit_codes(children)
    stop.set()
    """
)


def test_children_forked_while_another_thread_compiles_all_finish():
    codes = _run_scenario(_SCENARIO)
    assert len(codes) == 12 and all(code == "0" for code in codes), (
        f"child exit codes (0 = ran correctly, hung = killed after 60 s): {codes}"
    )


_SAME_SIGNATURE = textwrap.dedent(
    """
    import os, threading, time
    import numpy as np
    import tcomp

    tracing = threading.Event()

    @tcomp.jit
    def slow(x):
        tracing.set()
        time.sleep(1.0)  # the trace (and the jit's locks) last a while
        return x * 2

    x = np.ones(3, np.float32)
    threading.Thread(target=slow, args=(x,), daemon=True).start()
    tracing.wait()
    pid = os.fork()
    if pid == 0:  # the other thread, mid-trace of this signature, is not here
        os._exit(0 if np.array_equal(np.asarray(slow(x)), x * 2) else 3)
    print_exit_codes([pid])
    """
)


def test_a_child_forked_mid_trace_traces_that_signature_itself():
    codes = _run_scenario(_SAME_SIGNATURE)
    assert codes == ["0"], codes


_TABLE_LOCKS_HELD = textwrap.dedent(
    """
    import os, threading, time
    import numpy as np
    import tcomp
    from tcomp.backends.llvm import compile_cache, host_pool

    held, release = threading.Event(), threading.Event()

    def hold_the_tables():  # as a compile or a call on another thread does, briefly
        with compile_cache._LOCK, host_pool.POOL._lock:
            held.set()
            release.wait()

    threading.Thread(target=hold_the_tables, daemon=True).start()
    held.wait()
    pid = os.fork()
    if pid == 0:
        x = np.ones(1 << 19, np.float32)  # a 2 MiB output: from the host pool
        os._exit(0 if np.array_equal(np.asarray(tcomp.jit(lambda x: x * 3)(x)), x * 3) else 3)
    release.set()
    print_exit_codes([pid])
    """
)


def test_a_child_forked_while_another_thread_holds_the_cache_and_pool_locks_runs():
    codes = _run_scenario(_TABLE_LOCKS_HELD)
    assert codes == ["0"], codes
