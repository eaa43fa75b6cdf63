"""Lowering graph IR to kernel IR: per-primitive lowerings, fusion, hoisting, memory plan.

``lower_function(fn) -> Program`` is the entry point for tests; backends
run ``fuse_function`` and the steps below as named kernel passes through
their pipeline (:mod:`tcomp.ir.kernel.passes`). Each primitive's
kernel-IR lowering is looked up by name in the lowering table
(``table.py``: :data:`LOWERINGS`, :func:`lowering_for`); importing this
package changes nothing outside it. Modules:

- ``context.py``: what a lowering sees (accessors, :class:`LoweringContext`);
- ``rules_elementwise.py``, ``rules_movement.py``, ``rules_reduce.py``,
  ``scatter.py``: the lowerings; ``table.py``: their table, by primitive;
- ``fusion.py``: which values get buffers;
- ``builder.py``: one kernel per materialised value;
- ``hoist.py``: Reduce hoisting, shared and loop-invariant lets;
- ``contraction.py``: the blocked schedule of contractions;
- ``split_reduction.py``, ``reuse_terms.py``: kernel-to-kernel rewrites;
- ``program.py``: the driver; ``memory.py``: the arena plan.

The analyses of kernel IR that renderers need too (contraction matching,
affine index terms, overlapping temps) are in :mod:`tcomp.ir.kernel.analysis`.
"""

from __future__ import annotations

from tcomp.ir.kernel.lowering.fusion import FusionPlan, plan_fusion
from tcomp.ir.kernel.lowering.memory import plan_memory, temp_lifetimes
from tcomp.ir.kernel.lowering.program import lower_function
from tcomp.ir.kernel.lowering.table import LOWERINGS, LoweringRule, lowering_for

__all__ = ["LOWERINGS", "FusionPlan", "LoweringRule", "lower_function", "lowering_for",
           "plan_fusion", "plan_memory", "temp_lifetimes"]
