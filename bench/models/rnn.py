"""Karpathy's min-char-rnn: a character-level tanh RNN trained with Adagrad.

``hs[t] = tanh(Wxh @ xs[t] + Whh @ hs[t-1] + bh)``, ``ys[t] = Why @ hs[t] + by``
with one-hot column inputs, hidden size 100, unrolled over seq_length 25
steps (a Python loop inside the traced function), loss the sum over the
steps of the softmax cross-entropy, gradients clipped to [-5, 5], then
Adagrad with learning rate 0.1 (``mem += g * g; p -= lr * g / sqrt(mem + 1e-8)``).
Weights start normal(0, 0.01), biases zero, and the last hidden state is
carried into the next step as ``hprev`` (no gradient through it), as in the
original. The layout is the original's: column vectors, ``W @ h``.

Changed from min-char-rnn: a vocabulary of 65 (tiny Shakespeare's) and
random character ids instead of a text file; the per-step loss is
``-log_softmax(y)[target]`` rather than ``-log(softmax(y)[target])`` (the
same number, without overflow). ``--quick`` uses hidden size 16 and 5 steps.

    python -m bench.models.rnn [--backends reference,llvm] [--profile]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.models import optim
from bench.models.spec import Batch, Model, State, initial_state

VOCAB = 65
HIDDEN, SEQ_LENGTH = 100, 25
QUICK_HIDDEN, QUICK_SEQ_LENGTH = 16, 5
LEARNING_RATE, CLIP = 0.1, 5.0


def describe(quick: bool) -> str:
    hidden, steps = (QUICK_HIDDEN, QUICK_SEQ_LENGTH) if quick else (HIDDEN, SEQ_LENGTH)
    return f"hidden {hidden}, {steps} steps, vocab {VOCAB}"


def init(rng: np.random.Generator, quick: bool) -> tuple[State, Batch]:
    """min-char-rnn's initialisation, a zero ``hprev``; a sequence of inputs and targets."""
    hidden, steps = (QUICK_HIDDEN, QUICK_SEQ_LENGTH) if quick else (HIDDEN, SEQ_LENGTH)

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.01).astype(np.float32)

    params = {
        "Wxh": normal(hidden, VOCAB),
        "Whh": normal(hidden, hidden),
        "Why": normal(VOCAB, hidden),
        "bh": np.zeros((hidden, 1), np.float32),
        "by": np.zeros((VOCAB, 1), np.float32),
    }
    chars = rng.integers(0, VOCAB, steps + 1).astype(np.int32)
    carry = {"h": np.zeros((hidden, 1), np.float32)}
    state = initial_state(params, optim.adagrad_init(params), carry)
    return state, (chars[:-1], chars[1:].copy())


def update(ops: Any, params: dict, grads: dict, opt: dict) -> tuple[dict, dict]:
    grads = optim.clip_by_value(ops, grads, -CLIP, CLIP)
    return optim.adagrad(ops, params, grads, opt, LEARNING_RATE)


def tcomp_loss(p: dict, carry: dict, inputs: Any, targets: Any) -> tuple[Any, dict]:
    import tcomp
    from tcomp import nn

    xs = tcomp.one_hot(inputs, VOCAB)  # [steps, vocab]
    h, loss = carry["h"], 0.0
    for t in range(inputs.shape[0]):
        x = xs[t].reshape(VOCAB, 1)
        h = tcomp.tanh(p["Wxh"] @ x + p["Whh"] @ h + p["bh"])
        y = p["Why"] @ h + p["by"]  # [vocab, 1]
        loss = loss + nn.cross_entropy(y.reshape(1, VOCAB), targets[t : t + 1])
    return loss, {"h": h}


def jax_loss(jax: Any) -> Any:
    jnp = jax.numpy

    def loss(p: dict, carry: dict, inputs: Any, targets: Any) -> tuple[Any, dict]:
        xs = jax.nn.one_hot(inputs, VOCAB)
        h, total = carry["h"], 0.0
        for t in range(inputs.shape[0]):
            h = jnp.tanh(p["Wxh"] @ xs[t].reshape(VOCAB, 1) + p["Whh"] @ h + p["bh"])
            y = p["Why"] @ h + p["by"]
            total = total - jax.nn.log_softmax(y, axis=0)[targets[t], 0]
        return total, {"h": h}

    return loss


def torch_loss(torch: Any) -> Any:
    functional = torch.nn.functional

    def loss(p: dict, carry: dict, inputs: Any, targets: Any) -> tuple[Any, dict]:
        xs = functional.one_hot(inputs, VOCAB).to(p["Wxh"].dtype)
        h, total = carry["h"], 0.0
        for t in range(inputs.shape[0]):
            h = torch.tanh(p["Wxh"] @ xs[t].view(VOCAB, 1) + p["Whh"] @ h + p["bh"])
            y = p["Why"] @ h + p["by"]
            total = total + functional.cross_entropy(y.view(1, VOCAB), targets[t : t + 1])
        return total, {"h": h}

    return loss


MODEL = Model(
    name="rnn",
    ports="Karpathy's min-char-rnn, Adagrad + value clipping",
    describe=describe,
    init=init,
    tcomp_loss=tcomp_loss,
    jax_loss=jax_loss,
    torch_loss=torch_loss,
    update=update,
)


if __name__ == "__main__":
    from bench.models.standalone import main

    main(MODEL)
