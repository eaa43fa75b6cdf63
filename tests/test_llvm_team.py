"""Programs with several parallel kernels run in one thread team per call on llvm
(backends/llvm/team.py): the team is used where it should be, and results equal
numpy's for matmuls (the shared blocked contraction), chunked elementwise and reduction
kernels, a scan whose body holds parallel kernels, many calls in a row, calls from
several Python threads at once, more team threads than cores, and in a forked child
(no libgomp pool there: the program runs alone)."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import tcomp
from tcomp.backends.llvm.runtime import threading_runtime

pytestmark = pytest.mark.skipif(
    threading_runtime() != "gomp", reason="the team runs on libgomp's pool; none here"
)


def _train_step(x, w1, w2):
    """Two matmuls forward, their gradients and elementwise work between: several
    parallel kernels, two of them shared contractions."""

    def loss(w1, w2):
        h = tcomp.tanh(x @ w1)
        y = h @ w2
        return tcomp.mean(tcomp.exp(-tcomp.abs(y)) + y * y)

    return tcomp.value_and_grad(loss, argnums=(0, 1))(w1, w2)


def _reference(x, w1, w2):
    x, w1, w2 = (a.astype(np.float64) for a in (x, w1, w2))
    h = np.tanh(x @ w1)
    y = h @ w2
    value = np.mean(np.exp(-np.abs(y)) + y * y)
    dy = (-np.sign(y) * np.exp(-np.abs(y)) + 2 * y) / y.size
    dw2 = h.T @ dy
    dh = dy @ w2.T * (1 - h * h)
    return value, x.T @ dh, dw2


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((384, 256)).astype(np.float32)
    w1 = (rng.standard_normal((256, 512)) * 0.05).astype(np.float32)
    w2 = (rng.standard_normal((512, 256)) * 0.05).astype(np.float32)
    return x, w1, w2


def _check(result, expected) -> None:
    value, (g1, g2) = result
    np.testing.assert_allclose(float(value), expected[0], rtol=1e-4)
    np.testing.assert_allclose(np.asarray(g1), expected[1], rtol=2e-3, atol=2e-6)
    np.testing.assert_allclose(np.asarray(g2), expected[2], rtol=2e-3, atol=2e-6)


@pytest.fixture
def threads(monkeypatch):
    def use(count: int) -> None:
        monkeypatch.setenv("TCOMP_NUM_THREADS", str(count))

    return use


@pytest.mark.parametrize("count", [2, 4])
def test_a_train_step_runs_in_one_team_and_matches_numpy(threads, count):
    threads(count)  # 4: more team threads than this machine's cores
    step = tcomp.jit(_train_step, backend="llvm")
    data = _data()
    source = step.lower(*data).as_text("source")
    assert "tcomp.team.body" in source, "a program with several parallel kernels"
    expected = _reference(*data)
    for _ in range(50):  # many calls: each one a fresh team and generations of posts
        _check(step(*data), expected)


def test_one_parallel_kernel_keeps_the_per_kernel_runner(threads):
    threads(2)
    f = tcomp.jit(lambda a: tcomp.exp(a) * 2.0, backend="llvm")
    a = np.random.default_rng(1).standard_normal((2048, 2048)).astype(np.float32)
    source = f.lower(a).as_text("source")
    assert "tcomp.team.body" not in source
    np.testing.assert_allclose(np.asarray(f(a)), np.exp(a) * 2.0, rtol=1e-6)


def test_a_scan_with_parallel_kernels_in_its_body(threads):
    threads(2)
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((512, 512)) * 0.04).astype(np.float32)
    h0 = rng.standard_normal((256, 512)).astype(np.float32)

    def run(h, w):
        def body(carry, _):
            nxt = tcomp.tanh(carry @ w)
            return nxt, tcomp.sum(nxt)

        return tcomp.scan(body, h, None, length=6)

    final, sums = tcomp.jit(run, backend="llvm")(h0, w)
    h = h0.astype(np.float64)
    expected = []
    for _ in range(6):
        h = np.tanh(h @ w)
        expected.append(h.sum())
    np.testing.assert_allclose(np.asarray(final), h, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(np.asarray(sums), expected, rtol=2e-4)


def test_calls_from_several_python_threads_at_once(threads):
    threads(2)
    step = tcomp.jit(_train_step, backend="llvm")
    datasets = [_data(seed) for seed in range(4)]
    expected = [_reference(*data) for data in datasets]
    step(*datasets[0])  # compile once, before the threads start
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for _ in range(10):
                _check(step(*datasets[index]), expected[index])
        except BaseException as error:  # noqa: BLE001 - handed to the test
            errors.append(error)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not any(worker.is_alive() for worker in workers), "a call is stuck"
    assert not errors, errors[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_runs_the_program_alone(threads):
    threads(2)
    step = tcomp.jit(_train_step, backend="llvm")
    data = _data()
    expected = _reference(*data)
    _check(step(*data), expected)  # the parent's pool is started
    pid = os.fork()
    if pid == 0:  # the child: libgomp's pool is gone, tcomp_use_gomp is 0
        status = 0
        try:
            _check(step(*data), expected)
        except BaseException:  # noqa: BLE001 - reported through the exit status
            status = 1
        os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_teams_turned_off_by_the_environment_give_the_same_results(tmp_path):
    """``TCOMP_THREAD_TEAM=0`` (read when the runtime starts) runs each parallel kernel
    in its own region again, on the same compiled code."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import numpy as np, tcomp
        from test_llvm_team import _check, _data, _reference, _train_step
        from tcomp.backends.llvm import runtime
        assert runtime._USE_TEAM.value == 0
        step = tcomp.jit(_train_step, backend="llvm")
        data = _data()
        for _ in range(5):
            _check(step(*data), _reference(*data))
        print("ok")
        """
    )
    env = dict(os.environ, TCOMP_THREAD_TEAM="0", TCOMP_NUM_THREADS="2")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(__file__), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
