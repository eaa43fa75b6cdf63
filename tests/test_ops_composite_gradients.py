"""Gradients and errors of the numpy functions composed from tcomp's ops.

Gradients of the differentiable ones in float64 against central differences
of the traced graph (tests/gradcheck.py), and ``tcomp.grad`` on each backend
against the reference's; refused inputs as clear errors in the user's terms.
Values against numpy: tests/test_ops_composite.py.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from frontend_helpers import check, seeds
from gradcheck import check_gradients
from hypothesis import given, settings
from hypothesis import strategies as st
from test_ops_composite import axis_choices, run_jit

import tcomp
from tcomp.errors import TcompShapeError, TcompTypeError

# ---------------------------------------------------------------------------
# Gradients (float64)

# name -> (function, input shapes): kinks and ties kept away by the inputs below
GRADIENT_CASES = {
    "var": (lambda a: tcomp.var(a, axis=1, ddof=1), [(3, 4)]),
    "std": (lambda a: tcomp.std(a, axis=(0, 2)), [(2, 3, 2)]),
    "prod": (lambda a: tcomp.prod(a, axis=(0, 2)), [(3, 2, 3)]),
    "prod-all": (lambda a: tcomp.prod(a), [(7,)]),
    "cumsum": (lambda a: tcomp.cumsum(a, axis=0), [(5, 2)]),
    "cumsum-flat": (lambda a: tcomp.cumsum(a), [(3, 3)]),
    "cumprod": (lambda a: tcomp.cumprod(a, axis=-1), [(2, 6)]),
    "cummax": (lambda a: tcomp.cummax(a, axis=1), [(2, 5)]),
    "cummin": (lambda a: tcomp.cummin(a), [(6,)]),
    "einsum": (lambda a, b: tcomp.einsum("bij,jk->bki", a, b), [(2, 3, 4), (4, 2)]),
    "einsum-trace": (lambda a, b: tcomp.einsum("ii,i", a, b), [(3, 3), (3,)]),
    "shapes": (
        lambda a: (
            [
                tcomp.tril(a, -1),
                tcomp.roll(a, 2, 1),
                tcomp.tile(a, (2, 1)),
                tcomp.flip(a, 0),
                tcomp.repeat(a, [2, 0, 1], 0),
                tcomp.diagonal(a, 1),
                tcomp.moveaxis(a, 0, 1),
            ]
            + tcomp.array_split(a, 2, axis=1)
        ),
        [(3, 4)],
    ),
    "outer": (tcomp.outer, [(3,), (2, 2)]),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences(name):
    fn, input_shapes = GRADIENT_CASES[name]
    rng = np.random.default_rng(len(name))
    inputs = [
        rng.permutation(np.linspace(-2.0, 2.0, int(np.prod(s)))).reshape(s) for s in input_shapes
    ]
    if name.startswith("prod") or name == "cumprod":
        inputs[0].reshape(-1)[1] = 0.0  # a zero: exp(sum(log)) would fail here
    traced = tcomp.jit(fn, backend="reference").lower(*inputs).function("traced")
    check_gradients(traced, inputs, wrt=tuple(range(len(inputs))), rng=rng)


@settings(max_examples=min(settings.default.max_examples, 8))
@given(data=st.data(), name=st.sampled_from(["cumsum", "cumprod", "prod"]), seed=seeds)
def test_scan_and_product_gradients_over_shapes(data, name, seed):
    shape = data.draw(
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), label="shape"
    )
    axis = data.draw(axis_choices(len(shape), several=name == "prod"), label="axis")
    x = np.random.default_rng(seed).uniform(-1.5, 1.5, shape)
    fn = getattr(tcomp, name)
    traced = tcomp.jit(lambda a: fn(a, axis), backend="reference").lower(x).function("traced")
    check_gradients(traced, [x], wrt=(0,), rng=np.random.default_rng(seed))


def test_grad_on_each_backend_matches_the_reference(backend):
    """tcomp.grad of the composites compiled for ``backend`` equals the reference's
    (which test_gradients_match_finite_differences checks)."""
    rng = np.random.default_rng(3)
    x, w = rng.uniform(-1.5, 1.5, (3, 5)), rng.standard_normal((5, 2))
    x[1, 2] = 0.0

    def loss(a, b):
        terms = [
            tcomp.cumsum(a, 1),
            tcomp.cumprod(a, 0),
            tcomp.prod(a, 1),
            tcomp.var(a, 0),
            tcomp.einsum("ij,jk->ik", a, b),
        ]
        return sum(tcomp.sum(t * t) for t in terms)

    gradient = lambda a, b: tcomp.grad(loss, argnums=(0, 1))(a, b)
    got = run_jit(backend, gradient, x, w)
    want = run_jit("reference", gradient, x, w)
    for g, e in zip(got, want):
        check(g, np.asarray(e), "float64", backend, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------
# Errors in the user's terms

ERRORS = [
    (lambda a: tcomp.var(a, axis=2), TcompShapeError, "var: axis 2 is out of range"),
    (lambda a: tcomp.var(a, ddof="1"), TcompTypeError, "var: ddof must be a number"),
    (lambda a: tcomp.std(a, axis=-3), TcompShapeError, "std: axis -3 is out of range"),
    (lambda a: tcomp.prod(a, axis=(0, 0)), TcompShapeError, "prod: repeated axis"),
    (lambda a: tcomp.argmin(a[:, :0], axis=1), TcompShapeError, "argmin: the axis is empty"),
    (lambda a: tcomp.cumsum(a, axis=-3), TcompShapeError, "cumsum: axis -3 is out of range"),
    (lambda a: tcomp.nonzero(a), TcompShapeError, "nonzero: give size=N"),
    (lambda a: tcomp.nonzero(a, size=-1), TcompShapeError, "size must not be negative"),
    (lambda a: tcomp.nonzero(a[0, 0], size=2), TcompShapeError, "0-d"),
    (lambda a: tcomp.nonzero(a, size=2, fill_value=(0,)), TcompShapeError, "one value per axis"),
    (lambda a: tcomp.argwhere(a), TcompShapeError, "give size=N"),
    (lambda a: tcomp.tril(a[0, 0]), TcompShapeError, "tril: needs an array of rank >= 1"),
    (lambda a: tcomp.diagonal(a[0]), TcompShapeError, "diagonal: needs an array of rank >= 2"),
    (lambda a: tcomp.diagonal(a, 0, 1, -1), TcompShapeError, "the same axis"),
    (
        lambda a: tcomp.roll(a, a[0, 0].astype(int)),
        TcompTypeError,
        "roll: shift must be a Python int",
    ),
    (lambda a: tcomp.roll(a, (1, 2, 3), (0, 1)), TcompShapeError, "different lengths"),
    (lambda a: tcomp.tile(a, -1), TcompShapeError, "reps must not be negative"),
    (
        lambda a: tcomp.repeat(a, a[0].astype(int), 1),
        TcompTypeError,
        "repeats must be known when tracing",
    ),
    (lambda a: tcomp.repeat(a, [1, 2], 1), TcompShapeError, "2 repeats for an axis of 3"),
    (lambda a: tcomp.repeat(a, 1.5), TcompTypeError, "repeats must be an int"),
    (
        lambda a: tcomp.split(a, 2, axis=1),
        TcompShapeError,
        "does not split into 2 equal parts; use array_split",
    ),
    (lambda a: tcomp.array_split(a, 0), TcompShapeError, "must be > 0"),
    (lambda a: tcomp.moveaxis(a, (0, 1), 0), TcompShapeError, "the same number of axes"),
    (lambda a: tcomp.moveaxis(a, (0, 0), (0, 1)), TcompShapeError, "repeated axis"),
    (lambda a: tcomp.einsum(a, [0, 1]), TcompTypeError, "interleaved form"),
    (lambda a: tcomp.einsum("ij,jk", a), TcompShapeError, "2 input terms for 1 operands"),
    (lambda a: tcomp.einsum("i1", a), TcompShapeError, "letters a-z"),
    (lambda a: tcomp.einsum("ijk", a), TcompShapeError, "has 2 axes .* name 3"),
    (lambda a: tcomp.einsum("ij->k", a), TcompShapeError, "'k' appears in no input"),
    (lambda a: tcomp.einsum("ij->ii", a), TcompShapeError, "repeats a subscript"),
    (lambda a: tcomp.einsum("ij,ij", a, a.T), TcompShapeError, "subscript 'i' has sizes 2 and 3"),
    (lambda a: tcomp.einsum("ii", a[:1]), TcompShapeError, "a diagonal needs equal sizes"),
    (lambda a: tcomp.einsum("...j->j", a), TcompShapeError, "needs '...' too"),
    (lambda a: tcomp.einsum("i->i->i", a), TcompShapeError, "more than one '->'"),
]


@pytest.mark.parametrize("case", range(len(ERRORS)), ids=lambda i: ERRORS[i][2][:40])
def test_refused_inputs_are_clear_errors(case):
    fn, error, message = ERRORS[case]
    x = np.ones((2, 3), np.float32)
    with pytest.raises(error, match=message):
        run_jit("reference", fn, x)
