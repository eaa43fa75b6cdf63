"""``tcomp.nn`` normalisation (batch_norm, group_norm, rms_norm, and layer_norm's
``normalized_shape``) against numpy references of PyTorch's formulas on every backend, in
jit and eagerly, with float64 gradient checks (tests/nn_checks.py); then the running
statistics, the unchanged layer_norm call, and errors for bad arguments."""

from __future__ import annotations

import nn_reference as ref
import numpy as np
from hypothesis import strategies as st
from nn_checks import Case, case_tests, error_test, seeds, shapes

import tcomp
from tcomp import nn


def _affine(draw, rng, shape):
    return rng.standard_normal(shape) if draw(st.booleans()) else None


@st.composite
def batch_norm_cases(draw):
    rng = draw(seeds())
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    spatial = draw(shapes(0, 2, 3))
    training = draw(st.booleans())
    if training and n * int(np.prod(spatial)) < 2:
        n = 2  # the unbiased variance needs two values per channel
    x = rng.standard_normal((n, c) + spatial) * 1.5 + 0.5
    with_stats = not training or draw(st.booleans())
    mean = rng.standard_normal(c) if with_stats else None
    var = rng.uniform(0.5, 2.0, c) if with_stats else None
    args = (x, mean, var, _affine(draw, rng, c), _affine(draw, rng, c), training)
    kwargs = {
        "momentum": draw(st.sampled_from([0.1, 0.5])),
        "eps": draw(st.sampled_from([1e-5, 0.1])),
    }
    return Case("batch_norm", args, kwargs, wrt=(0, 1, 2, 3, 4))


@st.composite
def group_norm_cases(draw):
    rng = draw(seeds())
    groups, per_group = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    c = groups * per_group
    x = rng.standard_normal((draw(st.integers(1, 2)), c) + draw(shapes(0, 2, 3))) + 0.3
    if x[0, :per_group].size == 1:  # one value per group: var 0, so keep eps large
        eps = 0.5
    else:
        eps = draw(st.sampled_from([1e-5, 0.5]))
    args = (x, groups, _affine(draw, rng, c), _affine(draw, rng, c), eps)
    return Case("group_norm", args, wrt=(0, 2, 3))


@st.composite
def trailing_norm_cases(draw, name: str):
    rng = draw(seeds())
    shape = draw(shapes(1, 3))
    normalized = shape[len(shape) - draw(st.integers(1, len(shape))) :]
    kwargs: dict = {}
    how = draw(st.sampled_from(["keyword", "weight", "last"]))
    if how == "keyword":
        kwargs["normalized_shape"] = (
            normalized if draw(st.booleans()) or len(normalized) > 1 else normalized[0]
        )
    elif how == "last":
        normalized = shape[-1:]
    weight = rng.standard_normal(normalized) if how == "weight" or draw(st.booleans()) else None
    x = rng.standard_normal(shape) * 1.5 + 0.3
    if name == "layer_norm":
        args = (x, weight, _affine(draw, rng, normalized), draw(st.sampled_from([1e-5, 0.5])))
        if np.prod(normalized) == 1:
            args = args[:3] + (0.5,)
        return Case(name, args, kwargs, wrt=(0, 1, 2))
    eps = draw(st.sampled_from([None, 1e-3]))
    return Case(name, (x, weight, eps), kwargs, wrt=(0, 1))


CASES = {
    "batch_norm": batch_norm_cases(),
    "group_norm": group_norm_cases(),
    "rms_norm": trailing_norm_cases("rms_norm"),
    "layer_norm:normalized_shape": trailing_norm_cases("layer_norm"),
}


test_forward_jit, test_forward_eager, test_gradient = case_tests(CASES)


# ---------------------------------------------------------------------------
# Semantics


def test_batch_norm_training_then_inference(backend):
    """Two training steps carry the running statistics; inference then uses them."""
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((8, 3, 2, 2)) * s + m for s, m in ((2.0, 1.0), (0.5, -3.0))]
    mean, var = np.zeros(3), np.ones(3)
    step = tcomp.jit(
        lambda x, m, v: nn.batch_norm(x, m, v, training=True, momentum=0.25), backend=backend
    )
    for x in batches:
        y, mean_next, var_next = step(x, mean, var)
        per_channel = np.moveaxis(x, 1, 0).reshape(3, -1)
        np.testing.assert_allclose(
            np.asarray(mean_next), 0.75 * mean + 0.25 * per_channel.mean(1), rtol=1e-12
        )
        np.testing.assert_allclose(
            np.asarray(var_next), 0.75 * var + 0.25 * per_channel.var(1, ddof=1), rtol=1e-12
        )
        normalized = np.moveaxis(np.asarray(y), 1, 0).reshape(3, -1)
        np.testing.assert_allclose(normalized.mean(1), 0.0, atol=1e-12)
        mean, var = np.asarray(mean_next), np.asarray(var_next)
    x = batches[0][:1]
    y = tcomp.jit(lambda x: nn.batch_norm(x, mean, var), backend=backend)(x)
    np.testing.assert_allclose(
        np.asarray(y), (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5), rtol=1e-12
    )


def test_batch_norm_returns_only_y_without_running_stats():
    y = nn.batch_norm(np.arange(6.0).reshape(3, 2), training=True)
    assert isinstance(y, tcomp.Array) and y.shape == (3, 2)


def test_layer_norm_call_of_today_is_unchanged(backend):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal(5), rng.standard_normal(5)
    f = tcomp.jit(lambda x, w, b: nn.layer_norm(x, w, b), backend=backend)
    np.testing.assert_allclose(np.asarray(f(x, w, b)), ref.layer_norm(x, w, b), rtol=1e-12)
    g = tcomp.jit(lambda x, w, b: nn.layer_norm(x, w, b, normalized_shape=5), backend=backend)
    np.testing.assert_allclose(np.asarray(g(x, w, b)), np.asarray(f(x, w, b)), rtol=1e-15)


def test_rms_norm_default_eps_is_the_dtypes_machine_epsilon():
    x = np.full((1, 4), 1e-4, dtype=np.float32)  # mean(x^2) = 1e-8, comparable to eps
    expected = x / np.sqrt(1e-8 + np.finfo(np.float32).eps)
    np.testing.assert_allclose(np.asarray(nn.rms_norm(x)), expected, rtol=1e-5)


ERRORS = {
    "batch_norm no running stats": (
        ValueError,
        "batch_norm: training=False normalises",
        lambda: nn.batch_norm(np.zeros((2, 3))),
    ),
    "batch_norm one value": (
        ValueError,
        "batch_norm: training needs more than one value",
        lambda: nn.batch_norm(np.zeros((1, 3)), training=True),
    ),
    "batch_norm stat shape": (
        ValueError,
        "batch_norm: running_mean",
        lambda: nn.batch_norm(np.zeros((2, 3)), np.zeros(2), np.ones(2)),
    ),
    "batch_norm half stats": (
        ValueError,
        "running_mean and running_var together",
        lambda: nn.batch_norm(np.zeros((2, 3)), np.zeros(3), training=True),
    ),
    "batch_norm rank": (
        ValueError,
        "batch_norm: needs an input",
        lambda: nn.batch_norm(np.zeros(3), training=True),
    ),
    "batch_norm training type": (
        TypeError,
        "batch_norm: training must be True or False",
        lambda: nn.batch_norm(np.zeros((2, 3)), np.zeros(3), np.ones(3), training=1),
    ),
    "group_norm groups": (
        ValueError,
        "group_norm: num_groups=2 must divide",
        lambda: nn.group_norm(np.zeros((1, 3, 4)), 2),
    ),
    "group_norm weight": (
        ValueError,
        "group_norm: weight",
        lambda: nn.group_norm(np.zeros((1, 4)), 2, np.ones(2)),
    ),
    "group_norm type": (
        TypeError,
        "group_norm: num_groups must be a positive int",
        lambda: nn.group_norm(np.zeros((1, 4)), 0),
    ),
    "rms_norm shape": (
        ValueError,
        "rms_norm: normalized_shape",
        lambda: nn.rms_norm(np.zeros((2, 3)), normalized_shape=(2,)),
    ),
    "rms_norm pytorch positional": (
        TypeError,
        "normalized_shape=",
        lambda: nn.rms_norm(np.zeros((2, 3)), (3,)),
    ),
    "layer_norm pytorch positional": (
        TypeError,
        "normalized_shape=",
        lambda: nn.layer_norm(np.zeros((2, 3)), 3),
    ),
    "layer_norm weight vs shape": (
        ValueError,
        "layer_norm: weight",
        lambda: nn.layer_norm(np.zeros((2, 3)), np.ones(3), normalized_shape=(2, 3)),
    ),
}


test_errors = error_test(ERRORS, "test_nn_norms.py")
