"""Window reductions (pooling): ``reduce_window_sum``, ``reduce_window_max`` and
``window_argmax``, over windows of every axis of the input.

Attributes (one entry per axis of ``x``; batch and channel axes take window 1):

- ``window``: the window's extent per axis (``>= 1``);
- ``strides``: the step between windows per axis (``>= 1``);
- ``padding``: ``2 * rank`` ints ``>= 0``, ``(low_0, high_0, low_1, high_1, ...)``;
- ``window_dilation``: the step between a window's elements (``>= 1``);
- ``base_dilation`` (``reduce_window_sum`` only): ``b - 1`` zeros between
  neighbouring input elements before padding (what the gradient of a strided
  window sum needs; XLA's ``base_dilation``).

With ``X`` the (dilated,) padded input, padded with 0 for a sum and ``-inf``
for a max, and ``O`` an output position::

    out[O] = reduce over k in the window box of X[O * strides + k * window_dilation]
    out size = (L - window_dilation * (window - 1) - 1) // stride + 1,
    L = (H - 1) * base_dilation + 1 + low + high     (0 when L < the dilated window)

``window_argmax(x)`` gives, per window of ``reduce_window_max``, the row-major
flat index into ``x`` of the window's first maximum (window elements in
row-major order of ``k``; NaN counts as the maximum, as numpy's argmax), or
``x.size`` when that element is padding (a window of padding and ``-inf``s).
It is the gradient's routing table: ``reduce_window_max``'s VJP sends each
cotangent element to that position with ``scatter_add`` (padding winners go
to a dropped slot), so its gradients are scatters and gathers, never select
chains. ``reduce_window_sum``'s VJP is a ``reduce_window_sum`` of the
cotangent dilated by the strides (see :func:`_sum_vjp`).

The kind (sum or max) is the primitive's name rather than a string attribute:
attribute kinds (:mod:`tcomp.ir.primitives.attrs`) have no strings, and the
two reductions differ in padding value, dtypes, attributes and gradient.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tcomp.ir.primitives.attrs import AttrKind
from tcomp.ir.primitives.base import Primitive, register, shape_error, type_error
from tcomp.ir.primitives.convolution import conv_output_size
from tcomp.ir.types import TensorType

MAX_ATTRS = {
    "window": AttrKind.INDICES,
    "strides": AttrKind.INDICES,
    "padding": AttrKind.INDICES,
    "window_dilation": AttrKind.INDICES,
}
SUM_ATTRS = {**MAX_ATTRS, "base_dilation": AttrKind.INDICES}
_FLOATS = ("float16", "bfloat16", "float32", "float64")


def window_output_shape(shape: Sequence[int], attrs: Mapping[str, Any]) -> tuple[int, ...]:
    """The output shape of a window reduction of an input of ``shape``."""
    base = attrs.get("base_dilation", (1,) * len(shape))
    return tuple(
        conv_output_size(shape[a], attrs["window"][a], attrs["strides"][a],
                         attrs["padding"][2 * a], attrs["padding"][2 * a + 1], base[a],
                         attrs["window_dilation"][a])
        for a in range(len(shape))
    )


def _infer(op: str):
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        (x,) = types
        r = x.ndim
        for name in attrs:
            count = 2 * r if name == "padding" else r
            value = tuple(attrs[name])
            if len(value) != count:
                raise shape_error(op, f"{name} {value} must have {count} entries for an input "
                                  f"of rank {r}", x)
            if name != "padding" and any(v < 1 for v in value):
                raise shape_error(op, f"{name} {value} must be >= 1", x)
        if op == "reduce_window_sum":
            if x.dtype == "bool":
                raise type_error(op, "is not defined on bool; convert first", x)
        elif x.dtype not in _FLOATS:
            raise type_error(op, f"needs a float input, got {x.dtype}", x)
        shape = window_output_shape(x.shape, attrs)
        if op != "reduce_window_sum" and x.size == 0 and 0 not in shape:
            raise shape_error(op, "a max over windows of an empty input has no value", x)
        return x.with_shape(shape) if op != "window_argmax" else TensorType(shape, "int32")

    return infer


def _windows(x: np.ndarray, attrs: Mapping[str, Any], fill) -> np.ndarray:
    """``[*out, *window]``: every window of the dilated, padded ``x`` (numpy)."""
    r = x.ndim
    base = attrs.get("base_dilation", (1,) * r)
    window, strides, wd = attrs["window"], attrs["strides"], attrs["window_dilation"]
    out = window_output_shape(x.shape, attrs)
    dilated = np.full(tuple((s - 1) * b + 1 if s else 0 for s, b in zip(x.shape, base)), fill,
                      x.dtype)
    dilated[tuple(slice(None, None, b) for b in base)] = x
    pad = [(attrs["padding"][2 * a], attrs["padding"][2 * a + 1]) for a in range(r)]
    padded = np.pad(dilated, pad, constant_values=fill)
    if 0 in out:
        return np.zeros(out + tuple(window), x.dtype)
    spans = tuple(d * (k - 1) + 1 for d, k in zip(wd, window))
    views = np.lib.stride_tricks.sliding_window_view(padded, spans)
    pick = tuple(slice(0, s * (o - 1) + 1, s) for s, o in zip(strides, out)) + tuple(
        slice(None, None, d) for d in wd)
    return views[pick]


def _sum_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    (x,) = inputs
    r = x.ndim
    return np.sum(_windows(x, attrs, 0), axis=tuple(range(r, 2 * r)), dtype=x.dtype)


def _max_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    (x,) = inputs
    r = x.ndim
    w = _windows(x, attrs, -np.inf)
    if w.size == 0:
        return np.zeros(w.shape[:r], x.dtype)
    return np.max(w, axis=tuple(range(r, 2 * r)))


def _argmax_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    (x,) = inputs
    r = x.ndim
    # the windows of the flat positions of x, padding marked x.size
    positions = np.arange(x.size, dtype=np.int64).reshape(x.shape)
    where = _windows(positions, {**attrs, "base_dilation": (1,) * r}, x.size)
    values = _windows(x, attrs, -np.inf)
    out = where.shape[:r]
    if 0 in out:
        return np.zeros(out, np.int32)
    flat_values = values.reshape(out + (-1,))
    first = np.argmax(flat_values, axis=-1)  # first maximum, NaN wins
    picked = np.take_along_axis(where.reshape(out + (-1,)), first[..., None], axis=-1)[..., 0]
    return picked.astype(np.int32)


def _sum_vjp(b, n, ct):
    # Per axis, with X the input dilated by bd (length Hd = (H-1) bd + 1), padded by (pl, ph),
    # stride s, window dilation d, window K and O outputs: y[o] = sum_k X[o s + k d - pl].
    # dX[h] = sum_{o s + k d = h + pl} ct[o]: the conv input gradient with an all-ones
    # (symmetric, so unflipped) kernel, i.e. a window sum of ct dilated by s, padded low
    # d(K-1) - pl, high Hd - 1 + pl - (O-1) s, stride 1; negative pads are clamped to 0 and
    # their outputs sliced off; then dx = dX[::bd].
    (x,) = n.inputs
    attrs = n.attrs
    r = x.type.ndim
    if ct.type.size == 0 or x.type.size == 0:
        return [b.zeros(x.type)]
    window, strides, wd = attrs["window"], attrs["strides"], attrs["window_dilation"]
    base, padding = attrs["base_dilation"], attrs["padding"]
    dilated = [(h - 1) * bd + 1 for h, bd in zip(x.shape, base)]
    pads: list[int] = []
    starts: list[int] = []
    for a in range(r):
        low = wd[a] * (window[a] - 1) - padding[2 * a]
        high = dilated[a] - 1 + padding[2 * a] - (ct.shape[a] - 1) * strides[a]
        pads += [max(low, 0), max(high, 0)]
        starts.append(max(-low, 0))
    dx = b.reduce_window_sum(ct, window=tuple(window), strides=(1,) * r, padding=tuple(pads),
                             window_dilation=tuple(wd), base_dilation=tuple(strides))
    if tuple(dx.shape) != tuple(dilated) or any(starts):
        dx = b.slice(dx, start=tuple(starts), stop=tuple(s + h for s, h in zip(starts, dilated)),
                     step=(1,) * r)
    if any(bd > 1 for bd in base):
        dx = b.slice(dx, start=(0,) * r, stop=tuple(dx.shape), step=tuple(base))
    return [dx]


def _max_vjp(b, n, ct):
    # d max over a window = the cotangent at the window's first maximum (window_argmax),
    # summed over the windows that pick one element; padding winners go to slot x.size.
    (x,) = n.inputs
    size = x.type.size
    if ct.type.size == 0 or size == 0:
        return [b.zeros(x.type)]
    where = b.window_argmax(x, **n.attrs)
    flat = b.scatter_add(b.reshape(ct, shape=(ct.type.size,)),
                         b.reshape(where, shape=(ct.type.size,)), axis=0, size=size + 1)
    flat = b.slice(flat, start=(0,), stop=(size,), step=(1,))
    return [b.reshape(flat, shape=tuple(x.shape))]


register(Primitive("reduce_window_sum", _infer("reduce_window_sum"), _sum_reference, _sum_vjp,
                   SUM_ATTRS, num_inputs=1))
register(Primitive("reduce_window_max", _infer("reduce_window_max"), _max_reference, _max_vjp,
                   MAX_ATTRS, num_inputs=1))
register(Primitive("window_argmax", _infer("window_argmax"), _argmax_reference, None,
                   MAX_ATTRS, num_inputs=1))
