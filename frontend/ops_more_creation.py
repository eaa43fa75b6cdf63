"""More array-creating numpy functions of the ``tcomp`` namespace (issue 15):
``eye identity linspace meshgrid diag``.

Built from ``iota`` ramps (``creation.arange``), comparisons, ``where`` and
reshapes, so inside ``jit`` they become a few nodes whatever the size (no constant
is embedded), eagerly they run on the default backend, and ``diag``/``meshgrid`` of
traced values differentiate through ``where``/``broadcast_to``. Sizes must be
Python ints known when tracing. As ``zeros``, the default float dtype is float32
(numpy's is float64).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.composite_shapes import as_array, diagonal, static_int
from tcomp.frontend.creation import arange, check_fits, zeros
from tcomp.frontend.dispatch import bind, dtype_of, shape_of, user_error
from tcomp.frontend.math_ops import floor
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError
from tcomp.ir.types import canonical_dtype, is_integer


def _size(value: Any, op: str, what: str) -> int:
    size = static_int(value, op, what)
    if size < 0:
        raise user_error(TcompShapeError, f"{op}: {what} must not be negative, got {size}")
    return size


def _offset_grid(rows: int, cols: int):
    """int32 ``[rows, cols]``: ``j - i`` at row ``i``, column ``j``."""
    return ops.subtract(ops.reshape(arange(cols), (1, cols)), ops.reshape(arange(rows), (rows, 1)))


def eye(N: Any, M: Any = None, k: Any = 0, dtype: Any = "float32"):
    """numpy's ``eye``: an ``[N, M]`` array (``M`` defaults to ``N``) with ones on the
    ``k``-th diagonal (``k > 0`` above the main one) and zeros elsewhere. float32 by
    default (numpy: float64)."""
    rows = _size(N, "eye", "N")
    cols = rows if M is None else _size(M, "eye", "M")
    offset = static_int(k, "eye", "k")
    dtype = canonical_dtype(dtype)
    return ops.astype(ops.equal(_offset_grid(rows, cols), offset), dtype)


def identity(n: Any, dtype: Any = "float32"):
    """numpy's ``identity``: the ``[n, n]`` identity matrix, ``eye(n)``."""
    return eye(n, dtype=dtype)


def _bound(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        if isinstance(value, np.ndarray) and value.ndim == 0:
            return _bound(value.item(), name)
        raise user_error(
            TcompTypeError,
            f"linspace: {name} must be a Python number known when tracing, got {value!r} "
            "(array bounds are not supported; use start + (stop - start) * "
            "tcomp.linspace(0, 1, num) for those)",
        )
    if not math.isfinite(float(value)):
        raise user_error(TcompArgumentError, f"linspace: {name} must be finite, got {value!r}")
    return float(value)


def linspace(
    start: Any,
    stop: Any,
    num: Any = 50,
    endpoint: bool = True,
    retstep: bool = False,
    dtype: Any = None,
    axis: int = 0,
):
    """numpy's ``linspace`` for Python-number bounds: ``num`` evenly spaced values from
    ``start`` to ``stop`` (included when ``endpoint``), computed as numpy does (``start +
    i * step`` in float64, the last value set to ``stop``), then converted to ``dtype``
    (default float32, numpy's is float64; integer dtypes round down, as numpy). With
    ``retstep`` returns ``(values, step)``, ``step`` a Python float. ``axis`` must be 0
    (the result is 1-d)."""
    lo, hi = _bound(start, "start"), _bound(stop, "stop")
    count = _size(num, "linspace", "num")
    if not isinstance(endpoint, bool) or not isinstance(retstep, bool):
        raise user_error(TcompTypeError, "linspace: endpoint and retstep must be True or False")
    if axis not in (0, -1):
        raise user_error(
            TcompShapeError,
            f"linspace: axis must be 0 for scalar bounds (a 1-d result), got {axis!r}",
        )
    dtype = canonical_dtype(dtype) if dtype is not None else "float32"
    if dtype == "bool":
        raise user_error(TcompTypeError, "linspace: dtype bool is not supported")
    divisions = count - 1 if endpoint else count
    step = (hi - lo) / divisions if divisions > 0 else math.nan
    if count == 0:
        values = zeros((0,), dtype)
        return (values, step) if retstep else values
    for end in (lo, hi):
        check_fits("linspace", end, dtype, prefix="the value ")
    ramp = bind("iota", [], shape=(count,), axis=0, dtype="float64")
    if divisions > 0 and step == 0:
        ramp = ops.multiply(ops.divide(ramp, float(divisions)), hi - lo)  # numpy: denormal steps
    elif divisions > 0:
        ramp = ops.multiply(ramp, step)
    ramp = ops.add(ramp, lo)
    if endpoint and count > 1:
        last = ops.equal(bind("iota", [], shape=(count,), axis=0, dtype="int32"), count - 1)
        ramp = ops.where(last, hi, ramp)
    if is_integer(dtype):
        ramp = floor(ramp)
    values = ops.astype(ramp, dtype)
    return (values, step) if retstep else values


def meshgrid(*xi: Any, indexing: str = "xy", sparse: bool = False, copy: bool = True):
    """numpy's ``meshgrid``: coordinate arrays from 1-d coordinate vectors (others are
    flattened, as numpy). ``indexing="xy"`` (the default, Cartesian) makes the first two
    outputs ``[len(x2), len(x1), ...]``; ``"ij"`` (matrix, PyTorch's default) keeps the
    input order. ``sparse`` returns broadcastable arrays with one non-1 axis each.
    ``copy`` is accepted for numpy's sake (tcomp arrays are immutable). Returns a list."""
    if indexing not in ("xy", "ij"):
        raise user_error(
            TcompArgumentError, f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}"
        )
    if not isinstance(sparse, bool) or not isinstance(copy, bool):
        raise user_error(TcompTypeError, "meshgrid: sparse and copy must be True or False")
    vectors = [ops.reshape(as_array(x, "meshgrid"), (-1,)) for x in xi]
    ndim = len(vectors)
    shapes = [[1] * ndim for _ in vectors]
    for i, v in enumerate(vectors):
        shapes[i][i] = shape_of(v)[0]
    if indexing == "xy" and ndim > 1:
        for s in shapes:
            s[0], s[1] = s[1], s[0]
    outputs = [ops.reshape(v, tuple(s)) for v, s in zip(vectors, shapes)]
    if sparse:
        return outputs
    full = tuple(shape_of(v)[0] for v in vectors)
    if indexing == "xy" and ndim > 1:
        full = (full[1], full[0]) + full[2:]
    return [ops.broadcast_to(o, full) for o in outputs]


def diag(v: Any, k: Any = 0):
    """numpy's ``diag``: of a 1-d ``v``, the square matrix with ``v`` on the ``k``-th
    diagonal (size ``len(v) + |k|``, zeros elsewhere); of a 2-d ``v``, its ``k``-th
    diagonal (as :func:`tcomp.diagonal`). Gradients flow to ``v``'s elements."""
    value = as_array(v, "diag")
    offset = static_int(k, "diag", "k")
    rank = len(shape_of(value))
    if rank == 2:
        return diagonal(value, offset)
    if rank != 1:
        raise user_error(
            TcompShapeError, f"diag: needs a 1-d or 2-d array, got shape {shape_of(value)}"
        )
    length = shape_of(value)[0]
    size = length + abs(offset)
    padded = ops.pad(value, [(0, abs(offset))]) if offset else value
    # element (i, j) with j - i == k holds v[i] (k >= 0) or v[j] (k < 0)
    along = ops.reshape(padded, (size, 1) if offset >= 0 else (1, size))
    on_diagonal = ops.equal(_offset_grid(size, size), offset)
    zero = zeros((), dtype_of(value))
    return ops.where(on_diagonal, along, zero)


__all__ = ["diag", "eye", "identity", "linspace", "meshgrid"]
