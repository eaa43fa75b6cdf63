"""``sort``, ``argsort`` and ``top_k``, composed from tcomp's existing ops (issue 15).

A bitonic sorting network (frontend/sort_network.py): the sorted axis is moved last,
flattened into rows and padded to a power of two ``m``; then
``log2(m) * (log2(m) + 1) / 2`` compare-exchange stages each pair element ``i`` with
``i ^ j``, compare and ``where``-select (plain elementwise ops and a gather, so every
backend runs and fuses them, and no stage depends on the data's values for its shape).
The stages run in one ``tcomp.scan`` (traced and compiled once, whatever the length).

The network sorts ``(key, index)`` pairs lexicographically, so the order is total and
deterministic:

- equal keys keep their input order (a *stable* sort, as ``np.argsort(kind="stable")``),
  descending too (``jnp.argsort(descending=True, stable=True)``: the keys' order is
  reversed, the indices' is not);
- NaN sorts after everything, ``+inf`` included (numpy's rule), NaNs in input order;
  descending, NaN counts as the largest, so NaNs come first (as JAX and PyTorch);
- ``-0.0`` and ``+0.0`` compare equal (as IEEE and numpy compare them), so they too
  keep their input order: ``sort`` returns each element itself, sign of zero included.

The values returned are the input gathered by the sorted indices
(``take_along_axis``), so the gradient of ``sort``/``top_k`` flows to the selected
elements only; the indices carry no gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.composite_shapes import as_array, slice_along, static_int
from tcomp.frontend.creation import arange, full
from tcomp.frontend.dispatch import cast, dtype_of, normalize_axis, shape_of, user_error
from tcomp.frontend.sort_network import bitonic_sort
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float


def _carrier(dtype: str, m: int) -> str:
    """The dtype that holds both the keys and their indices ``0 .. m - 1`` exactly, and
    orders the keys as ``dtype`` does."""
    if dtype in ("int8", "uint8", "int32", "bool"):
        return "int32"
    if dtype in ("uint32", "int64"):
        return "int64"  # float32 would round them (and sort them past the padding)
    if dtype == "float64" or m > 2**24:
        return "float64"
    return "float32"  # float16 and bfloat16 widen exactly


def _sorted_indices(value: Any, descending: bool):
    """int32 indices that sort ``value``'s last axis (shape ``value.shape``).

    Keys and indices travel as one ``[rows, 2, m]`` array of one dtype (the indices are
    exact in it), so each stage is one elementwise kernel.
    """
    shape = shape_of(value)
    n = shape[-1]
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    if n <= 1 or rows == 0:
        return ops.broadcast_to(arange(n), shape) if n else full(shape, 0, "int32")
    m = 1 << (n - 1).bit_length()
    floats = is_float(dtype_of(value))
    dtype = _carrier(dtype_of(value), m)
    keys = ops.reshape(cast(ops.stop_gradient(value), dtype), (rows, n))
    if m > n:
        # Padding sorts after every element: NaN (ascending floats), -inf (descending
        # floats, after any real -inf by index), the carrier's extreme for ints (after
        # any real extreme by index).
        if floats:
            fill = float("-inf") if descending else float("nan")
        else:
            info = np.iinfo(dtype)
            fill = int(info.min if descending else info.max)
        keys = ops.concatenate([keys, full((rows, m - n), fill, dtype)], axis=1)
    index = ops.broadcast_to(cast(arange(m), dtype), (rows, m))
    pairs = bitonic_sort(ops.stack([keys, index], axis=1), descending, floats)
    index = cast(pairs[:, 1, :n], "int32")
    return ops.reshape(index, shape)


def _last_axis(name: str, x: Any, axis: Any):
    """``x`` with ``axis`` moved last (flattened when None), and how to move it back."""
    value = as_array(x, name)
    if axis is None:
        return ops.reshape(value, (-1,)), None
    if not shape_of(value):
        raise user_error(TcompShapeError, f"{name}: a 0-d array has no axis to sort; use axis=None")
    axis = normalize_axis(name, axis, len(shape_of(value)))
    return ops.swapaxes(value, axis, -1), axis


def _restore(result: Any, axis: int | None):
    return result if axis is None else ops.swapaxes(result, axis, -1)


def argsort(x: Any, axis: Any = -1, stable: bool = True, *, descending: bool = False):
    """numpy's argsort: int32 indices that sort ``x`` along ``axis`` (the flattened
    array when None), ascending, or descending with ``descending=True`` (JAX's keyword).

    Always stable (equal elements keep their input order, in both directions, as
    ``jnp.argsort(..., stable=True, descending=True)``; ``stable`` is accepted for numpy's
    signature and must be true or None). NaN sorts last ascending and first descending
    (NaN counts as the largest value), NaNs among themselves in input order; ``-0.0``
    equals ``+0.0``. A bitonic network (see the module docstring): O(n log^2 n)
    elementwise work.
    """
    if stable is not None and not stable:
        raise user_error(
            TcompTypeError,
            "argsort: only stable=True is supported (tcomp's sort is always stable)",
        )
    value, axis = _last_axis("argsort", x, axis)
    return _restore(_sorted_indices(value, descending=bool(descending)), axis)


def sort(x: Any, axis: Any = -1, *, stable: bool = True, descending: bool = False):
    """numpy's sort along ``axis`` (the flattened array when None), ascending, or
    descending with ``descending=True`` (JAX's keyword).

    ``x`` gathered by :func:`argsort`'s indices: stable (``stable`` must be true or
    None), NaN last ascending and first descending, and each element is returned itself
    (``-0.0`` and ``+0.0`` keep their input order). The gradient goes to the element
    that landed at each position.
    """
    if stable is not None and not stable:
        raise user_error(
            TcompTypeError, "sort: only stable=True is supported (tcomp's sort is always stable)"
        )
    value, axis = _last_axis("sort", x, axis)
    index = _sorted_indices(value, descending=bool(descending))
    return _restore(ops.take_along_axis(value, index, axis=-1), axis)


def top_k(x: Any, k: Any, *, largest: bool = True) -> tuple[Any, Any]:
    """The ``k`` largest elements along the last axis and their int32 indices, largest
    first (``jax.lax.top_k``): ``values, indices``, each of shape ``x.shape[:-1] + (k,)``.
    ``largest=False`` (PyTorch's ``topk`` keyword) gives the ``k`` smallest instead,
    smallest first.

    Equal elements come lowest index first; NaN counts as larger than every number (so
    NaNs come first among the largest and are the last chosen among the smallest, as in
    PyTorch). ``k`` is a Python int in ``[0, x.shape[-1]]``. The gradient of the values
    goes to the selected elements.
    """
    value = as_array(x, "top_k")
    shape = shape_of(value)
    k = static_int(k, "top_k", "k")
    if not shape:
        raise user_error(TcompShapeError, "top_k: x must have at least one axis, got a 0-d array")
    if not 0 <= k <= shape[-1]:
        raise user_error(
            TcompShapeError,
            f"top_k: k must be in [0, {shape[-1]}] for x of shape {shape}, got {k}",
        )
    order = _sorted_indices(value, descending=bool(largest))
    index = slice_along(order, len(shape) - 1, 0, k)
    return ops.take_along_axis(value, index, axis=-1), index
