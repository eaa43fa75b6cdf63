"""Fusion: which graph values become buffers, each computed by one kernel.

Every other value is inlined into the expression of the kernel that
consumes it. A value is materialised (a *root*) when it is

- a function output (unless it is a parameter or a constant: the program
  returns that buffer directly);
- a ``scatter_add`` (its kernel accumulates; see ``scatter.py``);
- a result or an operand of a control-flow node (a ``scan``: ``scan.py``; a
  parameter or constant operand is read where it is);
- the computed source of a ``matmul`` operand (looking through reshape,
  transpose, broadcast_to, slice, rev, convert; for a matmul big enough to be
  blocked, not through a reshape of a transpose, whose input gets the buffer): a matmul reads each operand
  element once per row or column of the other, so it should read a buffer;
  likewise the input of a window reduction (``reduce_window_*``,
  ``window_argmax``): inlined, a conv feeding a max pool would run inside the
  window's reduction loop instead of in its own vectorised loop nest; and
  the operands of a ``scatter_add`` computed by a reduction (a conv, matmul,
  reduce or window op): its loop is serial, and a conv gradient feeding a max
  pool's gradient would run inside it (light producers still fuse in);
- used by nodes that end up in different kernels, unless it is *cheap*: a
  parameter, a constant, an iota, a movement op / convert / gather of
  cheap values, or a few light elementwise ops (compare, add, select...) of
  them, which every consumer simply recomputes. A comparison of one computed
  value (and cheap ones) becomes cheap too, by giving that value the buffer
  instead: relu's ``x <= 0``, read by its forward and its backward select,
  is recomputed in both from ``x``. So does any light op of one computed
  value that has other users: ``1 + e``, where ``e = exp(-|z|)`` is read by a
  cross-entropy's backward too, is recomputed from ``e``'s buffer rather than
  stored as a second buffer (a value whose only user is the light op, like a
  matmul and its bias add, keeps it in its own kernel). A movement op (or convert,
  gather) of computed values used by several kernels becomes cheap by
  giving those computed values buffers instead: no copy kernels;
- a contraction (``matmul``, ``conv``) whose consumer's kernel already holds one,
  when either does at least ``MIN_WORK`` multiply-adds: such a kernel computes
  one contraction, which the contraction schedule can block (the input gradient
  of ``gelu(x @ w) @ w2`` would otherwise recompute ``x @ w`` inside the loop
  nest of the other matmul, unblocked); tiny ones (an RNN cell's) still fuse;
- found by the kernel builder to be recomputed too often (a Reduce placed
  inside more loop iterations than it has elements, or a shared value read
  at more than two index vectors): :class:`~.hoist.Rematerialize` adds it to
  ``forced`` and lowering starts over.

Example (row softmax): no value but the output is a root, so the whole
softmax is one kernel; ``reduce_max`` and ``reduce_sum`` are hoisted into
the row loop (``hoist.py``)::

    %1 = reduce_max(%0); ... %14 = exp(%13); %15 = reduce_sum(%14); %18 = div(%14, %17)
    -> roots {%18}: kernel k0 // %1 reduce_max, ..., %14 exp, %15 reduce_sum, %18 div
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.kernel.lowering.contraction import MIN_WORK

# Ops whose element [i] is a cheap function of their inputs' elements (index arithmetic,
# a select, a conversion): recomputing them in every consumer beats a buffer.
CHEAP_OPS = frozenset({
    "reshape", "transpose", "broadcast_to", "slice", "rev", "pad", "concatenate", "gather",
    "convert", "stop_gradient",
})
# Ops a matmul operand is followed through to find the value worth materialising.
PASS_THROUGH_OPS = frozenset({
    "reshape", "transpose", "broadcast_to", "slice", "rev", "convert", "stop_gradient",
})
# Elementwise ops a few of which, on cheap values, are still cheaper to recompute than to
# store and load (a one-hot mask: eq(broadcast(labels), broadcast(iota))).
LIGHT_OPS = frozenset({
    "neg", "abs", "sign", "add", "sub", "mul", "max", "min", "eq", "ne", "lt", "le", "gt", "ge",
    "select",
})
LIGHT_BUDGET = 4  # light ops per cheap value, counted through its cheap inputs
COMPARE_OPS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
LEAF_OPS = frozenset({"constant", "iota"})
KERNEL_OPS = frozenset({"scatter_add"})
# Ops a kernel computes at most one of (see the module docstring).
CONTRACTION_OPS = frozenset({"matmul", "conv"})


@dataclass
class FusionPlan:
    """The roots (in node order) and what the kernel builder needs to know about values."""

    roots: list[Value]
    cheap: set[Value]
    users: dict[Value, list[Node]]  # distinct user nodes, in node order
    forced: set[Value] = field(default_factory=set)

    def is_root(self, value: Value) -> bool:
        return value in self._root_set

    def __post_init__(self) -> None:
        self._root_set = set(self.roots)


def distinct_users(fn: Function) -> dict[Value, list[Node]]:
    users: dict[Value, list[Node]] = {}
    for node in fn.nodes:
        for value in dict.fromkeys(node.inputs):
            users.setdefault(value, []).append(node)
    return users


def cheap_values(fn: Function) -> set[Value]:
    """Parameters, constants, iotas, and CHEAP_OPS or (up to LIGHT_BUDGET) LIGHT_OPS of
    cheap values."""
    cost: dict[Value, int] = {p: 0 for p in fn.params}
    for node in fn.nodes:
        if node.op in LEAF_OPS:
            cost[node.output] = 0
        elif node.op in CHEAP_OPS | LIGHT_OPS and all(v in cost for v in node.inputs):
            total = sum(cost[v] for v in dict.fromkeys(node.inputs))
            total += node.op in LIGHT_OPS
            if total <= LIGHT_BUDGET:
                cost[node.output] = total
    return set(cost)


# Ops whose operands are worth a buffer (see the module docstring).
BUFFERED_OPERAND_OPS = frozenset({
    "matmul", "reduce_window_sum", "reduce_window_max", "window_argmax", "scatter_add",
})
# Producers of scatter_add operands worth a buffer: reductions.
REDUCING_OPS = frozenset({
    "matmul", "conv", "reduce_sum", "reduce_max", "reduce_min", "argmax",
    "reduce_window_sum", "reduce_window_max", "window_argmax",
})


def _reshapes_a_transpose(node: Node, producers: dict[Value, Node]) -> bool:
    """Whether ``node`` reshapes (other than by unit axes) the result of a transpose:
    attention's ``y.swapaxes(1, 2).reshape(B, T, C)``. Read through both, an operand's
    index needs ``//`` and ``%`` of the loop variables, which no blocked contraction
    reads; the transposed value gets a buffer instead (a copy, small beside the matmul)."""
    if node.op != "reshape":
        return False
    source = node.inputs[0]
    producer = producers.get(source)
    if producer is None or producer.op != "transpose":
        return False
    squeezed = [d for d in source.type.shape if d != 1]
    return squeezed != [d for d in node.output.type.shape if d != 1]


def matmul_sources(fn: Function) -> set[Value]:
    """The computed values that matmul, window-reduction and scatter_add operands read
    (through PASS_THROUGH_OPS), and those of convs of at least ``MIN_WORK`` multiply-adds
    (inlined, a batch norm's backward ran inside a weight gradient's reduction, once per
    window offset: 27 times in a 3x3 conv of 3 channels)."""
    producers = fn.producers()
    sources = set()
    for node in fn.nodes:
        heavy = node.op in CONTRACTION_OPS and contraction_work(node) >= MIN_WORK
        if node.op not in BUFFERED_OPERAND_OPS and not (heavy and node.op == "conv"):
            continue
        blocked = heavy and node.op == "matmul"
        for value in node.inputs:
            while value in producers and producers[value].op in PASS_THROUGH_OPS:
                source = producers[value].inputs[0]
                if blocked and _reshapes_a_transpose(producers[value], producers):
                    value = source  # read through both, the index is not affine: a copy
                    break
                value = source
            if value in producers and producers[value].op not in LEAF_OPS:
                if node.op != "scatter_add" or producers[value].op in REDUCING_OPS:
                    sources.add(value)
    return sources


def contraction_work(node: Node) -> int:
    """Multiply-adds of a ``matmul`` or ``conv`` node: output elements times the
    contracted extent."""
    out = node.output.type.size
    if node.op == "matmul":
        return out * node.inputs[0].type.shape[-1]
    weight = node.inputs[1].type.shape  # conv: [out channels, in channels / groups, *window]
    return out * math.prod(weight[1:])


def plan_fusion(fn: Function, forced: set[Value] | frozenset[Value] = frozenset()) -> FusionPlan:
    """Chooses the roots of ``fn`` (see the module docstring); ``forced`` adds roots."""
    users = distinct_users(fn)
    cheap = cheap_values(fn)
    producers = fn.producers()
    params = set(fn.params)
    outputs = {v for v in fn.outputs if v not in params}
    must = set(forced) | matmul_sources(fn)
    home: dict[Value, Value] = {}  # inlined value -> the root whose kernel computes it
    roots: set[Value] = set()
    contraction_works: dict[Value, list[int]] = {}  # root -> its kernel's contractions

    def make_root(node: Node) -> None:
        roots.add(node.output)
        home[node.output] = node.output
        if node.op in CONTRACTION_OPS:
            contraction_works[node.output] = [contraction_work(node)]

    def second_heavy_contraction(node: Node, kernel: Value) -> bool:
        works = contraction_works.get(kernel, [])
        return bool(works) and max(works + [contraction_work(node)]) >= MIN_WORK

    def light_of_one_value(node: Node) -> bool:
        # a light op of one computed value that has a buffer anyway (it has other
        # users, as exp(-|z|) does in a cross-entropy's forward and backward): each
        # consumer recomputes the light op from that buffer instead of reading a second
        # buffer. A comparison always qualifies (its computed value gets the buffer).
        # A value with no other user (a matmul whose only user is its bias add) keeps
        # the light op fused into its own kernel.
        computed = [source for source in dict.fromkeys(node.inputs) if source not in cheap]
        if len(computed) != 1:
            return False
        if node.op in COMPARE_OPS:
            return True
        return node.op in LIGHT_OPS and len(users.get(computed[0], [])) > 1

    def read_from_buffers(value: Value) -> None:
        # a movement op wanted by several kernels: recompute it everywhere from buffers
        # of its computed inputs rather than storing a copy (a reshape of a matmul, say)
        if value in cheap:
            return
        node = producers[value]
        if node.op not in CHEAP_OPS:
            must.add(value)
            return
        cheap.add(value)
        for source in node.inputs:
            read_from_buffers(source)
    for node in reversed(fn.nodes):
        value = node.output
        if node.regions:  # control flow (a scan): every result and operand has a buffer
            for result in node.outputs:
                roots.add(result)
                home[result] = result
            must.update(v for v in node.inputs if v in producers
                        and producers[v].op != "constant")
            continue
        if value in outputs:
            if node.op != "constant":
                make_root(node)
            continue
        if node.op in KERNEL_OPS or value in must:
            make_root(node)
            continue
        if value in cheap:
            continue  # recomputed by each consumer
        kernels = {home[u.output] for u in users.get(value, []) if u.output in home}
        if not kernels:
            continue  # dead
        if len(kernels) == 1:
            kernel = kernels.pop()
            if node.op in CONTRACTION_OPS:
                if second_heavy_contraction(node, kernel):
                    make_root(node)
                    continue
                contraction_works.setdefault(kernel, []).append(contraction_work(node))
            home[value] = kernel
        elif node.op in CHEAP_OPS:
            read_from_buffers(value)
        elif light_of_one_value(node):
            # a comparison of one computed value wanted by several kernels (relu's `x <= 0`,
            # read by its forward and its backward select), or a light op of a value
            # with other users (`1 + e` beside `e`): that value gets the buffer and each
            # kernel recomputes the light op, so it fuses where it is used
            cheap.add(value)
            must.update(source for source in node.inputs if source not in cheap)
        else:
            make_root(node)
    ordered = [value for node in fn.nodes for value in node.outputs if value in roots]
    return FusionPlan(ordered, cheap, users, set(forced))
