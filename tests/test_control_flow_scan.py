"""``tcomp.scan``: values and gradients equal the Python-unrolled loop on every backend,
the text form round-trips, the kernels run the body once inside a repeat loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tcomp
from tcomp.ir.errors import TcompArgumentError, TcompTypeError
from tcomp.ir.text import parse_function, print_function
from tcomp.ir.verifier import verify


def _dtype(backend: str) -> type:
    return np.float32 if backend == "opencl" else np.float64


def _tolerance(backend: str) -> dict:
    return {"rtol": 2e-4, "atol": 1e-5} if backend == "opencl" else {"rtol": 1e-10, "atol": 1e-12}


def _rnn_loss(w, h0, xs, scanned: bool, reverse: bool = False):
    """A tanh RNN (``h = tanh(h @ w + x)``), the loss of its last state and its outputs."""

    def step(h, x):
        h = tcomp.tanh(h @ w + x)
        return h, tcomp.sum(h * h)

    if scanned:
        h, ys = tcomp.scan(step, h0, xs, reverse=reverse)
    else:
        h, outs = h0, [None] * xs.shape[0]
        order = range(xs.shape[0] - 1, -1, -1) if reverse else range(xs.shape[0])
        for t in order:
            h, outs[t] = step(h, xs[t])
        ys = tcomp.stack(outs)
    return tcomp.sum(h) + tcomp.sum(ys * ys)


def _numpy_rnn(w, h0, xs):
    h, ys = h0, []
    for x in xs:
        h = np.tanh(h @ w + x)
        ys.append(h * 2.0)
    return h, np.stack(ys)


def _args(dtype, steps: int = 5, hidden: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (
        (rng.standard_normal((hidden, hidden)) * 0.5).astype(dtype),
        (rng.standard_normal(hidden) * 0.1).astype(dtype),
        rng.standard_normal((steps, hidden)).astype(dtype),
    )


def test_scan_matches_numpy_loop(backend):
    w, h0, xs = _args(_dtype(backend))

    @tcomp.jit(backend=backend)
    def f(w, h0, xs):
        return tcomp.scan(lambda h, x: (tcomp.tanh(h @ w + x), tcomp.tanh(h @ w + x) * 2.0),
                          h0, xs)

    h, ys = f(w, h0, xs)
    want_h, want_ys = _numpy_rnn(w, h0, xs)
    np.testing.assert_allclose(np.asarray(h), want_h, **_tolerance(backend))
    np.testing.assert_allclose(np.asarray(ys), want_ys, **_tolerance(backend))


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_gradient_equals_unrolled(backend, reverse):
    args = _args(_dtype(backend))
    grads = []
    for scanned in (True, False):
        loss = lambda w, h0, xs, s=scanned: _rnn_loss(w, h0, xs, s, reverse)  # noqa: E731
        f = tcomp.jit(tcomp.value_and_grad(loss, argnums=(0, 1, 2)), backend=backend)
        grads.append(f(*args))
    (value, grad), (want_value, want_grad) = grads
    np.testing.assert_allclose(np.asarray(value), np.asarray(want_value), **_tolerance(backend))
    for got, want in zip(grad, want_grad):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), **_tolerance(backend))


def test_scan_pytrees_and_reverse(backend):
    dtype = _dtype(backend)
    xs = {"a": np.arange(8, dtype=dtype).reshape(4, 2), "b": np.arange(4, dtype=dtype)}

    def step(carry, x):
        total, count = carry
        total = total + x["a"] * x["b"]
        return (total, count + 1), {"sum": total, "twice": (x["b"] * 2,)}

    @tcomp.jit(backend=backend)
    def f(xs):
        init = (tcomp.zeros(2, dtype=dtype), tcomp.zeros((), dtype="int32"))
        return tcomp.scan(step, init, xs, reverse=True)

    (total, count), ys = f(xs)
    partial = np.cumsum((xs["a"] * xs["b"][:, None])[::-1], axis=0)[::-1]
    np.testing.assert_allclose(np.asarray(total), partial[0], **_tolerance(backend))
    assert int(np.asarray(count)) == 4
    np.testing.assert_allclose(np.asarray(ys["sum"]), partial, **_tolerance(backend))
    np.testing.assert_allclose(np.asarray(ys["twice"][0]), xs["b"] * 2, **_tolerance(backend))


@settings(max_examples=4, deadline=None)
@given(steps=st.integers(0, 5), width=st.integers(1, 3), reverse=st.booleans())
def test_scan_equals_unrolled_property(steps, width, reverse):
    rng = np.random.default_rng(steps * 10 + width)
    init = rng.standard_normal(width)
    xs = rng.standard_normal((steps, width))

    def step(c, x):
        c = c * 0.5 + tcomp.sin(x)
        return c, c * x

    def unrolled(init, xs):
        c, ys = init, [None] * steps
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            c, ys[t] = step(c, xs[t])
        return c, (tcomp.stack(ys) if ys else tcomp.zeros((0, width)))

    for backend in ("reference", "llvm"):
        got = tcomp.jit(lambda i, x: tcomp.scan(step, i, x, reverse=reverse),
                        backend=backend)(init, xs)
        want = tcomp.jit(unrolled, backend="reference")(init, xs)
        for a, b in zip(got, want):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)


def test_scan_without_xs_and_closures():
    scale = np.array([1.0, 2.0])

    @tcomp.jit
    def f(c0):
        return tcomp.scan(lambda c, _: (c * scale, c.sum()), c0, None, length=3)

    c, ys = f(np.ones(2))
    np.testing.assert_allclose(np.asarray(c), [1.0, 8.0])
    np.testing.assert_allclose(np.asarray(ys), [2.0, 3.0, 5.0])


def test_fori_loop_matches_python_loop():
    def body(i, val):
        return val * 2.0 + i.astype("float64")

    @tcomp.jit
    def f(x):
        return tcomp.fori_loop(2, 6, body, x)

    want = np.array([1.0, -1.0])
    for i in range(2, 6):
        want = want * 2.0 + i
    np.testing.assert_allclose(np.asarray(f(np.array([1.0, -1.0]))), want)
    grad = tcomp.jit(tcomp.grad(lambda x: tcomp.sum(tcomp.fori_loop(0, 3, body, x) ** 2)))
    x = np.array([0.5, 1.5])
    np.testing.assert_allclose(np.asarray(grad(x)), 2 * 8 * (8 * x + 4), rtol=1e-12)


def test_carry_type_change_is_an_error_naming_both_types():
    @tcomp.jit
    def f(xs):
        return tcomp.scan(lambda c, x: (c + x.astype("float64"), x), np.zeros(3, np.float32), xs)

    with pytest.raises(TcompTypeError) as info:
        f(np.ones((4, 3), np.float32))
    message = str(info.value)
    assert "carry 0 from f32[3] to f64[3]" in message
    assert "test_control_flow_scan.py" in message


def test_mismatched_lengths_are_an_error():
    f = tcomp.jit(lambda a, b: tcomp.scan(lambda c, x: (c, x), 0.0, (a, b)))
    with pytest.raises(TcompArgumentError, match="leading axes of xs differ"):
        f(np.ones(3), np.ones(4))


GOLDEN = """\
func @f(%0: f64[2], %1: f64[3,2]) -> (f64[2], f64[3,2]) {
  %2: f64[2], %3: f64[3,2] = scan(%0, %1) {length=3, num_carry=1, num_xs=1, reverse=true} regions {
    func @step(%0: f64[2], %1: f64[2]) -> (f64[2], f64[2]) {
      %2: f64[2] = add(%0, %1)
      %3: f64[2] = tanh(%2)
      return %3, %2
    }
  }
  return %2, %3
}
"""


def test_text_golden_round_trips():
    def step(c, x):
        s = c + x
        return tcomp.tanh(s), s

    lowered = tcomp.jit(lambda c, xs: tcomp.scan(step, c, xs, reverse=True)).lower(
        np.zeros(2), np.zeros((3, 2)))
    text = print_function(lowered.function("optimized"), locations=False)
    text = text.replace("func @lambda(", "func @f(")
    assert text == GOLDEN
    parsed = parse_function(GOLDEN)
    verify(parsed)
    assert print_function(parsed) == GOLDEN


def test_kernels_show_the_body_once_in_a_repeat_loop():
    from tcomp.ir.kernel.parser import parse_program
    from tcomp.ir.kernel.printer import print_program, programs_equal

    w, h0, xs = _args(np.float64, steps=64)
    f = tcomp.jit(lambda w, h0, xs: _rnn_loss(w, h0, xs, scanned=True), backend="llvm")
    lowered = f.lower(w, h0, xs)
    text = lowered.as_text("kernels")
    assert text.count("repeat s") == 1 and "count=64" in text
    assert text.count("tanh(") == 1  # the body's kernels once, not 64 times
    program = lowered.kernel_program()
    assert programs_equal(parse_program(print_program(program)), program)
