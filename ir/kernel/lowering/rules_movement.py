"""Lowerings of the movement primitives: pure index arithmetic, never a copy.

Each rewrites the output index vector into the input's and asks the input
for that element. With loop variables that carry their extents, the
simplifying constructors make most of the arithmetic vanish::

    %1: f32[3,4] = reshape(%0: f32[12]); %2: f32[4,3] = transpose(%1) {perm=(1, 0)}
    element [i0, i1] of %2 -> %p0[i1 * 4 + i0]

``pad`` and ``concatenate`` choose between sources with ``select`` over
*clamped* loads: renderers may evaluate both sides of a select, so no load
may ever address outside its buffer.
"""

from __future__ import annotations

from tcomp.ir.kernel.expr import (
    Expr,
    add,
    binary,
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
from tcomp.ir.kernel.lowering.context import Accessor


def lower_reshape(ctx, inputs, attrs, out_type) -> Accessor:
    """Row-major: the output index flattens, then unflattens in the input's shape."""
    (x,) = inputs
    in_shape = ctx.input_types[0].shape

    def access(idx):
        return x(unflatten_index(flat_index(idx, out_type.shape), in_shape))

    return access


def lower_transpose(ctx, inputs, attrs, out_type) -> Accessor:
    """out[i] = x[j] with j[perm[k]] = i[k]."""
    (x,) = inputs
    perm = tuple(attrs["perm"])

    def access(idx):
        source: list[Expr] = [const_index(0)] * len(perm)
        for k, p in enumerate(perm):
            source[p] = idx[k]
        return x(source)

    return access


def lower_broadcast_to(ctx, inputs, attrs, out_type) -> Accessor:
    """A stretched (size-1) input axis reads index 0."""
    (x,) = inputs
    in_shape = ctx.input_types[0].shape
    return lambda idx: x([const_index(0) if d == 1 else i for i, d in zip(idx, in_shape)])


def lower_slice(ctx, inputs, attrs, out_type) -> Accessor:
    """out[i] = x[start + i * step]."""
    (x,) = inputs
    start, step = attrs["start"], attrs["step"]

    def access(idx):
        return x([add(const_index(s), mul(i, const_index(t))) for i, s, t in zip(idx, start, step)])

    return access


def lower_rev(ctx, inputs, attrs, out_type) -> Accessor:
    """A reversed axis of length n reads n - 1 - i."""
    (x,) = inputs
    axes = set(attrs["axes"])
    shape = out_type.shape

    def access(idx):
        return x([
            sub(const_index(shape[a] - 1), i) if a in axes else i for a, i in enumerate(idx)
        ])

    return access


def lower_pad(ctx, inputs, attrs, out_type) -> Accessor:
    """Along each axis, j = i - low is an input element when 0 <= j < core and
    j % (interior + 1) == 0, at position j // (interior + 1); anywhere else the
    pad value. The load's index is clamped, so it is valid either way."""
    (x,) = inputs
    in_shape = ctx.input_types[0].shape
    value = const(attrs["value"], out_type.dtype)
    if 0 in in_shape:
        return lambda idx: value  # nothing to read: all padding
    low, interior = attrs["low"], attrs["interior"]

    def access(idx):
        inside: Expr = const(True, "bool")
        source = []
        for i, d, lo, gap in zip(idx, in_shape, low, interior):
            stride = gap + 1
            core = d + (d - 1) * gap
            j = sub(i, const_index(lo))
            clamped = clamp_index(j, core)
            inside = binary("and", inside, binary("ge", j, const_index(0)))
            inside = binary("and", inside, binary("lt", j, const_index(core)))
            if stride > 1:
                on_grid = binary("eq", mod(clamped, const_index(stride)), const_index(0))
                inside = binary("and", inside, on_grid)
            source.append(floordiv(clamped, const_index(stride)))
        return select(inside, x(source), value)

    return access


def lower_concatenate(ctx, inputs, attrs, out_type) -> Accessor:
    """A chain of selects on the position along ``axis``, each input read at a
    clamped offset: ``select(i < n0, a[i], b[min(max(i - n0, 0), n1 - 1)])``."""
    axis = attrs["axis"]
    pieces = []  # (accessor, offset, length) of the non-empty inputs
    offset = 0
    for accessor, t in zip(inputs, ctx.input_types):
        length = t.shape[axis]
        if length:
            pieces.append((accessor, offset, length))
        offset += length

    def read(piece, idx):
        accessor, start, length = piece
        local = clamp_index(sub(idx[axis], const_index(start)), length)
        return accessor([local if a == axis else i for a, i in enumerate(idx)])

    def access(idx):
        result = read(pieces[-1], idx)
        for piece in reversed(pieces[:-1]):
            end = const_index(piece[1] + piece[2])
            result = select(binary("lt", idx[axis], end), read(piece, idx), result)
        return result

    if not pieces:
        return lambda idx: const(0, out_type.dtype)  # an empty output: never read
    return access


LOWERINGS = {
    "reshape": lower_reshape,
    "transpose": lower_transpose,
    "broadcast_to": lower_broadcast_to,
    "slice": lower_slice,
    "rev": lower_rev,
    "pad": lower_pad,
    "concatenate": lower_concatenate,
}
