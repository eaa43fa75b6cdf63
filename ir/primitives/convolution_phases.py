"""The input gradient of a strided convolution as one small convolution per output phase.

The input gradient of ``conv`` is a transposed convolution: the cotangent dilated by the
stride ``s`` (``s - 1`` zeros between neighbours), convolved with the flipped kernel. Of
its products, all but ``1 / s**d`` meet an inserted zero: a ResNet's 1x1 stride-2
shortcut spent four times the multiply-adds it needed, and a 3x3 stride-2 convolution
copied a nine-fold im2col of mostly zeros. Split by phase instead: per spatial axis the
input positions ``h = q * s + p`` of one phase ``p`` receive only the kernel taps
``k = k0 + j * s`` with ``k0 = (p + low) mod s`` (``low`` the forward's low padding), from
the cotangent positions ``q + c - j`` with ``c = (p + low - k0) / s``. That is a
stride-1 convolution of the undilated cotangent with the sub-kernel ``w[k0::s]``,
flipped, padded by ``J - 1 - c`` below (``J`` the sub-kernel's length). The ``s**d``
phase results are put in place by interior padding (``s - 1`` zeros between
neighbours, ``p`` before) and added::

    dx[q * s + p] = sum_j ct[q + c - j] * w[k0 + j * s]      (one axis, rhs dilation 1)

Only for forward convolutions without lhs or rhs dilation (the gradient keeps the
plain transposed convolution otherwise): with those, the taps of one phase are not an
arithmetic progression of step ``s`` alone.
"""

from __future__ import annotations

import itertools
from typing import Any, Mapping, Sequence


def phases_apply(attrs: Mapping[str, Any]) -> bool:
    """Whether the phase split computes the input gradient of a ``conv`` with ``attrs``."""
    return (
        any(s > 1 for s in attrs["strides"])
        and all(r == 1 for r in attrs["rhs_dilation"])
        and all(l == 1 for l in attrs["lhs_dilation"])
    )


def _phase_axis(size: int, kernel: int, stride: int, low: int, out: int, phase: int):
    """(first tap, taps, cotangent low padding, outputs) of one phase on one axis, or
    None when the phase has no input positions or no taps."""
    outputs = -(-(size - phase) // stride)  # positions phase, phase + s, ... below size
    first = (phase + low) % stride
    if outputs <= 0 or first >= kernel:
        return None
    taps = -(-(kernel - first) // stride)
    shift = (phase + low - first) // stride
    return first, taps, taps - 1 - shift, outputs


def strided_input_gradient(b, ct, wt, attrs: Mapping[str, Any], spatial: Sequence[int],
                           clamped_conv):
    """``d conv / d x`` by phases (see the module docstring). ``ct`` is the cotangent
    ``[N, O, out...]``, ``wt`` the weight with each group's in and out channels swapped
    ``[C, O / groups, K...]`` (not flipped), ``spatial`` the input's spatial sizes;
    ``clamped_conv(b, (lhs, rhs), attrs, padding, starts, sizes)`` is the convolution
    that allows negative padding (``convolution._clamped``)."""
    d = len(spatial)
    strides, padding = attrs["strides"], attrs["padding"]
    kernel = wt.shape[2:]
    out_spatial = ct.shape[2:]
    spatial_axes = tuple(range(2, 2 + d))
    conv_attrs = {"strides": (1,) * d, "lhs_dilation": (1,) * d, "rhs_dilation": (1,) * d,
                  "groups": attrs["groups"]}
    total = None
    for phase in itertools.product(*(range(s) for s in strides)):
        axes = [_phase_axis(spatial[a], kernel[a], strides[a], padding[2 * a],
                            out_spatial[a], phase[a]) for a in range(d)]
        if any(axis is None for axis in axes):
            continue  # these input positions meet no tap: their gradient is zero
        sub = b.slice(wt, start=(0, 0) + tuple(axis[0] for axis in axes), stop=wt.shape,
                      step=(1, 1) + tuple(strides))
        sub = b.rev(sub, axes=spatial_axes)
        pad: list[int] = []
        starts: list[int] = []
        for a, (_, taps, low, outputs) in enumerate(axes):
            pad += [low, outputs - 1 + taps - out_spatial[a] - low]
            starts.append(max(-low, 0))
        if any(out_spatial[a] + max(pad[2 * a], 0) + max(pad[2 * a + 1], 0) - axes[a][1] + 1
               < starts[a] + axes[a][3] for a in range(d)):
            return None  # a degenerate phase: the caller keeps the dilated form
        part = clamped_conv(b, (ct, sub), conv_attrs, pad, starts,
                            [axis[3] for axis in axes])
        high = [spatial[a] - (phase[a] + (axes[a][3] - 1) * strides[a] + 1) for a in range(d)]
        part = b.pad(part, low=(0, 0) + tuple(phase), high=(0, 0) + tuple(high),
                     interior=(0, 0) + tuple(s - 1 for s in strides), value=0.0)
        total = part if total is None else b.add(total, part)
    return total
