"""``tcomp.while_loop`` on every backend: results equal the Python loop for trip counts
decided at run time (zero included), the kernels run the cond and body in a while loop
whose text round-trips, one compile serves every trip count, Ctrl-C stops a loop that
never ends (llvm), and ``grad`` says to use scan."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tcomp
from tcomp.backends.reference.kernel_interpreter import run_program
from tcomp.ir.errors import TcompTypeError, TcompVerifyError
from tcomp.ir.kernel.parser import parse_program
from tcomp.ir.kernel.printer import print_program, programs_equal
from tcomp.ir.kernel.verifier import verify_program


def _count_to(x, n):
    """A pytree carry (a dict holding a tuple) counted up to the traced bound ``n``."""

    def cond(c):
        return c["i"] < n

    def body(c):
        total, scale = c["acc"]
        return {"i": c["i"] + 1, "acc": (total * 0.5 + scale, scale * 2.0)}

    init = {"i": tcomp.zeros((), dtype="int32"), "acc": (x, tcomp.ones((), dtype=x.dtype))}
    return tcomp.while_loop(cond, body, init)


def _numpy_count_to(x, n):
    i, total, scale = 0, x.copy(), x.dtype.type(1)
    while i < n:
        i, total, scale = i + 1, total * x.dtype.type(0.5) + scale, scale * x.dtype.type(2)
    return i, total, scale


def test_while_loop_matches_python_loop_for_run_time_trip_counts(backend):
    x = np.array([1.0, -2.0, 0.5], np.float32)
    f = tcomp.jit(_count_to, backend=backend)
    for n in (0, 1, 6):  # zero iterations: the carry comes back unchanged
        got = f(x, np.int32(n))
        i, total, scale = _numpy_count_to(x, n)
        assert int(np.asarray(got["i"])) == i
        np.testing.assert_allclose(np.asarray(got["acc"][0]), total, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(got["acc"][1]), scale, rtol=1e-6)
    assert f.cache_size == 1  # one compile serves every trip count


def _newton_sqrt(a):
    """Newton's iteration for sqrt(a) until the steps stop moving, and the step count."""

    def cond(c):
        x, previous, _ = c
        return tcomp.max(tcomp.abs(x - previous)) > 1e-4

    def body(c):
        x, _, steps = c
        return 0.5 * (x + a / x), x, steps + 1

    x, _, steps = tcomp.while_loop(cond, body, (a, a + 1.0, tcomp.zeros((), dtype="int32")))
    return x, steps


def test_newton_iterations_until_converged(backend):
    a = np.array([2.0, 9.0, 0.25, 100.0], np.float32)
    x, steps = tcomp.jit(_newton_sqrt, backend=backend)(a)
    want, previous, count = a.copy(), a + 1, 0
    while np.max(np.abs(want - previous)) > 1e-4:
        want, previous, count = 0.5 * (want + a / want), want, count + 1
    assert int(np.asarray(steps)) == count
    np.testing.assert_allclose(np.asarray(x), np.sqrt(a), rtol=1e-5)


def _while_in_scan(xs):
    """Each scan step doubles the carry until it reaches the step's x (a data-dependent
    count per step, zero for the last), then subtracts x."""

    def step(c, x):
        v, k = tcomp.while_loop(lambda v: v[0] < x, lambda v: (v[0] * 2.0, v[1] + 1),
                                (c, tcomp.zeros((), dtype="int32")))
        return v - x, k

    return tcomp.scan(step, tcomp.ones((), dtype=xs.dtype), xs)


def test_while_loop_inside_scan(backend):
    xs = np.array([3.0, 50.0, 1.0], np.float32)
    c, ks = tcomp.jit(_while_in_scan, backend=backend)(xs)
    want_c, want_ks = np.float32(1.0), []
    for x in xs:
        k = 0
        while want_c < x:
            want_c, k = want_c * 2, k + 1
        want_c = want_c - x
        want_ks.append(k)
    assert float(np.asarray(c)) == want_c and list(np.asarray(ks)) == want_ks == [2, 6, 0]


def _scan_in_while(x, n):
    def body(c):
        h, _ = tcomp.scan(lambda h, _: (tcomp.tanh(h * 0.5 + 1.0), None), c[1], None, length=2)
        return c[0] + 1, h

    return tcomp.while_loop(lambda c: c[0] < n, body, (tcomp.zeros((), dtype="int32"), x))


def _numpy_scan_in_while(x, n):
    for _ in range(2 * n):
        x = np.tanh(x * 0.5 + 1.0)
    return x


@pytest.mark.parametrize("kind", ["llvm", "reference"])
def test_scan_and_while_inside_a_while_body(kind):
    x = np.array([0.1, -3.0], np.float64)
    f = tcomp.jit(_scan_in_while, backend=kind)
    for n in (0, 2):
        i, h = f(x, np.int32(n))
        assert int(np.asarray(i)) == n
        np.testing.assert_allclose(np.asarray(h), _numpy_scan_in_while(x, n), rtol=1e-12)

    def nested(n):  # sum over i < n of sum over j < i of j, by two while loops
        def outer(c):
            j, t = tcomp.while_loop(lambda d: d[0] < c[0], lambda d: (d[0] + 1, d[1] + d[0]),
                                    (tcomp.zeros((), dtype="int32"), c[1]))
            return c[0] + 1, t

        zero = tcomp.zeros((), dtype="int32")
        return tcomp.while_loop(lambda c: c[0] < n, outer, (zero, zero))[1]

    assert int(np.asarray(tcomp.jit(nested, backend=kind)(np.int32(6)))) == sum(
        j for i in range(6) for j in range(i))


def _program(fn, *args):
    return tcomp.jit(fn, backend="llvm").lower(*args).kernel_program()


def test_kernels_text_round_trips_and_the_interpreter_runs_it():
    x = np.array([1.0, 2.0], np.float64)
    program = _program(_scan_in_while, x, np.int32(3))
    verify_program(program)
    text = print_program(program)
    assert text.count(" while %") == 1 and text.count(" count=2 {") == 1  # the body's scan
    assert text.count("tanh(") == 1  # the body's kernels once, whatever the trip count
    parsed = parse_program(text)
    assert programs_equal(parsed, program) and print_program(parsed) == text
    for n in (0, 3):
        i, h = run_program(parsed, [x, np.int32(n)])
        assert int(i) == n
        np.testing.assert_allclose(h, _numpy_scan_in_while(x, n), rtol=1e-12)


def test_verifier_checks_the_while_condition():
    program = _program(_count_to, np.zeros(2, np.float32), np.int32(1))
    (loop, flag), = program.conditions.items()
    broken = dataclasses.replace(program, conditions={loop: "t_missing"})
    with pytest.raises(TcompVerifyError, match="one-element bool or int32"):
        verify_program(broken)
    inside = [k for k in program.kernels if loop in k.loops]
    outside = dataclasses.replace(program, kernels=[
        dataclasses.replace(k, loops=()) if k is inside[-1] else k for k in program.kernels])
    with pytest.raises(TcompVerifyError, match="stores to its condition"):
        verify_program(outside)


def test_while_loop_under_grad_says_to_use_scan():
    def loss(x):
        return tcomp.while_loop(lambda v: v.sum() < 10.0, lambda v: v * 2.0, x).sum()

    with pytest.raises(TcompTypeError, match="use tcomp.scan or tcomp.fori_loop"):
        tcomp.jit(tcomp.grad(loss), backend="llvm")(np.ones(2))


_CHILD = textwrap.dedent(
    """
    import os, signal, threading
    import numpy as np
    import tcomp

    def spin(x, n):  # never ends: the body leaves the counter alone
        return tcomp.while_loop(lambda c: c[0] < n, lambda c: (c[0], c[1] + 1.0), (n * 0, x))

    f = tcomp.jit(spin)
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
        f(np.zeros(4, np.float32), np.int32(1))
        print("NOT INTERRUPTED")
    except KeyboardInterrupt:
        count = tcomp.jit(lambda n: tcomp.while_loop(lambda i: i < n, lambda i: i + 1, n * 0))
        print("interrupted", int(np.asarray(count(np.int32(7)))))
    """
)


def test_ctrl_c_stops_a_while_loop_that_never_ends():
    pytest.importorskip("llvmlite")
    env = {**os.environ, "TCOMP_BACKEND": "llvm", "TCOMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["interrupted", "7"], result.stdout
