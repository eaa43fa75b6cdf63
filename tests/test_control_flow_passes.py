"""Graph passes on control flow: cse merges the forward scan a gradient repeats, dce drops
a scan's unused stacked results (and what only they needed inside the body)."""

from __future__ import annotations

import numpy as np

import tcomp
from tcomp.ir.passes import cse, dce

RNG = np.random.default_rng(0)
W = RNG.standard_normal((4, 4)).astype(np.float32) * 0.3
XS = RNG.standard_normal((6, 2, 4)).astype(np.float32)
H0 = np.zeros((2, 4), np.float32)


def rnn_loss(w, xs):
    def step(h, x):
        h = tcomp.tanh(h @ w + x)
        return h, h

    _, hs = tcomp.scan(step, H0, xs)
    return tcomp.sum(hs * hs)


def scans(function):
    return [node for node in function.nodes if node.op == "scan"]


def numpy_loss_and_grad(w, xs):
    hs, h = [], H0.astype(np.float64)
    for x in xs:
        h = np.tanh(h @ w + x)
        hs.append(h)
    loss = sum((h * h).sum() for h in hs)
    grad, carry = np.zeros_like(w, np.float64), np.zeros_like(H0, np.float64)
    for t in reversed(range(len(xs))):
        dz = (2 * hs[t] + carry) * (1 - hs[t] ** 2)
        previous = hs[t - 1] if t else H0
        grad += previous.T @ dz
        carry = dz @ w.T
    return loss, grad


def test_value_and_grad_runs_the_forward_scan_once():
    f = tcomp.jit(tcomp.value_and_grad(rnn_loss))
    lowered = f.lower(W, XS)
    assert len(scans(lowered.function("traced"))) == 3  # forward, forward saving carries, reverse
    optimized = lowered.function("optimized")
    assert len(scans(optimized)) == 2  # the plain forward merged into the saving one
    loss, grad = f(W, XS)
    expected_loss, expected_grad = numpy_loss_and_grad(W.astype(np.float64), XS)
    np.testing.assert_allclose(float(loss), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), expected_grad, rtol=1e-4, atol=1e-5)


def test_merging_is_exact_and_only_for_extended_bodies():
    traced = tcomp.jit(tcomp.value_and_grad(rnn_loss)).lower(W, XS).function("traced")
    merged = cse(traced)
    forward, saving = scans(traced)[:2]
    # the saving scan returns the forward's results, then residuals and the saved carries
    assert len(saving.outputs) > len(forward.outputs)
    assert [v.type for v in saving.outputs[: len(forward.outputs)]] == [
        v.type for v in forward.outputs]
    assert len(scans(merged)) == 2
    # two scans of different bodies (tanh against sin) stay two
    def two(xs):
        a = tcomp.scan(lambda h, x: (tcomp.tanh(h + x), h), H0, xs)[1]
        b = tcomp.scan(lambda h, x: (tcomp.sin(h + x), h), H0, xs)[1]
        return a + b
    function = tcomp.jit(two).lower(XS).function("traced")
    assert len(scans(cse(function))) == 2


def test_dce_drops_unused_stacked_results_and_their_work():
    def last_state(xs):
        def step(h, x):
            y = tcomp.exp(h) * 3.0  # only feeds the unused ys
            return tcomp.tanh(h + x), y
        h, _ = tcomp.scan(step, H0, xs)
        return h

    traced = tcomp.jit(last_state).lower(XS).function("traced")
    (scan,) = scans(traced)
    assert len(scan.outputs) == 2
    (trimmed,) = scans(dce(traced))
    assert len(trimmed.outputs) == 1
    assert [node.op for node in trimmed.regions[0].nodes].count("exp") == 0
    h = np.asarray(tcomp.jit(last_state)(XS))
    expected = H0
    for x in XS:
        expected = np.tanh(expected + x)
    np.testing.assert_allclose(h, expected, rtol=1e-5)


def test_the_gradient_scan_does_not_stack_gradients_nobody_asked_for():
    optimized = tcomp.jit(tcomp.grad(rnn_loss)).lower(W, XS).function("optimized")
    reverse = scans(optimized)[-1]
    # the carry: the hidden state's cotangent; the one y: dz_t, w's gradient factor that
    # reads a cotangent (its other factor h_t^T is the transposed stack of the saved
    # carries, summed by one matmul after the loop); no stacked dxs
    assert reverse.attrs["num_carry"] == 1
    assert len(reverse.outputs) == 1 + 1
    after = optimized.nodes[optimized.nodes.index(reverse) + 1:]
    assert any(node.op == "matmul" and node.inputs[0].shape == (4, 6 * 2) for node in after)


def test_a_weight_gradient_is_one_matmul_after_the_loop_and_exact():
    def loss(w, u, xs):
        def step(h, x):
            h = tcomp.tanh(h @ w + x @ u)
            return h, h
        _, hs = tcomp.scan(step, H0.astype(np.float64), xs)
        return tcomp.sum(hs * hs)

    w, u = W.astype(np.float64), RNG.standard_normal((4, 4)) * 0.3
    xs = XS.astype(np.float64)
    scanned = tcomp.jit(tcomp.grad(loss, argnums=(0, 1)), backend="reference")(w, u, xs)

    def unrolled(w, u, xs):
        h, total = H0.astype(np.float64), 0.0
        for t in range(xs.shape[0]):
            h = tcomp.tanh(h @ w + xs[t] @ u)
            total = total + tcomp.sum(h * h)
        return total

    expected = tcomp.jit(tcomp.grad(unrolled, argnums=(0, 1)), backend="reference")(w, u, xs)
    for got, want in zip(scanned, expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-14)
