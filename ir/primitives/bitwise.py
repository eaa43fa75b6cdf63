"""Bitwise primitives on integers and bool: and, or, xor, not, and the integer shifts.

``bitwise_and``, ``bitwise_or``, ``bitwise_xor`` take two tensors of one shape and
one dtype, an integer or bool (on bool they are the logical and, or, xor);
``bitwise_not`` takes one (``~x`` on integers, ``not`` on bool): numpy's functions.

``left_shift`` and ``right_shift`` take integers only (int8, uint8, int32, uint32,
int64; ``W`` bits). C and LLVM leave a shift by ``W`` or more, or by a negative
amount, undefined; tcomp defines every amount as numpy does (treating the amount as
unsigned), and every backend agrees::

    left_shift(x, s)  = x << s, wrapping (bits past the top are dropped)   if 0 <= s < W
                      = 0                                                  otherwise
    right_shift(x, s) = x >> s (the sign bit fills; zeros when unsigned)   if 0 <= s < W
                      = x >> (W - 1), that is -1 for negative x, else 0      otherwise
                        (0 for unsigned x)

None of them has a gradient (integer results).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tcomp.ir.primitives.base import Primitive, register, shape_error, type_error
from tcomp.ir.types import TensorType

_INTS = ("int8", "uint8", "int32", "uint32", "int64")
_INT_OR_BOOL = _INTS + ("bool",)


def _bitwise_rule(op: str, dtypes: tuple[str, ...]):
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        first = types[0]
        for other in types[1:]:
            if other.shape != first.shape:
                raise shape_error(op, "inputs must have equal shapes", *types)
            if other.dtype != first.dtype:
                raise type_error(op, "inputs must have equal dtypes", *types)
        if first.dtype not in dtypes:
            wanted = " or ".join(dtypes)
            raise type_error(op, f"needs {wanted} inputs, got {first.dtype}", *types)
        return first

    return infer


def _left_shift(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    bits = x.dtype.itemsize * 8
    in_range = (s >= 0) & (s < bits)
    # shifted as unsigned, so the bits past the top drop off (a wrap, as numpy's)
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    shifted = np.left_shift(x.astype(unsigned), np.where(in_range, s, 0).astype(unsigned))
    return np.where(in_range, shifted.astype(x.dtype), x.dtype.type(0))


def _right_shift(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    bits = x.dtype.itemsize * 8
    in_range = (s >= 0) & (s < bits)
    shifted = np.right_shift(x, np.where(in_range, s, bits - 1).astype(x.dtype))
    if x.dtype.kind == "u":  # unsigned: zeros fill, so every bit is gone
        return np.where(in_range, shifted, x.dtype.type(0))
    return shifted


def _define(name: str, fn: Callable[..., np.ndarray], arity: int, dtypes: tuple[str, ...]):
    def reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
        return np.asarray(fn(*inputs)).astype(inputs[0].dtype, copy=False)

    register(Primitive(name, _bitwise_rule(name, dtypes), reference, None, num_inputs=arity))


_define("bitwise_and", np.bitwise_and, 2, _INT_OR_BOOL)
_define("bitwise_or", np.bitwise_or, 2, _INT_OR_BOOL)
_define("bitwise_xor", np.bitwise_xor, 2, _INT_OR_BOOL)
_define("bitwise_not", np.invert, 1, _INT_OR_BOOL)
_define("left_shift", _left_shift, 2, _INTS)
_define("right_shift", _right_shift, 2, _INTS)
