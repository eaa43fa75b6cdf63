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
from typing import Any, Mapping, NamedTuple, Sequence


def phases_apply(attrs: Mapping[str, Any]) -> bool:
    """Whether the phase split computes the input gradient of a ``conv`` with ``attrs``."""
    return (
        any(s > 1 for s in attrs["strides"])
        and all(r == 1 for r in attrs["rhs_dilation"])
        and all(l == 1 for l in attrs["lhs_dilation"])
    )


class _AxisPlan(NamedTuple):
    """One phase on one axis: the sub-kernel's first tap and its length, the cotangent's
    padding (negative: cropped, ``start`` outputs dropped) and the phase's outputs."""

    first: int
    taps: int
    low: int
    high: int
    start: int
    outputs: int


def _phase_axis(size: int, kernel: int, stride: int, low: int, out: int,
                phase: int) -> _AxisPlan | None:
    """The plan of one phase on one axis, or None when the phase has no input positions
    or no taps."""
    outputs = -(-(size - phase) // stride)  # positions phase, phase + s, ... below size
    first = (phase + low) % stride
    if outputs <= 0 or first >= kernel:
        return None
    taps = -(-(kernel - first) // stride)
    pad_low = taps - 1 - (phase + low - first) // stride
    pad_high = outputs - 1 + taps - out - pad_low
    return _AxisPlan(first, taps, pad_low, pad_high, max(-pad_low, 0), outputs)


def _degenerate(plan: _AxisPlan, out: int) -> bool:
    """Whether the clamped convolution of this axis would have too few outputs to take
    the phase's from (a cotangent shorter than the sub-kernel)."""
    reach = out + max(plan.low, 0) + max(plan.high, 0) - plan.taps + 1
    return reach < plan.start + plan.outputs


def strided_input_gradient(b, ct, wt, attrs: Mapping[str, Any], spatial: Sequence[int],
                           clamped_conv):
    """``d conv / d x`` by phases (see the module docstring), or None (nothing built)
    when a phase is degenerate and the caller should keep the dilated form. ``ct`` is the
    cotangent ``[N, O, out...]``, ``wt`` the weight with each group's in and out channels
    swapped ``[C, O / groups, K...]`` (not flipped), ``spatial`` the input's spatial
    sizes; ``clamped_conv(b, (lhs, rhs), attrs, padding, starts, sizes)`` is the
    convolution that allows negative padding (``convolution._clamped``)."""
    d = len(spatial)
    strides, padding = attrs["strides"], attrs["padding"]
    kernel = wt.shape[2:]
    out_spatial = ct.shape[2:]
    plans: list[tuple[tuple[int, ...], list[_AxisPlan]]] = []
    for phase in itertools.product(*(range(s) for s in strides)):
        found = [_phase_axis(spatial[a], kernel[a], strides[a], padding[2 * a],
                             out_spatial[a], phase[a]) for a in range(d)]
        axes = [axis for axis in found if axis is not None]
        if len(axes) < d:
            continue  # these input positions meet no tap: their gradient is zero
        if any(_degenerate(axis, out) for axis, out in zip(axes, out_spatial)):
            return None
        plans.append((phase, axes))
    if not plans:
        return None

    spatial_axes = tuple(range(2, 2 + d))
    conv_attrs = {"strides": (1,) * d, "lhs_dilation": (1,) * d, "rhs_dilation": (1,) * d,
                  "groups": attrs["groups"]}
    total = None
    for phase, axes in plans:
        sub = b.slice(wt, start=(0, 0) + tuple(axis.first for axis in axes), stop=wt.shape,
                      step=(1, 1) + tuple(strides))
        sub = b.rev(sub, axes=spatial_axes)
        pad = [value for axis in axes for value in (axis.low, axis.high)]
        part = clamped_conv(b, (ct, sub), conv_attrs, pad, [axis.start for axis in axes],
                            [axis.outputs for axis in axes])
        high = [spatial[a] - (phase[a] + (axes[a].outputs - 1) * strides[a] + 1)
                for a in range(d)]
        part = b.pad(part, low=(0, 0) + tuple(phase), high=(0, 0) + tuple(high),
                     interior=(0, 0) + tuple(s - 1 for s in strides), value=0.0)
        total = part if total is None else b.add(total, part)
    return total
