"""Element types and tensor types of the graph IR.

tcomp knows ten element types. Each has a short name used in the IR text
(``f32[4,3]``) and a numpy dtype used by the reference executor.

========  =====  ===================
dtype     text   numpy
========  =====  ===================
float32   f32    np.float32
float64   f64    np.float64
float16   f16    np.float16
bfloat16  bf16   ml_dtypes.bfloat16
int8      i8     np.int8
uint8     u8     np.uint8
int32     i32    np.int32
uint32    u32    np.uint32
int64     i64    np.int64
bool      bool   np.bool_
========  =====  ===================

Integers wrap (two's complement, as numpy's do). int8, uint8 and uint32 are
*storage* types of the compiled backends: each operation on them is computed in
their compute type (:func:`compute_dtype`: int32 for the 8-bit ones, int64 for
uint32) and wrapped back, which gives numpy's result bit for bit (sums,
products and powers modulo ``2**bits`` do not depend on the wider type, and
quotients, comparisons and extremes of values held exactly are the same).

bfloat16 (8 exponent bits like float32, 8 significant bits) is numpy's
through ml_dtypes, the package JAX and TensorFlow use for it. Every backend
computes it in float32 and rounds each result to bfloat16; sums and matmuls
accumulate in float32 and round once. Every conversion to bfloat16 (float64
and int32 included) rounds once, from the exact value, to nearest, ties to
even (a NaN becomes the quiet NaN of its sign): tcomp's rule, computed by
:mod:`tcomp.ir.bfloat16`, not by ml_dtypes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import ml_dtypes
import numpy as np

from tcomp.ir.errors import TcompTypeError

# dtype name -> (IR short name, numpy dtype)
_DTYPES: dict[str, tuple[str, np.dtype]] = {
    "float32": ("f32", np.dtype(np.float32)),
    "float64": ("f64", np.dtype(np.float64)),
    "float16": ("f16", np.dtype(np.float16)),
    "bfloat16": ("bf16", np.dtype(ml_dtypes.bfloat16)),
    "int8": ("i8", np.dtype(np.int8)),
    "uint8": ("u8", np.dtype(np.uint8)),
    "int32": ("i32", np.dtype(np.int32)),
    "uint32": ("u32", np.dtype(np.uint32)),
    "int64": ("i64", np.dtype(np.int64)),
    "bool": ("bool", np.dtype(np.bool_)),
}
_SHORT_TO_NAME = {short: name for name, (short, _) in _DTYPES.items()}

DTYPE_NAMES: tuple[str, ...] = tuple(_DTYPES)
FLOAT_DTYPES: frozenset[str] = frozenset({"float16", "bfloat16", "float32", "float64"})
# The 16-bit floats: stored in 16 bits, computed in float32 by the compiled backends.
HALF_DTYPES: frozenset[str] = frozenset({"float16", "bfloat16"})
INT_DTYPES: frozenset[str] = frozenset({"int8", "uint8", "int32", "uint32", "int64"})
UNSIGNED_DTYPES: frozenset[str] = frozenset({"uint8", "uint32"})
# storage integer types -> the integer type the compiled backends compute them in
_COMPUTE_DTYPES = {"int8": "int32", "uint8": "int32", "uint32": "int64"}
STORAGE_INT_DTYPES: frozenset[str] = frozenset(_COMPUTE_DTYPES)
DEFAULT_FLOAT = "float32"
DEFAULT_INT = "int32"
# The largest dimension and the largest element count of a tensor: int64's maximum, the
# range of the compiled backends' index arithmetic.
MAX_ELEMENTS = 2**63 - 1


def is_int(value: object) -> bool:
    """True for a Python int that is not a bool (True is not a dimension or an axis)."""
    return isinstance(value, int) and not isinstance(value, bool)


def shape_problem(shape: object) -> str | None:
    """Why ``shape`` is not a valid tensor shape, or None when it is.

    A shape is a tuple (or list) of ints (not bools) in ``0 .. MAX_ELEMENTS``
    whose product, the element count, is at most ``MAX_ELEMENTS`` too.
    """
    if not isinstance(shape, (tuple, list)):
        return f"a shape is a tuple of ints, found {shape!r} ({type(shape).__name__})"
    for dim in shape:
        if not is_int(dim):
            return f"dimension {dim!r} is a {type(dim).__name__}, not an int"
        if not 0 <= dim <= MAX_ELEMENTS:
            return f"dimension {dim} lies outside 0..{MAX_ELEMENTS} (int64)"
    if math.prod(shape) > MAX_ELEMENTS:
        return f"{math.prod(shape)} elements do not fit int64 (at most {MAX_ELEMENTS})"
    return None


def is_float(dtype: str) -> bool:
    """True for float16, bfloat16, float32 and float64."""
    return dtype in FLOAT_DTYPES


def is_integer(dtype: str) -> bool:
    """True for int8, uint8, int32, uint32 and int64 (not bool)."""
    return dtype in INT_DTYPES


def compute_dtype(dtype: str) -> str:
    """The dtype the compiled backends compute a ``dtype`` value in: int32 for int8 and
    uint8, int64 for uint32, the dtype itself otherwise (see the module docstring)."""
    return _COMPUTE_DTYPES.get(dtype, dtype)


def int_bounds(dtype: str) -> tuple[int, int]:
    """The least and greatest value of the integer ``dtype``."""
    info = np.iinfo(numpy_dtype(dtype))
    return int(info.min), int(info.max)


def wrap_int(value: int, dtype: str) -> int:
    """``value`` wrapped into the integer ``dtype`` (two's complement, as numpy's casts)."""
    low, high = int_bounds(dtype)
    span = high - low + 1
    return (int(value) - low) % span + low


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype of a tcomp dtype name."""
    return _DTYPES[dtype][1]


def short_name(dtype: str) -> str:
    """The IR text name of a dtype (``float32`` -> ``f32``)."""
    return _DTYPES[dtype][0]


def dtype_from_short(short: str) -> str:
    """The dtype name of an IR text name (``f32`` -> ``float32``)."""
    try:
        return _SHORT_TO_NAME[short]
    except KeyError:
        raise TcompTypeError(f"unknown element type {short!r} in IR text") from None


def canonical_dtype(dtype: object) -> str:
    """Turns anything numpy calls a dtype (or a tcomp dtype name) into a tcomp dtype name.

    Raises TcompTypeError for dtypes tcomp does not support (complex, object,
    strings, int16, uint64 ...), naming the supported ones. (Host *arrays* of int64,
    numpy's default integer, are narrowed to int32 before their dtype is asked:
    :mod:`tcomp.frontend.values`; the dtype ``int64`` written explicitly is int64.)
    """
    if isinstance(dtype, str) and dtype in _DTYPES:
        return dtype
    if isinstance(dtype, str) and dtype in _SHORT_TO_NAME:
        return _SHORT_TO_NAME[dtype]
    if dtype is float:
        return "float32"
    if dtype is int:
        return "int32"
    if dtype is bool:
        return "bool"
    try:
        np_dtype = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        np_dtype = None
    if np_dtype is not None:
        for name, (_, candidate) in _DTYPES.items():
            if candidate == np_dtype:
                return name
    raise TcompTypeError(
        f"unsupported dtype {dtype!r}: tcomp supports {', '.join(DTYPE_NAMES)}"
    )


def promote_dtypes(a: str, b: str) -> str:
    """The dtype numpy gives to an operation on arrays of dtypes ``a`` and ``b``.

    This is numpy's own table (numpy 2, NEP 50) restricted to tcomp's dtypes, with
    two rules of tcomp's where numpy's answer is not a tcomp dtype or numpy has none:

    - int8 with uint8 gives int32 (numpy: int16, which tcomp lacks; int32 is the
      smallest tcomp integer holding both);
    - bfloat16 follows float16: with float16 it gives float32 (the smallest float
      holding both), with int8 and uint8 bfloat16, with int32, uint32 and int64
      float64.

    The integer table (each pair gives the smallest type holding both ranges)::

                int8    uint8   int32   uint32  int64
        int8    int8    int32   int32   int64   int64
        uint8   int32   uint8   int32   uint32  int64
        int32   int32   int32   int32   int64   int64
        uint32  int64   uint32  int64   uint32  int64
        int64   int64   int64   int64   int64   int64

    bool with anything gives the other; an integer with a float gives that float
    when it holds the integer's range exactly enough by numpy's table (int8 and
    uint8 with float16 give float16, int32/uint32/int64 with float16 or float32
    give float64), for example int32 with float32 gives float64.
    """
    pair = frozenset((a, b))
    if pair == frozenset(("bfloat16", "float16")):
        return "float32"
    if "bfloat16" in pair and len(pair) == 2:
        (other,) = pair - {"bfloat16"}
        as_half = promote_dtypes(other, "float16")
        return "bfloat16" if as_half == "float16" else as_half
    if pair == frozenset(("int8", "uint8")):
        return "int32"
    return canonical_dtype(np.result_type(numpy_dtype(a), numpy_dtype(b)))


@dataclass(frozen=True)
class TensorType:
    """The static type of an IR value: a shape (tuple of non-negative ints) and a dtype name.

    The shape is checked by :func:`shape_problem` (ints, not bools, and at most
    ``MAX_ELEMENTS`` elements); a bad shape or dtype raises :class:`TcompTypeError`.
    """

    shape: tuple[int, ...]
    dtype: str

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise TcompTypeError(f"unknown dtype {self.dtype!r}")
        problem = shape_problem(self.shape)
        if problem:
            raise TcompTypeError(f"invalid shape {self.shape!r}: {problem}")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)  # exact: the shape's check bounds it by MAX_ELEMENTS

    def with_shape(self, shape: Sequence[int]) -> "TensorType":
        return TensorType(tuple(int(d) for d in shape), self.dtype)

    def with_dtype(self, dtype: str) -> "TensorType":
        return TensorType(self.shape, dtype)

    def __str__(self) -> str:
        return f"{short_name(self.dtype)}[{','.join(str(d) for d in self.shape)}]"
