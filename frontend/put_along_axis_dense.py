"""``put_along_axis`` with traced indices along a short axis, without a sort.

Each row of ``arr`` (its elements along ``axis``, the other coordinates fixed) receives
only the updates of the index rows that name it, so every update is compared with every
position of its row: ``match[r, j, t] = (indices[r, j] == t)``, and each element's
result is one reduction over ``j`` (sum, product, min, max, or for ``set`` the largest
``j``, the last update in row-major order). That is O(rows * k * n) work in a few fused
kernels, where the general ``x.at[...]`` path sorts every update by position
(O(m log^2 m) and many more kernels to compile). :data:`DENSE_MAX_AXIS` bounds ``n``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from tcomp.frontend import ops
from tcomp.frontend.composite_reductions import prod
from tcomp.frontend.creation import arange
from tcomp.frontend.dispatch import cast, dtype_of, shape_of
from tcomp.frontend.ops_gather import take_along_axis
from tcomp.ir.types import is_float

DENSE_MAX_AXIS = 512  # rows up to this length compare every update with every position


def dense_put(
    x: Any,
    index: Any,
    value: Any,
    axis: int,
    target: tuple[int, ...],
    reduce: str | None,
    include_self: bool,
    identity: Any,
):
    """``put_along_axis(x, index, value, axis, ...)`` for traced int32 ``index``
    (negative ones already counted from the end) and ``value`` of ``target``'s shape in
    ``x``'s dtype; ``identity`` is ``reduce``'s neutral value. Out-of-range indices
    match no position, so their updates are dropped."""
    shape, dtype = shape_of(x), dtype_of(x)
    n = shape[axis]
    # Updates that land in one row of x: its kept axes fixed, the axis and any axis
    # where x has 1 and the indices more (all of them write into that one element).
    kept = [d for d in range(len(shape)) if d != axis and shape[d] == target[d]]
    merged = [d for d in range(len(shape)) if d not in kept]
    perm = kept + merged  # merged axes keep their order: row-major order of the updates
    rows = math.prod(target[d] for d in kept)
    k = math.prod(target[d] for d in merged)
    where_to = ops.reshape(ops.transpose(ops.broadcast_to(index, target), perm), (rows, k))
    given = ops.reshape(ops.transpose(value, perm), (rows, k))
    moved_shape = tuple(shape[d] for d in perm)
    own = ops.reshape(ops.transpose(x, perm), (rows, n))
    match = ops.equal(ops.expand_dims(where_to, 2), arange(n))  # [rows, k, n]
    spread = ops.broadcast_to(ops.expand_dims(given, 2), (rows, k, n))
    if reduce is None:
        slots = ops.reshape(ops.add(arange(k), 1), (1, k, 1))
        winner = ops.max(ops.where(match, slots, 0), axis=1)  # 1 + the last update's slot
        picked = take_along_axis(given, ops.maximum(ops.subtract(winner, 1), 0), 1)
        result = ops.where(ops.greater(winner, 0), picked, own)
    else:
        counts = ops.sum(match, axis=1)
        hit = ops.greater(counts, 0)
        result = _reduced(own, spread, match, counts, hit, reduce, include_self, identity, dtype)
    result = ops.reshape(cast(result, dtype), moved_shape)
    return ops.transpose(result, _inverse(perm))


def _reduced(own, spread, match, counts, hit, reduce, include_self, identity, dtype):
    """The element's reduction over the updates it receives, with its own value or not."""
    masked = ops.where(match, spread, identity)
    if reduce == "mean":
        total = ops.sum(masked, axis=1)
        if include_self:
            total, counts = ops.add(total, own), ops.add(counts, 1)
        divide = ops.divide if is_float(dtype) else ops.floor_divide
        mean = divide(cast(total, dtype), cast(ops.maximum(counts, 1), dtype))
        return ops.where(hit, mean, own)
    if dtype == "bool" and reduce in ("add", "multiply"):
        reduce = "max" if reduce == "add" else "min"  # numpy's bool + and *: or, and
    if reduce == "add":
        combined, join = cast(ops.sum(masked, axis=1), dtype), ops.add
    elif reduce == "multiply":
        combined, join = prod(masked, axis=1), ops.multiply
    elif reduce == "min":
        combined, join = ops.min(masked, axis=1), ops.minimum
    else:
        combined, join = ops.max(masked, axis=1), ops.maximum
    return ops.where(hit, join(own, combined) if include_self else combined, own)


def _inverse(perm: Sequence[int]) -> tuple[int, ...]:
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return tuple(inverse)
