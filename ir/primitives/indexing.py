"""Indexing primitives: ``gather`` and its transpose ``scatter_add``.

- ``gather(x, indices) {axis}`` is ``np.take(x, indices, axis)``:
  ``out.shape = x.shape[:axis] + indices.shape + x.shape[axis+1:]``.
  Indices are int32. A negative index counts from the end as in numpy; an
  index still out of range after that is clamped to the axis (compiled code
  cannot raise from inside a kernel, and a clamp never reads outside the
  buffer). The frontend documents this.
- ``scatter_add(updates, indices) {axis, size}`` adds each slice of
  ``updates`` into a zero array at the gathered position (repeated indices
  add up; indices are wrapped and clamped to ``size`` exactly as gather's):
  the gradient of ``gather``, and ``gather`` is its gradient. ``updates``
  is numeric (not bool), ``out.shape = updates.shape[:axis] + (size,) +
  updates.shape[axis+indices.ndim:]``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tcomp.ir.primitives.attrs import AttrKind
from tcomp.ir.primitives.base import Primitive, register, shape_error, type_error
from tcomp.ir.types import TensorType


def normalize_indices(indices: np.ndarray, size: int) -> np.ndarray:
    """numpy's negative indices, then a clamp into ``[0, size)``."""
    wrapped = np.where(indices < 0, indices + size, indices)
    return np.clip(wrapped, 0, max(size - 1, 0)).astype(np.intp)


def _gather_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, indices = types
    axis = attrs["axis"]
    if indices.dtype != "int32":
        raise type_error("gather", f"indices must be int32, got {indices.dtype}", x, indices)
    if not 0 <= axis < x.ndim:
        raise shape_error("gather", f"axis {axis} out of range for rank {x.ndim}", x, indices)
    if x.shape[axis] == 0 and indices.size > 0:
        raise shape_error("gather", "cannot index into an axis of length 0", x, indices)
    return x.with_shape(x.shape[:axis] + indices.shape + x.shape[axis + 1 :])


def _gather_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    x, indices = inputs
    axis = attrs["axis"]
    # np.asarray: a scalar index into a vector gives a numpy scalar
    return np.asarray(np.take(x, normalize_indices(indices, x.shape[axis]), axis=axis))


def _gather_vjp(b, n, ct):
    # d take(x, i) = scatter-add of the cotangent at i (repeats add up)
    x, indices = n.inputs
    axis = n.attrs["axis"]
    return [b.scatter_add(ct, indices, axis=axis, size=x.shape[axis]), None]


register(
    Primitive(
        "gather", _gather_infer, _gather_reference, _gather_vjp, {"axis": AttrKind.AXIS},
        num_inputs=2,
    )
)


def _scatter_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    updates, indices = types
    axis, size = attrs["axis"], attrs["size"]
    if indices.dtype != "int32":
        raise type_error("scatter_add", "indices must be int32", updates, indices)
    if updates.dtype == "bool":
        raise type_error("scatter_add", "is not defined on bool; convert first", updates, indices)
    span = indices.ndim
    # axis may equal updates.ndim - span: a scalar index scatters into a new last axis
    if not 0 <= axis <= updates.ndim - span or updates.shape[axis : axis + span] != indices.shape:
        raise shape_error(
            "scatter_add", f"updates must hold indices' shape at axis {axis}", updates, indices
        )
    if not isinstance(size, int) or size < 0 or (size == 0 and indices.size > 0):
        message = f"size {size!r} must be positive (or 0 with no indices)"
        raise shape_error("scatter_add", message, updates, indices)
    return updates.with_shape(updates.shape[:axis] + (size,) + updates.shape[axis + span :])


def _scatter_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    updates, indices = inputs
    axis, size = attrs["axis"], attrs["size"]
    out_shape = updates.shape[:axis] + (size,) + updates.shape[axis + indices.ndim :]
    out = np.zeros(out_shape, dtype=updates.dtype)
    index = (slice(None),) * axis + (normalize_indices(indices, size),)
    np.add.at(out, index, updates)
    return out


def _scatter_vjp(b, n, ct):
    # d scatter_add(u, i) = gather of the cotangent at i
    return [b.gather(ct, n.inputs[1], axis=n.attrs["axis"]), None]


register(
    Primitive(
        "scatter_add",
        _scatter_infer,
        _scatter_reference,
        _scatter_vjp,
        # the axis may equal the rank of updates (a scalar index): the rule checks its range
        {"axis": AttrKind.INDEX, "size": AttrKind.INDEX},
        num_inputs=2,
    )
)
