"""The array-creating functions of the ``tcomp`` namespace: ``full``, ``zeros``,
``ones`` (and their ``_like`` forms) and ``arange``.

Inside ``jit`` they become constants or ``iota`` nodes of the trace; outside
they make arrays on the default backend (``_like``: on the backend of ``x``).
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from tcomp.frontend import eager
from tcomp.frontend.array import Array
from tcomp.frontend.dispatch import (
    bind,
    broadcast,
    cast,
    dtype_of,
    materialize,
    operand,
    shape_of,
    user_error,
)
from tcomp.frontend.ops import add, multiply
from tcomp.frontend.values import is_python_scalar, python_scalar_dtype
from tcomp.ir.bfloat16 import convert_array
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import canonical_dtype, int_bounds, is_float, is_integer, numpy_dtype


def full(shape: Any, fill_value: Any, dtype: Any = None):
    """An array of ``shape`` filled with ``fill_value`` (dtype from the value when None:
    a Python int is int32, a float float32). The dtype must hold the value
    (:func:`check_fits`); traced and ``tcomp.Array`` fill values are not looked at."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    target = canonical_dtype(dtype) if dtype is not None else None
    if is_python_scalar(fill_value):
        target = target or python_scalar_dtype(fill_value)
        check_fits("full", fill_value, target)
        return broadcast(materialize(convert_array(fill_value, target)), shape)
    raw = fill_value if isinstance(fill_value, (np.ndarray, np.generic)) else None
    if target is not None and raw is not None and np.asarray(raw).dtype.kind in "iubf":
        check_fits("full", np.asarray(raw), target)  # before int64 data is made int32
        with np.errstate(all="ignore"):
            return broadcast(materialize(convert_array(np.asarray(raw), target)), shape)
    fill = operand(fill_value, "full")
    target = target or dtype_of(fill)
    if isinstance(fill, np.ndarray):
        check_fits("full", fill, target)
    return broadcast(materialize(cast(fill, target)), shape)


def check_fits(op: str, values: Any, dtype: str, prefix: str = "") -> None:
    """Raises :class:`TcompTypeError` naming ``op`` when ``dtype`` cannot hold one of
    ``values`` (a Python number or a numpy array): an integer dtype holds finite values
    whose truncation toward zero is in its range; a float dtype holds every value that
    does not round to infinity in it (inf and NaN themselves are fine, as PyTorch
    checks); bool holds anything (non-zero is True)."""
    if dtype == "bool":
        return
    for value in _extremes(values):
        if is_integer(dtype) and isinstance(value, float) and not math.isfinite(value):
            raise user_error(
                TcompTypeError, f"{op}: {prefix}{value!r} has no {dtype} value; use a float dtype"
            )
        if is_integer(dtype) and not _in_bounds(math.trunc(value), dtype):
            low, high = int_bounds(dtype)
            wider = "dtype='int64' or " if dtype != "int64" else ""
            raise user_error(
                TcompTypeError,
                f"{op}: {prefix}{value!r} is beyond {dtype} ({dtype} holds {low} to {high}); "
                f"use {wider}a float dtype, e.g. dtype='float64' (exact for integers up to 2**53)",
            )
        if is_float(dtype) and _rounds_to_infinity(value, dtype):
            largest = float(np.finfo(numpy_dtype(dtype)).max)
            raise user_error(
                TcompTypeError,
                f"{op}: {prefix}{value!r} is beyond {dtype}'s range (largest finite "
                f"{largest:g}) and would round to infinity; use a wider float dtype, or "
                "pass float('inf') if infinity is meant",
            )


def _in_bounds(value: int, dtype: str) -> bool:
    low, high = int_bounds(dtype)
    return low <= value <= high


def _extremes(values: Any) -> list[int | float]:
    """The values :func:`check_fits` looks at, as Python numbers: a scalar itself; of an
    array its least and greatest finite values, and the NaN or infinities it holds."""
    if not isinstance(values, np.ndarray):
        return [values.item() if isinstance(values, np.generic) else values]
    if values.size == 0 or values.dtype == np.bool_:
        return []
    if values.dtype.kind in "iu":
        return [values.min().item(), values.max().item()]
    wide = values.astype(np.float64)  # float16 and bfloat16 too
    finite = wide[np.isfinite(wide)]
    picked = [finite.min().item(), finite.max().item()] if finite.size else []
    return picked + [float(v) for v in np.unique(wide[~np.isfinite(wide)])]


def _rounds_to_infinity(value: int | float, dtype: str) -> bool:
    """Whether a finite ``value`` becomes an infinity in the float ``dtype``."""
    try:
        wide = float(value)
    except OverflowError:  # an int beyond even float64
        return True
    if not math.isfinite(wide):
        return False
    with np.errstate(over="ignore"):
        return not np.isfinite(float(convert_array(wide, dtype)))


def zeros(shape: Any, dtype: Any = "float32"):
    return full(shape, 0, dtype)


def ones(shape: Any, dtype: Any = "float32"):
    return full(shape, 1, dtype)


def full_like(x: Any, fill_value: Any, dtype: Any = None):
    value = operand(x, "full_like")
    result = full(shape_of(value), fill_value, dtype if dtype is not None else dtype_of(value))
    return eager.like(result, value) if isinstance(result, Array) else result


def zeros_like(x: Any, dtype: Any = None):
    return full_like(x, 0, dtype)


def ones_like(x: Any, dtype: Any = None):
    return full_like(x, 1, dtype)


def _default_arange_dtype(start: int, step: int, count: int) -> str:
    """int32 when the integer range's first and last values fit it, else int64."""
    ends = (int(start), int(start) + builtins.max(count - 1, 0) * int(step))
    int32 = np.iinfo(np.int32)
    return "int32" if all(int32.min <= end <= int32.max for end in ends) else "int64"


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None):
    """numpy's arange for Python numbers: int32 for ints, float32 when any bound is a float.

    With integer bounds and no ``dtype``, a range whose values do not all fit int32 is
    int64 (numpy's dtype for it; ``arange(2**31, 2**31 + 3)``), and one beyond int64 is
    a ``TcompTypeError``. With a ``dtype``, every value must fit it (:func:`check_fits`):
    ``arange(2**31, dtype="int32")`` is a ``TcompTypeError``."""
    if stop is None:
        start, stop = 0, start
    for bound in (start, stop, step):
        if not isinstance(bound, (int, float, np.number)) or isinstance(bound, bool):
            raise user_error(
                TcompTypeError, "arange: bounds must be Python numbers, known when tracing"
            )
    if not all(math.isfinite(bound) for bound in (start, stop, step)):
        raise user_error(
            TcompShapeError,
            f"arange: bounds must be finite, got start={start}, stop={stop}, step={step}",
        )
    if step == 0:
        raise user_error(TcompShapeError, "arange: step must not be 0")
    integers = all(isinstance(b, (int, np.integer)) for b in (start, stop, step))
    if integers:  # exact for ints beyond float64's 2**53
        count = builtins.max(0, -((int(start) - int(stop)) // int(step)))
    else:
        count = builtins.max(0, math.ceil((stop - start) / step))
    if dtype is None:
        dtype = _default_arange_dtype(start, step, count) if integers else "float32"
    dtype = canonical_dtype(dtype)
    if dtype == "bool":
        raise user_error(
            TcompTypeError, "arange: dtype bool is not supported; compare an int32 range instead"
        )
    if count == 0:
        return materialize(np.zeros(0, numpy_dtype(dtype)))
    for end in (start, start + (count - 1) * step):  # the values are monotonic
        check_fits("arange", end, dtype, prefix="the value ")
    ramp = bind("iota", [], shape=(count,), axis=0, dtype=dtype)
    if step != 1:
        ramp = multiply(ramp, materialize(convert_array(step, dtype)))
    if start != 0:
        ramp = add(ramp, materialize(convert_array(start, dtype)))
    return ramp
