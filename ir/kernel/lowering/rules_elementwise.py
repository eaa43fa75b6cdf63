"""Lowerings of the elementwise primitives, constants and iota.

Each maps the output index vector straight to the inputs' elements at the
same index, so elementwise chains fuse into one expression::

    %2 = exp(%0); %3 = add(%2, %1)
    -> add(exp(%p0[i0]), %p1[i0])
"""

from __future__ import annotations

from typing import Any, Mapping

from tcomp.ir.kernel.expr import FLOAT_TYPES, binary, cast, const, select, unary
from tcomp.ir.kernel.lowering.context import Accessor, LoweringContext
from tcomp.ir.types import TensorType

UNARY = ("neg", "abs", "sign", "exp", "log", "sqrt", "tanh", "sin", "cos", "logistic",
         # float-only C math functions (ir/primitives/math_functions.py): kernel ops of one name
         "floor", "ceil", "trunc", "rint", "erf", "log1p", "expm1", "sinh", "cosh", "asinh",
         "acosh", "atanh", "asin", "acos", "atan")
BINARY = ("add", "sub", "mul", "div", "pow", "max", "min", "eq", "ne", "lt", "le", "gt", "ge")
# graph primitive -> the kernel-IR op of another name that computes it
# (numpy's floor_divide / remainder on ints and floats: see ir/primitives/elementwise.py;
# the bitwise ops and numpy's shifts, defined for every shift amount: ir/primitives/bitwise.py)
RENAMED_BINARY = {"floor_divide": "floordiv", "remainder": "mod", "bitwise_and": "bitand",
                  "bitwise_or": "bitor", "bitwise_xor": "bitxor", "left_shift": "shl",
                  "right_shift": "shr"}
RENAMED_UNARY = {"bitwise_not": "bitnot"}


def _unary(op: str):
    def lower(ctx: LoweringContext, inputs: list[Accessor], attrs: Mapping[str, Any],
              out_type: TensorType) -> Accessor:
        (x,) = inputs
        return lambda idx: unary(op, x(idx))

    return lower


def _binary(op: str):
    def lower(ctx: LoweringContext, inputs: list[Accessor], attrs: Mapping[str, Any],
              out_type: TensorType) -> Accessor:
        a, b = inputs
        return lambda idx: binary(op, a(idx), b(idx))

    return lower


def _float_predicate(op: str):
    """isnan, isinf, isfinite: on floats ``isnan(x)``, ``abs(x) == inf``, ``abs(x) < inf``
    (false for NaN); an int32 or bool value is never NaN or infinite."""

    def lower(ctx, inputs, attrs, out_type) -> Accessor:
        (x,) = inputs
        return lambda idx: _predicate(op, x(idx))

    return lower


def _predicate(op: str, x):
    if x.dtype not in FLOAT_TYPES:
        return const(op == "isfinite", "bool")
    if op == "isnan":
        return unary("isnan", x)
    compare = "eq" if op == "isinf" else "lt"
    return binary(compare, unary("abs", x), const(float("inf"), x.dtype))


def lower_identity(ctx, inputs, attrs, out_type) -> Accessor:
    """stop_gradient(x) = x."""
    return inputs[0]


def lower_select(ctx, inputs, attrs, out_type) -> Accessor:
    cond, a, b = inputs
    return lambda idx: select(cond(idx), a(idx), b(idx))


def lower_convert(ctx, inputs, attrs, out_type) -> Accessor:
    (x,) = inputs
    return lambda idx: cast(x(idx), out_type.dtype)


def lower_constant(ctx: LoweringContext, inputs, attrs, out_type) -> Accessor:
    """A uniform constant is a ``Const``; any other reads its constant buffer ``c<id>``."""
    return ctx.constant()


def lower_iota(ctx, inputs, attrs, out_type) -> Accessor:
    """iota {axis}: the index along ``axis``, converted: ``f32(i1)``."""
    axis = attrs["axis"]
    return lambda idx: cast(idx[axis], out_type.dtype)


LOWERINGS = {
    **{op: _unary(op) for op in UNARY},
    **{op: _binary(op) for op in BINARY},
    **{op: _binary(kernel_op) for op, kernel_op in RENAMED_BINARY.items()},
    **{op: _unary(kernel_op) for op, kernel_op in RENAMED_UNARY.items()},
    **{op: _float_predicate(op) for op in ("isnan", "isinf", "isfinite")},
    "stop_gradient": lower_identity,
    "select": lower_select,
    "convert": lower_convert,
    "constant": lower_constant,
    "iota": lower_iota,
}
