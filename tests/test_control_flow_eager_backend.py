"""Eager ``scan``, ``fori_loop``, ``cond``, ``switch`` and ``while_loop`` run on their
inputs' backend (the first committed Array's, as every eager op does), not the default.

Each runs on an Array that lives on ``reference`` (and on every other backend in turn);
the result must live there too and equal the Python loop's value. Numpy inputs run on
the default backend.
"""

from __future__ import annotations

import numpy as np
import pytest

import tcomp


@pytest.fixture
def values(backend):
    return tcomp.jit(lambda v: v + 0, backend=backend)(np.arange(1, 4, dtype=np.float32))


def test_eager_loops_and_branches_stay_on_their_inputs_backend(backend, values):
    carry, ys = tcomp.scan(lambda c, v: (c + v, c), values[0] * 0, values)
    doubled = tcomp.fori_loop(0, 3, lambda i, v: v * 2, values)
    branch = tcomp.cond(values[0] > 0, lambda v: v + 1, lambda v: v - 1, values)
    chosen = tcomp.switch(np.int32(1), [lambda v: v, lambda v: -v], values)
    grown = tcomp.while_loop(lambda v: v[0] < 10, lambda v: v * 2, values)
    results = [carry, ys, doubled, branch, chosen, grown]
    assert [r.backend for r in results] == [backend] * len(results)
    expected = [
        6.0,
        [0.0, 1.0, 3.0],
        [8.0, 16.0, 24.0],
        [2.0, 3.0, 4.0],
        [-1.0, -2.0, -3.0],
        [16.0, 32.0, 48.0],
    ]
    for got, want in zip(results, expected):
        np.testing.assert_allclose(np.asarray(got), want)


def test_numpy_inputs_run_on_the_default_backend():
    carry, _ = tcomp.scan(lambda c, v: (c + v, c), np.float32(0), np.ones(3, np.float32))
    assert carry.backend == tcomp.default_backend_name()
