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
from tcomp.ir.bfloat16 import convert_array
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import canonical_dtype, numpy_dtype


def full(shape: Any, fill_value: Any, dtype: Any = None):
    """An array of ``shape`` filled with ``fill_value`` (dtype from the value when None)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    fill = operand(fill_value, "full")
    target = canonical_dtype(dtype) if dtype is not None else dtype_of(fill)
    return broadcast(materialize(cast(fill, target)), shape)


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


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None):
    """numpy's arange for Python numbers: int32 for ints, float32 when any bound is a float."""
    if stop is None:
        start, stop = 0, start
    for bound in (start, stop, step):
        if not isinstance(bound, (int, float, np.number)) or isinstance(bound, bool):
            raise user_error(TcompTypeError, "arange: bounds must be Python numbers, known when tracing")
    if not all(math.isfinite(bound) for bound in (start, stop, step)):
        raise user_error(
            TcompShapeError, f"arange: bounds must be finite, got start={start}, stop={stop}, step={step}"
        )
    if step == 0:
        raise user_error(TcompShapeError, "arange: step must not be 0")
    if dtype is None:
        dtype = "int32" if all(isinstance(b, (int, np.integer)) for b in (start, stop, step)) else "float32"
    dtype = canonical_dtype(dtype)
    count = builtins.max(0, math.ceil((stop - start) / step))
    if count == 0:
        return materialize(np.zeros(0, numpy_dtype(dtype)))
    ramp = bind("iota", [], shape=(count,), axis=0, dtype=dtype)
    if step != 1:
        ramp = multiply(ramp, convert_array(step, dtype))
    if start != 0:
        ramp = add(ramp, convert_array(start, dtype))
    return ramp
