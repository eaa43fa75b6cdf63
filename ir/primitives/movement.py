"""Movement (layout) primitives: reshape, transpose, broadcast_to, slice, rev, pad, concatenate.

These change where elements sit, never their values, so a compiled backend
can usually turn them into index arithmetic instead of copies.

- ``reshape {shape}``: row-major reshape, same element count.
- ``transpose {perm}``: ``out.shape[i] = x.shape[perm[i]]``.
- ``broadcast_to {shape}``: same rank; each input axis is equal to the
  output axis or 1 (numpy's rule after the frontend added leading 1-axes).
- ``slice {start, stop, step}``: one entry per axis, ``0 <= start <= stop
  <= dim`` and ``step >= 1`` (negative steps are ``rev`` then ``slice``).
- ``rev {axes}``: reverses the listed axes.
- ``pad {low, high, interior, value}``: ``low``/``high`` elements of
  ``value`` before/after each axis and ``interior`` between neighbours
  (non-negative; a strided slice's gradient is an interior pad).
- ``concatenate {axis}``: any number of inputs of one dtype.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tcomp.ir.primitives.attrs import AttrKind
from tcomp.ir.primitives.base import Primitive, register, shape_error, type_error
from tcomp.ir.types import TensorType, canonical_dtype, is_integer, numpy_dtype

# ---------------------------------------------------------------------------
# reshape


def _reshape_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    shape = tuple(attrs["shape"])
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise shape_error("reshape", f"invalid target shape {shape}", t)
    if int(np.prod(shape, dtype=np.int64)) != t.size:
        raise shape_error("reshape", f"cannot reshape {t.shape} ({t.size} elements) to {shape}", t)
    return t.with_shape(shape)


register(
    Primitive(
        "reshape",
        _reshape_infer,
        lambda inputs, attrs: inputs[0].reshape(attrs["shape"]),
        # d reshape(x) = reshape back
        lambda b, n, ct: [b.reshape_to(ct, n.inputs[0].shape)],
        {"shape": AttrKind.SHAPE},
        num_inputs=1,
    )
)

# ---------------------------------------------------------------------------
# transpose


def _transpose_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(t.ndim)):
        raise shape_error("transpose", f"perm {perm} is not a permutation of {t.ndim} axes", t)
    return t.with_shape([t.shape[p] for p in perm])


def _inverse_permutation(perm: Sequence[int]) -> tuple[int, ...]:
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return tuple(inverse)


register(
    Primitive(
        "transpose",
        _transpose_infer,
        lambda inputs, attrs: np.transpose(inputs[0], attrs["perm"]),
        # d transpose(x, p) = transpose(ct, inverse(p))
        lambda b, n, ct: [b.transpose(ct, perm=_inverse_permutation(n.attrs["perm"]))],
        {"perm": AttrKind.PERM},
        num_inputs=1,
    )
)

# ---------------------------------------------------------------------------
# broadcast_to


def _broadcast_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    shape = tuple(attrs["shape"])
    if len(shape) != t.ndim:
        raise shape_error("broadcast_to", f"target {shape} must have rank {t.ndim}", t)
    for have, want in zip(t.shape, shape):
        if have != want and have != 1:
            raise shape_error("broadcast_to", f"cannot broadcast {t.shape} to {shape}", t)
    return t.with_shape(shape)


def _broadcast_vjp(b, n, ct):
    # d broadcast(x) = sum over the stretched axes
    x = n.inputs[0]
    axes = tuple(i for i, (have, want) in enumerate(zip(x.shape, ct.shape)) if have != want)
    summed = b.reduce_sum(ct, axes=axes) if axes else ct
    return [b.reshape_to(summed, x.shape)]


register(
    Primitive(
        "broadcast_to",
        _broadcast_infer,
        # a copy, not np.ascontiguousarray, which turns a 0-d result into shape (1,)
        lambda inputs, attrs: np.broadcast_to(inputs[0], attrs["shape"]).copy(),
        _broadcast_vjp,
        {"shape": AttrKind.SHAPE},
        num_inputs=1,
    )
)

# ---------------------------------------------------------------------------
# slice


def _slice_length(start: int, stop: int, step: int) -> int:
    return max(0, (stop - start + step - 1) // step)


def _slice_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    start, stop, step = (tuple(attrs[k]) for k in ("start", "stop", "step"))
    if not (len(start) == len(stop) == len(step) == t.ndim):
        raise shape_error("slice", "start, stop and step need one entry per axis", t)
    for d, lo, hi, st in zip(t.shape, start, stop, step):
        if not (0 <= lo <= hi <= d and st >= 1):
            raise shape_error("slice", f"invalid bounds {start}:{stop}:{step}", t)
    return t.with_shape([_slice_length(*bounds) for bounds in zip(start, stop, step)])


def _padded_core(n: int, interior: int) -> int:
    """Length of ``n`` elements with ``interior`` padding between neighbours."""
    return n + max(n - 1, 0) * interior


def _slice_vjp(b, n, ct):
    # d slice(x) = the cotangent scattered back: an interior pad with zeros
    x = n.inputs[0]
    low = tuple(n.attrs["start"])
    interior = tuple(s - 1 for s in n.attrs["step"])
    high = tuple(
        d - lo - _padded_core(m, i) for d, lo, m, i in zip(x.shape, low, ct.shape, interior)
    )
    return [b.pad(ct, low=low, high=high, interior=interior, value=0.0)]


register(
    Primitive(
        "slice",
        _slice_infer,
        # np.asarray: indexing a 0-d array with () gives a numpy scalar
        lambda inputs, attrs: np.asarray(
            inputs[0][
                tuple(slice(*b) for b in zip(attrs["start"], attrs["stop"], attrs["step"]))
            ]
        ),
        _slice_vjp,
        {"start": AttrKind.INDICES, "stop": AttrKind.INDICES, "step": AttrKind.INDICES},
        num_inputs=1,
    )
)

# ---------------------------------------------------------------------------
# rev


def _rev_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    axes = tuple(attrs["axes"])
    if len(set(axes)) != len(axes) or any(not 0 <= a < t.ndim for a in axes):
        raise shape_error("rev", f"invalid axes {axes}", t)
    return t


register(
    Primitive(
        "rev",
        _rev_infer,
        lambda inputs, attrs: np.asarray(np.flip(inputs[0], tuple(attrs["axes"]))),
        # d rev(x) = rev(ct)
        lambda b, n, ct: [b.rev(ct, axes=n.attrs["axes"])],
        {"axes": AttrKind.AXES},
        num_inputs=1,
    )
)

# ---------------------------------------------------------------------------
# pad


def _pad_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    (t,) = types
    low, high, interior = (tuple(attrs[k]) for k in ("low", "high", "interior"))
    if not (len(low) == len(high) == len(interior) == t.ndim):
        raise shape_error("pad", "low, high and interior need one entry per axis", t)
    if min(low + high + interior, default=0) < 0:
        raise shape_error("pad", "padding must be non-negative", t)
    if not _fits(attrs["value"], t.dtype):
        message = f"value {attrs['value']!r} does not fit {t.dtype} (a bool or an int in range)"
        raise type_error("pad", message, t)
    return t.with_shape(
        [lo + _padded_core(d, i) + hi for d, lo, hi, i in zip(t.shape, low, high, interior)]
    )


def _fits(value: Any, dtype: str) -> bool:
    """Whether the pad value ``value`` (a number or bool) has one meaning in ``dtype``:
    any value for floats and bool (nonzero is true), a bool or an int in range for an
    integer dtype."""
    if not is_integer(dtype):
        return True
    info = np.iinfo(numpy_dtype(dtype))
    return isinstance(value, int) and info.min <= value <= info.max


def _pad_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    x = inputs[0]
    out_type = _pad_infer([TensorType(x.shape, canonical_dtype(x.dtype))], attrs)
    out = np.full(out_type.shape, attrs["value"], dtype=x.dtype)
    index = tuple(
        slice(lo, lo + _padded_core(d, i), i + 1)
        for d, lo, i in zip(x.shape, attrs["low"], attrs["interior"])
    )
    out[index] = x
    return out


def _pad_vjp(b, n, ct):
    # d pad(x) = the cotangent at x's positions: a strided slice
    x = n.inputs[0]
    low, interior = n.attrs["low"], n.attrs["interior"]
    stop = tuple(lo + _padded_core(d, i) for d, lo, i in zip(x.shape, low, interior))
    step = tuple(i + 1 for i in interior)
    return [b.slice(ct, start=tuple(low), stop=stop, step=step)]


register(
    Primitive(
        "pad",
        _pad_infer,
        _pad_reference,
        _pad_vjp,
        {
            "low": AttrKind.INDICES,
            "high": AttrKind.INDICES,
            "interior": AttrKind.INDICES,
            "value": AttrKind.SCALAR,
        },
        num_inputs=1,
    )
)

# ---------------------------------------------------------------------------
# concatenate


def _concatenate_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    axis = attrs["axis"]
    if not types:
        raise shape_error("concatenate", "needs at least one input")
    first = types[0]
    if not 0 <= axis < first.ndim:
        raise shape_error("concatenate", f"axis {axis} out of range for rank {first.ndim}", *types)
    for t in types[1:]:
        if t.dtype != first.dtype:
            raise type_error("concatenate", "inputs must have one dtype", *types)
        if t.ndim != first.ndim or any(
            a != c for i, (a, c) in enumerate(zip(t.shape, first.shape)) if i != axis
        ):
            raise shape_error("concatenate", f"shapes differ off axis {axis}", *types)
    total = sum(t.shape[axis] for t in types)
    return first.with_shape([total if i == axis else d for i, d in enumerate(first.shape)])


def _concatenate_vjp(b, n, ct):
    # d concat(x1, x2, ...) = the matching slices of the cotangent
    axis = n.attrs["axis"]
    grads = []
    offset = 0
    for x in n.inputs:
        start = tuple(offset if i == axis else 0 for i in range(ct.type.ndim))
        stop = tuple(offset + d if i == axis else d for i, d in enumerate(x.shape))
        grads.append(b.slice(ct, start=start, stop=stop, step=(1,) * ct.type.ndim))
        offset += x.shape[axis]
    return grads


register(
    Primitive(
        "concatenate",
        _concatenate_infer,
        lambda inputs, attrs: np.concatenate(inputs, axis=attrs["axis"]),
        _concatenate_vjp,
        {"axis": AttrKind.AXIS},
        num_inputs=None,
    )
)
