"""Lowerings of reductions, argmax, matmul and gather.

Reductions and matmul produce ``Reduce`` expressions over fresh loop
variables; the kernel builder later hoists each into a local accumulator
and a loop (see ``hoist.py``)::

    %2: f32[4,2] = matmul(%0: f32[4,3], %1: f32[3,2])
    element [i0, i1] -> reduce_add[r0 in 0..3](%p0[i0 * 3 + r0] * %p1[r0 * 2 + i1])

An empty reduced axis gives the identity at once (0 for sums), so no loop
of length zero ever reaches a kernel. Reduced axes of length 1 read index 0
and need no loop.
"""

from __future__ import annotations

from typing import Sequence

from tcomp.ir.kernel.expr import (
    HALF_TYPES,
    INDEX,
    Expr,
    Reduce,
    Var,
    add,
    binary,
    cast,
    clamp_index,
    const,
    const_index,
    mul,
    select,
)
from tcomp.ir.kernel.lowering.context import Accessor, LoweringContext

REDUCE_OPS = {"reduce_sum": "add", "reduce_max": "max", "reduce_min": "min"}


def _reduce(ctx: LoweringContext, op: str, body, extents: Sequence[int], dtype: str) -> Expr:
    """``op`` of ``body(reduction indices)`` over a box of ``extents``."""
    if 0 in extents:
        return const(0, dtype)  # only sums may reduce an empty axis (the shape rules say so)
    axes: list[Var] = []
    indices: list[Expr] = []
    for extent in extents:
        if extent == 1:
            indices.append(const_index(0))
        else:
            var = ctx.fresh_axis(extent)
            axes.append(var)
            indices.append(var)
    value = body(indices)
    if not axes:
        return value if op != "argmax" else const(0, "int32")
    return Reduce(op, tuple(axes), value, dtype)


def _reduction(prim: str):
    op = REDUCE_OPS[prim]

    def lower(ctx, inputs, attrs, out_type) -> Accessor:
        """reduce_* {axes}: the kept axes come from the output index, the reduced
        ones from the Reduce's own variables."""
        (x,) = inputs
        in_shape = ctx.input_types[0].shape
        axes = tuple(attrs["axes"])

        def access(idx):
            def body(reduced):
                kept, picked = iter(idx), iter(reduced)
                return x([next(picked) if a in axes else next(kept) for a in range(len(in_shape))])

            return _reduce(ctx, op, body, [in_shape[a] for a in axes], out_type.dtype)

        return access

    return lower


def lower_argmax(ctx, inputs, attrs, out_type) -> Accessor:
    """argmax {axis}: ``Reduce("argmax")``, first maximum, NaN wins (as numpy)."""
    (x,) = inputs
    in_shape = ctx.input_types[0].shape
    axis = attrs["axis"]

    def access(idx):
        def body(reduced):
            return x(list(idx[:axis]) + [reduced[0]] + list(idx[axis:]))

        return _reduce(ctx, "argmax", body, [in_shape[axis]], "int32")

    return access


def lower_matmul(ctx, inputs, attrs, out_type) -> Accessor:
    """x[..., m, k] @ y[..., k, n]: a sum over k of the products."""
    x, y = inputs
    k_extent = ctx.input_types[0].shape[-1]
    # float16/bfloat16 products and sums are taken in float32 and rounded once, as
    # numpy does for float16
    wide = "float32" if out_type.dtype in HALF_TYPES else out_type.dtype

    def access(idx):
        batch, m, n = list(idx[:-2]), idx[-2], idx[-1]

        def body(reduced):
            (k,) = reduced
            return mul(cast(x(batch + [m, k]), wide), cast(y(batch + [k, n]), wide))

        return cast(_reduce(ctx, "add", body, [k_extent], wide), out_type.dtype)

    return access


def wrap_and_clamp(index: Expr, size: int) -> Expr:
    """numpy's negative indices, then a clamp into ``0 .. size-1`` (an ``index`` expression)."""
    position = cast(index, INDEX)
    wrapped = select(binary("lt", position, const_index(0)), add(position, const_index(size)),
                     position)
    return clamp_index(wrapped, size)


def lower_gather(ctx, inputs, attrs, out_type) -> Accessor:
    """take(x, indices, axis): the index vector's middle part addresses ``indices``,
    whose value (wrapped and clamped) addresses ``x`` along ``axis``."""
    x, indices = inputs
    axis = attrs["axis"]
    span = ctx.input_types[1].ndim
    size = ctx.input_types[0].shape[axis]

    def access(idx):
        position = wrap_and_clamp(indices(list(idx[axis : axis + span])), size)
        return x(list(idx[:axis]) + [position] + list(idx[axis + span :]))

    return access


LOWERINGS = {
    "reduce_sum": _reduction("reduce_sum"),
    "reduce_max": _reduction("reduce_max"),
    "reduce_min": _reduction("reduce_min"),
    "argmax": lower_argmax,
    "matmul": lower_matmul,
    "gather": lower_gather,
}
