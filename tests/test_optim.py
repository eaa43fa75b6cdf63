"""tcomp.optim against plain numpy versions of PyTorch's documented update rules.

Each optimiser runs several steps on fixed gradients, inside ``jit`` (one
trace for every step: the step count is state, not a constant) and eagerly,
on ``reference`` and ``llvm``; the numpy versions below are written from the
``torch.optim`` documentation (and optax's for clipping and schedules), in
float64.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from frontend_helpers import default_backend, to_array

import tcomp
from tcomp import optim
from tcomp.errors import TcompArgumentError, TcompTypeError

BACKENDS = [b for b in ("reference", "llvm") if b in tcomp.available_backends()]
STEPS = 4


def make_params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "w": rng.normal(size=(3, 4)).astype(np.float32),
        "b": rng.normal(size=4).astype(np.float32),
    }


def make_grads() -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [
        {
            "w": rng.normal(size=(3, 4)).astype(np.float32),
            "b": rng.normal(size=4).astype(np.float32),
        }
        for _ in range(STEPS)
    ]


# ---------------------------------------------------------------------------
# numpy versions of the documented rules (one leaf at a time, float64)


def np_sgd(p, grads, lr, momentum=0.0, nesterov=False):
    buf = None
    for g in grads:
        if momentum:
            buf = g if buf is None else momentum * buf + g  # torch: first step b = g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def np_adam(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, lrs=None):
    m = v = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        step = lrs[t - 1] if lrs is not None else lr
        p = p * (1 - step * weight_decay)  # torch.optim.AdamW: decay first, on the old p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - step * m_hat / (np.sqrt(v_hat) + eps)
    return p


def np_adagrad(p, grads, lr, initial=0.0, eps=1e-10):
    s = np.full_like(p, initial)
    for g in grads:
        s = s + g * g
        p = p - lr * g / (np.sqrt(s) + eps)
    return p


def np_rmsprop(p, grads, lr, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
    v, g_avg, buf = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        v = alpha * v + (1 - alpha) * g * g
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            avg = np.sqrt(v - g_avg * g_avg) + eps
        else:
            avg = np.sqrt(v) + eps
        if momentum:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p


def np_clipped(grads, max_norm):
    norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values()))
    return {k: g * (max_norm / max(norm, max_norm)) for k, g in grads.items()}


# name -> (optimiser, numpy version of one leaf's trajectory)
CASES = {
    "sgd": (optim.sgd(0.1), lambda p, gs: np_sgd(p, gs, 0.1)),
    "sgd_momentum": (optim.sgd(0.1, momentum=0.9), lambda p, gs: np_sgd(p, gs, 0.1, 0.9)),
    "sgd_nesterov": (
        optim.sgd(0.05, momentum=0.8, nesterov=True),
        lambda p, gs: np_sgd(p, gs, 0.05, 0.8, True),
    ),
    "adam": (optim.adam(0.01), lambda p, gs: np_adam(p, gs, 0.01)),
    "adam_betas": (
        optim.adam(0.02, b1=0.5, b2=0.9, eps=1e-3),
        lambda p, gs: np_adam(p, gs, 0.02, 0.5, 0.9, 1e-3),
    ),
    "adamw": (
        optim.adamw(0.01, weight_decay=0.1),
        lambda p, gs: np_adam(p, gs, 0.01, weight_decay=0.1),
    ),
    "adagrad": (
        optim.adagrad(0.1, initial_accumulator_value=0.1),
        lambda p, gs: np_adagrad(p, gs, 0.1, 0.1),
    ),
    "rmsprop": (optim.rmsprop(0.01), lambda p, gs: np_rmsprop(p, gs, 0.01)),
    "rmsprop_centered_momentum": (
        optim.rmsprop(0.01, decay=0.9, momentum=0.5, centered=True),
        lambda p, gs: np_rmsprop(p, gs, 0.01, 0.9, momentum=0.5, centered=True),
    ),
}


def expected_params(reference) -> dict[str, np.ndarray]:
    params, grads = make_params(), make_grads()
    return {
        key: reference(params[key].astype(np.float64), [g[key].astype(np.float64) for g in grads])
        for key in params
    }


def run_jitted(opt, backend: str):
    @tcomp.jit(backend=backend)
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    params = make_params()
    state = opt.init(params)
    for grads in make_grads():
        params, state = step(params, state, grads)
    assert step.trace_count == 1  # the step count is an array of the state
    return params


def run_eagerly(opt, backend: str):
    with default_backend(backend):
        params = {k: to_array(v, backend) for k, v in make_params().items()}
        state = opt.init(params)
        for grads in make_grads():
            updates, state = opt.update(grads, state, params)
            params = optim.apply_updates(params, updates)
    return params


@pytest.mark.parametrize("mode", ["jit", "eager"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_optimiser_matches_the_documented_rule(name: str, backend: str, mode: str) -> None:
    opt, reference = CASES[name]
    got = (run_jitted if mode == "jit" else run_eagerly)(opt, backend)
    want = expected_params(reference)
    start = make_params()
    for key in want:
        result = got[key]
        assert isinstance(result, tcomp.Array) and result.backend == backend
        assert result.dtype == np.float32 and result.shape == want[key].shape
        np.testing.assert_allclose(np.asarray(result), want[key], rtol=2e-5, atol=2e-6)
        assert not np.allclose(want[key], start[key])  # the steps did move the params


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_schedule_is_traced_once_and_follows_the_step_count(backend: str) -> None:
    schedule = optim.warmup_cosine_decay_schedule(0.0, 0.02, warmup_steps=2, decay_steps=STEPS)
    lrs = [0.0, 0.01, 0.02, 0.02 * 0.5 * (1 + math.cos(math.pi * 1 / 2))]  # steps 0 .. 3
    got = run_jitted(optim.adam(schedule), backend)
    want = expected_params(lambda p, gs: np_adam(p, gs, None, lrs=lrs))
    for key in want:
        np.testing.assert_allclose(np.asarray(got[key]), want[key], rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_by_global_norm_scales_all_leaves_together(backend: str, max_norm: float) -> None:
    grads = make_grads()[0]
    clip = optim.clip_by_global_norm(max_norm)
    updates, _ = tcomp.jit(clip.update, backend=backend)(grads, clip.init(grads))
    want = np_clipped(grads, max_norm)
    for key in grads:
        np.testing.assert_allclose(np.asarray(updates[key]), want[key], rtol=1e-5, atol=1e-7)
    norm = math.sqrt(sum(float(np.sum(np.asarray(u, np.float64) ** 2)) for u in updates.values()))
    assert norm == pytest.approx(
        min(max_norm, math.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values()))),
        rel=1e-5,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_chain_of_clipping_and_sgd_is_clip_then_step(backend: str) -> None:
    opt = optim.chain(optim.clip_by_global_norm(0.5), optim.sgd(0.1))
    got = run_jitted(opt, backend)
    params, grads = make_params(), make_grads()
    want = {k: params[k].astype(np.float64) for k in params}
    for g in grads:
        clipped = np_clipped(g, 0.5)
        want = {k: want[k] - 0.1 * clipped[k] for k in want}
    for key in want:
        np.testing.assert_allclose(np.asarray(got[key]), want[key], rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", ["sgd_momentum", "adam"])
def test_bfloat16_params_keep_their_dtype_and_the_trace(name: str) -> None:
    opt, _ = CASES[name]

    @tcomp.jit(backend="reference")
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    params = {k: v.astype(ml_dtypes.bfloat16) for k, v in make_params().items()}
    state = opt.init(params)
    for grads in make_grads():
        grads = {k: v.astype(ml_dtypes.bfloat16) for k, v in grads.items()}
        params, state = step(params, state, grads)
        leaves, _ = tcomp.tree_flatten(state)
        assert {str(x.dtype) for x in leaves} <= {"bfloat16", "int32"}
    assert step.trace_count == 1
    assert all(str(p.dtype) == "bfloat16" for p in params.values())


def test_the_state_holds_an_int32_step_count() -> None:
    opt = optim.adam(1e-3)
    state = opt.init(make_params())
    updates, state = opt.update(make_grads()[0], state)
    updates, state = opt.update(make_grads()[1], state)
    adam_state = state[0]
    assert isinstance(adam_state, optim.ScaleByAdamState)
    assert adam_state.count.dtype == np.int32 and int(adam_state.count) == 2


def test_errors_in_user_terms() -> None:
    with pytest.raises(TcompArgumentError, match="b1 must be in"):
        optim.adam(1e-3, b1=1.0)
    with pytest.raises(TcompTypeError, match="learning_rate must be"):
        optim.sgd("fast")
    with pytest.raises(TcompArgumentError, match="nesterov"):
        optim.sgd(0.1, nesterov=True)
    with pytest.raises(TcompArgumentError, match="max_norm"):
        optim.clip_by_global_norm(0.0)
    with pytest.raises(TcompTypeError, match="chain: argument 1"):
        optim.chain(optim.sgd(0.1), lambda g: g)
    opt = optim.adamw(1e-3)
    with pytest.raises(TcompArgumentError, match="needs the parameters"):
        opt.update(make_grads()[0], opt.init(make_params()))
