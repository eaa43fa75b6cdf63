"""Normalisation layers of ``tcomp.nn``, as PyTorch defines them, written functionally.

``layer_norm`` and ``rms_norm`` normalise the trailing axes; ``group_norm``
and ``batch_norm`` take PyTorch's channel-first layout ``[N, C, *spatial]``.
Variances are biased (divided by the count) except in ``batch_norm``'s
running-variance update, which uses the unbiased one as PyTorch does.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes

from tcomp.frontend import ops
from tcomp.frontend.dispatch import dtype_of, shape_of, user_error
from tcomp.frontend.nn_common import _array, _float_array, is_int, static_hint
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError
from tcomp.ir.types import numpy_dtype


def _weight(op: str, weight: Any):
    """``weight`` as an array (None stays None); an int or a tuple of ints is refused as
    what it most likely is, PyTorch's positional ``normalized_shape``."""
    if weight is None:
        return None
    if is_int(weight) or (isinstance(weight, tuple) and weight and all(is_int(v) for v in weight)):
        raise user_error(
            TcompTypeError,
            f"{op}: weight {weight!r} looks like PyTorch's normalized_shape; tcomp takes it as "
            f"a keyword: {op}(x, weight, ..., normalized_shape={weight!r})",
        )
    return _array(weight, op)


def _normalized_shape(op: str, x: Any, weight: Any, normalized_shape: Any) -> tuple[int, ...]:
    """The trailing shape of ``x`` to normalise over: ``normalized_shape`` (an int or ints,
    PyTorch's argument) when given, else the shape of ``weight``, else the last axis."""
    xshape = shape_of(x)
    if normalized_shape is not None:
        shape = (normalized_shape,) if is_int(normalized_shape) else normalized_shape
        if not isinstance(shape, (tuple, list)) or not all(is_int(v) for v in shape):
            raise user_error(
                TcompTypeError,
                f"{op}: normalized_shape must be an int or a tuple of ints, got "
                f"{normalized_shape!r}{static_hint(normalized_shape)}",
            )
        shape = tuple(int(v) for v in shape)
        if not shape or len(shape) > len(xshape) or xshape[len(xshape) - len(shape) :] != shape:
            raise user_error(
                TcompShapeError,
                f"{op}: normalized_shape {shape} must be the trailing shape of x {xshape}",
            )
        return shape
    ndim = len(shape_of(weight)) if weight is not None else 1
    if ndim == 0 or ndim > len(xshape):
        raise user_error(
            TcompShapeError,
            f"{op}: weight {shape_of(weight) if weight is not None else None} must cover "
            f"one or more trailing axes of x {xshape}",
        )
    return xshape[len(xshape) - ndim :]


def _check_affine(op: str, expected: tuple[int, ...], what: str, **values: Any) -> None:
    for name, value in values.items():
        if value is not None and shape_of(value) != expected:
            raise user_error(
                TcompShapeError, f"{op}: {name} {shape_of(value)} must have {what} {expected}"
            )


def layer_norm(
    x: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5, *, normalized_shape: Any = None
):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over trailing axes, with the
    biased variance, as PyTorch's ``F.layer_norm``.

    The axes: ``normalized_shape`` (keyword; an int or the trailing shape of x, as
    PyTorch's second argument), else those ``weight`` covers, else the last one.
    ``weight`` and ``bias`` have the normalised shape.
    """
    x = _float_array(x, "layer_norm")
    weight = _weight("layer_norm", weight)
    normalized = _normalized_shape("layer_norm", x, weight, normalized_shape)
    bias = _array(bias, "layer_norm") if bias is not None else None
    _check_affine(
        "layer_norm",
        normalized,
        f"the normalised shape of x {shape_of(x)}",
        weight=weight,
        bias=bias,
    )
    axes = tuple(range(-len(normalized), 0))
    mean = ops.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    variance = ops.mean(centered * centered, axis=axes, keepdims=True)
    y = centered / ops.sqrt(variance + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rms_norm(x: Any, weight: Any = None, eps: float | None = None, *, normalized_shape: Any = None):
    """``x / sqrt(mean(x ** 2) + eps) * weight`` over trailing axes, as PyTorch's
    ``F.rms_norm``.

    The axes are chosen as in :func:`layer_norm` (``normalized_shape=``, else
    ``weight``'s shape, else the last axis). ``eps=None`` is the machine epsilon of
    x's dtype (PyTorch's default: ``1.19e-7`` in float32).
    """
    x = _float_array(x, "rms_norm")
    weight = _weight("rms_norm", weight)
    normalized = _normalized_shape("rms_norm", x, weight, normalized_shape)
    _check_affine("rms_norm", normalized, f"the normalised shape of x {shape_of(x)}", weight=weight)
    if eps is None:
        eps = float(ml_dtypes.finfo(numpy_dtype(dtype_of(x))).eps)
    axes = tuple(range(-len(normalized), 0))
    y = x / ops.sqrt(ops.mean(x * x, axis=axes, keepdims=True) + eps)
    return y * weight if weight is not None else y


def _channels(op: str, x: Any, minimum_rank: int = 2) -> int:
    xshape = shape_of(x)
    if len(xshape) < minimum_rank:
        raise user_error(
            TcompShapeError, f"{op}: needs an input [N, C, ...] (channels second), got {xshape}"
        )
    return xshape[1]


def _per_channel(value: Any, ndim: int):
    """A ``[C]`` vector shaped to broadcast over ``[N, C, *spatial]``."""
    return ops.reshape(value, (1, -1) + (1,) * (ndim - 2))


def group_norm(x: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5):
    """PyTorch's ``F.group_norm``: x ``[N, C, *spatial]``; the channels split into
    ``num_groups`` groups of ``C / num_groups``, each group (with all its spatial
    positions) normalised with its own mean and biased variance per sample, then
    ``* weight + bias`` per channel (``[C]`` each)."""
    x = _float_array(x, "group_norm")
    c = _channels("group_norm", x)
    if not is_int(num_groups) or num_groups < 1:
        raise user_error(
            TcompTypeError,
            f"group_norm: num_groups must be a positive int, got {num_groups!r}"
            f"{static_hint(num_groups)}",
        )
    if c % num_groups:
        raise user_error(
            TcompShapeError,
            f"group_norm: num_groups={num_groups} must divide the {c} channels of x {shape_of(x)}",
        )
    weight = _array(weight, "group_norm") if weight is not None else None
    bias = _array(bias, "group_norm") if bias is not None else None
    _check_affine("group_norm", (c,), "one value per channel:", weight=weight, bias=bias)
    xshape = shape_of(x)
    grouped = ops.reshape(x, (xshape[0], int(num_groups), -1))
    mean = ops.mean(grouped, axis=-1, keepdims=True)
    centered = grouped - mean
    variance = ops.mean(centered * centered, axis=-1, keepdims=True)
    y = ops.reshape(centered / ops.sqrt(variance + eps), xshape)
    if weight is not None:
        y = y * _per_channel(weight, len(xshape))
    if bias is not None:
        y = y + _per_channel(bias, len(xshape))
    return y


def _channel_statistics(
    op: str,
    x: Any,
    c: int,
    running_mean: Any,
    running_var: Any,
    weight: Any,
    bias: Any,
    normalise_with_running: bool,
    when: str,
    hint: str = "",
) -> dict[str, Any]:
    """The per-channel arrays of batch_norm / instance_norm (None where not given), checked:
    running mean and variance together, required when ``normalise_with_running``
    (``when`` says which setting that is, ``hint`` what else to do), each ``[c]``."""
    if (running_mean is None) != (running_var is None):
        raise user_error(TcompArgumentError, f"{op}: give running_mean and running_var together")
    if normalise_with_running and running_mean is None:
        raise user_error(
            TcompArgumentError,
            f"{op}: {when} normalises with running_mean and running_var; give them{hint}",
        )
    stats = {
        name: _array(v, op) if v is not None else None
        for name, v in (
            ("running_mean", running_mean),
            ("running_var", running_var),
            ("weight", weight),
            ("bias", bias),
        )
    }
    _check_affine(op, (c,), f"one value per channel of x {shape_of(x)}:", **stats)
    return stats


def _normalized_per_channel(
    op: str,
    x: Any,
    axes: tuple[int, ...],
    from_input: bool,
    stats: dict[str, Any],
    eps: float,
    too_few: str,
) -> tuple[Any, Any, Any, int]:
    """``(y, mean, variance, count)``: ``x`` normalised by the mean and biased variance of
    its elements over ``axes`` (``from_input``; fewer than two is an error saying
    ``too_few``) or by the running statistics, then ``* weight + bias`` per channel (axis
    1); ``count`` is the number of elements each statistic covers."""
    ndim = len(shape_of(x))
    count = 1
    for a in axes:
        count *= shape_of(x)[a]
    if from_input:
        if count < 2:
            raise user_error(TcompShapeError, f"{op}: {too_few}, got x {shape_of(x)}")
        mean = ops.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        variance = ops.mean(centered * centered, axis=axes, keepdims=True)
    else:
        mean = _per_channel(stats["running_mean"], ndim)
        variance = _per_channel(stats["running_var"], ndim)
        centered = x - mean
    y = centered / ops.sqrt(variance + eps)
    if stats["weight"] is not None:
        y = y * _per_channel(stats["weight"], ndim)
    if stats["bias"] is not None:
        y = y + _per_channel(stats["bias"], ndim)
    return y, mean, variance, count


def batch_norm(
    x: Any,
    running_mean: Any = None,
    running_var: Any = None,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """PyTorch's ``F.batch_norm`` (same argument order), functional: the updated
    running statistics are returned, not written.

    x is ``[N, C]``, ``[N, C, L]``, ``[N, C, H, W]`` (any ``[N, C, *spatial]``);
    every other argument is ``[C]``. ``y = (x - mean) / sqrt(var + eps) * weight + bias``
    per channel, where

    - ``training=True``: mean and biased variance of the batch (over N and the
      spatial axes). With running statistics given, returns ``(y, new_mean,
      new_var)``: ``new_mean = (1 - momentum) running_mean + momentum mean`` and
      ``new_var = (1 - momentum) running_var + momentum var * n / (n - 1)`` (the
      unbiased variance, ``n`` values per channel). They are ordinary outputs: PyTorch
      updates its buffers without autograd, and here too nothing flows back from them
      unless you differentiate them (``value_and_grad(..., has_aux=True)`` does not).
      Without them (both None), returns ``y``. Needs ``n > 1``.
    - ``training=False``: the running statistics (required); returns ``y``.

    ``training`` is a Python bool known when tracing.
    """
    op = "batch_norm"
    x = _float_array(x, op)
    c = _channels(op, x)
    if not isinstance(training, bool):
        raise user_error(
            TcompTypeError,
            f"{op}: training must be True or False, got {training!r}{static_hint(training)}",
        )
    stats = _channel_statistics(
        op,
        x,
        c,
        running_mean,
        running_var,
        weight,
        bias,
        not training,
        "training=False",
        " (or use training=True for the batch's statistics)",
    )
    axes = (0,) + tuple(range(2, len(shape_of(x))))
    y, mean, variance, count = _normalized_per_channel(
        op, x, axes, training, stats, eps, "training needs more than one value per channel"
    )
    if not training or running_mean is None:
        return y
    batch_mean = ops.reshape(mean, (c,))
    unbiased = ops.reshape(variance, (c,)) * (count / (count - 1))
    new_mean = (1.0 - momentum) * stats["running_mean"] + momentum * batch_mean
    new_var = (1.0 - momentum) * stats["running_var"] + momentum * unbiased
    return y, new_mean, new_var


__all__ = ["batch_norm", "group_norm", "layer_norm", "rms_norm"]
