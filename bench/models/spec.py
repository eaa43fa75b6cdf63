"""What a benchmark model module declares: :class:`Model`, its loss per framework and its update.

A model's training state is a dict ``{"params", "opt", "carry"}`` of dicts
of arrays: the parameters, the optimiser's state, and what a recurrent
model carries from one step to the next (min-char-rnn's hidden state; ``{}``
for the others). Every loss has the signature
``loss(params, carry, *batch) -> (loss, carry)``, so one step builder per
framework (``bench/models/frameworks.py``) serves every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# float32 loss and gradients of different programs for the same math: (rtol, atol)
CHECK_TOLERANCE = (1e-4, 1e-5)

State = dict[str, Any]  # {"params": {...}, "opt": {...}, "carry": {...}}
Batch = tuple[np.ndarray, ...]
Loss = Callable[..., tuple[Any, dict[str, Any]]]  # (params, carry, *batch) -> (loss, carry)


@dataclass(frozen=True)
class Model:
    """One ported training program: sizes, initial state, the loss in each framework, the update.

    ``init(rng, quick)`` draws the initial state and a batch as numpy
    arrays (float32 data, int32 indices) from ``rng``, the same numbers for
    every framework. ``jax_loss`` and ``torch_loss`` take the framework
    module and return the loss function. ``update(ops, params, grads, opt)``
    returns ``(params, opt)``, written with :mod:`bench.models.optim` over
    the array namespace ``ops``.
    """

    name: str
    ports: str  # the public program, in a few words
    describe: Callable[[bool], str]  # quick -> the size column of the table
    init: Callable[[np.random.Generator, bool], tuple[State, Batch]]
    tcomp_loss: Loss
    jax_loss: Callable[[Any], Loss]
    torch_loss: Callable[[Any], Loss]
    update: Callable[[Any, dict, dict, dict], tuple[dict, dict]]
    # (rtol, atol) of the check of loss and gradients across frameworks and backends,
    # where the model needs its own (the model says why); see check_tolerance
    tolerance: tuple[float, float] | None = None

    @property
    def check_tolerance(self) -> tuple[float, float]:
        """The (rtol, atol) its loss and gradients are checked with: its own, else
        :data:`CHECK_TOLERANCE`."""
        return self.tolerance or CHECK_TOLERANCE


def initial_state(
    params: dict[str, np.ndarray], opt: dict[str, Any], carry: dict | None = None
) -> State:
    """The state dict of a model's first step."""
    return {"params": params, "opt": opt, "carry": carry or {}}
