"""nanoGPT's "baby GPT" at the README's CPU settings, and its AdamW step with gradient clipping.

nanoGPT's ``model.py`` GPT with ``config/train_shakespeare_char.py`` as the
README runs it on a CPU: vocab 65, n_layer 4, n_head 4, n_embd 128,
block_size 64, batch 12, dropout 0; pre-LayerNorm blocks (eps 1e-5), causal
self-attention, a 4x MLP, the LM head tied to the token embedding,
cross-entropy over every position. ``AdamW(lr=1e-3, betas=(0.9, 0.99))``
with weight decay 0.1 on the parameters of two or more dimensions only (as
``configure_optimizers`` groups them), after ``clip_grad_norm_(1.0)``.
Initialisation as nanoGPT's: normal(0, 0.02) weights, ``c_proj`` weights
normal(0, 0.02 / sqrt(2 n_layer)), zero biases, unit LayerNorm weights.

Changed from nanoGPT: ``bias=True`` (``GPTConfig``'s default; ``train.py``
sets False); GELU with the tanh approximation in every framework (nanoGPT's
``nn.GELU()`` is the exact erf form, as is ``tcomp.nn.gelu``'s default);
a constant learning rate (no warmup or cosine decay: the schedule is a host
scalar, not part of the step); random token ids instead of Shakespeare;
linear weights stored ``[in, out]``. ``--quick`` shrinks it to n_layer 1,
n_embd 32, block 16, batch 2 (4 heads still).

    python -m bench.models.gpt [--backends reference,llvm] [--profile]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bench.models import optim
from bench.models.spec import Batch, Model, State, initial_state

VOCAB, N_HEAD = 65, 4
FULL = {"n_layer": 4, "n_embd": 128, "block_size": 64, "batch": 12}
QUICK = {"n_layer": 1, "n_embd": 32, "block_size": 16, "batch": 2}
LEARNING_RATE, BETAS, WEIGHT_DECAY, GRAD_CLIP = 1e-3, (0.9, 0.99), 0.1, 1.0
EPS = 1e-5  # LayerNorm
LAYER_WEIGHTS = ("attn_w", "attn_b", "proj_w", "proj_b", "fc_w", "fc_b", "mlp_proj_w", "mlp_proj_b")


def describe(quick: bool) -> str:
    c = QUICK if quick else FULL
    return f"L{c['n_layer']} H{N_HEAD} C{c['n_embd']} T{c['block_size']} b{c['batch']}"


def init(rng: np.random.Generator, quick: bool) -> tuple[State, Batch]:
    """nanoGPT's initialisation; a batch of random token ids and their targets."""
    c = QUICK if quick else FULL
    layers, width, block = c["n_layer"], c["n_embd"], c["block_size"]

    def normal(*shape: int, std: float = 0.02) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, np.float32)

    proj_std = 0.02 / math.sqrt(2 * layers)
    params = {"wte": normal(VOCAB, width), "wpe": normal(block, width)}
    for i in range(layers):
        params |= {
            f"h{i}.ln_1_w": ones(width),
            f"h{i}.ln_1_b": zeros(width),
            f"h{i}.attn_w": normal(width, 3 * width),
            f"h{i}.attn_b": zeros(3 * width),
            f"h{i}.proj_w": normal(width, width, std=proj_std),
            f"h{i}.proj_b": zeros(width),
            f"h{i}.ln_2_w": ones(width),
            f"h{i}.ln_2_b": zeros(width),
            f"h{i}.fc_w": normal(width, 4 * width),
            f"h{i}.fc_b": zeros(4 * width),
            f"h{i}.mlp_proj_w": normal(4 * width, width, std=proj_std),
            f"h{i}.mlp_proj_b": zeros(width),
        }
    params |= {"ln_f_w": ones(width), "ln_f_b": zeros(width)}
    tokens = rng.integers(0, VOCAB, (c["batch"], block + 1)).astype(np.int32)
    # get_batch: x = data[i:i+T], y = data[i+1:i+1+T]
    return initial_state(params, optim.adam_init(params)), (tokens[:, :-1], tokens[:, 1:].copy())


def update(ops: Any, params: dict, grads: dict, opt: dict) -> tuple[dict, dict]:
    """``clip_grad_norm_(1.0)``, then AdamW decaying the 2-D (and larger) parameters only."""
    grads = optim.clip_by_global_norm(ops, grads, GRAD_CLIP)
    decay = {name for name, p in params.items() if len(p.shape) >= 2}
    return optim.adamw(ops, params, grads, opt, LEARNING_RATE, BETAS, WEIGHT_DECAY, decay)


def _layers(params: dict) -> list[dict]:
    """Each block's parameters, without the ``h<i>.`` prefix."""
    count = sum(1 for name in params if name.endswith(".attn_w"))
    return [
        {w: params[f"h{i}.{w}"] for w in ("ln_1_w", "ln_1_b", "ln_2_w", "ln_2_b", *LAYER_WEIGHTS)}
        for i in range(count)
    ]


def tcomp_loss(p: dict, carry: dict, idx: Any, targets: Any) -> tuple[Any, dict]:
    import tcomp
    from tcomp import nn

    batch, length = idx.shape
    width = p["wte"].shape[1]

    def heads(t: Any) -> Any:  # [B, T, C] -> [B, nh, T, hs]
        return tcomp.swapaxes(t.reshape(batch, length, N_HEAD, width // N_HEAD), 1, 2)

    x = tcomp.take(p["wte"], idx, axis=0) + p["wpe"][:length]
    for layer in _layers(p):
        h = nn.layer_norm(x, layer["ln_1_w"], layer["ln_1_b"], eps=EPS)
        qkv = h @ layer["attn_w"] + layer["attn_b"]
        q, k, v = qkv[..., :width], qkv[..., width : 2 * width], qkv[..., 2 * width :]
        y = nn.attention(heads(q), heads(k), heads(v), causal=True)
        y = tcomp.swapaxes(y, 1, 2).reshape(batch, length, width)
        x = x + y @ layer["proj_w"] + layer["proj_b"]
        h = nn.layer_norm(x, layer["ln_2_w"], layer["ln_2_b"], eps=EPS)
        h = nn.gelu(h @ layer["fc_w"] + layer["fc_b"], approximate="tanh")
        x = x + h @ layer["mlp_proj_w"] + layer["mlp_proj_b"]
    x = nn.layer_norm(x, p["ln_f_w"], p["ln_f_b"], eps=EPS)
    logits = x @ tcomp.swapaxes(p["wte"], 0, 1)
    return nn.cross_entropy(
        logits.reshape(batch * length, VOCAB), targets.reshape(batch * length)
    ), carry


def jax_loss(jax: Any) -> Any:
    jnp = jax.numpy

    def layer_norm(x: Any, w: Any, b: Any) -> Any:
        mean = jnp.mean(x, axis=-1, keepdims=True)
        variance = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        return (x - mean) / jnp.sqrt(variance + EPS) * w + b

    def loss(p: dict, carry: dict, idx: Any, targets: Any) -> tuple[Any, dict]:
        batch, length = idx.shape
        width = p["wte"].shape[1]
        x = p["wte"][idx] + p["wpe"][:length]
        for layer in _layers(p):
            h = layer_norm(x, layer["ln_1_w"], layer["ln_1_b"])
            qkv = h @ layer["attn_w"] + layer["attn_b"]
            # jax.nn.dot_product_attention takes [B, T, heads, head size]
            q, k, v = (
                t.reshape(batch, length, N_HEAD, width // N_HEAD)
                for t in jnp.split(qkv, 3, axis=-1)
            )
            y = jax.nn.dot_product_attention(q, k, v, is_causal=True).reshape(batch, length, width)
            x = x + y @ layer["proj_w"] + layer["proj_b"]
            h = layer_norm(x, layer["ln_2_w"], layer["ln_2_b"])
            h = jax.nn.gelu(h @ layer["fc_w"] + layer["fc_b"], approximate=True)
            x = x + h @ layer["mlp_proj_w"] + layer["mlp_proj_b"]
        x = layer_norm(x, p["ln_f_w"], p["ln_f_b"])
        logp = jax.nn.log_softmax(x @ p["wte"].T, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], axis=-1)), carry

    return loss


def torch_loss(torch: Any) -> Any:
    functional = torch.nn.functional

    def loss(p: dict, carry: dict, idx: Any, targets: Any) -> tuple[Any, dict]:
        batch, length = idx.shape
        width = p["wte"].shape[1]
        x = functional.embedding(idx, p["wte"]) + p["wpe"][:length]
        for layer in _layers(p):
            h = functional.layer_norm(x, (width,), layer["ln_1_w"], layer["ln_1_b"], EPS)
            q, k, v = (h @ layer["attn_w"] + layer["attn_b"]).split(width, dim=2)
            q, k, v = (
                t.view(batch, length, N_HEAD, width // N_HEAD).transpose(1, 2) for t in (q, k, v)
            )
            y = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            y = y.transpose(1, 2).contiguous().view(batch, length, width)
            x = x + y @ layer["proj_w"] + layer["proj_b"]
            h = functional.layer_norm(x, (width,), layer["ln_2_w"], layer["ln_2_b"], EPS)
            h = functional.gelu(h @ layer["fc_w"] + layer["fc_b"], approximate="tanh")
            x = x + h @ layer["mlp_proj_w"] + layer["mlp_proj_b"]
        x = functional.layer_norm(x, (width,), p["ln_f_w"], p["ln_f_b"], EPS)
        logits = x @ p["wte"].T
        return functional.cross_entropy(logits.view(-1, VOCAB), targets.view(-1)), carry

    return loss


MODEL = Model(
    name="gpt",
    ports="nanoGPT baby GPT (shakespeare_char on CPU), AdamW + grad-norm clipping",
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
