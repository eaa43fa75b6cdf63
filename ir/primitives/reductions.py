"""Reductions: reduce_sum, reduce_max, reduce_min {axes} and argmax {axis}.

A reduction removes the reduced axes (``keepdims`` is a reshape in the
frontend). ``axes`` is a sorted tuple of distinct non-negative axes; the
empty tuple is the identity. Max and min of an empty axis have no value and
are rejected by the shape rule.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tcomp.ir.primitives.attrs import AttrKind
from tcomp.ir.primitives.base import Primitive, register, shape_error, type_error
from tcomp.ir.types import TensorType


def _check_axes(op: str, t: TensorType, axes: tuple[int, ...]) -> None:
    if tuple(sorted(set(axes))) != tuple(axes) or any(not 0 <= a < t.ndim for a in axes):
        raise shape_error(op, f"axes {axes} must be sorted, distinct and within rank {t.ndim}", t)


def _reduce_rule(op: str, allow_empty: bool):
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        (t,) = types
        axes = tuple(attrs["axes"])
        _check_axes(op, t, axes)
        if t.dtype == "bool":
            raise type_error(op, "is not defined on bool; convert first", t)
        if not allow_empty and any(t.shape[a] == 0 for a in axes):
            raise shape_error(op, "cannot reduce an axis of length 0 (there is no identity)", t)
        return t.with_shape([d for i, d in enumerate(t.shape) if i not in axes])

    return infer


def _kept_shape(shape: Sequence[int], axes: Sequence[int]) -> tuple[int, ...]:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _reduce_sum_vjp(b, n, ct):
    # d sum(x) = 1 for every reduced element: broadcast the cotangent back
    x = n.inputs[0]
    kept = b.reshape_to(ct, _kept_shape(x.shape, n.attrs["axes"]))
    return [b.broadcast_value(kept, x.shape)]


def _reduce_extreme_vjp(b, n, ct):
    # d max(x) = 1 at the maxima, shared equally among ties
    x = n.inputs[0]
    kept_shape = _kept_shape(x.shape, n.attrs["axes"])
    extreme = b.broadcast_value(b.reshape_to(n.output, kept_shape), x.shape)
    mask = b.convert(b.eq(x, extreme), dtype=x.dtype)
    count = b.reduce_sum(mask, axes=n.attrs["axes"])
    share = b.reshape_to(b.div(ct, count), kept_shape)
    return [b.mul(mask, b.broadcast_value(share, x.shape))]


def _reference(fn):
    def reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
        x = inputs[0]
        return np.asarray(fn(x, axis=tuple(attrs["axes"]))).astype(x.dtype, copy=False)

    return reference


register(
    Primitive(
        "reduce_sum", _reduce_rule("reduce_sum", True), _reference(np.sum), _reduce_sum_vjp,
        {"axes": AttrKind.AXES}, num_inputs=1,
    )
)
register(
    Primitive(
        "reduce_max", _reduce_rule("reduce_max", False), _reference(np.max), _reduce_extreme_vjp,
        {"axes": AttrKind.AXES}, num_inputs=1,
    )
)
register(
    Primitive(
        "reduce_min", _reduce_rule("reduce_min", False), _reference(np.min), _reduce_extreme_vjp,
        {"axes": AttrKind.AXES}, num_inputs=1,
    )
)


def _argmax_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    axis = attrs["axis"]
    if not 0 <= axis < t.ndim:
        raise shape_error("argmax", f"axis {axis} out of range for rank {t.ndim}", t)
    if t.shape[axis] == 0:
        raise shape_error("argmax", "cannot take argmax over an axis of length 0", t)
    return TensorType(tuple(d for i, d in enumerate(t.shape) if i != axis), "int32")


register(
    Primitive(
        "argmax",
        _argmax_infer,
        # numpy's rule: the first maximum wins; NaN counts as the maximum.
        lambda inputs, attrs: np.asarray(np.argmax(inputs[0], axis=attrs["axis"]), dtype=np.int32),
        None,
        {"axis": AttrKind.AXIS},
        num_inputs=1,
    )
)
