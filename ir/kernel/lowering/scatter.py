"""The ``scatter_add`` kernel: zero the output, then accumulate every update.

Not an expression per output element (that would scan every index for each
output), so its lowering builds the whole kernel; indices wrap and clamp
exactly as ``gather``'s. Updates are added in row-major order, the order of
numpy's ``np.add.at``, so float sums match the reference bit for bit::

    %2: f64[3] = scatter_add(%0: f64[5], %1: i32[5]) {axis=0, size=3}
    -> kernel k0(in %p1: i32[5], in %p0: f64[5], inout %t2: f64[3]) {  // %2 scatter_add
         for z0 in 0..3 {
           %t2[z0] = 0.0:f64
         }
         for i0 in 0..5 {
           let v0: index = index(%p1[i0])
           %t2[min(max(select(v0 < 0, v0 + 3, v0), 0), 2)] = %t2[...] + %p0[i0]
         }
       }

A load of the output depends on the innermost loop whatever its index says
(``pinned``), so it is never hoisted above the store it follows.
The loop over updates is not parallel (two updates may hit one element).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcomp.ir.graph import Node
from tcomp.ir.kernel.expr import Load, add, cast, const, flat_index
from tcomp.ir.kernel.kernel import Stmt, Store
from tcomp.ir.kernel.lowering.hoist import Hoister
from tcomp.ir.kernel.lowering.rules_reduce import wrap_and_clamp
from tcomp.ir.kernel.lowering.storage import widen

if TYPE_CHECKING:
    from tcomp.ir.kernel.lowering.builder import KernelBuilder


def build_scatter_add(builder: "KernelBuilder", node: Node) -> tuple[Stmt, ...]:
    """The statements of a ``scatter_add`` kernel (see the module docstring)."""
    updates, indices = node.inputs
    axis, size = node.attrs["axis"], node.attrs["size"]
    out = node.output
    name = builder.state.buffer_name(out)
    zero_loops, zero_idx = builder.output_loops(out.shape, "z")
    zero = Store(name, flat_index(zero_idx, out.shape), const(0, out.dtype))
    body = builder.hoist(zero_loops, [zero])
    if updates.type.size == 0:
        return body
    loops, idx = builder.output_loops(updates.shape, "i")
    span = indices.type.ndim
    position = wrap_and_clamp(builder.read(indices, idx[axis : axis + span]), size)
    target = flat_index(idx[:axis] + [position] + idx[axis + span :], out.shape)
    # a storage type (int8, uint8, uint32) adds in its compute type and wraps back
    old, update = Load(name, target, out.dtype), builder.read(updates, idx)
    total = cast(add(widen(old), widen(update)), out.dtype)
    hoister = Hoister(builder.names, builder.placed, pinned=frozenset({name}))
    return body + hoister.build_nest(loops, [Store(name, target, total)])


build_scatter_add.builds_kernel = True  # type: ignore[attr-defined]

LOWERINGS = {"scatter_add": build_scatter_add}
