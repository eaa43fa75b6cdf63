"""What the matmuls of a real model lower to on llvm: the weight gradient of a stack of
rows times a matrix is one blocked contraction, no kernel recomputes one big matmul
inside another's loop nest (tiny ones still fuse: the RNN's kernel count in
test_kernel_lowering), repeated layers share their compiled kernel functions, and
a program of hundreds of kernels compiles."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tcomp
from tcomp import nn
from tcomp.ir.kernel.analysis import blocked_contraction

pytest.importorskip("llvmlite")

F32 = np.float32


def random(*shape: int) -> np.ndarray:
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(F32)


def matmuls(kernel) -> int:
    return sum(1 for name in kernel.origin if name.endswith(" matmul"))


def test_rows_times_a_matrix_is_one_matmul_and_its_weight_gradient_one_blocked_kernel():
    x, w, g = random(12, 64, 128), random(128, 512), random(12, 64, 512)

    def weight_gradient(x, w, g):
        return tcomp.grad(lambda w: ((x @ w) * g).sum())(w)

    jitted = tcomp.jit(weight_gradient)
    lowered = jitted.lower(x, w, g)
    graph = lowered.as_text("optimized")
    assert "broadcast_to" not in graph  # w is not copied per batch row
    (kernel,) = lowered.kernel_program().kernels
    assert blocked_contraction(kernel) is not None
    expected = np.einsum("btc,btn->cn", x.astype(np.float64), g.astype(np.float64))
    np.testing.assert_allclose(np.asarray(jitted(x, w, g)), expected, rtol=2e-4, atol=1e-3)


def test_a_big_matmul_is_not_recomputed_inside_another():
    h, w, b, w2, g = random(96, 64), random(64, 128), random(128), random(128, 64), random(96, 64)

    def input_gradient(h):
        return ((nn.gelu(h @ w + b) @ w2) * g).sum()

    program = tcomp.jit(tcomp.grad(input_gradient)).lower(h).kernel_program()
    assert max(matmuls(k) for k in program.kernels) == 1
    assert all(blocked_contraction(k) is not None for k in program.kernels if matmuls(k))


def _layers(x, ws):
    for w in ws:
        x = tcomp.tanh(x @ w) + x
    return x.sum()


def test_repeated_layers_share_kernel_functions():
    x, ws = random(64, 64), [random(64, 64) for _ in range(4)]
    step = tcomp.jit(tcomp.value_and_grad(_layers, argnums=1))
    lowered = step.lower(x, ws)
    kernels = len(lowered.kernel_program().kernels)
    functions = len(re.findall(r"^define internal .*@kernel\d+\.k\d+\(", lowered.as_text("source"), re.M))
    assert functions <= kernels / 2, (functions, kernels)
    loss, grads = step(x, ws)
    want_loss, want_grads = tcomp.jit(tcomp.value_and_grad(_layers, argnums=1), backend="reference")(x, ws)
    np.testing.assert_allclose(np.asarray(loss), np.asarray(want_loss), rtol=1e-5)
    for got, want in zip(grads, want_grads):  # float32 sums in another order: scale-relative
        want = np.asarray(want)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=2e-5 * np.abs(want).max())


def test_a_program_of_hundreds_of_kernels_compiles():
    def many(x, w):
        for _ in range(200):
            x = (x @ w) * 0.5  # each matmul reads the previous one's buffer: 200 kernels
        return x

    x, w = random(4, 4), random(4, 4)
    jitted = tcomp.jit(many)
    lowered = jitted.lower(x, w)
    assert len(lowered.kernel_program().kernels) >= 200
    expected = x.astype(np.float64)
    for _ in range(200):
        expected = (expected @ w) * 0.5
    np.testing.assert_allclose(np.asarray(jitted(x, w)), expected, rtol=1e-4, atol=1e-30)


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_kernels_kept_across_lowering_restarts_are_the_ones_a_rebuild_makes(name, monkeypatch):
    from test_model_zoo import setup  # noqa: PLC0415 (a test module: import on use)

    from tcomp.ir.kernel.lowering import program as lowering_program
    from tcomp.ir.kernel.passes import lower
    from tcomp.ir.kernel.printer import print_program

    model, params, x, y = setup(name, "float32")
    fn = tcomp.jit(tcomp.value_and_grad(model.loss)).lower(params, x, y).function("optimized")
    kept = []
    keep = lowering_program.ProgramState._keep
    monkeypatch.setattr(lowering_program.ProgramState, "_keep",
                        lambda self, root, earlier: kept.append(root) or keep(self, root, earlier))
    reused = print_program(lower(fn, ("fuse",), verify_each=True))
    assert kept, "lowering restarted and kept kernels"
    monkeypatch.setattr(lowering_program.BuiltKernel, "same_under", lambda self, plan: False)
    assert reused == print_program(lower(fn, ("fuse",)))


@pytest.mark.parametrize("padding, groups", [(0, 1), (2, 1), (1, 2)])
def test_a_convolution_and_its_gradients_run_as_blocked_matmuls(padding, groups):
    x, w, b = random(4, 8, 16, 16), random(16, 8 // groups, 3, 3), random(16)

    def loss(x, w, b):
        return (nn.relu(nn.conv2d(x, w, b, padding=padding, groups=groups)) ** 2).sum()

    step = tcomp.jit(tcomp.value_and_grad(loss, argnums=(0, 1, 2)))
    program = step.lower(x, w, b).kernel_program()
    flattened = [k for k in program.kernels if any(a.name.startswith("tflat") for a in k.args)]
    blocked = [k for k in flattened if blocked_contraction(k) is not None]
    if groups == 1:  # forward, input and weight gradients: a blocked matmul each
        assert len(blocked) >= 3, [k.origin for k in blocked]
    loss_value, grads = step(x, w, b)
    want_value, want_grads = tcomp.jit(tcomp.value_and_grad(loss, argnums=(0, 1, 2)),
                                       backend="reference")(x, w, b)
    np.testing.assert_allclose(np.asarray(loss_value), np.asarray(want_value), rtol=1e-4)
    for got, want in zip(grads, want_grads):
        want = np.asarray(want)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
