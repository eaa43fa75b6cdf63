"""``tcomp.nn`` errors: bad shapes and dtypes raise tcomp errors (``ValueError`` /
``TypeError`` subclasses) that name the function and the user's line."""

from __future__ import annotations

from pathlib import Path

import nn_reference as ref
import numpy as np
import pytest

import tcomp
from tcomp import nn

f32 = lambda *shape: np.zeros(shape, dtype=np.float32)  # noqa: E731

ERRORS = {
    "conv2d channel mismatch": (
        ValueError,
        "conv2d",
        lambda: nn.conv2d(f32(1, 3, 5, 5), f32(2, 2, 3, 3)),
    ),
    "conv2d rank": (ValueError, "conv2d", lambda: nn.conv2d(f32(3, 5, 5), f32(2, 3, 3, 3))),
    "conv2d kernel too large": (
        ValueError,
        "conv2d",
        lambda: nn.conv2d(f32(1, 1, 2, 2), f32(1, 1, 3, 3)),
    ),
    "conv2d zero stride": (
        ValueError,
        "conv2d",
        lambda: nn.conv2d(f32(1, 1, 4, 4), f32(1, 1, 3, 3), stride=0),
    ),
    "conv2d negative padding": (
        TypeError,
        "conv2d",
        lambda: nn.conv2d(f32(1, 1, 4, 4), f32(1, 1, 3, 3), padding=-1),
    ),
    "conv2d bias shape": (
        ValueError,
        "conv2d",
        lambda: nn.conv2d(f32(1, 1, 4, 4), f32(2, 1, 3, 3), f32(3)),
    ),
    "cross_entropy float labels": (
        TypeError,
        "cross_entropy",
        lambda: nn.cross_entropy(f32(2, 3), f32(2)),
    ),
    "cross_entropy bool labels": (
        TypeError,
        "cross_entropy",
        lambda: nn.cross_entropy(f32(2, 3), np.zeros(2, dtype=bool)),
    ),
    "cross_entropy label shape": (
        ValueError,
        "cross_entropy",
        lambda: nn.cross_entropy(f32(2, 3), np.zeros(3, dtype=np.int32)),
    ),
    "cross_entropy label rank": (
        ValueError,
        "cross_entropy",
        lambda: nn.cross_entropy(f32(2, 3), np.zeros((2, 1), dtype=np.int32)),
    ),
    "cross_entropy integer logits": (
        TypeError,
        "cross_entropy",
        lambda: nn.cross_entropy(np.zeros((2, 3), np.int32), np.zeros(2, np.int32)),
    ),
    "cross_entropy scalar logits": (
        ValueError,
        "cross_entropy",
        lambda: nn.cross_entropy(f32(), np.zeros((), np.int32)),
    ),
    "mse shapes": (ValueError, "mse", lambda: nn.mse(f32(3, 1), f32(3))),
    "layer_norm weight shape": (ValueError, "layer_norm", lambda: nn.layer_norm(f32(2, 4), f32(3))),
    "layer_norm bias shape": (
        ValueError,
        "layer_norm",
        lambda: nn.layer_norm(f32(2, 4), f32(4), f32(2)),
    ),
    "max_pool2d kernel too large": (
        ValueError,
        "max_pool2d",
        lambda: nn.max_pool2d(f32(1, 1, 3, 3), 4),
    ),
    "avg_pool2d rank": (ValueError, "avg_pool2d", lambda: nn.avg_pool2d(f32(1, 3, 3), 2)),
    "avg_pool2d zero kernel": (ValueError, "avg_pool2d", lambda: nn.avg_pool2d(f32(1, 1, 3, 3), 0)),
    "attention feature mismatch": (
        ValueError,
        "attention",
        lambda: nn.attention(f32(2, 3), f32(4, 2), f32(4, 2)),
    ),
    "attention length mismatch": (
        ValueError,
        "attention",
        lambda: nn.attention(f32(2, 3), f32(4, 3), f32(5, 2)),
    ),
    "attention rank": (ValueError, "attention", lambda: nn.attention(f32(3), f32(3), f32(3))),
    "attention causal longer queries": (
        ValueError,
        "attention",
        lambda: nn.attention(f32(4, 2), f32(2, 2), f32(2, 2), causal=True),
    ),
    "softmax axis": (ValueError, "softmax", lambda: nn.softmax(f32(2, 3), axis=2)),
    "logsumexp axis": (ValueError, "logsumexp", lambda: nn.logsumexp(f32(2, 3), axis=(0, 0))),
}


@pytest.mark.parametrize("mode", ["eager", "jit"])
@pytest.mark.parametrize("label", sorted(ERRORS))
def test_errors(backend, label, mode):
    expected, function_name, call = ERRORS[label]
    run = call if mode == "eager" else (lambda: tcomp.jit(call, backend=backend)())
    with pytest.raises(expected) as info:
        run()
    assert isinstance(info.value, tcomp.TcompError), (
        f"{label}: {type(info.value).__name__}: {info.value}"
    )
    message = str(info.value)
    assert function_name in message, (
        f"{label}: the message does not name {function_name}: {message}"
    )
    assert f"{Path(__file__).name}:" in message, f"{label}: the message lacks the user's file:line: {message}"


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_traced_kernel_asks_for_a_static_argument(backend, name):
    x = np.ones((1, 1, 4, 4), dtype=np.float32)
    with pytest.raises(TypeError, match=f"{name} kernel.*static") as info:
        tcomp.jit(getattr(nn, name), backend=backend)(x, 2)
    assert isinstance(info.value, tcomp.TcompError)
    # Marked static, the same call works and gives the reference result.
    pooled = tcomp.jit(getattr(nn, name), backend=backend, static_argnames=("kernel",))(x, 2)
    np.testing.assert_allclose(np.asarray(pooled), getattr(ref, name)(x, 2))


def test_traced_conv_stride_asks_for_a_static_argument(backend):
    x, w = np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 2, 2), np.float32)
    with pytest.raises(TypeError, match="conv2d stride.*static"):
        tcomp.jit(nn.conv2d, backend=backend)(x, w, None, 2)
