"""What a primitive's kernel-IR lowering sees: accessors and a per-node context.

A lowering turns one graph-IR node into a function from an output index
vector to the scalar expression of that output element. It is written over
*accessors*, functions from an index vector (one ``index`` expression per
axis) to a scalar expression, one per input::

    def lower_exp(ctx, inputs, attrs, out_type):
        (x,) = inputs
        return lambda idx: unary("exp", x(idx))

so ``exp(transpose(p0))`` becomes ``exp(%p0[i1 * 4 + i0])`` without any copy:
the transpose's accessor permutes the index vector before asking for ``p0``.

:class:`LoweringContext` gives a lowering what the accessors cannot: the
input types, fresh reduction variables (unique within the kernel being
built) and constant buffers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np

from tcomp.ir.kernel.expr import INDEX, Expr, Number, Var, const
from tcomp.ir.types import TensorType

if TYPE_CHECKING:
    from tcomp.ir.graph import Node

Index = Sequence[Expr]
Accessor = Callable[[Index], Expr]


class KernelServices(Protocol):
    """The kernel builder's side of a :class:`LoweringContext`."""

    def fresh_var(self, prefix: str, extent: int | None = None, dtype: str = INDEX) -> Var: ...

    def constant_accessor(self, node: "Node") -> Accessor: ...


class LoweringContext:
    """Per-node services for a lowering (see the module docstring)."""

    def __init__(self, services: KernelServices, node: "Node") -> None:
        self._services = services
        self.node = node
        self.input_types: list[TensorType] = [v.type for v in node.inputs]
        self.out_type: TensorType = node.output.type

    def fresh_axis(self, extent: int) -> Var:
        """A new reduction loop variable running over ``0 .. extent-1``."""
        return self._services.fresh_var("r", extent)

    def constant(self) -> Accessor:
        """The accessor of this ``constant`` node's value: a ``Const`` when every
        element is the same, else loads from a constant buffer of the program."""
        return self._services.constant_accessor(self.node)


def uniform_value(array: np.ndarray) -> Number | None:
    """The one value every element of ``array`` has (bit for bit), or None.

    An empty array counts as uniform (its value is never read): 0.
    """
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.size == 0:
        return 0
    rows = flat.view(np.uint8).reshape(flat.size, flat.dtype.itemsize)
    if np.all(rows == rows[0]):
        return flat[0].item()
    return None


def uniform_const(array: np.ndarray, dtype: str) -> Expr | None:
    """``Const`` of a uniform array (see :func:`uniform_value`), else None."""
    value = uniform_value(array)
    return None if value is None else const(value, dtype)
