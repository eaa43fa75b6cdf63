"""tanh is exactly +-1 far from 0 on every backend, and so its gradients vanish there.

numpy's float32 tanh is +-1 from |x| = 10 on (float64: from about 19.1). An OpenCL
device's tanh may never get there (PoCL's gives 1 - 2**-24 even at 1e6), so the
c-family renderers call a helper that returns +-1 itself past |x| = 10 (float64: 20);
before it, 1 - tanh**2 stayed 1.2e-7 on opencl and the tanh GELU's gradient at
x = +-1000 came out wrong by about 0.4 (backends/cfamily/helpers.py, ``tanh``).
"""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp import nn

FAR = [-1e6, -1000.0, -100.0, -20.0, -10.0, 10.0, 20.0, 100.0, 1000.0, 1e6]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tanh_is_exactly_one_far_from_zero(backend, dtype):
    # float64's tanh reaches 1 only from about 19.1
    x = np.array([v for v in FAR if dtype == "float32" or abs(v) >= 20], dtype)
    got = np.asarray(tcomp.jit(tcomp.tanh, backend=backend)(x))
    np.testing.assert_array_equal(got, np.sign(x))
    # its NaN stays NaN, its values near 0 stay tanh's own
    near = np.array([np.nan, 0.0, -0.5, 3.0], dtype)
    got = np.asarray(tcomp.jit(tcomp.tanh, backend=backend)(near))
    np.testing.assert_allclose(got, np.tanh(near), rtol=4e-6)


def test_tanh_gradient_vanishes_far_from_zero(backend):
    x = np.array(FAR, np.float32)
    got = np.asarray(tcomp.jit(tcomp.grad(lambda a: tcomp.tanh(a).sum()), backend=backend)(x))
    np.testing.assert_array_equal(got, np.zeros_like(x))


def test_tanh_gelu_gradient_is_exact_far_from_zero(backend):
    # d/dx 0.5 x (1 + tanh(u(x))): 1 far right, 0 far left; a tanh short of 1 by 2**-24
    # leaves 0.5 x (1 - tanh**2) u'(x) ~ 6e-9 x**3 in it: 6.4 at x = 1000
    x = np.array([-1000.0, -100.0, 100.0, 1000.0], np.float32)

    def loss(a):
        return nn.gelu(a, approximate="tanh").sum()

    got = np.asarray(tcomp.jit(tcomp.grad(loss), backend=backend)(x))
    np.testing.assert_array_equal(got, (x > 0).astype(np.float32))
