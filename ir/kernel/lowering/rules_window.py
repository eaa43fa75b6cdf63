"""Lowerings of the window reductions (pooling): ``reduce_window_sum``,
``reduce_window_max`` and ``window_argmax``.

A direct loop nest: each output element is a reduction over its window's
offsets ``k...``. Per axis the position in the (base-dilated) padded input is
``p = o * stride + k * window_dilation - low``, which reads input element
``p / base_dilation`` when it is a multiple of ``base_dilation`` inside the
input, and the padding value (0 for a sum, ``-inf`` for a max) otherwise. As
for ``conv`` the guard is a ``select`` over a *clamped* load, and the
simplifying constructors drop the bounds that the loop ranges already imply,
so an unpadded pool has none::

    %1: f32[1,1,2,2] = reduce_window_max(%0: f32[1,1,4,4]) {window=(1, 1, 2, 2), strides=(1, 1, 2, 2), ...}
    element [0, 0, i2, i3] -> reduce_max[r0 in 0..2, r1 in 0..2](%p0[(i2 * 2 + r0) * 4 + i3 * 2 + r1])

``window_argmax`` reduces one flattened window axis with ``argmax`` (first
maximum, NaN wins) and turns the winning offset back into the flat input
index (``x.size`` when the winner is padding).
"""

from __future__ import annotations

import math

from tcomp.ir.kernel.expr import (
    HALF_TYPES,
    INDEX,
    Expr,
    add,
    binary,
    cast,
    clamp_index,
    const,
    const_index,
    flat_index,
    floordiv,
    mod,
    mul,
    select,
    sub,
    unflatten_index,
)
from tcomp.ir.kernel.lowering.context import Accessor, LoweringContext
from tcomp.ir.kernel.lowering.rules_reduce import _reduce


def _positions(attrs, sizes, out, offsets) -> tuple[Expr, list[Expr]]:
    """Whether the window element at ``offsets`` of output ``out`` is a real input element,
    and its (clamped) input position per axis."""
    strides, wd, padding = attrs["strides"], attrs["window_dilation"], attrs["padding"]
    base = attrs.get("base_dilation", (1,) * len(sizes))
    inside: Expr = const(True, "bool")
    positions = []
    for a, size in enumerate(sizes):
        p = sub(add(mul(out[a], const_index(strides[a])), mul(offsets[a], const_index(wd[a]))),
                const_index(padding[2 * a]))
        inside = binary("and", inside, binary("ge", p, const_index(0)))
        if base[a] > 1:
            inside = binary("and", inside, binary("eq", mod(p, const_index(base[a])),
                                                  const_index(0)))
            p = floordiv(p, const_index(base[a]))
        inside = binary("and", inside, binary("lt", p, const_index(size)))
        positions.append(clamp_index(p, size))
    return inside, positions


def _window_reduction(op: str):
    def lower(ctx: LoweringContext, inputs, attrs, out_type) -> Accessor:
        """reduce_window_{sum,max} (see the module docstring)."""
        (x,) = inputs
        sizes = ctx.input_types[0].shape
        wide = "float32" if out_type.dtype in HALF_TYPES else out_type.dtype
        fill = const(0 if op == "add" else float("-inf"), wide)

        def access(idx):
            def body(offsets):
                inside, positions = _positions(attrs, sizes, idx, offsets)
                return select(inside, cast(x(positions), wide), fill)

            return cast(_reduce(ctx, op, body, list(attrs["window"]), wide), out_type.dtype)

        return access

    return lower


def lower_window_argmax(ctx: LoweringContext, inputs, attrs, out_type) -> Accessor:
    """window_argmax: the flat input index of each window's first maximum."""
    (x,) = inputs
    sizes = ctx.input_types[0].shape
    window = tuple(attrs["window"])
    wide = "float32" if ctx.input_types[0].dtype in HALF_TYPES else ctx.input_types[0].dtype
    total = math.prod(sizes)

    def access(idx):
        def body(reduced):
            inside, positions = _positions(attrs, sizes, idx, unflatten_index(reduced[0], window))
            return select(inside, cast(x(positions), wide), const(float("-inf"), wide))

        best = cast(_reduce(ctx, "argmax", body, [math.prod(window)], "int32"), INDEX)
        inside, positions = _positions(attrs, sizes, idx, unflatten_index(best, window))
        where = select(inside, flat_index(positions, sizes), const_index(total))
        return cast(where, "int32")

    return access


LOWERINGS = {
    "reduce_window_sum": _window_reduction("add"),
    "reduce_window_max": _window_reduction("max"),
    "window_argmax": lower_window_argmax,
}
