"""Turning one loop nest's store expressions into statements: hoisting.

The lowered expression of a kernel may hold ``Reduce`` nodes and repeated
or loop-invariant work. :class:`Hoister` emits the loop nest and

- places each ``Reduce`` (structurally deduplicated; nested ones first) as
  ``let acc = init; for r ... { acc = op(acc, body) }`` at the start of the
  innermost enclosing loop that binds one of its free variables, and uses
  ``acc`` in its place;
- gives a sub-expression used more than once, or one that does not depend
  on the innermost loop around its use, a ``let`` at the start of the
  innermost loop it does depend on (common sub-expressions and
  loop-invariant code motion in one rule).

Before (row softmax, as lowered)::

    for i0 in 0..4 { for i1 in 0..5 {
      %t[i0 * 5 + i1] = exp(%p0[i0 * 5 + i1] - reduce_max[r0 in 0..5](%p0[i0 * 5 + r0]))
                        / reduce_add[r1 in 0..5](exp(%p0[i0 * 5 + r1] - reduce_max[...](...)))
    } }

After::

    for i0 in 0..4 {
      let acc0: f32 = -inf:f32
      for r0 in 0..5 {
        let v0: f32 = %p0[i0 * 5 + r0]
        acc0 = max(acc0, v0)
      }
      let acc1: f32 = 0.0:f32
      for r1 in 0..5 { acc1 = acc1 + exp(%p0[i0 * 5 + r1] - acc0) }
      for i1 in 0..5 { %t[i0 * 5 + i1] = exp(%p0[i0 * 5 + i1] - acc0) / acc1 }
    }

Each placement is reported (``placed``) with the number of times the
enclosing loops run it; the kernel builder raises :class:`Rematerialize`
when a graph value's reductions would run more often than the value has
elements (a column sum inside a row loop, or one matmul read at two index
vectors): that value then gets its own kernel.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from tcomp.ir.kernel.call import Call
from tcomp.ir.kernel.expr import (
    HALF_TYPES,
    INDEX,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Reduce,
    Select,
    Unary,
    Var,
    binary,
    cast,
    const,
    select,
    unary,
)
from tcomp.ir.kernel.kernel import Assign, Let, Loop, Stmt, Store
from tcomp.ir.kernel.rewrite import with_children
from tcomp.ir.types import int_bounds

FLOATS = ("float16", "bfloat16", "float32", "float64")


class Rematerialize(Exception):
    """Raised while building a kernel: ``value`` must become a kernel of its own."""

    def __init__(self, value: Any, reason: str) -> None:
        super().__init__(f"{value!r}: {reason}")
        self.value = value
        self.reason = reason


class NameGen:
    """Fresh variable names within one kernel: ``r0, r1, ...``, ``acc0, ...``, ``v0, ...``."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def fresh(self, prefix: str, dtype: str = INDEX, extent: int | None = None) -> Var:
        n = self.counts.get(prefix, 0)
        self.counts[prefix] = n + 1
        return Var(f"{prefix}{n}", dtype, extent)


class Frame:
    """One loop of the nest being built (``var`` None: the kernel's top level)."""

    __slots__ = ("var", "depth", "trip", "prelude")

    def __init__(self, var: Var | None, depth: int, trip: int) -> None:
        self.var = var
        self.depth = depth
        self.trip = trip  # iterations of this loop's body over the whole kernel
        self.prelude: list[Stmt] = []


# Called with each Reduce placed and the iterations of the loops around it; it raises
# Rematerialize when that is more work than computing the graph value once.
PlacedFn = Callable[[Reduce, int], None]


def is_compute(expr: Expr) -> bool:
    """Worth a ``let`` when repeated or invariant: arithmetic and loads on element
    values, and an element value turned into an index (a gathered position);
    index arithmetic and index comparisons are left to the renderer."""
    if isinstance(expr, Cast) and expr.dtype == INDEX:
        return expr.x.dtype != INDEX
    if not isinstance(expr, (Unary, Binary, Select, Cast, Load, Call)) or expr.dtype == INDEX:
        return False
    return not (isinstance(expr, Binary) and expr.a.dtype == INDEX)


def _refcounts(roots: Sequence[Expr]) -> dict[Expr, int]:
    """How many parent edges each distinct sub-expression has (roots count once each)."""
    counts: dict[Expr, int] = {}
    seen: set[Expr] = set()
    stack = list(roots)
    for root in roots:
        counts[root] = counts.get(root, 0) + 1
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for child in node.children():
            counts[child] = counts.get(child, 0) + 1
            stack.append(child)
    return counts


def reduce_init(op: str, dtype: str) -> Const:
    """The identity of a reduction: 0, -inf / the type's least integer (max), +inf / its
    greatest (min)."""
    if op == "add":
        return const(0, dtype)
    if dtype == "bool":
        return const(op == "min", dtype)
    if dtype in FLOATS:
        return const(-math.inf if op in ("max", "argmax") else math.inf, dtype)
    low, high = int_bounds("int64" if dtype == INDEX else dtype)
    return const(low if op in ("max", "argmax") else high, dtype)


class Hoister:
    """Builds one loop nest's statements (see the module docstring)."""

    def __init__(self, names: NameGen, placed: PlacedFn, pinned: frozenset[str] = frozenset()):
        self.names = names
        self.placed = placed
        # buffers the nest writes: a load of one depends on the innermost loop (never hoisted)
        self.pinned = pinned
        self.innermost_var: frozenset[Var] = frozenset()
        self.refcount: dict[Expr, int] = {}
        self.memo: dict[Expr, Expr] = {}
        self.frame_of: dict[Var, Frame] = {}
        self.top = Frame(None, 0, 1)
        self._free: dict[int, frozenset[Var]] = {}

    # -- levels ----------------------------------------------------------

    def free(self, expr: Expr) -> frozenset[Var]:
        found = self._free.get(id(expr))
        if found is None:
            if isinstance(expr, Var):
                # loop variables only: output loops, or the axes of an enclosing Reduce
                found = frozenset({expr}) if expr.dtype == INDEX else frozenset()
            elif isinstance(expr, Reduce):
                found = self.free(expr.body) - frozenset(expr.axes)
            elif isinstance(expr, Load) and expr.buffer in self.pinned:
                found = self.free(expr.index) | self.innermost_var
            else:
                found = frozenset().union(*(self.free(c) for c in expr.children()))
            self._free[id(expr)] = found
        return found

    def frame(self, expr: Expr) -> Frame:
        """The innermost loop binding one of ``expr``'s free variables (the top if none)."""
        return max((self.frame_of[v] for v in self.free(expr)), key=lambda f: f.depth,
                   default=self.top)

    def _let(self, value: Expr, frame: Frame) -> Var:
        var = self.names.fresh("v", value.dtype)
        frame.prelude.append(Let(var, value))
        return var

    # -- building ----------------------------------------------------------

    def build_nest(self, loop_vars: Sequence[Var], stores: Sequence[Store]) -> tuple[Stmt, ...]:
        """``for loop_vars { stores }`` with every Reduce hoisted and repeated work shared."""
        frames = [self.top]
        for var in loop_vars:
            parent = frames[-1]
            frame = Frame(var, parent.depth + 1, parent.trip * int(var.extent or 0))
            self.frame_of[var] = frame
            frames.append(frame)
        if loop_vars:
            self.innermost_var = frozenset({loop_vars[-1]})
        roots = [e for s in stores for e in (s.index, s.value)]
        self.refcount = _refcounts(roots)
        innermost = frames[-1]
        body: list[Stmt] = []
        for store in stores:
            index = self.visit(store.index, innermost.depth)
            value = self.visit_root(store.value, innermost)
            body.append(Store(store.buffer, index, value))
        for frame in reversed(frames[1:]):
            body = [Loop(frame.var, tuple(frame.prelude + body))]  # type: ignore[arg-type]
        return tuple(self.top.prelude + body)

    def visit_root(self, expr: Expr, innermost: Frame) -> Expr:
        """A value computed in ``innermost``: hoisted whole when it does not depend on it."""
        result = self.visit(expr)
        frame = self.frame(expr)
        if is_compute(result) and frame.depth < innermost.depth:
            result = self._let(result, frame)
        return result

    def visit(self, expr: Expr, use_depth: int | None = None) -> Expr:
        """``expr`` with its Reduces hoisted and its shared or invariant parts in lets.

        ``use_depth``: the loop depth where the result is needed; a computed
        child that depends on fewer loops than its use gets its own let.
        """
        hit = self.memo.get(expr)
        if hit is not None:
            return hit
        if isinstance(expr, (Const, Var)):
            return expr
        if isinstance(expr, Reduce):
            result = self._reduce(expr)
        else:
            depth = self.frame(expr).depth
            if use_depth is not None and not is_compute(expr):
                depth = max(depth, use_depth)  # index arithmetic: its use decides
            children = []
            for child in expr.children():
                new = self.visit(child, depth)
                if self.refcount.get(child, 1) == 1 and is_compute(new):
                    child_frame = self.frame(child)
                    if child_frame.depth < depth:
                        new = self._let(new, child_frame)  # invariant in this loop: hoist
                children.append(new)
            result = with_children(expr, children)
            if self.refcount.get(expr, 1) > 1 and is_compute(result):
                result = self._let(result, self.frame(expr))  # used again: compute once
        self.memo[expr] = result
        return result

    def _reduce(self, expr: Reduce) -> Expr:
        base = self.frame(expr)
        self.placed(expr, base.trip)
        frames: list[Frame] = []
        parent = base
        for axis in expr.axes:
            frame = Frame(axis, parent.depth + 1, parent.trip * int(axis.extent or 0))
            self.frame_of[axis] = frame
            frames.append(frame)
            parent = frame
        innermost = frames[-1]
        body = self.visit_root(expr.body, innermost)
        statements, result = self._accumulate(expr, body, innermost)
        nest: list[Stmt] = list(innermost.prelude) + statements[1]
        outers: list[Frame | None] = [None, *frames[:-1]]
        for frame, outer in zip(reversed(frames), reversed(outers)):
            nest = [Loop(frame.var, tuple(nest))]  # type: ignore[arg-type]
            if outer is not None:
                nest = list(outer.prelude) + nest
        base.prelude.extend(statements[0] + nest)
        return result

    def _accumulate(
        self, expr: Reduce, body: Expr, innermost: Frame
    ) -> tuple[tuple[list[Stmt], list[Stmt]], Expr]:
        """(init statements, update statements in the innermost loop), and the result."""
        op, dtype = expr.op, body.dtype
        updates: list[Stmt] = []
        if op == "add" and dtype in HALF_TYPES:
            # half-precision sums accumulate in float32 (as GPUs and numpy's pairwise sums
            # keep more digits than a running float16 total would), rounded once at the end
            wide = self.names.fresh("acc", "float32")
            updates.append(Assign(wide, binary("add", wide, cast(body, "float32"))))
            return ([Let(wide, const(0, "float32"))], updates), cast(wide, dtype)
        acc = self.names.fresh("acc", expr.dtype)
        first = reduce_init(op, dtype) if op != "argmax" else const(0, "int32")
        init: list[Stmt] = [Let(acc, first)]
        if op == "add":
            updates.append(Assign(acc, binary("add", acc, body)))
            return (init, updates), acc
        if not isinstance(body, (Var, Const)):
            x = self.names.fresh("v", dtype)
            updates.append(Let(x, body))
            body = x
        is_float = dtype in FLOATS
        if op in ("max", "min"):
            # the kernel ops max/min propagate NaN as numpy's maximum/minimum do, and
            # renderers map them to vectorisable instructions (llvm.maximum)
            updates.append(Assign(acc, binary(op, acc, body)))
            return (init, updates), acc
        # argmax: the first maximum wins; the first NaN wins over everything
        best = self.names.fresh("acc", dtype)
        init.append(Let(best, reduce_init("argmax", dtype)))
        take = binary("gt", body, best)
        if is_float:
            first_nan = binary("and", unary("isnan", body), unary("not", unary("isnan", best)))
            take = binary("or", take, first_nan)
        flag = self.names.fresh("v", "bool")
        (axis,) = expr.axes
        updates += [
            Let(flag, take),
            Assign(acc, select(flag, cast(axis, "int32"), acc)),
            Assign(best, select(flag, body, best)),
        ]
        return (init, updates), acc
