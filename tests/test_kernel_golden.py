"""Golden kernel IR for a few known graphs: a change to fusion or scheduling shows as a text diff.

Each case lowers a small jitted function and compares ``as_text("kernels")``
with ``tests/golden/<case>.kernels``. After an intended change, regenerate
with ``TCOMP_UPDATE_GOLDEN=1 python -m pytest tests/test_kernel_golden.py``
and review the diff like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import tcomp
from tcomp import nn
from tcomp.backends.registry import available_backends

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TCOMP_UPDATE_GOLDEN") == "1"


def _softmax(x):
    return nn.softmax(x, axis=-1)


def _layer_norm(x, w, b):
    return nn.layer_norm(x, w, b)


def _dense_relu(x, w, b):
    return nn.relu(x @ w + b)


def _cross_entropy(logits, labels):
    return nn.cross_entropy(logits, labels)


F32 = np.float32
CASES = {
    "softmax": (_softmax, [np.zeros((8, 32), F32)]),
    "layer_norm": (_layer_norm, [np.zeros((8, 32), F32), np.ones(32, F32), np.zeros(32, F32)]),
    "matmul_bias_relu": (
        _dense_relu,
        [np.zeros((8, 16), F32), np.zeros((16, 32), F32), np.zeros(32, F32)],
    ),
    "cross_entropy": (_cross_entropy, [np.zeros((8, 10), F32), np.zeros(8, np.int32)]),
}


@pytest.mark.skipif("llvm" not in available_backends(), reason="the llvm backend is not available")
@pytest.mark.parametrize("case", sorted(CASES))
def test_kernels_match_the_golden_text(case):
    fn, args = CASES[case]
    text = tcomp.jit(fn, backend="llvm").lower(*args).as_text("kernels")
    path = GOLDEN / f"{case}.kernels"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with TCOMP_UPDATE_GOLDEN=1 once"
    assert text == path.read_text(), (
        f"the kernels of {case} changed; if intended, regenerate with TCOMP_UPDATE_GOLDEN=1 "
        "and review the diff"
    )
