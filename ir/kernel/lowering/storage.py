"""Storage integer types (int8, uint8, uint32) computed in their compute type.

The kernel IR gives the storage types no arithmetic (``ir/kernel/ops.py``): an
expression lowering whose node reads or makes one is run on the inputs cast to
the compute type (:func:`tcomp.ir.types.compute_dtype`: int32 for the 8-bit types,
int64 for uint32), with the compute type as its output type, and its result is
cast back, which wraps (two's complement)::

    %2: u8[4] = add(%0: u8[4], %1: u8[4])
    -> u8(add(i32(%p0[i0]), i32(%p1[i0])))

That is numpy's result bit for bit: sums, differences, products and powers modulo
``2**bits`` do not depend on the wider type, and comparisons, extremes, quotients
and remainders of values held exactly are the same. LLVM narrows such code back to
8-bit vector instructions. Ops that only move or pick values keep the storage type
(``narrow(wide(x))`` folds to ``x`` in :func:`tcomp.ir.kernel.expr.cast`).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from tcomp.ir.graph import Node
from tcomp.ir.kernel.expr import Expr, cast
from tcomp.ir.kernel.lowering.context import Accessor, LoweringContext
from tcomp.ir.kernel.lowering.rules_movement import LOWERINGS as MOVEMENT
from tcomp.ir.types import STORAGE_INT_DTYPES, TensorType, compute_dtype

Rule = Callable[[LoweringContext, Sequence[Accessor], Mapping[str, Any], TensorType], Accessor]

# ops that move, pick or convert values: they take and give storage types as they are
AS_STORED = frozenset(MOVEMENT) | {"constant", "select", "stop_gradient", "convert", "iota"}


def lower_node(
    rule: Rule, ctx: LoweringContext, node: Node, inputs: Sequence[Accessor]
) -> Accessor:
    """``rule`` applied to ``node``, computed in the compute types when it reads or makes
    a storage type (see the module docstring)."""
    out_type = node.output.type
    types = [v.dtype for v in node.inputs] + [out_type.dtype]
    if node.op in AS_STORED or not STORAGE_INT_DTYPES.intersection(types):
        return rule(ctx, inputs, node.attrs, out_type)
    wide_inputs = [
        _widened(x, v.dtype) if v.dtype in STORAGE_INT_DTYPES else x
        for x, v in zip(inputs, node.inputs)
    ]
    wide_out = out_type.with_dtype(compute_dtype(out_type.dtype))
    result = rule(ctx, wide_inputs, node.attrs, wide_out)
    if wide_out == out_type:
        return result
    return lambda idx: cast(result(idx), out_type.dtype)


def _widened(x: Accessor, dtype: str) -> Accessor:
    wide = compute_dtype(dtype)

    def read(idx: Sequence[Expr]) -> Expr:
        return cast(x(idx), wide)

    return read


def widen(value: Expr) -> Expr:
    """``value`` in its compute type (itself unless it is a storage type)."""
    return cast(value, compute_dtype(value.dtype))
