"""A small model zoo written with tcomp and tcomp.nn, each checked end to end.

Models: an MLP, a CNN (conv2d, relu, max_pool2d, linear), a pre-norm
transformer block (multi-head causal attention with the heads as a leading
batch axis, layer_norm, a gelu MLP, residuals) and a tanh RNN unrolled over
time with a Python loop. Each has a numpy twin written with
``nn_reference``. For each model:

- the loss inside ``tcomp.jit(..., backend=backend)`` matches the numpy
  twin in float32 and float64;
- ``tcomp.value_and_grad`` of the loss with respect to the parameter dict,
  inside jit, matches central finite differences of the jitted loss in
  float64 (a random sample of coordinates per parameter, plus a random
  direction);
- a jitted SGD step, fed its own ``tcomp.Array`` outputs, lowers the loss
  in float32 over a few steps and traces once.

The models are tiny: the reference backend interprets numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import nn_reference as ref
import numpy as np
import pytest
from gradcheck import assert_gradient_matches_sampled_differences

import tcomp
from tcomp import nn
from tcomp.ir.text import parse_function, print_function
from tcomp.ir.verifier import verify

Params = dict[str, Any]

# ---------------------------------------------------------------------------
# MLP: x [B, D] -> relu(x w1 + b1) w2 + b2 -> cross_entropy


def mlp_init(rng: np.random.Generator) -> Params:
    return {
        "w1": rng.standard_normal((3, 5)) * 0.7,
        "b1": rng.standard_normal(5) * 0.1,
        "w2": rng.standard_normal((5, 3)) * 0.5,
        "b2": rng.standard_normal(3) * 0.1,
    }


def mlp_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((4, 3)), rng.integers(0, 3, size=4)


def mlp_loss(params: Params, x: Any, labels: Any) -> Any:
    h = nn.relu(x @ params["w1"] + params["b1"])
    return nn.cross_entropy(h @ params["w2"] + params["b2"], labels)


def mlp_reference(params: Params, x: np.ndarray, labels: np.ndarray) -> float:
    h = ref.relu(x @ params["w1"] + params["b1"])
    return float(ref.cross_entropy(h @ params["w2"] + params["b2"], labels))


# ---------------------------------------------------------------------------
# CNN: x [B, 1, 6, 6] -> conv 3x3 pad 1 -> relu -> max_pool 2 -> linear -> cross_entropy


def cnn_init(rng: np.random.Generator) -> Params:
    return {
        "conv_w": rng.standard_normal((2, 1, 3, 3)) * 0.5,
        "conv_b": rng.standard_normal(2) * 0.1,
        "fc_w": rng.standard_normal((18, 3)) * 0.3,
        "fc_b": rng.standard_normal(3) * 0.1,
    }


def cnn_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((2, 1, 6, 6)), rng.integers(0, 3, size=2)


def cnn_loss(params: Params, x: Any, labels: Any) -> Any:
    h = nn.relu(nn.conv2d(x, params["conv_w"], params["conv_b"], padding=1))  # [B, 2, 6, 6]
    h = nn.max_pool2d(h, 2)  # [B, 2, 3, 3]
    h = tcomp.reshape(h, (h.shape[0], -1))
    return nn.cross_entropy(h @ params["fc_w"] + params["fc_b"], labels)


def cnn_reference(params: Params, x: np.ndarray, labels: np.ndarray) -> float:
    h = ref.relu(ref.conv2d(x, params["conv_w"], params["conv_b"], padding=1))
    h = ref.max_pool2d(h, 2)
    h = h.reshape(h.shape[0], -1)
    return float(ref.cross_entropy(h @ params["fc_w"] + params["fc_b"], labels))


# ---------------------------------------------------------------------------
# Transformer block (pre-norm): x [B, T, M], 2 heads of size M/2, target [B, T, M], mse loss

HEADS = 2


def transformer_init(rng: np.random.Generator) -> Params:
    m, hidden = 4, 6
    return {
        "ln1_w": 1.0 + 0.1 * rng.standard_normal(m),
        "ln1_b": 0.1 * rng.standard_normal(m),
        "wq": rng.standard_normal((m, m)) * 0.5,
        "wk": rng.standard_normal((m, m)) * 0.5,
        "wv": rng.standard_normal((m, m)) * 0.5,
        "wo": rng.standard_normal((m, m)) * 0.5,
        "ln2_w": 1.0 + 0.1 * rng.standard_normal(m),
        "ln2_b": 0.1 * rng.standard_normal(m),
        "w1": rng.standard_normal((m, hidden)) * 0.5,
        "b1": 0.1 * rng.standard_normal(hidden),
        "w2": rng.standard_normal((hidden, m)) * 0.5,
        "b2": 0.1 * rng.standard_normal(m),
    }


def transformer_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))


def transformer_loss(params: Params, x: Any, target: Any) -> Any:
    b, t, m = x.shape

    def split_heads(z: Any) -> Any:  # [B, T, M] -> [H, B, T, M/H]
        return tcomp.transpose(tcomp.reshape(z, (b, t, HEADS, m // HEADS)), (2, 0, 1, 3))

    h = nn.layer_norm(x, params["ln1_w"], params["ln1_b"])
    q, k, v = (split_heads(h @ params[name]) for name in ("wq", "wk", "wv"))
    heads = nn.attention(q, k, v, causal=True)  # [H, B, T, M/H]
    merged = tcomp.reshape(tcomp.transpose(heads, (1, 2, 0, 3)), (b, t, m))
    y = x + merged @ params["wo"]
    h = nn.layer_norm(y, params["ln2_w"], params["ln2_b"])
    z = y + nn.gelu(h @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]
    return nn.mse(z, target)


def transformer_reference(params: Params, x: np.ndarray, target: np.ndarray) -> float:
    b, t, m = x.shape

    def split_heads(z: np.ndarray) -> np.ndarray:
        return z.reshape(b, t, HEADS, m // HEADS).transpose(2, 0, 1, 3)

    h = ref.layer_norm(x, params["ln1_w"], params["ln1_b"])
    q, k, v = (split_heads(h @ params[name]) for name in ("wq", "wk", "wv"))
    heads = ref.attention(q, k, v, causal=True)
    merged = heads.transpose(1, 2, 0, 3).reshape(b, t, m)
    y = x + merged @ params["wo"]
    h = ref.layer_norm(y, params["ln2_w"], params["ln2_b"])
    z = y + ref.gelu(h @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]
    return float(ref.mse(z, target))


# ---------------------------------------------------------------------------
# tanh RNN: x [T, B, D], h_t = tanh(x_t wx + h_{t-1} wh + b), logits from h_T


def rnn_init(rng: np.random.Generator) -> Params:
    d, hidden, classes = 3, 4, 3
    return {
        "wx": rng.standard_normal((d, hidden)) * 0.6,
        "wh": rng.standard_normal((hidden, hidden)) * 0.4,
        "b": 0.1 * rng.standard_normal(hidden),
        "wo": rng.standard_normal((hidden, classes)) * 0.6,
        "bo": 0.1 * rng.standard_normal(classes),
    }


def rnn_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((4, 2, 3)), rng.integers(0, 3, size=2)


def rnn_loss(params: Params, x: Any, labels: Any) -> Any:
    steps, batch = x.shape[0], x.shape[1]
    h = tcomp.zeros((batch, params["wh"].shape[0]), dtype=params["wh"].dtype)
    for t in range(steps):
        h = tcomp.tanh(x[t] @ params["wx"] + h @ params["wh"] + params["b"])
    return nn.cross_entropy(h @ params["wo"] + params["bo"], labels)


def rnn_reference(params: Params, x: np.ndarray, labels: np.ndarray) -> float:
    h = np.zeros((x.shape[1], params["wh"].shape[0]))
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ params["wx"] + h @ params["wh"] + params["b"])
    return float(ref.cross_entropy(h @ params["wo"] + params["bo"], labels))


# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    init: Callable[[np.random.Generator], Params]
    data: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]
    loss: Callable[..., Any]
    reference: Callable[..., float]
    learning_rate: float


MODELS = {
    "mlp": Model(mlp_init, mlp_data, mlp_loss, mlp_reference, 0.5),
    "cnn": Model(cnn_init, cnn_data, cnn_loss, cnn_reference, 0.5),
    "transformer": Model(
        transformer_init, transformer_data, transformer_loss, transformer_reference, 0.05
    ),
    "rnn": Model(rnn_init, rnn_data, rnn_loss, rnn_reference, 0.5),
}


def setup(name: str, dtype: str, seed: int = 0) -> tuple[Model, Params, np.ndarray, np.ndarray]:
    """The model, its float parameters and inputs in ``dtype``, and its integer labels (or float target)."""
    model = MODELS[name]
    rng = np.random.default_rng(seed)
    params = {k: np.asarray(v, dtype=dtype) for k, v in model.init(rng).items()}
    x, y = model.data(rng)
    y = y.astype(dtype) if np.issubdtype(y.dtype, np.floating) else y
    return model, params, x.astype(dtype), y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_loss_matches_numpy(backend, name, dtype):
    model, params, x, y = setup(name, dtype)
    loss = tcomp.jit(model.loss, backend=backend)(params, x, y)
    assert isinstance(loss, tcomp.Array) and loss.shape == () and loss.dtype == np.dtype(dtype)
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(float(loss), model.reference(params, x, y), **tolerance)


FD_EPS = 1e-6
COORDINATES_PER_PARAM = 10


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_match_finite_differences(backend, name):
    model, params, x, y = setup(name, "float64", seed=1)
    value_and_grad = tcomp.jit(tcomp.value_and_grad(model.loss), backend=backend)
    loss, grads = value_and_grad(params, x, y)
    np.testing.assert_allclose(float(loss), model.reference(params, x, y), rtol=1e-11)
    assert sorted(grads) == sorted(params)

    forward = tcomp.jit(model.loss, backend=backend)

    def loss_with(key: str, value: np.ndarray) -> float:
        return float(np.asarray(forward({**params, key: value}, x, y)))

    rng = np.random.default_rng(2)
    for key, p in params.items():
        g = np.asarray(grads[key])
        assert g.shape == p.shape and g.dtype == np.float64, (
            f"{name}: grad of {key} is {g.dtype}{g.shape}"
        )
        assert np.any(g != 0), f"{name}: the gradient of {key} is all zero"
        assert_gradient_matches_sampled_differences(
            lambda trial: loss_with(key, trial),
            p,
            g,
            rng,
            COORDINATES_PER_PARAM,
            err_msg=f"{name}: gradient of {key} disagrees with finite differences",
            eps=FD_EPS,
        )
    assert value_and_grad.trace_count == 1


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sgd_steps_lower_the_loss_and_trace_once(backend, name):
    model, params, x, y = setup(name, "float32", seed=3)
    lr = model.learning_rate

    @tcomp.jit(backend=backend)
    def train_step(params, x, y):
        loss, grads = tcomp.value_and_grad(model.loss)(params, x, y)
        return loss, tcomp.tree_map(lambda p, g: p - lr * g, params, grads)

    losses = []
    current: Any = params
    for _ in range(6):
        loss, current = train_step(current, x, y)
        losses.append(float(loss))
    assert train_step.trace_count == 1
    assert sorted(current) == sorted(params)
    for key, p in current.items():
        assert isinstance(p, tcomp.Array) and p.dtype == np.float32 and p.shape == params[key].shape
        assert p.backend == backend
    # The first loss is that of the initial parameters; each later one follows an update.
    np.testing.assert_allclose(losses[0], model.reference(params, x, y), rtol=1e-5)
    final = float(tcomp.jit(model.loss, backend=backend)(current, x, y))
    assert final < 0.95 * losses[0], f"{name}: losses {losses + [final]} did not fall"
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:] + [final])), (
        f"{name}: losses {losses}"
    )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_step_ir_round_trips_through_text_and_verifies(name):
    """The traced and optimised IR of a whole training step (forward and
    backward) verifies and survives print -> parse unchanged, locations and
    metadata included."""
    model, params, x, y = setup(name, "float32")

    @tcomp.jit(backend="reference")
    def train_step(params, x, y):
        loss, grads = tcomp.value_and_grad(model.loss)(params, x, y)
        return loss, tcomp.tree_map(lambda p, g: p - 0.1 * g, params, grads)

    lowered = train_step.lower(params, x, y)
    for stage in lowered.GRAPH_STAGES:
        fn = lowered.function(stage)
        verify(fn)
        text = print_function(fn)
        reparsed = parse_function(text)
        assert reparsed == fn, f"{name} {stage}: the parsed program differs from the printed one"
        assert print_function(reparsed) == text
    traced, optimized = lowered.function("traced"), lowered.function("optimized")
    assert len(optimized.nodes) < len(traced.nodes), f"{name}: the pipeline removed nothing"
