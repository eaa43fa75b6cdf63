"""``tcomp.nn`` losses and their options against numpy references of PyTorch's formulas
(nn_reference.py) on every backend, in jit and eagerly, with float64 gradient checks
(tests/nn_checks.py); then what the references alone would not pin down: ignored and
out-of-range labels, clamping and stability at the extremes, today's ``cross_entropy``
call unchanged, and errors for bad arguments."""

from __future__ import annotations

import nn_reference as ref
import numpy as np
from hypothesis import strategies as st
from nn_checks import (
    Case,
    away_from,
    case_tests,
    error_test,
    seeds,
    shapes,
)

import tcomp
from tcomp import nn

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@st.composite
def class_cases(draw, name: str):
    """nll_loss / cross_entropy: classes on ``axis`` (last, or 1), labels with ignored and
    out-of-range entries; the first label is always a counted class (no 0 / 0 mean)."""
    lead, classes, rng = draw(shapes(1, 3, 3)), draw(st.integers(1, 5)), draw(seeds())
    axis = draw(st.sampled_from([-1, 1])) if len(lead) >= 2 else -1
    scores = 2.0 * rng.standard_normal(lead + (classes,))
    if name == "nll_loss":
        scores = ref.log_softmax(scores)
    labels = rng.integers(0, classes, size=lead)
    default_ignore = -100 if name == "nll_loss" else None
    ignore = draw(st.sampled_from([default_ignore, -100, 0]))
    flat = labels.reshape(-1)
    for i in range(1, flat.size):
        flat[i] = draw(st.sampled_from([flat[i]] * 3 + [-100, classes, -1]))
    if ignore is not None and flat[0] == ignore:
        flat[0] = 1 if classes > 1 else 0
        ignore = -100 if flat[0] == ignore else ignore
    weight = rng.uniform(0.2, 2.0, classes) if draw(st.booleans()) else None
    kwargs = {"reduction": draw(REDUCTIONS), "axis": axis}
    if ignore != default_ignore:
        kwargs["ignore_index"] = ignore
    if name == "cross_entropy" and draw(st.booleans()):
        kwargs["label_smoothing"] = draw(st.sampled_from([0.1, 0.5, 1.0]))
    scores = np.moveaxis(scores, -1, axis)
    return Case(name, (scores, labels.astype(np.int32), weight), kwargs, wrt=(0, 2))


@st.composite
def pointwise_cases(draw, name: str):
    shape, rng = draw(shapes(0, 3)), draw(seeds())
    target = rng.standard_normal(shape)
    kwargs: dict = {"reduction": draw(REDUCTIONS)}
    kinks: tuple[float, ...] = (0.0,)
    if name == "smooth_l1_loss":
        kwargs["beta"] = draw(st.sampled_from([1.0, 0.5, 0.0]))
        kinks = (0.0, kwargs["beta"], -kwargs["beta"])
    elif name == "huber_loss":
        kwargs["delta"] = draw(st.sampled_from([1.0, 0.3, 2.0]))
        kinks = (kwargs["delta"], -kwargs["delta"])
    prediction = target + away_from(rng, shape, kinks, scale=2.5)
    if draw(st.booleans()) and shape:  # a target that broadcasts (a trailing slice)
        target = target[(0,) * (len(shape) - 1)] if len(shape) > 1 else target[:1]
        prediction = target + away_from(rng, shape, kinks, scale=2.5)
    return Case(name, (prediction, target), kwargs, wrt=(0, 1))


@st.composite
def binary_cases(draw, name: str):
    shape, rng = draw(shapes(0, 3)), draw(seeds())
    targets = rng.uniform(0, 1, shape)
    if draw(st.booleans()):
        targets = np.round(targets)
    if name == "binary_cross_entropy":
        inputs = rng.uniform(0.05, 0.95, shape)
    else:
        inputs = 3.0 * rng.standard_normal(shape)
    weight_shape = shape[len(shape) - draw(st.integers(0, len(shape))) :]
    weight = rng.uniform(0.1, 2.0, weight_shape) if draw(st.booleans()) else None
    reduction = draw(REDUCTIONS)
    if name == "binary_cross_entropy":
        return Case(name, (inputs, targets, weight, reduction), wrt=(0, 1, 2))
    pos_weight = rng.uniform(0.2, 3.0, shape[-1:]) if draw(st.booleans()) else None
    return Case(name, (inputs, targets, weight, reduction, pos_weight), wrt=(0, 1, 2, 4))


@st.composite
def kl_cases(draw):
    shape, rng = draw(shapes(1, 3)), draw(seeds())
    log_target = draw(st.booleans())
    inputs = ref.log_softmax(rng.standard_normal(shape))
    targets = ref.softmax(rng.standard_normal(shape))
    if log_target:
        targets = np.log(targets)
    elif draw(st.booleans()):
        targets = np.where(rng.uniform(size=shape) < 0.3, 0.0, targets)
    reduction = draw(st.sampled_from(["mean", "batchmean", "sum", "none"]))
    # d(t log t)/dt is -inf at t = 0: differentiate the targets only when none is 0
    wrt = (0, 1) if log_target or np.all(targets > 0) else (0,)
    return Case(
        "kl_div", (inputs, targets), {"reduction": reduction, "log_target": log_target}, wrt=wrt
    )


CASES = {
    "nll_loss": class_cases("nll_loss"),
    "cross_entropy:options": class_cases("cross_entropy"),
    "mse:reduction": pointwise_cases("mse"),
    "l1_loss": pointwise_cases("l1_loss"),
    "smooth_l1_loss": pointwise_cases("smooth_l1_loss"),
    "huber_loss": pointwise_cases("huber_loss"),
    "binary_cross_entropy": binary_cases("binary_cross_entropy"),
    "binary_cross_entropy_with_logits": binary_cases("binary_cross_entropy_with_logits"),
    "kl_div": kl_cases(),
}


test_forward_jit, test_forward_eager, test_gradient = case_tests(CASES)


# ---------------------------------------------------------------------------
# Semantics


def test_todays_cross_entropy_call_is_unchanged(backend):
    """The plain call keeps its graph (one where over one_hot, a mean) and its meaning:
    every position counts in the mean, an out-of-range label (-100 too) contributing 0."""
    logits = np.random.default_rng(0).standard_normal((4, 3))
    labels = np.array([0, 2, -100, 7])
    f = tcomp.jit(nn.cross_entropy, backend=backend)
    logp = ref.log_softmax(logits)
    np.testing.assert_allclose(float(f(logits, labels)), -(logp[0, 0] + logp[1, 2]) / 4, rtol=1e-12)
    ops = [n.op for n in f.lower(logits, labels).function("traced").nodes]
    assert ops.count("reduce_sum") == 3 and "ne" not in ops, ops
    # PyTorch's ignore_index=-100 is one argument away
    ignored = float(nn.cross_entropy(logits, labels, ignore_index=-100))
    np.testing.assert_allclose(ignored, -(logp[0, 0] + logp[1, 2]) / 3, rtol=1e-12)


def test_every_label_ignored_gives_nan_and_zero_gradient(backend):
    """PyTorch's answer: the mean over no positions is nan; nothing flows back."""
    logits = np.random.default_rng(1).standard_normal((3, 4))
    labels = np.full(3, -100)
    for f in (
        lambda x: nn.cross_entropy(x, labels, ignore_index=-100),
        lambda x: nn.nll_loss(nn.log_softmax(x), labels, weight=np.ones(4)),
        lambda x: nn.cross_entropy(x, labels, ignore_index=-100, label_smoothing=0.2),
    ):
        value, grad = tcomp.jit(tcomp.value_and_grad(f), backend=backend)(logits)
        assert np.isnan(float(value))
        np.testing.assert_array_equal(np.asarray(grad), np.zeros_like(logits))


def test_ignored_class_with_masked_logit_is_not_nan(backend):
    """ignore_index may be a real class; its -inf logit (a masked class) stays out."""
    logits = np.array([[-np.inf, 1.0, 0.5], [2.0, 0.0, -1.0]])
    labels = np.array([0, 1])
    loss, grad = tcomp.jit(
        tcomp.value_and_grad(lambda x: nn.cross_entropy(x, labels, ignore_index=0)), backend=backend
    )(logits)
    np.testing.assert_allclose(float(loss), -ref.log_softmax(logits[1:])[0, 1], rtol=1e-12)
    assert np.all(np.isfinite(np.asarray(grad)))
    np.testing.assert_array_equal(np.asarray(grad)[0], 0.0)


def test_binary_cross_entropy_clamps_its_logs(backend):
    """p of exactly 0 or 1: each log is clamped at -100 (PyTorch), so loss and gradient are finite."""
    p, t = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([0.0, 1.0, 1.0, 0.0, 0.5])
    value, grad = tcomp.jit(
        tcomp.value_and_grad(lambda p: nn.binary_cross_entropy(p, t, reduction="sum")),
        backend=backend,
    )(p)
    np.testing.assert_allclose(float(value), 200.0 + np.log(2.0), rtol=1e-12)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_binary_cross_entropy_with_logits_is_stable(backend):
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0], dtype=np.float32)
    f = tcomp.jit(
        tcomp.value_and_grad(lambda x: nn.binary_cross_entropy_with_logits(x, t, reduction="sum")),
        backend=backend,
    )
    value, grad = f(x)
    np.testing.assert_allclose(float(value), 2000.0 + np.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grad), [-1.0, 0.0, 0.0, 0.0, 1.0], atol=1e-6)


def test_cross_entropy_class_axis_one_is_pytorchs_layout(backend):
    """[N, C, H] logits with axis=1 equal [N, H, C] logits with the class axis last."""
    rng = np.random.default_rng(2)
    logits, labels = rng.standard_normal((2, 4, 3)), rng.integers(0, 4, (2, 3))
    f = tcomp.jit(lambda x, y: nn.cross_entropy(x, y, axis=1, reduction="none"), backend=backend)
    np.testing.assert_allclose(
        np.asarray(f(logits, labels)),
        np.asarray(nn.cross_entropy(np.moveaxis(logits, 1, -1), labels, reduction="none")),
        rtol=1e-12,
    )


ERRORS = {
    "reduction name": (
        ValueError,
        "nll_loss: reduction must be one of",
        lambda: nn.nll_loss(np.zeros((2, 3)), np.zeros(2, np.int32), reduction="avg"),
    ),
    "mse reduction": (
        ValueError,
        "mse: reduction",
        lambda: nn.mse(np.zeros(2), np.zeros(2), "batchmean"),
    ),
    "kl reduction": (
        ValueError,
        "kl_div: reduction",
        lambda: nn.kl_div(np.zeros(2), np.ones(2), "avg"),
    ),
    "class weight shape": (
        ValueError,
        "cross_entropy: weight must have one value per class",
        lambda: nn.cross_entropy(np.zeros((2, 3)), np.zeros(2, np.int32), weight=np.ones(2)),
    ),
    "float labels": (
        TypeError,
        "nll_loss: labels must be integer",
        lambda: nn.nll_loss(np.zeros((2, 3)), np.zeros(2)),
    ),
    "label shape": (
        ValueError,
        "nll_loss: logits",
        lambda: nn.nll_loss(np.zeros((2, 3)), np.zeros(3, np.int32)),
    ),
    "class axis": (
        ValueError,
        "cross_entropy: axis 2",
        lambda: nn.cross_entropy(np.zeros((2, 3)), np.zeros(2, np.int32), axis=2),
    ),
    "smoothing range": (
        ValueError,
        "label_smoothing must be >= 0.0 and <= 1.0",
        lambda: nn.cross_entropy(np.zeros((2, 3)), np.zeros(2, np.int32), label_smoothing=1.5),
    ),
    "ignore_index type": (
        TypeError,
        "ignore_index must be an int",
        lambda: nn.cross_entropy(np.zeros((2, 3)), np.zeros(2, np.int32), ignore_index=0.5),
    ),
    "bce shapes": (
        ValueError,
        "binary_cross_entropy: target",
        lambda: nn.binary_cross_entropy(np.full((2, 3), 0.5), np.ones(3)),
    ),
    "bce weight": (
        ValueError,
        "binary_cross_entropy_with_logits: weight",
        lambda: nn.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.ones((2, 3)), np.ones(2)),
    ),
    "pos_weight": (
        ValueError,
        "binary_cross_entropy_with_logits: pos_weight",
        lambda: nn.binary_cross_entropy_with_logits(
            np.zeros((2, 3)), np.ones((2, 3)), pos_weight=np.ones(4)
        ),
    ),
    "l1 target": (ValueError, "l1_loss: target", lambda: nn.l1_loss(np.zeros((3, 1)), np.zeros(3))),
    "huber delta": (
        ValueError,
        "huber_loss: delta must be positive",
        lambda: nn.huber_loss(np.zeros(2), np.zeros(2), delta=0),
    ),
    "smooth_l1 beta": (
        ValueError,
        "smooth_l1_loss: beta must be >= 0.0",
        lambda: nn.smooth_l1_loss(np.zeros(2), np.zeros(2), beta=-1),
    ),
}


test_errors = error_test(ERRORS, "test_nn_losses.py")
