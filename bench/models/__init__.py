"""Whole training steps of small, well-known public models, in tcomp, JAX, PyTorch and torch.compile.

One module per model, each a port of a public training program (its
docstring says which, and what was changed): ``cnn`` (PyTorch's CIFAR-10
tutorial), ``gpt`` (nanoGPT's baby GPT), ``mlp`` (JAX's MNIST example),
``autoencoder`` (the Keras blog's), ``rnn`` (min-char-rnn) and ``resnet`` (He et al.'s CIFAR ResNet with batch norm). Each declares
a :class:`bench.models.spec.Model` (``MODEL``); :mod:`bench.models.frameworks`
builds its train step for each framework (``tcomp_step(model, backend)``,
``jax_step(model, jax)``, ``torch_step(model, torch, compiled)``);
optimisers and clipping are shared in :mod:`bench.models.optim`.

``python -m bench --only models`` times them side by side
(:mod:`bench.models.workload`); ``python -m bench.models.NAME`` times one
model's tcomp step per backend (:mod:`bench.models.standalone`).
"""

from __future__ import annotations

import importlib

from bench.models.spec import Model

MODEL_NAMES = ("cnn", "resnet", "gpt", "mlp", "autoencoder", "rnn")


def load(name: str) -> Model:
    """The :class:`Model` declared by ``bench/models/<name>.py``."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
    return importlib.import_module(f"bench.models.{name}").MODEL
