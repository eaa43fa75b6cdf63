"""The bridge between numpy-style functions and primitives.

Public functions in ``ops.py`` take anything array-like, decide dtypes and
shapes the numpy way, and call :func:`bind` with operands of exact types.
:func:`bind` records a node when a trace is active and runs the primitive
at once (eagerly) otherwise.

Operands are :class:`Tracer`, ``tcomp.Array``, numpy arrays in a tcomp
dtype, or :class:`Weak` Python scalars whose dtype is not decided yet.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np

from tcomp.frontend import eager
from tcomp.frontend.array import Array
from tcomp.frontend.location import user_location
from tcomp.frontend.trace import Tracer, current_trace
from tcomp.frontend.values import host_array, is_python_scalar, python_scalar_dtype
from tcomp.ir.bfloat16 import convert_array
from tcomp.ir.errors import (
    TcompAxisError,
    TcompError,
    TcompShapeError,
    TcompTypeError,
    with_location,
)
from tcomp.ir.types import canonical_dtype, int_bounds, is_float, is_integer, promote_dtypes


@dataclass(frozen=True)
class Weak:
    """A Python scalar: it takes the dtype of the array it meets (``x * 2.0`` stays float32)."""

    value: bool | int | float

    @property
    def dtype(self) -> str:
        return python_scalar_dtype(self.value)


Operand = Union[Tracer, Array, np.ndarray, Weak]


def user_error(cls: type[TcompError], message: str) -> TcompError:
    """An error of class ``cls`` with the user's file:line appended."""
    return cls(with_location(message, user_location()))


def operand(x: Any, op: str) -> Operand:
    """Accepts tracers, Arrays, Python scalars and anything numpy turns into an array."""
    if isinstance(x, (Tracer, Array, Weak)):
        return x
    if is_python_scalar(x):
        if isinstance(x, int) and not isinstance(x, bool):
            low, high = int_bounds("int64")  # the dtype it meets decides the rest (cast)
            if not low <= x <= high:
                raise user_error(TcompTypeError, f"{op}: the integer {x} does not fit in int64")
        return Weak(x)
    return host_array(x, what=f"{op}: argument")


def dtype_of(x: Operand) -> str:
    if isinstance(x, (Tracer, Array)):
        return x.aval.dtype
    if isinstance(x, Weak):
        return x.dtype
    return canonical_dtype(x.dtype)


def shape_of(x: Operand) -> tuple[int, ...]:
    if isinstance(x, Weak):
        return ()
    return tuple(x.shape)


def is_weak(x: Operand) -> bool:
    return isinstance(x, Weak) or bool(getattr(x, "weak", False))


def _kind(dtype: str) -> int:
    return 0 if dtype == "bool" else 1 if is_integer(dtype) else 2


def result_dtype(*operands: Operand) -> str:
    """numpy's promotion among arrays; Python scalars only decide when no array does.

    A Python scalar of a higher kind (a float meeting an int array) lifts the
    result to the default dtype of that kind (float32, or int32 for an int meeting
    bool), never to float64; one of the same or a lower kind takes the array's
    dtype (``uint8_image + 1`` stays uint8, as in numpy 2: :func:`cast` refuses a
    Python int that the dtype cannot hold, as numpy 2 does).
    """
    strong = [dtype_of(x) for x in operands if not is_weak(x)]
    weak = [dtype_of(x) for x in operands if is_weak(x)]
    if not strong:
        # Only Python scalars (each at its kind's default dtype): the highest kind wins,
        # so 2 * 0.5 is float32 (numpy's int32 + float32 would give float64).
        return builtins.max(weak, key=_kind)
    dtype = strong[0]
    for other in strong[1:]:
        dtype = promote_dtypes(dtype, other)
    for other in weak:
        if _kind(other) > _kind(dtype):
            dtype = "float32" if _kind(other) == 2 else "int32"
    return dtype


def accumulation_dtype(dtype: str) -> str:
    """The dtype a sum (or product, cumulative sum) of ``dtype`` values is computed and
    returned in: numpy's rule (small integers sum in the default integer of their
    signedness) with tcomp's default integer, int32, in place of numpy's int64, as JAX
    does: bool, int8 and int32 give int32; uint8 and uint32 give uint32; int64 and the
    floats keep their dtype."""
    if dtype in ("bool", "int8"):
        return "int32"
    if dtype == "uint8":
        return "uint32"
    return dtype


def cast(x: Operand, dtype: str) -> Operand:
    """``x`` converted to ``dtype`` (a convert node for traced or device data)."""
    if isinstance(x, Weak):
        if is_integer(dtype) and isinstance(x.value, int) and not isinstance(x.value, bool):
            low, high = int_bounds(dtype)
            if not low <= x.value <= high:
                raise user_error(
                    TcompTypeError,
                    f"the Python integer {x.value} does not fit in {dtype} ({low}..{high}), "
                    "the dtype of the array it meets; convert the array first "
                    "(x.astype('int32')), as numpy 2 asks",
                )
        return convert_array(x.value, dtype)  # bfloat16: tcomp's rounding
    if dtype_of(x) == dtype:
        return x
    if isinstance(x, np.ndarray):
        with np.errstate(all="ignore"):
            return convert_array(x, dtype)
    return bind("convert", [x], dtype=dtype)


def to_float(x: Operand) -> Operand:
    """Ints and bools become float32 (numpy would give float64); floats stay."""
    return x if is_float(dtype_of(x)) else cast(x, "float32")


def broadcast_shapes(op: str, *shapes: Sequence[int]) -> tuple[int, ...]:
    """numpy's broadcasting rule, with an error naming the op and the shapes."""
    rank = max((len(s) for s in shapes), default=0)
    result = []
    for axis in range(rank):
        sizes = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        sizes.discard(1)
        if len(sizes) > 1:
            shown = " and ".join(str(tuple(s)) for s in shapes)
            raise user_error(TcompShapeError, f"{op}: shapes {shown} cannot be broadcast together")
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def broadcast(x: Operand, shape: Sequence[int]) -> Operand:
    """``x`` broadcast to ``shape`` by numpy's rule: leading 1-axes, then stretching."""
    shape = tuple(shape)
    if isinstance(x, Weak):
        raise TypeError("internal error: cast a Python scalar before broadcasting it")
    if shape_of(x) == shape:
        return x
    padded = (1,) * (len(shape) - len(shape_of(x))) + shape_of(x)
    if padded != shape_of(x):
        x = bind("reshape", [x], shape=padded)
    return bind("broadcast_to", [x], shape=shape)


def bind(op: str, inputs: Sequence[Operand], weak: bool = False, **attrs: Any) -> Tracer | Array:
    """Applies primitive ``op``: recorded in the active trace, or run now when there is none."""
    for x in inputs:
        if isinstance(x, Weak):
            raise TypeError(f"internal error: {op} got an uncast Python scalar")
    trace = current_trace()
    if trace is None:
        for x in inputs:
            if isinstance(x, Tracer):
                trace_of_x = x._trace
                trace_of_x.lift(x)  # raises the escaped-tracer error
        result = eager.execute(op, attrs, inputs)  # type: ignore[arg-type]
    else:
        result = trace.emit(op, [trace.lift(x, exact=True) for x in inputs], attrs)
    result.weak = weak
    return result


def materialize(x: Operand) -> Tracer | Array:
    """A tracer (inside a trace) or an Array (eagerly) for any operand."""
    if isinstance(x, Weak):
        x = cast(x, x.dtype)
    if isinstance(x, np.ndarray):
        trace = current_trace()
        return trace.lift(x, exact=True) if trace is not None else eager.from_host(x)
    return x


def normalize_axis(op: str, axis: int, ndim: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise user_error(TcompShapeError, f"{op}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise user_error(
            TcompAxisError, f"{op}: axis {axis} is out of range for an array of rank {ndim}"
        )
    return int(axis) % ndim


def normalize_axes(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """None -> every axis; an int or a sequence -> sorted non-negative axes (no repeats)."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    normalized = [normalize_axis(op, a, ndim) for a in axes]
    if len(set(normalized)) != len(normalized):
        raise user_error(TcompShapeError, f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(normalized))
