"""The lowering table: each primitive's kernel-IR lowering, looked up by name.

:data:`LOWERINGS` maps a primitive's name to its lowering rule, merged from
the tables of the rules modules (``rules_elementwise.py``,
``rules_movement.py``, ``rules_reduce.py``, ``rules_conv.py``, ``rules_window.py``,
``scatter.py``, ``rules_random.py``). The primitive
registry (:data:`tcomp.ir.primitives.PRIMITIVES`) knows nothing of it:
nothing is attached to a :class:`~tcomp.ir.primitives.base.Primitive`, and
the kernel builder asks :func:`lowering_for` instead. A rule is one of:

- an *expression lowering* ``(ctx, inputs, attrs, out_type) -> Accessor``
  (see ``context.py``): the node's output element at an index, inlined into
  whatever kernel reads it;
- a *kernel lowering* ``(builder, node) -> statements``, marked by
  :func:`builds_kernel`: the whole body of the node's own kernel
  (``scatter_add``).

Adding a primitive means adding its rule to one of those modules' tables;
``tests/test_kernel_lowering.py`` checks that every registered primitive has
one.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

from tcomp.ir.errors import TcompBackendError
from tcomp.ir.graph import Node
from tcomp.ir.kernel.kernel import Stmt
from tcomp.ir.kernel.lowering import (
    rules_conv,
    rules_elementwise,
    rules_movement,
    rules_random,
    rules_reduce,
    rules_window,
    scatter,
)
from tcomp.ir.kernel.lowering.context import Accessor, LoweringContext
from tcomp.ir.types import TensorType

if TYPE_CHECKING:
    from tcomp.ir.kernel.lowering.builder import KernelBuilder

ExpressionLowering = Callable[
    [LoweringContext, Sequence[Accessor], Mapping[str, Any], TensorType], Accessor
]
KernelLowering = Callable[["KernelBuilder", Node], tuple[Stmt, ...]]
LoweringRule = Union[ExpressionLowering, KernelLowering]

LOWERINGS: Mapping[str, LoweringRule] = MappingProxyType({
    **rules_elementwise.LOWERINGS,
    **rules_movement.LOWERINGS,
    **rules_reduce.LOWERINGS,
    **rules_conv.LOWERINGS,
    **rules_window.LOWERINGS,
    **scatter.LOWERINGS,
    **rules_random.LOWERINGS,
})


def lowering_for(name: str) -> LoweringRule:
    """The lowering rule of the primitive called ``name``; a
    :class:`~tcomp.ir.errors.TcompBackendError` naming it when it has none."""
    try:
        return LOWERINGS[name]
    except KeyError:
        raise TcompBackendError(
            f"primitive {name!r} has no kernel-IR lowering, so the compiled backends cannot "
            "run it: add one to the LOWERINGS of a rules module under ir/kernel/lowering/"
        ) from None


def builds_kernel(rule: LoweringRule) -> bool:
    """Whether ``rule`` is a kernel lowering (builds its node's whole kernel) rather than
    an expression lowering (see the module docstring)."""
    return bool(getattr(rule, "builds_kernel", False))
