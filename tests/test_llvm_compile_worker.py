"""LLVM optimisation moves to a helper process after many compiles (llvmlite's leak).

The limits are lowered here so that the helper takes over at once: results
must not change, the helper is replaced after its quota, LLVM's errors come
back as tcomp errors, and a helper that cannot start or dies leaves the
optimisation to this process.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import tcomp  # noqa: E402
from tcomp.backends.llvm import compile_worker, runtime  # noqa: E402
from tcomp.ir.errors import TcompBackendError  # noqa: E402


@pytest.fixture
def helper_at_once(monkeypatch):
    """Every optimisation in the helper process, a new helper every second one."""
    monkeypatch.setenv("TCOMP_CACHE_DIR", "off")
    monkeypatch.setattr(compile_worker, "IN_PROCESS_LIMIT", 0)
    monkeypatch.setattr(compile_worker, "WORKER_LIMIT", 2)
    monkeypatch.setattr(compile_worker, "_worker_failed", False)
    yield
    if compile_worker._worker is not None:
        compile_worker._discard(compile_worker._worker)


def _new_program(scale: float):
    """A function whose IR no earlier test compiled (a new constant each time)."""
    return tcomp.jit(lambda x: tcomp.tanh(x * scale + 1.0).sum(), backend="llvm")


def test_programs_optimised_by_the_helper_give_the_same_results(helper_at_once):
    x = np.linspace(-2, 2, 37, dtype=np.float32)
    pids = []
    for step in range(5):
        scale = 1.0 + step / 7
        got = float(np.asarray(_new_program(scale)(x)))
        assert np.isclose(got, np.tanh(x * np.float32(scale) + 1).sum(), rtol=1e-5)
        pids.append(compile_worker._worker.process.pid)
    # two optimisations per helper: 5 compiles took three helpers, each used twice at most
    assert len(set(pids)) == 3 and pids[0] == pids[1] and pids[1] != pids[2]


def test_the_helper_emits_the_same_object_code_as_this_process(helper_at_once):
    from tcomp.backends.llvm.render import render_text

    program = _new_program(3.25).lower(np.ones(8, np.float32)).kernel_program()
    text = render_text(program)
    state = runtime.target_state()
    here = runtime.optimise_and_emit(state, text)
    there = compile_worker.optimise(text, lambda _: pytest.fail("ran in process"))
    assert there[0] == here[0] and there[1] == here[1]


def test_llvm_errors_come_back_as_tcomp_errors_and_the_helper_goes_on(helper_at_once):
    with pytest.raises(TcompBackendError, match="LLVM rejected the module"):
        compile_worker.optimise("this is not LLVM IR", lambda _: pytest.fail("ran in process"))
    x = np.ones(5, np.float32)
    assert np.isclose(float(np.asarray(_new_program(0.5)(x))), 5 * np.tanh(1.5))


def test_a_helper_that_cannot_start_leaves_the_work_here(helper_at_once, monkeypatch):
    monkeypatch.setattr(compile_worker.sys, "executable", "/nonexistent/python")
    ran_here = []
    result = compile_worker.optimise("text", lambda text: ran_here.append(text) or (b"", "", {}))
    assert ran_here == ["text"] and result == (b"", "", {})
    assert compile_worker._worker_failed  # and it is not tried again in this process


def test_a_helper_that_dies_leaves_the_work_here(helper_at_once):
    x = np.ones(3, np.float32)
    _new_program(0.25)(x)  # starts a helper
    compile_worker._worker.process.kill()
    compile_worker._worker.process.wait()
    ran_here = []
    result = compile_worker.optimise("text", lambda text: ran_here.append(text) or (b"", "", {}))
    assert ran_here == ["text"] and result == (b"", "", {})
    assert np.isclose(float(np.asarray(_new_program(0.75)(x))), 3 * np.tanh(1.75))
