"""Functions for the ``tcomp check`` tests: several output dtypes, seeded arguments."""

import numpy as np

import tcomp


def mixed(x, n):
    """A float, an int and a bool output (compared with and without tolerance)."""
    return {"scaled": tcomp.exp(x) * 0.5, "count": n + 1, "positive": x > 0}


def make_args(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((3, 4)).astype(np.float32), np.arange(4, dtype=np.int32)
