"""tcomp.optim in a jitted train step: a model trains, and the update fuses on llvm.

What the fusion gives today (llvm, the demo's MLP): an SGD update fuses into the
kernel that computes each parameter's gradient (a matmul's or a sum's epilogue),
so the train step has exactly the kernels of the gradient alone. Adam keeps three
outputs per parameter (the new value and the two moment averages); the fuser
gives each output its own kernel, so Adam adds one elementwise kernel per output
(three per parameter, the new value reading the two new averages, nothing
recomputed) and three one-element kernels (the step count and the two bias
corrections); its gradients are computed once, in the same kernels as without
an optimiser.
"""

from __future__ import annotations

import pytest

import tcomp
from tcomp import optim
from tcomp.demo import init_params, loss_fn, make_spirals

pytest.importorskip("llvmlite")


def train_step_for(opt, backend: str = "llvm"):
    @tcomp.jit(backend=backend)
    def train_step(params, state, x, labels):
        loss, grads = tcomp.value_and_grad(loss_fn)(params, x, labels)
        updates, state = opt.update(grads, state, params)
        return loss, optim.apply_updates(params, updates), state

    return train_step


def test_a_small_model_trains_with_adam() -> None:
    x, labels = make_spirals(points_per_class=50, classes=3, seed=0)
    params = init_params(32, classes=3, seed=1)
    opt = optim.adam(0.01)
    step = train_step_for(opt)
    state = opt.init(params)
    losses = []
    for _ in range(200):
        loss, params, state = step(params, state, x, labels)
        losses.append(float(loss))
    assert step.trace_count == 1
    # the loss starts near log(3) = 1.1 and falls more than fivefold (0.11 when written)
    assert losses[-1] < losses[0] / 5, (losses[0], losses[-1])
    assert int(state[0].count) == 200


def _kernel_ops(kernel) -> set[str]:
    return {name.split()[1] for name in kernel.origin}


def _writer(program, buffer: str):
    (kernel,) = [
        k for k in program.kernels if any(a.name == buffer and a.access != "in" for a in k.args)
    ]
    return kernel


def _inputs(kernel) -> set[str]:
    return {a.name for a in kernel.args if a.access == "in"}


def _lowered(opt):
    x, labels = make_spirals(points_per_class=20, classes=3, seed=0)
    params = init_params(16, classes=3, seed=1)
    grads_only = tcomp.jit(tcomp.value_and_grad(loss_fn)).lower(params, x, labels)
    step = train_step_for(opt).lower(params, opt.init(params), x, labels)
    return len(params), grads_only.kernel_program(), step


def test_sgd_update_fuses_into_each_gradients_kernel() -> None:
    n_params, grads_program, lowered = _lowered(optim.sgd(0.1))
    program = lowered.kernel_program()
    assert len(program.kernels) == len(grads_program.kernels)
    for name in program.outputs[1 : 1 + n_params]:  # loss, then the new params
        ops = _kernel_ops(_writer(program, name))
        assert ops & {"matmul", "reduce_sum"}, ops  # the gradient's own op ...
        assert {"mul", "add"} <= ops, ops  # ... with p + (-lr) * g after it
    assert lowered.as_text("kernels").count("kernel k") == len(program.kernels)


def test_adam_update_is_one_elementwise_kernel_per_output() -> None:
    n_params, grads_program, lowered = _lowered(optim.adam(1e-3))
    program = lowered.kernel_program()
    # outputs: loss, new params, then the state (count, mu per param, nu per param)
    new_params = program.outputs[1 : 1 + n_params]
    mus = program.outputs[2 + n_params : 2 + 2 * n_params]
    nus = program.outputs[2 + 2 * n_params : 2 + 3 * n_params]
    for new, mu, nu in zip(new_params, mus, nus):
        for name in (new, mu, nu):
            kernel = _writer(program, name)
            assert not any(op == "matmul" or op.startswith("reduce_") for op in _kernel_ops(kernel))
            assert [a.name for a in kernel.args if a.access != "in"] == [name]
        assert {mu, nu} <= _inputs(_writer(program, new))  # reads the new averages
    assert len(program.kernels) == len(grads_program.kernels) + 3 * n_params + 3
    text = lowered.as_text("kernels")
    assert text.count("sqrt(") == n_params  # one update expression per parameter
