"""``tcomp.nn.init.orthogonal``: PyTorch's ``orthogonal_`` on a Householder QR in tcomp ops.

PyTorch's recipe: flatten the shape to ``(rows, cols) = (shape[0], prod(shape[1:]))``,
draw a standard normal matrix (transposed when ``rows < cols``, so it is tall), take
its QR decomposition ``A = QR`` with ``Q`` of the tall shape, multiply each column of
``Q`` by the sign of ``R``'s diagonal entry (which makes ``Q`` Haar-distributed: a
uniformly random orthonormal frame), transpose back, reshape and scale by ``gain``.
The result has orthonormal columns (``rows >= cols``) or rows (``rows < cols``).

The QR is Householder's, written with tcomp ops in two ``fori_loop``\\ s over the
``n = min(rows, cols)`` columns of the tall ``m x n`` matrix, so it runs eagerly and
inside ``jit`` on every backend in ``O(m n^2)`` work and ``O(m n)`` memory:

- step ``k``: ``x`` = column ``k`` of ``A`` below the diagonal (rows ``>= k``),
  ``alpha = -sign(x_k) ||x||`` (sign +1 at 0), ``v = (x - alpha e_k) / ||x - alpha e_k||``
  (0 when ``x`` is 0), ``A <- A - 2 v (v^T A)``; ``v`` is kept as column ``k`` of ``V``
  and ``R_kk = alpha``;
- then ``Q[:, :n] = H_0 (H_1 (... (H_{n-1} I[:, :n])))`` with ``H_k = I - 2 v_k v_k^T``,
  the second loop running ``k`` downwards.

The computation is in float32 (float64 for float64), then cast to ``dtype``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.control_flow import fori_loop
from tcomp.frontend.creation import arange, full
from tcomp.frontend.dispatch import dtype_of, shape_of, user_error
from tcomp.frontend.random_keys import normalize_shape
from tcomp.frontend.random_sampling import normal
from tcomp.ir.errors import TcompShapeError


def _unit_vector(index: Any, size: int, dtype: str) -> Any:
    """``e_index`` of length ``size`` (``index`` may be traced)."""
    return ops.astype(arange(size, dtype="int32") == index, dtype)


def _sign_one_at_zero(x: Any) -> Any:
    return ops.where(x < 0, -1.0, 1.0)


def householder_q(a: Any) -> Any:
    """The ``m x n`` factor ``Q`` (orthonormal columns) of the tall matrix ``a``
    (``m >= n``), its columns signed so that ``R``'s diagonal is positive (module
    docstring)."""
    m, n = shape_of(a)
    dtype = dtype_of(a)
    rows = arange(m, dtype="int32")

    def reflect(k: Any, state: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
        matrix, vectors, signs = state
        e_column = _unit_vector(k, n, dtype)
        column = ops.matmul(matrix, e_column)
        x = ops.where(rows >= k, column, 0.0)
        e_k = _unit_vector(k, m, dtype)
        x_k = ops.sum(x * e_k)
        alpha = -_sign_one_at_zero(x_k) * ops.sqrt(ops.sum(x * x))
        v = x - alpha * e_k
        length = ops.sqrt(ops.sum(v * v))
        v = ops.where(length > 0, v / ops.where(length > 0, length, 1.0), 0.0)
        matrix = matrix - 2.0 * ops.reshape(v, (m, 1)) * ops.reshape(ops.matmul(v, matrix), (1, n))
        column_k = ops.reshape(e_column, (1, n))
        vectors = vectors + ops.reshape(v, (m, 1)) * column_k
        signs = signs + (_sign_one_at_zero(alpha) - 1.0) * e_column
        return matrix, vectors, signs

    _, vectors, signs = fori_loop(0, n, reflect, (a, full((m, n), 0, dtype), full((n,), 1, dtype)))

    def apply(j: Any, q: Any) -> Any:
        k = n - 1 - j
        v = ops.matmul(vectors, _unit_vector(k, n, dtype))
        return q - 2.0 * ops.reshape(v, (m, 1)) * ops.reshape(ops.matmul(v, q), (1, n))

    identity = ops.astype(
        ops.reshape(rows, (m, 1)) == ops.reshape(arange(n, dtype="int32"), (1, n)), dtype
    )
    q = fori_loop(0, n, apply, identity)
    return q * ops.reshape(signs, (1, n))


def orthogonal(key: Any, shape: Any, dtype: Any = "float32", gain: float = 1.0) -> Any:
    """A (semi-)orthogonal matrix of ``shape`` scaled by ``gain`` (PyTorch's
    ``orthogonal_``; module docstring): ``shape`` is flattened to ``(shape[0], rest)``,
    whose rows or columns, whichever are fewer, come out orthonormal."""
    from tcomp.frontend.nn_init import _float_dtype

    name = _float_dtype(dtype, "orthogonal")
    shape = normalize_shape(shape, "nn.init.orthogonal")
    if len(shape) < 2:
        raise user_error(
            TcompShapeError,
            f"nn.init.orthogonal: needs a shape of 2 or more dimensions, got {shape}",
        )
    rows, cols = shape[0], int(np.prod(shape[1:], dtype=np.int64))
    work = "float64" if name == "float64" else "float32"
    tall = normal(key, (max(rows, cols), min(rows, cols)), work)
    q = householder_q(tall)
    if rows < cols:
        q = ops.transpose(q)
    return ops.astype(ops.reshape(q * gain, shape), name)
