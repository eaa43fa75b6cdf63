"""``tcomp.random.permutation`` and ``choice``: shuffles by sorting random keys.

A permutation of ``n`` items sorts them by fresh random 32-bit keys (``bits``) with
tcomp's stable sort (:func:`tcomp.frontend.composite_sort.argsort`). Equal keys keep
their input order, which would favour the identity slightly; to make that negligible
the sort is repeated with a new key ``rounds(n) = ceil(3 * ln(n) / ln(2**32 - 1))`` times
(JAX's rule: the chance that two of ``n`` keys collide in every round is below about
``1 / n``), one round for ``n`` up to 1625. Each round's key comes from ``split``, so a
permutation is a function of the key and ``n`` alone, the same on every backend.

``choice`` draws indices and gathers them with ``take``:

- with replacement, uniform: ``randint(key, shape, 0, n)``;
- with replacement, weights ``p``: inverse CDF, the first index whose running sum of
  ``p`` exceeds ``u * sum(p)`` for ``u = uniform(key, shape)`` (memory ``size * n``);
- without replacement, uniform: the first ``size`` entries of ``permutation(key, n)``;
- without replacement, weights ``p``: the Gumbel-top-k trick, the ``size`` largest
  ``log(p) + g`` for Gumbel noise ``g = -log(-log(u))`` (each draw, in order, has the
  probability of drawing from the remaining items in proportion to ``p``).

All are compositions of public tcomp ops, so they run eagerly and inside ``jit``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.composite_reductions import cumsum
from tcomp.frontend.composite_shapes import as_array, slice_along, static_int
from tcomp.frontend.composite_sort import argsort, top_k
from tcomp.frontend.creation import arange
from tcomp.frontend.dispatch import dtype_of, normalize_axis, shape_of, user_error
from tcomp.frontend.ops_gather import take
from tcomp.frontend.random_keys import bits, normalize_shape, split
from tcomp.frontend.random_sampling import randint, uniform
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float

_UINT32_MAX = 2**32 - 1


def shuffle_rounds(n: int) -> int:
    """How many sorts by fresh random keys a permutation of ``n`` items takes (module
    docstring): ``ceil(3 * ln(n) / ln(2**32 - 1))``, 0 for ``n <= 1``."""
    return math.ceil(3 * math.log(max(1, n)) / math.log(_UINT32_MAX))


def _population(x: Any, fn: str) -> tuple[int, Any]:
    """``(n, population)``: ``x`` an int gives ``arange(n)`` (None: built on demand),
    else the array itself."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        n = int(x)
        if n < 0:
            raise user_error(TcompShapeError, f"{fn}: the number of items must be >= 0, got {n}")
        return n, None
    value = as_array(x, fn)
    if not shape_of(value):
        raise user_error(
            TcompShapeError,
            f"{fn}: x must be an int or an array with at least one axis, got a 0-d array",
        )
    return -1, value


def _shuffled_indices(key: Any, n: int) -> Any:
    """int32 ``0 .. n - 1`` in a random order (module docstring)."""
    index = arange(n, dtype="int32")
    for _ in range(shuffle_rounds(n)):
        key, subkey = split(key)
        index = take(index, argsort(bits(subkey, (n,))))
    return index


def permutation(key: Any, x: Any, axis: Any = 0) -> Any:
    """A random permutation: of ``arange(x)`` for an int ``x`` (int32), else of the
    array ``x`` along ``axis`` (its rows shuffled as whole slices; the gradient flows
    back to each moved element). The same key and ``n`` give the same order on every
    backend (module docstring)."""
    n, value = _population(x, "permutation")
    if value is None:
        return _shuffled_indices(key, n)
    axis = normalize_axis("permutation", axis, len(shape_of(value)))
    return take(value, _shuffled_indices(key, shape_of(value)[axis]), axis=axis)


def _weights(p: Any, n: int) -> Any:
    """``p`` checked (float, one weight per item) and computed in float32 (float64 kept)."""
    weights = as_array(p, "choice")
    if shape_of(weights) != (n,) or not is_float(dtype_of(weights)):
        raise user_error(
            TcompTypeError,
            f"choice: p must be a float array of shape ({n},) (one weight per item), got "
            f"{dtype_of(weights)}{list(shape_of(weights))}",
        )
    return weights if dtype_of(weights) == "float64" else ops.astype(weights, "float32")


def choice(
    key: Any, a: Any, shape: Any = (), replace: bool = True, p: Any = None, axis: Any = 0
) -> Any:
    """Random items of ``a`` (an int ``n``: of ``arange(n)``; else slices of the array
    ``a`` along ``axis``), as numpy's ``Generator.choice`` and ``jax.random.choice``:
    ``shape`` draws, with or without replacement, uniformly or with weights ``p``
    (normalised by their sum). Without replacement ``prod(shape)`` must not exceed the
    number of items. How each case draws: the module docstring."""
    n, value = _population(a, "choice")
    if value is not None:
        axis = normalize_axis("choice", axis, len(shape_of(value)))
        n = shape_of(value)[axis]
    shape = normalize_shape(shape, "choice")
    size = int(np.prod(shape, dtype=np.int64))
    if n == 0 and size > 0:
        raise user_error(
            TcompShapeError, f"choice: cannot draw {size} items from an empty population"
        )
    weights = None if p is None else _weights(p, n)
    if replace:
        if weights is None:
            index = randint(key, shape, 0, n) if size else arange(0, dtype="int32")
        else:
            running = cumsum(weights)
            total = slice_along(running, 0, n - 1, n)
            u = ops.reshape(uniform(key, shape, dtype_of(weights)) * total, (*shape, 1))
            count = ops.sum(ops.astype(running <= u, "int32"), axis=-1)
            index = ops.minimum(count, n - 1)
    else:
        if size > n:
            raise user_error(
                TcompShapeError,
                f"choice: cannot draw {size} items without replacement from {n}",
            )
        if weights is None:
            index = slice_along(_shuffled_indices(key, n), 0, 0, size)
        else:
            gumbel = -ops.log(-ops.log(uniform(key, (n,), dtype_of(weights), 1e-30, 1.0)))
            _, index = top_k(ops.log(weights) + gumbel, static_int(size, "choice", "shape"))
    index = ops.reshape(index, shape)
    return index if value is None else take(value, index, axis=axis)


__all__ = ["choice", "permutation", "shuffle_rounds"]
