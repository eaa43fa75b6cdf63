"""The benchmark MLP (784-512-512-10, ReLU, softmax cross-entropy) and its SGD step per framework.

Each ``*_step`` returns ``step(params, x, labels) -> (loss, new_params)``:
forward, backward and the SGD update in one call. ``params`` is a dict
``w1 b1 w2 b2 w3 b3``. Shared by the ``mlp`` workload and by the fresh
processes of the ``first_call`` workload (``bench/first_call.py``).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

FULL_SIZES = (784, 512, 512, 10)
QUICK_SIZES = (784, 64, 64, 10)
FULL_BATCH = 256
QUICK_BATCH = 32
LEARNING_RATE = 0.01
NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")

Step = Callable[[Any, Any, Any], tuple[Any, Any]]


def init_params(sizes: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """He-initialised float32 weights and zero biases."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        scale = np.sqrt(2.0 / fan_in)
        params[f"w{i}"] = (rng.standard_normal((fan_in, fan_out)) * scale).astype(np.float32)
        params[f"b{i}"] = np.zeros(fan_out, np.float32)
    return params


def make_data(sizes: tuple[int, ...], batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A batch of float32 inputs and int32 labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    return x, rng.integers(0, sizes[-1], size=batch).astype(np.int32)


def numpy_step(params: dict, x: np.ndarray, labels: np.ndarray) -> tuple[Any, dict]:
    """Hand-written forward, backward and SGD update in numpy."""
    w1, b1, w2, b2, w3, b3 = (params[n] for n in NAMES)
    pre1 = x @ w1 + b1
    h1 = np.maximum(pre1, 0)
    pre2 = h1 @ w2 + b2
    h2 = np.maximum(pre2, 0)
    logits = h2 @ w3 + b3
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(len(x))
    loss = -(shifted[rows, labels] - np.log(total[:, 0])).mean()
    d3 = exp / total
    d3[rows, labels] -= 1
    d3 /= len(x)
    d2 = (d3 @ w3.T) * (pre2 > 0)
    d1 = (d2 @ w2.T) * (pre1 > 0)
    grads = {
        "w3": h2.T @ d3,
        "b3": d3.sum(0),
        "w2": h1.T @ d2,
        "b2": d2.sum(0),
        "w1": x.T @ d1,
        "b1": d1.sum(0),
    }
    return loss, {n: params[n] - LEARNING_RATE * grads[n] for n in NAMES}


def tcomp_step(backend: str | None) -> Step:
    """The step as one ``tcomp.jit`` function of ``value_and_grad`` and ``tree_map``."""
    import tcomp
    from tcomp import nn

    def loss_fn(params: Any, x: Any, labels: Any) -> Any:
        h = nn.relu(x @ params["w1"] + params["b1"])
        h = nn.relu(h @ params["w2"] + params["b2"])
        return nn.cross_entropy(h @ params["w3"] + params["b3"], labels)

    @tcomp.jit(backend=backend)
    def step(params: Any, x: Any, labels: Any) -> Any:
        loss, grads = tcomp.value_and_grad(loss_fn)(params, x, labels)
        return loss, tcomp.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)

    return step


def torch_step(torch: Any) -> Step:
    """PyTorch eager: autograd for the gradients, a functional SGD update."""
    functional = torch.nn.functional

    def step(params: Any, x: Any, labels: Any) -> Any:
        params = {n: p.detach().requires_grad_() for n, p in params.items()}
        h = functional.relu(x @ params["w1"] + params["b1"])
        h = functional.relu(h @ params["w2"] + params["b2"])
        loss = functional.cross_entropy(h @ params["w3"] + params["b3"], labels)
        grads = torch.autograd.grad(loss, [params[n] for n in NAMES])
        with torch.no_grad():
            new = {n: params[n] - LEARNING_RATE * g for n, g in zip(NAMES, grads)}
        return loss.detach(), new

    return step


def jax_step(jax: Any) -> Step:
    """JAX: ``jax.jit`` of ``value_and_grad`` and ``tree_map``; blocks on its result."""
    jnp = jax.numpy

    def loss_fn(params: Any, x: Any, labels: Any) -> Any:
        h = jax.nn.relu(x @ params["w1"] + params["b1"])
        h = jax.nn.relu(h @ params["w2"] + params["b2"])
        logp = jax.nn.log_softmax(h @ params["w3"] + params["b3"], axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

    @jax.jit
    def jitted(params: Any, x: Any, labels: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, labels)
        return loss, jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)

    def step(params: Any, x: Any, labels: Any) -> Any:
        return jax.block_until_ready(jitted(params, x, labels))

    return step
