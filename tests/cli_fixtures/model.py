"""A small model for the ``tcomp inspect`` tests: a jitted loss and its example arguments."""

import numpy as np

import tcomp
from tcomp import nn


@tcomp.jit
def loss(params, x, labels):
    h = nn.relu(x @ params["w1"] + params["b1"])
    return nn.cross_entropy(h @ params["w2"] + params["b2"], labels)


def make_args():
    params = {
        "w1": np.zeros((4, 8), np.float32),
        "b1": np.zeros(8, np.float32),
        "w2": np.zeros((8, 3), np.float32),
        "b2": np.zeros(3, np.float32),
    }
    return params, np.zeros((16, 4), np.float32), np.zeros(16, np.int32)


def predict(x, w):
    """A plain function: ``tcomp inspect`` wraps it in ``tcomp.jit``."""
    return nn.relu(x @ w)


NOT_A_FUNCTION = 3
