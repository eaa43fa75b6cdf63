"""Helpers shared by the ``tcomp.nn`` modules: argument checks and small stable pieces.

Nothing here is public API; ``tcomp/nn.py`` and ``frontend/nn_*.py`` build the
public functions from these and the ``tcomp`` array functions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.dispatch import dtype_of, materialize, operand, result_dtype, user_error
from tcomp.frontend.math_ops import log1p
from tcomp.frontend.trace import Tracer
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float

REDUCTIONS = ("mean", "sum", "none")


def is_int(value: Any) -> bool:
    """A Python or numpy integer (not a bool): a value known when tracing."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def static_hint(value: Any) -> str:
    """The advice to add to an error about a traced value where a Python value is needed."""
    if isinstance(value, Tracer):
        return " (a traced value: make it a static argument, jit(..., static_argnames=...))"
    return ""


def _array(x: Any, op: str):
    """A tracer (inside a trace) or an Array (eagerly) for any array-like ``x``."""
    return materialize(operand(x, op))


def _float_array(x: Any, op: str):
    """Like :func:`_array`; integer and bool inputs become float32 (as ``tcomp.exp`` does)."""
    x = _array(x, op)
    return x if is_float(dtype_of(x)) else ops.astype(x, "float32")


def _float(x: Any):
    """``x`` itself when it is float, else ``x`` as float32."""
    dtype = str(x.dtype) if hasattr(x, "dtype") else result_dtype(x)
    return x if is_float(dtype) else ops.astype(x, "float32")


def _max_shift(x: Any, axis: Any):
    """``max(x)`` along ``axis`` (kept), 0 where that max is not finite, with no gradient.

    Subtracting it keeps ``exp`` from overflowing; a row of ``-inf`` then
    gives ``exp(-inf) = 0`` instead of ``-inf - -inf = nan``.
    """
    m = ops.max(x, axis=axis, keepdims=True)
    return ops.stop_gradient(ops.where(ops.abs(m) < math.inf, m, 0))


def log_softmax_along(x: Any, axis: int):
    """``(x - max) - log(sum(exp(x - max)))`` along ``axis`` (a valid int) of float ``x``."""
    shifted = x - _max_shift(x, axis)
    return shifted - ops.log(ops.sum(ops.exp(shifted), axis=axis, keepdims=True))


def _spatial(value: Any, d: int, name: str, minimum: int) -> tuple[int, ...]:
    """``(v,) * d`` for an int ``v``, or a sequence of ``d`` ints, each ``>= minimum``."""
    values = (
        (value,) * d
        if is_int(value)
        else tuple(value)
        if isinstance(value, (tuple, list))
        else None
    )
    if values is not None and len(values) == d and all(is_int(v) and v >= 0 for v in values):
        if any(v < minimum for v in values):
            raise user_error(TcompShapeError, f"{name} must be positive, got {value!r}")
    else:
        raise user_error(
            TcompTypeError,
            f"{name} must be a non-negative int or {d} of them, got {value!r}{static_hint(value)}",
        )
    return tuple(int(v) for v in values)


def broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``target`` without changing it (numpy's rule)."""
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(shape, target[len(target) - len(shape) :]))


def check_reduction(reduction: Any, op: str, allowed: tuple[str, ...] = REDUCTIONS) -> str:
    """``reduction`` itself when it is one of ``allowed``; a clear error otherwise."""
    if not isinstance(reduction, str) or reduction not in allowed:
        names = ", ".join(repr(r) for r in allowed)
        raise user_error(
            TcompArgumentError, f"{op}: reduction must be one of {names}, got {reduction!r}"
        )
    return reduction


def reduce_loss(loss: Any, reduction: str):
    """The per-element ``loss`` itself (``"none"``), its sum or its mean over every element."""
    if reduction == "none":
        return loss
    return ops.sum(loss) if reduction == "sum" else ops.mean(loss)


def check_number(
    value: Any, name: str, op: str, minimum: float | None = None, maximum: float | None = None
) -> float:
    """``value`` as a Python float: a number known when tracing, in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise user_error(
            TcompTypeError, f"{op}: {name} must be a number, got {value!r}{static_hint(value)}"
        )
    value = float(value)
    if (minimum is not None and not value >= minimum) or (
        maximum is not None and not value <= maximum
    ):
        bounds = " and ".join(
            part
            for part in (
                f">= {minimum}" if minimum is not None else "",
                f"<= {maximum}" if maximum is not None else "",
            )
            if part
        )
        raise user_error(TcompArgumentError, f"{op}: {name} must be {bounds}, got {value!r}")
    return value


def softplus_core(x: Any):
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``.

    Its gradient is ``sigmoid(x)`` everywhere, 0.5 at 0 too (``maximum`` splits
    a tie and ``d|x|`` is ``sign(x)``, 0 at 0).
    """
    return ops.maximum(x, 0) + log1p(ops.exp(-ops.abs(x)))
