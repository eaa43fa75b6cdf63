"""``lower_function``: a graph-IR function to a kernel-IR program.

1. :func:`~.fusion.plan_fusion` picks the values that get buffers (roots);
2. a :class:`~.builder.KernelBuilder` per root, in node order, inlines the
   rest into one loop nest with a final store and hoists its reductions;
   when it finds a value that should have had a buffer after all it raises
   :class:`~.hoist.Rematerialize`; the other kernels are still built, and
   lowering starts over with all such values forced to be roots (a kernel
   whose every question to the plan -- which values have buffers, which are
   cheap -- gets the same answer under the new plan is kept, not rebuilt);
3. :func:`~.memory.plan_memory` gives temporaries their arena offsets.

Step 1 and 2 are :func:`fuse_function`, the ``fuse`` step of the kernel
pipelines (:mod:`tcomp.ir.kernel.passes`); hoisting works on one kernel while
it is built, so it stays inside ``fuse``. The rest are named kernel passes
over a whole program (``schedule-contractions``, ``split-reductions``,
``plan-memory``), which :func:`lower_function` runs after it.

Buffer names: parameters ``p0, p1, ...``; outputs and temporaries
``t<value id>``; constants ``c<value id>``. Kernels are ``k0, k1, ...``.
An output that is a parameter or a constant names that buffer directly.

Example::

    func @f(%0: f32[4,3]) -> (f32[4]) {
      %1: f32[4,3] = exp(%0)
      %2: f32[4] = reduce_sum(%1) {axes=(1,)}
      return %2
    }
    ->
    program @f(%p0: f32[4,3]) -> (%t2) {
      out %t2: f32[4]
      kernel k0(in %p0: f32[12], out %t2: f32[4]) {  // %1 exp, %2 reduce_sum
        schedule {parallel=i0, vector={i0: 16}}
        for i0 in 0..4 {
          let acc0: f32 = 0.0:f32
          for r0 in 0..3 {
            acc0 = acc0 + exp(%p0[(i0 * 3) + r0])
          }
          %t2[i0] = acc0
        }
      }
    }
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from tcomp.ir.errors import TcompBackendError
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.kernel.kernel import Kernel, Program, ProgramBuffer
from tcomp.ir.kernel.lowering.builder import KernelBuilder, buffer_sizes, constant_array
from tcomp.ir.kernel.lowering.fusion import FusionPlan, plan_fusion
from tcomp.ir.kernel.lowering.hoist import Rematerialize
from tcomp.ir.kernel.lowering.scan import lower_scan
from tcomp.ir.kernel.lowering.split_reduction import PARTS
from tcomp.ir.kernel.lowering.while_loop import lower_while
from tcomp.ir.recursion import deep_recursion

MIN_RECURSION_LIMIT = 20000  # inlining and hoisting recurse once per fused node and expression


class NeedsBuffers(Exception):
    """Kernels of this plan recompute values too often: give them buffers and start over."""

    def __init__(self, found: list[Rematerialize]) -> None:
        super().__init__("; ".join(str(f) for f in found))
        self.found = found


@dataclasses.dataclass
class BuiltKernel:
    """A root's kernel as built under one plan, with the answers it got from that plan
    and the buffers it declared (in order): under a plan that answers the same, the
    builder would make the same kernel."""

    kernel: Kernel | None  # None: the root has no elements and no kernel
    had_buffer: dict[Value, bool]  # ProgramState.buffer_of: the value is a root
    was_cheap: dict[Value, bool]  # ProgramState.is_cheap
    declared: list[ProgramBuffer]

    def same_under(self, plan: FusionPlan) -> bool:
        return all(plan.is_root(v) == had for v, had in self.had_buffer.items()) and all(
            (v in plan.cheap) == was for v, was in self.was_cheap.items()
        )


class ProgramState:
    """The buffers and kernels of the program being built under one fusion plan.

    ``earlier``: kernels built under an earlier plan of the same function, by root;
    those the new plan answers the same are kept (see the module docstring).
    """

    def __init__(
        self, fn: Function, plan: FusionPlan, earlier: dict[Value, BuiltKernel] | None = None
    ) -> None:
        self.fn = fn
        self.plan = plan
        self.earlier = earlier or {}
        self.built: dict[Value, BuiltKernel] = {}
        self.node_order = {node.output: i for i, node in enumerate(fn.nodes)}
        self._had_buffer: dict[Value, bool] = {}
        self._was_cheap: dict[Value, bool] = {}
        self.producers = fn.producers()
        self.buffers: dict[str, ProgramBuffer] = {}
        self.param_names: dict[Value, str] = {}
        for i, param in enumerate(fn.params):
            name = f"p{i}"
            self.param_names[param] = name
            self.buffers[name] = ProgramBuffer(name, param.type, "param")
        self.outputs = set(fn.outputs)
        self.kernels: list[Kernel] = []
        self.loops: dict[str, int] = {}  # repeat loops of scans (scan.py)
        self.conditions: dict[str, str] = {}  # while loops (while_loop.py)

    def buffer_of(self, value: Value) -> str | None:
        """The buffer holding ``value`` for other kernels to read, if it has one."""
        if value in self.param_names:
            return self.param_names[value]
        root = self.plan.is_root(value)
        self._had_buffer[value] = root
        return self.buffer_name(value) if root else None

    def is_cheap(self, value: Value) -> bool:
        """Whether the plan has every consumer recompute ``value`` (see ``fusion.py``)."""
        cheap = value in self.plan.cheap
        self._was_cheap[value] = cheap
        return cheap

    def buffer_name(self, root: Value) -> str:
        """The output or temporary buffer of a root (declared on first use)."""
        name = f"t{root.id}"
        if name not in self.buffers:
            kind = "output" if root in self.outputs else "temp"
            self.buffers[name] = ProgramBuffer(name, root.type, kind)
        return name

    def constant_buffer(self, node: Node) -> str:
        name = f"c{node.output.id}"
        if name not in self.buffers:
            self.buffers[name] = ProgramBuffer(
                name, node.output.type, "constant", data=constant_array(node)
            )
        return name

    def buffer_sizes(self) -> Callable[[str], tuple[str, int]]:
        return buffer_sizes(self.buffers)

    def next_kernel_name(self) -> str:
        return f"k{len(self.kernels)}"

    def build(self) -> Program:
        """The program, or :class:`NeedsBuffers` naming every value some kernel
        found worth materialising (the first such value per kernel)."""
        needed: list[Rematerialize] = []
        for root in self.plan.roots:
            self.buffer_name(root)
            node = self.producers[root]
            if node.regions:  # a scan or a while: its kernels once, at its first result
                if node.op not in ("scan", "while"):
                    raise TcompBackendError(f"{node.op} has no kernel-IR lowering")
                if root is node.output:
                    for value in node.outputs:
                        self.buffer_name(value)
                    (lower_scan if node.op == "scan" else lower_while)(self, node, ())
                continue
            earlier = self.earlier.get(root)
            if earlier is not None and earlier.same_under(self.plan):
                self._keep(root, earlier)
                continue
            try:
                built = self._build(root)
            except Rematerialize as found:
                needed.append(found)
                continue
            if built.kernel is not None:
                self.kernels.append(built.kernel)
        if needed:
            raise NeedsBuffers(needed)
        outputs = [self._output_name(v) for v in self.fn.outputs]
        return Program(self.fn.name, self.buffers, list(self.param_names.values()), outputs,
                       self.kernels, loops=self.loops, conditions=self.conditions)

    def _build(self, root: Value) -> BuiltKernel:
        """Builds the kernel of ``root``, noting what it asked of the plan."""
        self._had_buffer, self._was_cheap = {}, {}
        before = len(self.buffers)
        kernel = KernelBuilder(self, root).build()
        declared = list(self.buffers.values())[before:]
        built = BuiltKernel(kernel, self._had_buffer, self._was_cheap, declared)
        self.built[root] = built
        return built

    def _keep(self, root: Value, earlier: BuiltKernel) -> None:
        """Takes ``root``'s kernel from an earlier plan: its buffers, under this plan's
        kernel numbering."""
        for buffer in earlier.declared:
            self.buffers.setdefault(buffer.name, buffer)
        self.built[root] = earlier
        if earlier.kernel is not None:
            kernel = dataclasses.replace(earlier.kernel, name=self.next_kernel_name())
            self.kernels.append(kernel)

    def input_buffer(self, value: Value) -> str:
        """The buffer holding ``value`` (a parameter, constant or root) for a scan."""
        return self._output_name(value)

    def _output_name(self, value: Value) -> str:
        if value in self.param_names:
            return self.param_names[value]
        node = self.producers[value]
        if node.op == "constant":
            return self.constant_buffer(node)
        return self.buffer_name(value)


def fuse_function(fn: Function) -> Program:
    """The ``fuse`` step: steps 1 and 2 of the module docstring (fusion plan, one kernel
    per root with its reductions and shared lets hoisted, restarting the plan when a
    value turns out to need a buffer). Schedules are the builder's defaults (parallel
    outermost loop, vector innermost); no arena is planned yet."""
    from tcomp.ir.primitives.control_flow_switch import expand_switches

    fn = expand_switches(fn)  # a switch computes every branch and selects (see there)
    with deep_recursion(MIN_RECURSION_LIMIT):
        forced: set[Value] = set()
        built: dict[Value, BuiltKernel] = {}
        while True:
            plan = plan_fusion(fn, forced)
            state = ProgramState(fn, plan, built)
            try:
                return state.build()
            except NeedsBuffers as again:
                built = {**built, **state.built}
                for found in again.found:
                    if found.value in forced or plan.is_root(found.value):
                        raise AssertionError(f"lowering {fn.name}: {found}") from None
                    forced.add(found.value)


def lower_function(fn: Function, reduction_parts: int = PARTS) -> Program:
    """Lowers a graph-IR function to a kernel-IR program with a planned arena
    (see the module docstring): the kernel pipeline ``fuse, schedule-contractions,
    split-reductions{parts=reduction_parts}, plan-memory`` of
    :mod:`tcomp.ir.kernel.passes` (a big reduction to one element is split into
    ``reduction_parts`` parallel chunks, see ``split_reduction.py``). Backends run
    their own pipeline (``LLVM_PIPELINE``, ``GPU_PIPELINE``) instead."""
    from tcomp.ir.kernel.passes import lower

    return lower(fn, ("fuse", "schedule-contractions",
                      f"split-reductions{{parts={reduction_parts}}}", "plan-memory"))
