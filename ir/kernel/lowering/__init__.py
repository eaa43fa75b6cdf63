"""Lowering graph IR to kernel IR: per-primitive lowerings, fusion, hoisting, memory plan.

``lower_function(fn) -> Program`` is the entry point. Importing this
package attaches each primitive's kernel-IR lowering to its
:class:`~tcomp.ir.primitives.base.Primitive` (``PRIMITIVES[name].lowering``),
from the tables of the ``rules_*`` modules (and ``scatter.py``, whose
lowering builds a whole kernel). Modules:

- ``context.py``: what a lowering sees (accessors, :class:`LoweringContext`);
- ``rules_elementwise.py``, ``rules_movement.py``, ``rules_reduce.py``,
  ``scatter.py``: the lowerings;
- ``fusion.py``: which values get buffers;
- ``builder.py``: one kernel per materialised value;
- ``hoist.py``: Reduce hoisting, shared and loop-invariant lets;
- ``program.py``: the driver; ``memory.py``: the arena plan.
"""

from __future__ import annotations

from tcomp.ir.kernel.lowering import rules_elementwise, rules_movement, rules_reduce, scatter
from tcomp.ir.kernel.lowering.fusion import FusionPlan, plan_fusion
from tcomp.ir.kernel.lowering.memory import plan_memory, temp_lifetimes
from tcomp.ir.kernel.lowering.program import lower_function
from tcomp.ir.primitives import PRIMITIVES

LOWERINGS = {
    **rules_elementwise.LOWERINGS,
    **rules_movement.LOWERINGS,
    **rules_reduce.LOWERINGS,
    **scatter.LOWERINGS,
}


def _attach() -> None:
    missing = sorted(set(PRIMITIVES) - set(LOWERINGS))
    if missing:
        raise AssertionError(f"primitives without a kernel lowering: {', '.join(missing)}")
    for name, lowering in LOWERINGS.items():
        PRIMITIVES[name].lowering = lowering


_attach()

__all__ = ["LOWERINGS", "FusionPlan", "lower_function", "plan_fusion", "plan_memory",
           "temp_lifetimes"]
