"""The lowering of ``conv``: a direct loop nest, one reduction per output element.

Output element ``[n, o, i...]`` is a sum over the input channels of ``o``'s
group and the kernel offsets ``k...``; per spatial axis the input position
(in the lhs-dilated, padded input) is ``i * stride + k * rhs_dilation - low``,
which reads input element ``p / lhs_dilation`` when it is a multiple of
``lhs_dilation`` inside ``0 .. (H - 1) * lhs_dilation`` and 0 otherwise. The
guard is a ``select`` over a *clamped* load (renderers may evaluate both
sides of a select); the simplifying constructors drop every bound that the
loop ranges already imply, so an unpadded, undilated conv has none::

    %2: f32[1,2,3,3] = conv(%0: f32[1,1,5,5], %1: f32[2,1,3,3]) {strides=(1, 1), ...}
    element [0, i1, i2, i3] -> reduce_add[r0 in 0..3, r1 in 0..3](
        %p0[(i2 + r0) * 5 + i3 + r1] * %p1[i1 * 9 + r0 * 3 + r1])

The kernel builder hoists the reduction into an accumulator and loops inside
the output loops, and vectorises the output's last axis (the output's last
spatial axis: unit-stride input reads for stride 1), as it does for matmul.
"""

from __future__ import annotations

from tcomp.ir.kernel.expr import (
    HALF_TYPES,
    Expr,
    add,
    binary,
    cast,
    clamp_index,
    const,
    const_index,
    floordiv,
    mod,
    mul,
    select,
    sub,
)
from tcomp.ir.kernel.lowering.context import Accessor, LoweringContext
from tcomp.ir.kernel.lowering.rules_reduce import _reduce


def lower_conv(ctx: LoweringContext, inputs, attrs, out_type) -> Accessor:
    """conv {strides, padding, lhs_dilation, rhs_dilation, groups} (see the module docstring)."""
    x, w = inputs
    x_type, w_type = ctx.input_types
    d = x_type.ndim - 2
    sizes = x_type.shape[2:]
    out_channels, per_group = w_type.shape[:2]
    kernel = w_type.shape[2:]
    per_out_group = out_channels // attrs["groups"]
    strides, lhs, rhs = attrs["strides"], attrs["lhs_dilation"], attrs["rhs_dilation"]
    padding = attrs["padding"]
    wide = "float32" if out_type.dtype in HALF_TYPES else out_type.dtype

    def access(idx):
        n, o, out = idx[0], idx[1], list(idx[2:])
        group = floordiv(o, const_index(per_out_group))

        def body(reduced):
            c, offsets = reduced[0], reduced[1:]
            channel = add(mul(group, const_index(per_group)), c)
            inside: Expr = const(True, "bool")
            positions = []
            for a in range(d):
                p = sub(add(mul(out[a], const_index(strides[a])),
                            mul(offsets[a], const_index(rhs[a]))), const_index(padding[2 * a]))
                inside = binary("and", inside, binary("ge", p, const_index(0)))
                if lhs[a] > 1:
                    inside = binary("and", inside, binary(
                        "eq", mod(p, const_index(lhs[a])), const_index(0)))
                    p = floordiv(p, const_index(lhs[a]))
                inside = binary("and", inside, binary("lt", p, const_index(sizes[a])))
                positions.append(clamp_index(p, sizes[a]))
            value = cast(x([n, channel, *positions]), wide)
            value = select(inside, value, const(0, wide))
            return mul(value, cast(w([o, c, *offsets]), wide))

        return cast(_reduce(ctx, "add", body, [per_group, *kernel], wide), out_type.dtype)

    return access


LOWERINGS = {"conv": lower_conv}
