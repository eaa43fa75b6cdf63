"""Convolutions and window reductions by definition, in plain float64 loops, and
hypothesis strategies of their shapes and attributes (test helpers).

Independent of tcomp's numpy references (which use ``sliding_window_view`` and
einsum): each output element is computed by visiting the input positions its
window or kernel lands on, so the tests of ``conv`` and the ``reduce_window``
primitives compare two different formulations.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from hypothesis import strategies as st


def direct_conv(x, w, strides, padding, lhs_dilation, rhs_dilation, groups):
    """The conv by definition, in float64: for each output position and kernel offset,
    the input position ``i * stride + k * rhs_dilation - low`` of the lhs-dilated input,
    0 outside it or between dilated elements."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    d = x.ndim - 2
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    kernel = w.shape[2:]
    og = o // groups
    dilated = [(s - 1) * l + 1 for s, l in zip(x.shape[2:], lhs_dilation)]
    out_shape = []
    for a in range(d):
        padded = dilated[a] + padding[2 * a] + padding[2 * a + 1]
        span = rhs_dilation[a] * (kernel[a] - 1) + 1
        out_shape.append(max(0, (padded - span) // strides[a] + 1) if padded >= span else 0)
    out = np.zeros((n, o, *out_shape))
    for pos in itertools.product(*(range(s) for s in out_shape)):
        for k in itertools.product(*(range(s) for s in kernel)):
            source = []
            for a in range(d):
                p = pos[a] * strides[a] + k[a] * rhs_dilation[a] - padding[2 * a]
                if p < 0 or p % lhs_dilation[a] or p // lhs_dilation[a] >= x.shape[2 + a]:
                    break
                source.append(p // lhs_dilation[a])
            else:
                for g in range(groups):
                    xs = x[(slice(None), slice(g * cg, (g + 1) * cg), *source)]  # [n, cg]
                    ws = w[(slice(g * og, (g + 1) * og), slice(None), *k)]  # [og, cg]
                    out[(slice(None), slice(g * og, (g + 1) * og), *pos)] += xs @ ws.T
    return out


@st.composite
def conv_attrs_and_shapes(draw, max_rank: int = 3):
    """Shapes ``(x, w)`` and attributes of a ``conv`` with a non-empty output: 1 to
    ``max_rank`` spatial axes, strides, paddings, both dilations and groups."""
    d = draw(st.integers(1, max_rank))
    groups = draw(st.integers(1, 2))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    side = 4 if d == 3 else 6
    attrs: dict[str, Any] = {"strides": [], "padding": [], "lhs_dilation": [],
                             "rhs_dilation": [], "groups": groups}
    spatial, kernel = [], []
    for _ in range(d):
        size, k = draw(st.integers(1, side)), draw(st.integers(1, 3))
        stride, lhs, rhs = (draw(st.integers(1, 2)) for _ in range(3))
        low, high = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        dilated = (size - 1) * lhs + 1 + low + high
        if dilated < rhs * (k - 1) + 1:  # keep the output non-empty
            high += rhs * (k - 1) + 1 - dilated
        spatial.append(size)
        kernel.append(k)
        attrs["strides"].append(stride)
        attrs["lhs_dilation"].append(lhs)
        attrs["rhs_dilation"].append(rhs)
        attrs["padding"] += [low, high]
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items()}
    return (n, groups * cg, *spatial), (groups * og, cg, *kernel), attrs


def direct_window(x, op, window, strides, padding, window_dilation, base_dilation=None):
    """A window reduction by definition, in float64 loops: for each output position, the
    window elements that land on the (base-dilated) input; padding is 0 for "sum" and
    -inf for "max"; "argmax" gives the flat index of the first maximum (x.size for
    padding). Independent of the primitive's sliding-window reference."""
    x = np.asarray(x, np.float64)
    r = x.ndim
    base = base_dilation or (1,) * r
    out_shape = []
    for a in range(r):
        length = ((x.shape[a] - 1) * base[a] + 1 if x.shape[a] else 0) + padding[2 * a] + \
            padding[2 * a + 1]
        span = window_dilation[a] * (window[a] - 1) + 1
        out_shape.append(0 if length < span else (length - span) // strides[a] + 1)
    out = np.zeros(out_shape, np.int64 if op == "argmax" else np.float64)
    for o in itertools.product(*(range(n) for n in out_shape)):
        best, best_at, total = -np.inf, None, 0.0
        for k in itertools.product(*(range(w) for w in window)):
            source, inside = [], True
            for a in range(r):
                p = o[a] * strides[a] + k[a] * window_dilation[a] - padding[2 * a]
                if p < 0 or p % base[a] or p // base[a] >= x.shape[a]:
                    inside = False
                source.append(p // base[a])
            value = x[tuple(source)] if inside else -np.inf
            flat = int(np.ravel_multi_index(source, x.shape)) if inside else x.size
            if inside:
                total += value
            if best_at is None or value > best or (np.isnan(value) and not np.isnan(best)):
                best, best_at = value, flat
        out[o] = total if op == "sum" else best if op == "max" else best_at
    return out


@st.composite
def window_attrs_and_shapes(draw, op: str = "sum", max_rank: int = 3):
    """An input shape and the attributes of a window reduction with a non-empty output
    (``base_dilation`` for ``sum`` only); every window of a max op holds an input element
    (a window of padding alone is tested on its own, in test_pooling.py)."""
    rank = draw(st.integers(1, max_rank))
    attrs: dict[str, list[int]] = {"window": [], "strides": [], "padding": [],
                                   "window_dilation": []}
    if op == "sum":
        attrs["base_dilation"] = []
    shape = []
    for _ in range(rank):
        size, k = draw(st.integers(1, 5)), draw(st.integers(1, 3))
        stride, dil = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        base = draw(st.integers(1, 2)) if op == "sum" else 1
        low = draw(st.integers(0, 2 if op == "sum" else (k - 1) // 2))
        high = draw(st.integers(0, 2 if op == "sum" else (k - 1) // 2))
        span = dil * (k - 1) + 1
        if op == "max":
            # Every window must hold an input element (else its max is -inf, and a finite
            # difference of it nan): with padding at most (k - 1) // 2 that holds when the
            # input is at least the dilation long and fills what the padding leaves of the
            # window. So the input grows here, never the padding.
            size = max(size, dil, span - low - high)
        length = (size - 1) * base + 1 + low + high
        if length < span:
            high += span - length
        shape.append(size)
        for name, v in (("window", k), ("strides", stride), ("window_dilation", dil)):
            attrs[name].append(v)
        attrs["padding"] += [low, high]
        if op == "sum":
            attrs["base_dilation"].append(base)
    return tuple(shape), {k: tuple(v) for k, v in attrs.items()}
