"""The convolution primitive: N-d ``conv`` (cross-correlation, as in PyTorch and XLA).

``conv(x, w) {strides, padding, lhs_dilation, rhs_dilation, groups}``:

- ``x`` is ``[N, C, *spatial]`` (NCHW), ``w`` is ``[O, C / groups, *kernel]``
  (OIHW); ``d = rank - 2`` spatial axes (1, 2 or 3 in practice, any ``d >= 1``);
- ``strides``, ``lhs_dilation``, ``rhs_dilation``: ``d`` ints ``>= 1`` each;
- ``padding``: ``2 * d`` ints ``>= 0``, ``(low_0, high_0, low_1, high_1, ...)``;
- ``groups``: ``>= 1``, dividing ``C`` and ``O``; output channel ``o`` reads
  the input channels of group ``o // (O / groups)``.

Per spatial axis, the input is first dilated by ``lhs_dilation`` (``l - 1``
zeros between neighbours: the input of a transposed convolution), then padded
with ``low``/``high`` zeros; the kernel is dilated by ``rhs_dilation``. With
``X`` that dilated, padded input::

    out[n, o, i...] = sum over c < C/groups, k... of
                      X[n, g * C/groups + c, i * stride + k * rhs_dilation] * w[o, c, k...]
    out size = (L - rhs_dilation * (K - 1) - 1) // stride + 1,
    L = (H - 1) * lhs_dilation + 1 + low + high        (0 when L < the dilated kernel)

Gradients are convolutions (see :func:`_conv_vjp`), so a backward pass runs
through the same kernel as the forward.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tcomp.ir.primitives.attrs import AttrKind
from tcomp.ir.primitives.base import Primitive, register, shape_error, type_error
from tcomp.ir.primitives.convolution_phases import phases_apply, strided_input_gradient
from tcomp.ir.types import TensorType

CONV_ATTRS = {
    "strides": AttrKind.INDICES,
    "padding": AttrKind.INDICES,
    "lhs_dilation": AttrKind.INDICES,
    "rhs_dilation": AttrKind.INDICES,
    "groups": AttrKind.INDEX,
}


def conv_output_size(size: int, kernel: int, stride: int, low: int, high: int,
                     lhs_dilation: int, rhs_dilation: int) -> int:
    """The output length of one spatial axis (see the module docstring)."""
    dilated = (size - 1) * lhs_dilation + 1 if size > 0 else 0
    padded = dilated + low + high
    span = rhs_dilation * (kernel - 1) + 1
    return 0 if padded < span else (padded - span) // stride + 1


def _conv_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, w = types
    if x.ndim < 3 or x.ndim != w.ndim:
        raise shape_error(
            "conv", "needs x [N, C, *spatial] and w [O, C/groups, *kernel] of one rank >= 3", x, w
        )
    d = x.ndim - 2
    for name, count in (("strides", d), ("lhs_dilation", d), ("rhs_dilation", d),
                        ("padding", 2 * d)):
        value = tuple(attrs[name])
        if len(value) != count:
            raise shape_error("conv", f"{name} {value} must have {count} entries for {d} "
                              "spatial axes", x, w)
        if name != "padding" and any(v < 1 for v in value):
            raise shape_error("conv", f"{name} {value} must be >= 1", x, w)
    groups = attrs["groups"]
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    if groups < 1 or c % groups or o % groups:
        raise shape_error(
            "conv", f"groups={groups} must be >= 1 and divide the {c} input and {o} output "
            "channels", x, w
        )
    if cg * groups != c:
        raise shape_error(
            "conv", f"x has {c} channels, so w needs {c // groups} per group (groups={groups}), "
            f"got {cg}", x, w
        )
    if x.dtype != w.dtype:
        raise type_error("conv", "operands must have one dtype", x, w)
    if x.dtype == "bool":
        raise type_error("conv", f"is not defined on {x.dtype}", x, w)
    spatial = []
    for axis in range(d):
        kernel = w.shape[2 + axis]
        low, high = attrs["padding"][2 * axis : 2 * axis + 2]
        spatial.append(conv_output_size(
            x.shape[2 + axis], kernel, attrs["strides"][axis], low, high,
            attrs["lhs_dilation"][axis], attrs["rhs_dilation"][axis]))
    return x.with_shape((n, o, *spatial))


def conv_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    """numpy: dilate and pad ``x``, then per group an einsum over sliding windows."""
    x, w = inputs
    d = x.ndim - 2
    groups = attrs["groups"]
    strides, lhs, rhs = attrs["strides"], attrs["lhs_dilation"], attrs["rhs_dilation"]
    padding = attrs["padding"]
    dtype = np.result_type(x, w)
    # dilate the input: l - 1 zeros between neighbours
    dilated_shape = x.shape[:2] + tuple(
        (s - 1) * l + 1 if s > 0 else 0 for s, l in zip(x.shape[2:], lhs)
    )
    dilated = np.zeros(dilated_shape, dtype)
    dilated[(slice(None), slice(None)) + tuple(slice(None, None, l) for l in lhs)] = x
    pad = [(0, 0), (0, 0)] + [(padding[2 * a], padding[2 * a + 1]) for a in range(d)]
    padded = np.pad(dilated, pad)
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    kernel = w.shape[2:]
    out_spatial = [
        conv_output_size(x.shape[2 + a], kernel[a], strides[a], padding[2 * a],
                         padding[2 * a + 1], lhs[a], rhs[a])
        for a in range(d)
    ]
    out = np.zeros((n, o, *out_spatial), dtype)
    if out.size == 0 or cg == 0:
        return out
    spans = tuple(rhs[a] * (kernel[a] - 1) + 1 for a in range(d))
    # windows[n, c, i..., span...]: every window of the dilated kernel's extent
    windows = np.lib.stride_tricks.sliding_window_view(padded, spans, axis=tuple(range(2, 2 + d)))
    pick = (slice(None), slice(None)) + tuple(
        slice(0, strides[a] * (out_spatial[a] - 1) + 1, strides[a]) for a in range(d)
    ) + tuple(slice(None, None, rhs[a]) for a in range(d))
    windows = windows[pick]  # [n, c, out..., kernel...]
    og = o // groups
    letters = "abcdefghijklmnopqrstuvwxyz"[: 2 * d]
    space, kern = letters[:d], letters[d:]
    spec = f"NC{space}{kern},OC{kern}->NO{space}"
    for g in range(groups):
        out[:, g * og : (g + 1) * og] = np.einsum(
            spec, windows[:, g * cg : (g + 1) * cg], w[g * og : (g + 1) * og]
        )
    return out.astype(dtype, copy=False)


def _clamped(b, value, attrs: Mapping[str, Any], padding: list[int], starts: list[int],
             sizes: Sequence[int]):
    """``conv`` with negative paddings allowed: a negative one becomes 0 and its outputs
    are sliced off afterwards (``starts``: how many outputs to drop at each axis' start)."""
    out = b.conv(*value, **{**attrs, "padding": tuple(max(p, 0) for p in padding)})
    d = len(sizes)
    if tuple(out.shape[2:]) == tuple(sizes) and not any(starts):
        return out
    start = (0, 0) + tuple(starts)
    stop = tuple(out.shape[:2]) + tuple(s + n for s, n in zip(starts, sizes))
    return b.slice(out, start=start, stop=stop, step=(1,) * (d + 2))


def _conv_vjp(b, n, ct):
    # Per spatial axis, with X the input dilated by l (length Hd = (H-1) l + 1), padded by
    # (pl, ph), stride s, kernel dilation r, kernel K and O outputs:
    #   y[o] = sum_k X[o s + k r - pl] w[k]
    # input: dX[h] = sum_{o s + k r = h + pl} ct[o] w[k]; with k' = K-1-k (the flipped kernel)
    #   and ct dilated by s: dX = conv(ct, flip(w^T), lhs_dilation=s, rhs_dilation=r,
    #   padding low r(K-1) - pl, high Hd - 1 + pl - (O-1) s), then dx = dX[::l];
    #   w^T swaps the in/out channels within each group. With a stride and neither
    #   dilation, one stride-1 conv per phase of the input instead (convolution_phases.py):
    #   the dilated ct would make all but 1 / s^d of the products zeros.
    # weight: dw[o, c, k] = sum_{n, j} ct[n, o, j] X[n, c, j s + k r - pl]: a conv whose batch
    #   is c and whose channels are (group, n): lhs x as [C/g, g N, H], rhs ct as [O, N, O],
    #   stride r, kernel dilation s, padding low pl, groups g, giving [C/g, O, K] -> [O, C/g, K].
    x, w = n.inputs
    attrs = n.attrs
    d = x.type.ndim - 2
    groups = attrs["groups"]
    strides, lhs, rhs = attrs["strides"], attrs["lhs_dilation"], attrs["rhs_dilation"]
    padding = attrs["padding"]
    batch, c = x.shape[:2]
    o, cg = w.shape[:2]
    og = o // groups
    kernel, spatial, out_spatial = w.shape[2:], x.shape[2:], ct.shape[2:]
    if ct.type.size == 0 or x.type.size == 0 or w.type.size == 0:
        return [b.zeros(x.type), b.zeros(w.type)]
    dilated = [(s - 1) * l + 1 for s, l in zip(spatial, lhs)]
    spatial_axes = tuple(range(2, 2 + d))

    # -- input gradient
    wt = b.reshape(w, shape=(groups, og, cg, *kernel))
    wt = b.transpose(wt, perm=(0, 2, 1, *range(3, 3 + d)))
    wt = b.reshape(wt, shape=(c, og, *kernel))
    dx = None
    if phases_apply(attrs):
        dx = strided_input_gradient(b, ct, wt, attrs, spatial, _clamped)
    if dx is None:
        dx = _dilated_input_gradient(b, ct, wt, attrs, dilated)
    if any(l > 1 for l in lhs):
        dx = b.slice(dx, start=(0,) * (d + 2), stop=dx.shape,
                     step=(1, 1) + tuple(lhs))

    # -- weight gradient
    xs = b.reshape(x, shape=(batch, groups, cg, *spatial))
    xs = b.transpose(xs, perm=(2, 1, 0, *range(3, 3 + d)))
    xs = b.reshape(xs, shape=(cg, groups * batch, *spatial))
    cts = b.transpose(ct, perm=(1, 0, *spatial_axes))  # [O, N, out...]
    pad_w: list[int] = []
    for a in range(d):
        # the padded input must reach (K-1) r + (O-1) s + 1 positions, no more
        needed = (kernel[a] - 1) * rhs[a] + (out_spatial[a] - 1) * strides[a] + 1
        pad_w += [padding[2 * a], needed - dilated[a] - padding[2 * a]]
    weight_attrs = {"strides": tuple(rhs), "lhs_dilation": tuple(lhs), "rhs_dilation": tuple(strides),
                    "groups": groups}
    dw = _clamped(b, (xs, cts), weight_attrs, pad_w, [0] * d, kernel)  # [C/g, O, K...]
    dw = b.transpose(dw, perm=(1, 0, *spatial_axes))
    return [dx, dw]


def _dilated_input_gradient(b, ct, wt, attrs: Mapping[str, Any], dilated: list[int]):
    """The input gradient as one transposed convolution: ``ct`` dilated by the stride,
    convolved with the flipped ``wt`` (see ``_conv_vjp``), over the lhs-dilated input."""
    d = len(dilated)
    kernel, out_spatial = wt.shape[2:], ct.shape[2:]
    strides, rhs, padding = attrs["strides"], attrs["rhs_dilation"], attrs["padding"]
    groups = attrs["groups"]
    wt = b.rev(wt, axes=tuple(range(2, 2 + d)))
    pad_in: list[int] = []
    starts: list[int] = []
    for a in range(d):
        low = rhs[a] * (kernel[a] - 1) - padding[2 * a]
        high = dilated[a] - 1 + padding[2 * a] - (out_spatial[a] - 1) * strides[a]
        pad_in += [low, high]
        starts.append(max(-low, 0))
    # with a negative high pad, the clamped conv has extra outputs at the end: sliced off
    input_attrs = {"strides": (1,) * d, "lhs_dilation": tuple(strides), "rhs_dilation": tuple(rhs),
                   "groups": groups}
    return _clamped(b, (ct, wt), input_attrs, pad_in, starts, dilated)


register(Primitive("conv", _conv_infer, conv_reference, _conv_vjp, CONV_ATTRS, num_inputs=2))
