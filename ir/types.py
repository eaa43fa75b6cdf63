"""Element types and tensor types of the graph IR.

tcomp knows six element types. Each has a short name used in the IR text
(``f32[4,3]``) and a numpy dtype used by the reference executor.

========  =====  ===================
dtype     text   numpy
========  =====  ===================
float32   f32    np.float32
float64   f64    np.float64
float16   f16    np.float16
bfloat16  bf16   ml_dtypes.bfloat16
int32     i32    np.int32
bool      bool   np.bool_
========  =====  ===================

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
    "int32": ("i32", np.dtype(np.int32)),
    "bool": ("bool", np.dtype(np.bool_)),
}
_SHORT_TO_NAME = {short: name for name, (short, _) in _DTYPES.items()}

DTYPE_NAMES: tuple[str, ...] = tuple(_DTYPES)
FLOAT_DTYPES: frozenset[str] = frozenset({"float16", "bfloat16", "float32", "float64"})
# The 16-bit floats: stored in 16 bits, computed in float32 by the compiled backends.
HALF_DTYPES: frozenset[str] = frozenset({"float16", "bfloat16"})
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
    strings, int64 written explicitly ...), naming the supported ones.
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

    This is numpy's own table restricted to tcomp's dtypes, for example
    int32 with float32 gives float64 and int32 with float16 gives float64.
    Where numpy has no rule, bfloat16 follows float16's: with float16 it gives
    float32 (the smallest float holding both), with int32 float64.
    """
    pair = frozenset((a, b))
    if pair == frozenset(("bfloat16", "float16")):
        return "float32"
    if pair == frozenset(("bfloat16", "int32")):
        return "float64"
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
