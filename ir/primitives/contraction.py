"""The contraction primitive: batched ``matmul``.

``matmul(x, y)``: ``x[..., m, k] @ y[..., k, n] -> [..., m, n]`` with equal
batch axes (the frontend broadcasts batch axes and promotes 1-D operands).
Convolutions are built from it (see ``tcomp.nn.conv2d``).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tcomp.ir.primitives.base import Primitive, register, shape_error, type_error
from tcomp.ir.types import TensorType


def _matmul_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    x, y = types
    if x.ndim < 2 or y.ndim < 2 or x.ndim != y.ndim:
        raise shape_error("matmul", "needs operands of equal rank >= 2", x, y)
    if x.shape[:-2] != y.shape[:-2]:
        raise shape_error("matmul", "batch axes differ", x, y)
    if x.shape[-1] != y.shape[-2]:
        raise shape_error(
            "matmul", f"contracted axes differ: {x.shape[-1]} vs {y.shape[-2]}", x, y
        )
    if x.dtype != y.dtype:
        raise type_error("matmul", "operands must have one dtype", x, y)
    if x.dtype == "bool":
        raise type_error("matmul", "is not defined on bool", x, y)
    return x.with_shape(x.shape[:-1] + (y.shape[-1],))


def _swap_last(b, value):
    rank = value.type.ndim
    return b.transpose(value, perm=tuple(range(rank - 2)) + (rank - 1, rank - 2))


def _matmul_vjp(b, n, ct):
    # d(x @ y) = (ct @ y^T, x^T @ ct)
    x, y = n.inputs
    return [b.matmul(ct, _swap_last(b, y)), b.matmul(_swap_last(b, x), ct)]


def _matmul_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    x, y = inputs
    return np.matmul(x, y).astype(x.dtype, copy=False)


register(Primitive("matmul", _matmul_infer, _matmul_reference, _matmul_vjp, num_inputs=2))
