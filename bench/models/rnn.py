"""Karpathy's min-char-rnn: a character-level tanh RNN trained with Adagrad.

``hs[t] = tanh(Wxh @ xs[t] + Whh @ hs[t-1] + bh)``, ``ys[t] = Why @ hs[t] + by``
with one-hot column inputs, hidden size 100, seq_length 25 steps, loss the
sum over the steps of the softmax cross-entropy, gradients clipped to [-5, 5], then
Adagrad with learning rate 0.1 (``mem += g * g; p -= lr * g / sqrt(mem + 1e-8)``).
Weights start normal(0, 0.01), biases zero, and the last hidden state is
carried into the next step as ``hprev`` (no gradient through it), as in the
original. The layout is the original's: column vectors, ``W @ h``.

The loop over the steps: tcomp runs the recurrence with ``tcomp.nn.rnn``
(``nn.rnn_cell`` on ``tcomp.scan``: traced once, one loop in the compiled
program, whatever the length) and JAX with ``jax.lax.scan``, both with the
input projection ``Wxh @ x`` of all steps before the loop and the read-out
``Why @ h`` and the loss after it, as one writes a scanned RNN. PyTorch, which
has no scan, keeps min-char-rnn's Python loop; so does
:func:`tcomp_loss_unrolled`, the same program for tcomp unrolled (to compare
compile times: ``python -m bench.models.rnn --unrolled``).

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
    """The recurrence on ``tcomp.scan`` (``nn.rnn`` with ``nn.rnn_cell``, rows for columns)."""
    import tcomp
    from tcomp import nn

    hidden = p["Whh"].shape[0]
    cell = {"weight_ih": p["Wxh"], "weight_hh": p["Whh"], "bias_ih": p["bh"].reshape(hidden)}
    xs = tcomp.one_hot(inputs, VOCAB).reshape(-1, 1, VOCAB)  # [steps, 1, vocab]
    h, hs = nn.rnn(nn.rnn_cell, cell, xs, carry["h"].reshape(1, hidden))
    ys = hs.reshape(-1, hidden) @ p["Why"].T + p["by"].reshape(VOCAB)  # [steps, vocab]
    loss = nn.cross_entropy(ys, targets, reduction="sum")
    return loss, {"h": h.reshape(hidden, 1)}


def tcomp_loss_unrolled(p: dict, carry: dict, inputs: Any, targets: Any) -> tuple[Any, dict]:
    """min-char-rnn's loop as written: one Python iteration (a copy of the graph) per step."""
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
        xs = jax.nn.one_hot(inputs, VOCAB)  # [steps, vocab]
        projected = xs @ p["Wxh"].T + p["bh"][:, 0]  # [steps, hidden]

        def step(h: Any, x: Any) -> tuple[Any, Any]:
            h = jnp.tanh(x + h @ p["Whh"].T)
            return h, h

        h, hs = jax.lax.scan(step, carry["h"][:, 0], projected)
        ys = hs @ p["Why"].T + p["by"][:, 0]  # [steps, vocab]
        picked = jnp.take_along_axis(jax.nn.log_softmax(ys, axis=-1), targets[:, None], axis=1)
        return -jnp.sum(picked), {"h": h[:, None]}

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
    import dataclasses
    import sys

    from bench.models.standalone import main

    unrolled = "--unrolled" in sys.argv[1:]
    argv = [arg for arg in sys.argv[1:] if arg != "--unrolled"]
    main(dataclasses.replace(MODEL, tcomp_loss=tcomp_loss_unrolled) if unrolled else MODEL, argv)
