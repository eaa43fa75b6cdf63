"""One model's train step in each framework: tcomp, JAX, PyTorch eager and torch.compile.

A step is loss, gradients and optimiser update in one call,
``step(state, *batch) -> (loss, new_state)``; the caller feeds the new
state into the next call. Each step returns only when its work is done.

- tcomp: ``tcomp.jit`` of ``value_and_grad`` plus the update; the state
  stays ``tcomp.Array`` on the backend between calls.
- JAX: ``jax.jit`` of the same, blocking on the result (no buffer donation:
  the check runs steps from the same initial state more than once).
- PyTorch eager: autograd for the gradients (``torch.autograd.grad`` on
  parameters marked ``requires_grad``), the update under ``no_grad``.
- torch.compile: the same, with the loss and the update each passed through
  ``torch.compile`` (AOTAutograd compiles the backward with the forward);
  the usual way to compile a train step whose backward is a ``.backward()``
  or ``autograd.grad`` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from bench.models.optim import TorchOps
from bench.models.spec import Model, State

FRAMEWORKS = ("tcomp", "torch", "torch.compile", "jax")


@dataclass
class TrainStep:
    """A framework's train step for one model, and how to get its inputs and gradients.

    ``loss_and_grads(state, *batch) -> (loss, grads)`` runs the loss and
    backward of the step without the update (for the check before timing);
    ``convert`` turns a numpy tree into this framework's arrays; ``jitted``
    is tcomp's ``JitFunction`` of the step (for ``lower(...).profile(...)``).
    """

    step: Callable[..., tuple[Any, State]]
    loss_and_grads: Callable[..., tuple[Any, dict[str, Any]]]
    convert: Callable[[Any], Any]
    jitted: Any = None

    def __call__(self, state: State, *batch: Any) -> tuple[Any, State]:
        return self.step(state, *batch)


def build(model: Model, framework: str, backend: str | None = None) -> TrainStep:
    """The train step of ``model`` in ``framework`` (one of :data:`FRAMEWORKS`)."""
    if framework == "tcomp":
        return tcomp_step(model, backend)
    if framework == "jax":
        import jax

        return jax_step(model, jax)
    if framework in ("torch", "torch.compile"):
        import torch

        return torch_step(model, torch, compiled=framework == "torch.compile")
    raise ValueError(f"unknown framework {framework!r}; known: {', '.join(FRAMEWORKS)}")


def tcomp_step(model: Model, backend: str | None) -> TrainStep:
    """``tcomp.jit`` of loss, gradient and update on ``backend`` (tcomp's default when None)."""
    import tcomp

    value_and_grad = tcomp.value_and_grad(model.tcomp_loss, has_aux=True)

    def train(state: State, *batch: Any) -> tuple[Any, State]:
        (loss, carry), grads = value_and_grad(state["params"], state["carry"], *batch)
        params, opt = model.update(tcomp, state["params"], grads, state["opt"])
        return loss, {"params": params, "opt": opt, "carry": carry}

    def gradients(state: State, *batch: Any) -> tuple[Any, dict]:
        (loss, _), grads = value_and_grad(state["params"], state["carry"], *batch)
        return loss, grads

    jitted = tcomp.jit(train, backend=backend)
    jitted_gradients = tcomp.jit(gradients, backend=backend)
    # numpy -> tcomp.Array on the backend, a whole tree in one call (one trace per tree)
    put = tcomp.jit(lambda tree: tree, backend=backend)

    return TrainStep(
        step=lambda state, *batch: _sync_tcomp(jitted(state, *batch)),
        loss_and_grads=lambda state, *batch: _sync_tcomp(jitted_gradients(state, *batch)),
        convert=put,
        jitted=jitted,
    )


def _sync_tcomp(out: Any) -> Any:
    """Waits for a tcomp result (a no-op on the synchronous CPU backends)."""
    import tcomp

    leaves = tcomp.tree_flatten(out)[0]
    sync = getattr(getattr(leaves[0], "_backend", None), "synchronize", None) if leaves else None
    if sync is not None:
        sync()
    return out


def jax_step(model: Model, jax: Any) -> TrainStep:
    """``jax.jit`` of loss, gradient and update; blocks until the result is ready."""
    value_and_grad = jax.value_and_grad(model.jax_loss(jax), has_aux=True)

    @jax.jit
    def train(state: State, *batch: Any) -> tuple[Any, State]:
        (loss, carry), grads = value_and_grad(state["params"], state["carry"], *batch)
        params, opt = model.update(jax.numpy, state["params"], grads, state["opt"])
        return loss, {"params": params, "opt": opt, "carry": carry}

    @jax.jit
    def gradients(state: State, *batch: Any) -> tuple[Any, dict]:
        (loss, _), grads = value_and_grad(state["params"], state["carry"], *batch)
        return loss, grads

    return TrainStep(
        step=lambda state, *batch: jax.block_until_ready(train(state, *batch)),
        loss_and_grads=lambda state, *batch: jax.block_until_ready(gradients(state, *batch)),
        convert=jax.device_put,
    )


def torch_step(model: Model, torch: Any, compiled: bool = False) -> TrainStep:
    """PyTorch eager (or, with ``compiled``, the loss and the update through ``torch.compile``)."""
    loss_fn = model.torch_loss(torch)
    ops = TorchOps(torch)

    def update(params: dict, grads: dict, opt: dict) -> tuple[dict, dict]:
        return model.update(ops, params, grads, opt)

    if compiled:
        loss_fn, update = torch.compile(loss_fn), torch.compile(update)

    def forward_backward(state: State, *batch: Any) -> tuple[Any, dict, dict]:
        params = {n: p.detach().requires_grad_() for n, p in state["params"].items()}
        loss, carry = loss_fn(params, state["carry"], *batch)
        grads = torch.autograd.grad(loss, list(params.values()))
        carry = {n: c.detach() for n, c in carry.items()}
        return loss.detach(), dict(zip(params, grads)), carry

    def train(state: State, *batch: Any) -> tuple[Any, State]:
        loss, grads, carry = forward_backward(state, *batch)
        with torch.no_grad():
            params, opt = update(state["params"], grads, state["opt"])
        return loss, {"params": params, "opt": opt, "carry": carry}

    def gradients(state: State, *batch: Any) -> tuple[Any, dict]:
        loss, grads, _ = forward_backward(state, *batch)
        return loss, grads

    def convert(tree: Any) -> Any:
        """numpy -> torch tensors; integer indices become int64, as PyTorch's losses want."""
        if isinstance(tree, dict):
            return {k: convert(v) for k, v in tree.items()}
        if isinstance(tree, (tuple, list)):
            return type(tree)(convert(v) for v in tree)
        array = np.asarray(tree)
        return torch.from_numpy(
            array.astype(np.int64) if array.dtype.kind in "iu" else array.copy()
        )

    return TrainStep(step=train, loss_and_grads=gradients, convert=convert)


def first_steps(train: TrainStep, state: State, batch: tuple) -> dict[str, Any]:
    """What the check before timing compares: loss and gradients at ``state``, then the losses
    of two steps from it (the second one shows the update was right)."""
    loss, grads = train.loss_and_grads(state, *batch)
    first, state = train(state, *batch)
    second, _ = train(state, *batch)
    return {"loss": loss, "grads": grads, "step losses": [first, second]}
