"""numpy's logical and bitwise functions in the ``tcomp`` namespace, and the shifts.

- ``logical_and``, ``logical_or``, ``logical_xor``, ``logical_not``: any dtype in,
  bool out; a value counts as true when it is not zero (NaN is true), as numpy's.
- ``bitwise_and``, ``bitwise_or``, ``bitwise_xor``, ``bitwise_not`` (``invert``):
  integers (int8, uint8, int32, uint32, int64) and bool (on bools the logical ops);
  the operators ``& | ^ ~`` call them.
- ``left_shift``, ``right_shift`` (``<<``, ``>>``): integers of ``W`` bits, with
  numpy's result for every shift amount, which C and LLVM leave undefined: ``x << s``
  is 0 and ``x >> s`` is ``x >> (W - 1)`` (-1 for negative ``x``, else 0) when ``s`` is
  negative or ``W`` and more; in range ``<<`` wraps and ``>>`` fills with the sign
  bit (zeros for unsigned ``x``).

Operands broadcast and promote as numpy's (a Python int meets an int32 array as
int32). Floats are refused, as numpy refuses them. None has a gradient.
"""

from __future__ import annotations

from typing import Any

from tcomp.frontend.dispatch import (
    bind,
    broadcast,
    broadcast_shapes,
    cast,
    dtype_of,
    is_weak,
    materialize,
    operand,
    result_dtype,
    shape_of,
    user_error,
)
from tcomp.ir.errors import TcompTypeError

_INTS = ("int8", "uint8", "int32", "uint32", "int64")


def _binary(op: str, public: str, x: Any, y: Any, dtypes: tuple[str, ...]):
    operands = [operand(v, public) for v in (x, y)]
    dtype = result_dtype(*operands)
    if dtype not in dtypes:
        shown = " and ".join(dtype_of(v) for v in operands)
        raise user_error(
            TcompTypeError,
            f"{public}: takes {' or '.join(dtypes)} arrays, got {shown}; convert first, "
            "e.g. x.astype('int32')",
        )
    shape = broadcast_shapes(public, *(shape_of(v) for v in operands))
    inputs = [broadcast(cast(v, dtype), shape) for v in operands]
    return bind(op, inputs, weak=all(is_weak(v) for v in operands))


def _truth(x: Any, public: str):
    """``x != 0`` as bool (NaN counts as true), as numpy's logical functions read it."""
    return cast(operand(x, public), "bool")


# ---------------------------------------------------------------------------
# Logical: any dtype in, bool out


def logical_and(x: Any, y: Any):
    """``x and y`` elementwise, each read as ``!= 0``; bool result."""
    return _binary(
        "bitwise_and", "logical_and", _truth(x, "logical_and"), _truth(y, "logical_and"), ("bool",)
    )


def logical_or(x: Any, y: Any):
    """``x or y`` elementwise, each read as ``!= 0``; bool result."""
    return _binary(
        "bitwise_or", "logical_or", _truth(x, "logical_or"), _truth(y, "logical_or"), ("bool",)
    )


def logical_xor(x: Any, y: Any):
    """Exactly one of ``x`` and ``y`` is true, elementwise, each read as ``!= 0``; bool
    result."""
    return _binary(
        "bitwise_xor", "logical_xor", _truth(x, "logical_xor"), _truth(y, "logical_xor"), ("bool",)
    )


def logical_not(x: Any):
    """``not x`` elementwise, ``x`` read as ``!= 0``; bool result."""
    return bind("bitwise_not", [materialize(_truth(x, "logical_not"))])


# ---------------------------------------------------------------------------
# Bitwise: integers and bool


def bitwise_and(x: Any, y: Any):
    """``x & y`` elementwise on integers or bool (the logical and of bools)."""
    return _binary("bitwise_and", "bitwise_and", x, y, (*_INTS, "bool"))


def bitwise_or(x: Any, y: Any):
    """``x | y`` elementwise on integers or bool (the logical or of bools)."""
    return _binary("bitwise_or", "bitwise_or", x, y, (*_INTS, "bool"))


def bitwise_xor(x: Any, y: Any):
    """``x ^ y`` elementwise on integers or bool (the logical xor of bools)."""
    return _binary("bitwise_xor", "bitwise_xor", x, y, (*_INTS, "bool"))


def bitwise_not(x: Any):
    """``~x`` elementwise: every bit flipped on integers (``-x - 1``), ``not x`` on bool.
    Also called ``invert``, as in numpy."""
    value = materialize(operand(x, "bitwise_not"))
    if dtype_of(value) not in (*_INTS, "bool"):
        raise user_error(
            TcompTypeError,
            f"bitwise_not: takes integer or bool arrays, got {dtype_of(value)}; convert first, "
            "e.g. x.astype('int32'), or use logical_not",
        )
    return bind("bitwise_not", [value], weak=is_weak(value))


invert = bitwise_not

# ---------------------------------------------------------------------------
# Shifts: integers, numpy's result for every amount


def left_shift(x: Any, y: Any):
    """``x << y`` elementwise on integers: bits shifted past the top are dropped (it
    wraps); 0 when ``y`` is negative or the width W and more (numpy's result; C leaves it
    undefined)."""
    return _binary("left_shift", "left_shift", x, y, _INTS)


def right_shift(x: Any, y: Any):
    """``x >> y`` elementwise on integers, filling with the sign bit; ``x >> (W-1)`` (-1 for
    negative ``x``, else 0) when ``y`` is negative or W and more (numpy's result; C
    leaves it undefined)."""
    return _binary("right_shift", "right_shift", x, y, _INTS)
