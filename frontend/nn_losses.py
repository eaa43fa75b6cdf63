"""Losses of ``tcomp.nn``, as PyTorch's ``torch.nn.functional`` defines them.

Every loss takes ``reduction``: ``"mean"`` (the default), ``"sum"`` or
``"none"`` (the per-element losses). Class axes are last (``[..., C]``, as
tcomp's ``cross_entropy`` always had); PyTorch's ``[N, C, d1, ...]`` layout
is ``axis=1``.
"""

from __future__ import annotations

import math
from typing import Any

from tcomp.frontend import ops
from tcomp.frontend.dispatch import (
    dtype_of,
    normalize_axis,
    operand,
    shape_of,
    user_error,
)
from tcomp.frontend.math_ops import log1p
from tcomp.frontend.nn_common import (
    _array,
    _float_array,
    broadcasts_to,
    check_number,
    check_reduction,
    is_int,
    log_softmax_along,
    reduce_loss,
    softplus_core,
    static_hint,
)
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float


def _class_inputs(op: str, scores: Any, labels: Any, axis: int):
    """Checked ``scores`` ``[..., C]`` (float; ``axis`` moved last) and integer ``labels``
    ``[...]``."""
    scores, labels = _array(scores, op), _array(labels, op)
    if not is_float(dtype_of(scores)):
        raise user_error(TcompTypeError, f"{op}: logits must be float, got {dtype_of(scores)}")
    if len(shape_of(scores)) == 0:
        raise user_error(TcompShapeError, f"{op}: logits must have a class axis, got a 0-d array")
    if is_float(dtype_of(labels)) or dtype_of(labels) == "bool":
        raise user_error(
            TcompTypeError, f"{op}: labels must be integer class indices, got {dtype_of(labels)}"
        )
    axis = normalize_axis(op, axis, len(shape_of(scores)))
    if axis != len(shape_of(scores)) - 1:
        scores = ops.transpose(
            scores, [a for a in range(len(shape_of(scores))) if a != axis] + [axis]
        )
    if shape_of(scores)[:-1] != shape_of(labels):
        raise user_error(
            TcompShapeError,
            f"{op}: logits {shape_of(scores)} (classes last) need labels of shape "
            f"{shape_of(scores)[:-1]}, got {shape_of(labels)}",
        )
    return scores, labels


def _class_weight(op: str, weight: Any, classes: int, dtype: str):
    """The ``[C]`` class weight in the scores' dtype (a float64 numpy weight does not
    turn a float32 loss into float64)."""
    if weight is None:
        return None
    weight = _array(weight, op)
    if shape_of(weight) != (classes,):
        raise user_error(
            TcompShapeError,
            f"{op}: weight must have one value per class, shape ({classes},), got "
            f"{shape_of(weight)}",
        )
    return ops.astype(weight, dtype)


def _check_ignore_index(op: str, ignore_index: Any) -> None:
    if ignore_index is not None and not is_int(ignore_index):
        raise user_error(
            TcompTypeError,
            f"{op}: ignore_index must be an int or None, got {ignore_index!r}"
            f"{static_hint(ignore_index)}",
        )


def _weighted_nll(
    log_probs: Any,
    labels: Any,
    weight: Any,
    ignore_index: int | None,
    reduction: str,
    smoothing: float,
):
    """The general nll: per-position weight ``w[label]`` (1 without class weights; 0 for an
    ignored label, and for a label outside ``[0, C)`` when there are class weights), loss
    ``-w[label] logp[label]``, ``"mean"`` divided by the total weight (nan, with zero
    gradient, when that is 0); ``smoothing`` mixes in ``-sum_c w_c logp_c / C``."""
    classes = shape_of(log_probs)[-1]
    hot = ops.one_hot(labels, classes, dtype="bool")
    # where, not a product with one_hot: -inf * 0 would be nan for masked classes.
    picked = ops.sum(ops.where(hot, log_probs, 0), axis=-1)
    keep = labels != ignore_index if ignore_index is not None else None
    if weight is not None:
        position_weight = ops.sum(ops.where(hot, weight, 0), axis=-1)
        if keep is not None:
            position_weight = ops.where(keep, position_weight, 0)
        loss = -position_weight * picked
    else:
        position_weight = ops.astype(keep, dtype_of(log_probs)) if keep is not None else None
        loss = -picked
    if keep is not None:
        loss = ops.where(keep, loss, 0)
    if smoothing:
        spread = log_probs * weight if weight is not None else log_probs
        smooth = -ops.sum(spread, axis=-1)
        if keep is not None:
            smooth = ops.where(keep, smooth, 0)
        loss = (1.0 - smoothing) * loss + (smoothing / classes) * smooth
    if reduction != "mean":
        return reduce_loss(loss, reduction)
    if position_weight is None:  # every position counts 1
        return ops.mean(loss)
    total, count = ops.sum(loss), ops.sum(position_weight)
    empty = count == 0
    return total / ops.where(empty, 1.0, count) + ops.where(empty, math.nan, 0.0)


def nll_loss(
    log_probs: Any,
    labels: Any,
    weight: Any = None,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    *,
    axis: int = -1,
):
    """Negative log-likelihood, PyTorch's ``F.nll_loss``: ``-weight[label] *
    log_probs[..., label]`` per position.

    ``log_probs`` ``[..., C]`` (float; the class axis is ``axis``, last by default:
    PyTorch's ``[N, C, d1, ...]`` is ``axis=1``), ``labels`` the other axes' integer
    class indices, ``weight`` an optional ``[C]`` class weight. Positions whose label is
    ``ignore_index`` (``-100`` by default; None ignores nothing) have loss 0 and weight 0.
    ``"mean"`` divides the sum by the sum of the positions' weights (their count
    without ``weight``); when every position is ignored it is nan with a zero gradient,
    as in PyTorch. A label outside ``[0, C)`` (compiled kernels cannot raise, where
    PyTorch does) has loss 0 and counts 1 in the mean, or weight 0 with ``weight``.
    """
    op = "nll_loss"
    reduction = check_reduction(reduction, op)
    _check_ignore_index(op, ignore_index)
    log_probs, labels = _class_inputs(op, log_probs, labels, axis)
    weight = _class_weight(op, weight, shape_of(log_probs)[-1], dtype_of(log_probs))
    return _weighted_nll(log_probs, labels, weight, ignore_index, reduction, 0.0)


def cross_entropy(
    logits: Any,
    labels: Any,
    weight: Any = None,
    ignore_index: int | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    *,
    axis: int = -1,
):
    """``nll_loss(log_softmax(logits), labels)``, PyTorch's ``F.cross_entropy`` with
    class-index labels, or with class probabilities.

    ``logits`` ``[..., C]`` (float; the class axis is ``axis``, last by default),
    ``labels`` ``[...]`` integer class indices. ``weight``, ``ignore_index`` and
    ``reduction`` as in :func:`nll_loss`, except that ``ignore_index`` defaults to
    None (PyTorch's default is ``-100``: pass it for PyTorch's behaviour), so the
    plain ``cross_entropy(logits, labels)`` is the mean over every position, a label
    outside ``[0, C)`` contributing 0 and counting in the mean.
    ``label_smoothing`` ``e`` in ``[0, 1]`` mixes the uniform distribution into the
    target, as PyTorch: ``(1 - e) * nll + e / C * sum_c -weight[c] log_softmax[c]``,
    both terms divided by the same total weight under ``"mean"``. Logits of ``-inf``
    (masked classes) are fine as long as no label and no smoothing picks them.

    ``labels`` of a float dtype and the logits' shape are class probabilities (PyTorch's
    second form): the loss of a position is ``-sum_c weight[c] * p[c] *
    log_softmax[c]``, with ``p`` smoothed to ``(1 - e) * p + e / C``; ``"mean"``
    divides the sum by the number of positions (not by a total weight, as PyTorch);
    ``ignore_index`` is refused with them, as in PyTorch.
    """
    op = "cross_entropy"
    reduction = check_reduction(reduction, op)
    _check_ignore_index(op, ignore_index)
    smoothing = check_number(label_smoothing, "label_smoothing", op, minimum=0.0, maximum=1.0)
    if _are_probabilities(labels, logits):
        return _cross_entropy_of_probabilities(
            op, logits, labels, weight, ignore_index, reduction, smoothing, axis
        )
    logits, labels = _class_inputs(op, logits, labels, axis)
    classes = shape_of(logits)[-1]
    weight = _class_weight(op, weight, classes, dtype_of(logits))
    if weight is None and ignore_index is None and reduction == "mean" and not smoothing:
        # today's graph, unchanged: where, not a product with one_hot (-inf * 0 is nan)
        picked = ops.where(
            ops.one_hot(labels, classes, dtype="bool"),
            log_softmax_along(logits, len(shape_of(logits)) - 1),
            0,
        )
        return -ops.mean(ops.sum(picked, axis=-1))
    return _weighted_nll(
        log_softmax_along(logits, len(shape_of(logits)) - 1),
        labels,
        weight,
        ignore_index,
        reduction,
        smoothing,
    )


def _are_probabilities(labels: Any, logits: Any) -> bool:
    """Whether ``labels`` are class probabilities: a float array of the logits' shape."""
    labels, logits = operand(labels, "cross_entropy"), operand(logits, "cross_entropy")
    return is_float(dtype_of(labels)) and shape_of(labels) == shape_of(logits)


def _cross_entropy_of_probabilities(
    op: str,
    logits: Any,
    probabilities: Any,
    weight: Any,
    ignore_index: int | None,
    reduction: str,
    smoothing: float,
    axis: int,
):
    """:func:`cross_entropy` with class-probability targets (see its docstring)."""
    if ignore_index is not None:
        raise user_error(
            TcompArgumentError,
            f"{op}: ignore_index is for class-index labels; these labels are class "
            f"probabilities (float, the logits' shape {shape_of(logits)})",
        )
    logits, probabilities = _float_array(logits, op), _float_array(probabilities, op)
    rank = len(shape_of(logits))
    if rank == 0:
        raise user_error(TcompShapeError, f"{op}: logits must have a class axis, got a 0-d array")
    axis = normalize_axis(op, axis, rank)
    classes = shape_of(logits)[axis]
    log_p = log_softmax_along(logits, axis)
    target = ops.astype(probabilities, dtype_of(logits))
    if smoothing:
        target = target * (1.0 - smoothing) + smoothing / classes
    terms = target * log_p
    weight = _class_weight(op, weight, classes, dtype_of(logits))
    if weight is not None:
        terms = terms * ops.reshape(weight, [classes] + [1] * (rank - 1 - axis))
    return reduce_loss(-ops.sum(terms, axis=axis), reduction)


def _pointwise_inputs(op: str, prediction: Any, target: Any, same_shape: bool = False):
    """``prediction`` (float) and ``target``, which must broadcast to prediction's shape
    without changing it (a ``[N, 1]`` prediction against a ``[N]`` target is an error
    rather than a silent ``[N, N]`` loss); ``same_shape`` asks for equal shapes."""
    prediction, target = _float_array(prediction, op), operand(target, op)
    pshape, tshape = shape_of(prediction), shape_of(target)
    fits = pshape == tshape if same_shape else broadcasts_to(tshape, pshape)
    if not fits:
        raise user_error(
            TcompShapeError, f"{op}: target {tshape} does not match the input {pshape}"
        )
    return prediction, target


def _elementwise_weight(op: str, weight: Any, like: Any, name: str = "weight"):
    """``weight`` checked to broadcast to ``like``'s shape, in ``like``'s dtype."""
    if weight is None:
        return None
    weight, shape = _array(weight, op), shape_of(like)
    if not broadcasts_to(shape_of(weight), shape):
        raise user_error(
            TcompShapeError,
            f"{op}: {name} {shape_of(weight)} does not broadcast to the input {shape}",
        )
    return ops.astype(weight, dtype_of(like))


def mse(prediction: Any, target: Any, reduction: str = "mean"):
    """``(prediction - target) ** 2`` per element, reduced (PyTorch's ``F.mse_loss``).

    ``target`` must broadcast to ``prediction``'s shape without changing it (a
    scalar target is fine); a ``[N, 1]`` prediction against a ``[N]`` target is an
    error rather than a silent ``[N, N]`` mean.
    """
    reduction = check_reduction(reduction, "mse")
    prediction, target = _array(prediction, "mse"), operand(target, "mse")
    pshape, tshape = shape_of(prediction), shape_of(target)
    if not broadcasts_to(tshape, pshape):
        raise user_error(
            TcompShapeError, f"mse: target {tshape} does not match prediction {pshape}"
        )
    difference = prediction - target
    return reduce_loss(difference * difference, reduction)


def l1_loss(prediction: Any, target: Any, reduction: str = "mean"):
    """``|prediction - target|`` per element, reduced (PyTorch's ``F.l1_loss``; the
    gradient at 0 is 0). ``target`` as in :func:`mse`."""
    reduction = check_reduction(reduction, "l1_loss")
    prediction, target = _pointwise_inputs("l1_loss", prediction, target)
    return reduce_loss(ops.abs(prediction - target), reduction)


def _huber(op: str, prediction: Any, target: Any, reduction: str, threshold: float, scale: bool):
    reduction = check_reduction(reduction, op)
    prediction, target = _pointwise_inputs(op, prediction, target)
    difference = ops.abs(prediction - target)
    if threshold == 0.0:
        return reduce_loss(difference, reduction)
    # the quadratic branch reads |d| clipped to the threshold, so both branches are finite
    near = ops.minimum(difference, threshold)
    quadratic = 0.5 * near * near
    linear = threshold * (difference - 0.5 * threshold)
    loss = ops.where(difference < threshold, quadratic, linear)
    return reduce_loss(loss / threshold if scale else loss, reduction)


def smooth_l1_loss(prediction: Any, target: Any, reduction: str = "mean", beta: float = 1.0):
    """PyTorch's ``F.smooth_l1_loss``: per element, with ``d = |prediction - target|``,
    ``0.5 d ** 2 / beta`` where ``d < beta``, else ``d - 0.5 beta``; ``beta=0`` is
    :func:`l1_loss`. ``target`` as in :func:`mse`."""
    beta = check_number(beta, "beta", "smooth_l1_loss", minimum=0.0)
    return _huber("smooth_l1_loss", prediction, target, reduction, beta, scale=True)


def huber_loss(prediction: Any, target: Any, reduction: str = "mean", delta: float = 1.0):
    """PyTorch's ``F.huber_loss``: per element, with ``d = |prediction - target|``,
    ``0.5 d ** 2`` where ``d < delta``, else ``delta (d - 0.5 delta)`` (``delta`` times
    :func:`smooth_l1_loss` with ``beta=delta``). ``delta`` must be positive."""
    delta = check_number(delta, "delta", "huber_loss", minimum=0.0)
    if delta == 0.0:
        raise user_error(TcompArgumentError, "huber_loss: delta must be positive, got 0.0")
    return _huber("huber_loss", prediction, target, reduction, delta, scale=False)


def binary_cross_entropy(probs: Any, targets: Any, weight: Any = None, reduction: str = "mean"):
    """PyTorch's ``F.binary_cross_entropy``: ``-weight (t log p + (1 - t) log(1 - p))``
    per element, each log clamped to ``>= -100`` (so ``p`` of exactly 0 or 1 gives a
    finite loss, as in PyTorch; the gradient there is 0, where PyTorch's is
    ``(p - t) / 1e-12``).

    ``probs`` and ``targets`` have one shape, with values in ``[0, 1]`` (outside it the
    log is nan: compiled code cannot raise as PyTorch does); ``weight`` broadcasts to
    it. ``"mean"`` divides by the element count (not the weights' sum).
    """
    op = "binary_cross_entropy"
    reduction = check_reduction(reduction, op)
    probs, targets = _pointwise_inputs(op, probs, targets, same_shape=True)
    weight = _elementwise_weight(op, weight, probs)

    def clamped_log(p: Any):
        # log of 1 where p is 0: the unused branch gets a zero cotangent, not 0 / 0
        positive = p > 0
        return ops.where(
            positive, ops.maximum(ops.log(ops.where(positive, p, 1.0)), -100.0), -100.0
        )

    loss = -(targets * clamped_log(probs) + (1.0 - targets) * clamped_log(1.0 - probs))
    return reduce_loss(loss * weight if weight is not None else loss, reduction)


def binary_cross_entropy_with_logits(
    logits: Any, targets: Any, weight: Any = None, reduction: str = "mean", pos_weight: Any = None
):
    """PyTorch's ``F.binary_cross_entropy_with_logits``: ``binary_cross_entropy``
    of ``sigmoid(logits)``, computed stably as
    ``(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x)`` per element, where
    ``softplus(-x) = max(-x, 0) + log1p(exp(-|x|))`` (without ``pos_weight``:
    ``max(x, 0) - x t + log1p(exp(-|x|))``). Finite for every finite logit.

    ``logits`` and ``targets`` have one shape; ``weight`` broadcasts to it;
    ``pos_weight`` (the positive class's weight, e.g. ``[C]``) broadcasts too.
    """
    op = "binary_cross_entropy_with_logits"
    reduction = check_reduction(reduction, op)
    logits, targets = _pointwise_inputs(op, logits, targets, same_shape=True)
    weight = _elementwise_weight(op, weight, logits)
    if pos_weight is None:
        loss = ops.maximum(logits, 0) - logits * targets + log1p(ops.exp(-ops.abs(logits)))
    else:
        pos_weight = _elementwise_weight(op, pos_weight, logits, "pos_weight")
        loss = (1.0 - targets) * logits + (1.0 + (pos_weight - 1.0) * targets) * softplus_core(
            -logits
        )
    return reduce_loss(loss * weight if weight is not None else loss, reduction)


def kl_div(log_probs: Any, targets: Any, reduction: str = "mean", log_target: bool = False):
    """PyTorch's ``F.kl_div``: ``t (log t - x)`` per element for input ``x`` (log
    probabilities) and target probabilities ``t``, 0 where ``t`` is 0 (whatever ``x``); with
    ``log_target=True`` the target is ``log t`` and the loss ``exp(lt) (lt - x)``.

    ``reduction``: ``"mean"`` (over every element, PyTorch's default, which it warns
    about), ``"batchmean"`` (the sum over the batch size ``x.shape[0]``: the true KL
    divergence per sample), ``"sum"`` or ``"none"``.
    """
    op = "kl_div"
    reduction = check_reduction(reduction, op, ("mean", "batchmean", "sum", "none"))
    if not isinstance(log_target, bool):
        raise user_error(TcompTypeError, f"{op}: log_target must be True or False")
    log_probs, targets = _pointwise_inputs(op, log_probs, targets)
    if log_target:
        loss = ops.exp(targets) * (targets - log_probs)
    else:
        zero = targets == 0  # 0 log 0 = 0; a negative target's log is nan, as in PyTorch
        safe = ops.where(zero, 1.0, targets)
        loss = ops.where(zero, 0.0, targets * (ops.log(safe) - log_probs))
    if reduction == "batchmean":
        batch = shape_of(log_probs)[0] if shape_of(log_probs) else 1
        return ops.sum(loss) / float(batch)
    return reduce_loss(loss, reduction)


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse",
    "nll_loss",
    "smooth_l1_loss",
]
