"""16-byte vector loads and stores for a big elementwise nest (pure: imports no driver).

A coarsened nest (:func:`tcomp.backends.cfamily.schedule.coarsening`: four
indices per work-item) whose every buffer access is either exactly the
nest's flat index or free of the nest's variables runs its four indices as
one 16-byte vector access per buffer instead of four strided scalar ones:
work-item ``w`` takes the four *consecutive* flat indices ``4w .. 4w+3``
(the launch keeps ``ceil(total / 4)`` work-items, as for the strided
variant, so :func:`~tcomp.backends.cfamily.render.launch_plan` is the same
for both). When ``4w + 3 < total`` it loads each input once as a ``float4``
/ ``int4``, runs the body four times with that buffer's loads replaced by
the lanes ``.x .y .z .w`` (:attr:`ExprRenderer.load_overrides`), collects
each output's four values in a vector and stores it once; the last
work-item of a total that is not a multiple of four runs its indices one by
one with the usual bound. gelu on 2**18 float32 (OpenCL)::

    const long tc_i = (long)get_global_id(0) * 4;
    if (tc_i >= 262144) return;
    const float4 tc_v_p0 = vload4(0, p0 + tc_i);
    float4 tc_o_t21;
    {
      float v0 = tc_v_p0.x;
      tc_o_t21.x = (0.5f * v0) * (1.0f + tanh(...));
    }
    ... (.y, .z, .w)
    vstore4(tc_o_t21, 0, t21 + tc_i);

The kernel takes this path only when (:func:`vector_plan`): the per-index
body is ``Let`` and ``Store`` statements (no loops, no assignments); every
store and every load of a buffer that depends on the nest's variables has
exactly the flat row-major index of the nest (``(i0 * 300) + i1`` for
extents (256, 300): coefficient 1 on the flat index, offset 0); every such
buffer is float32 or int32 (16-bit, 64-bit and bool buffers keep the scalar
path), the other loads use no nest variable (nor a ``Let`` of the nest); no
buffer is both loaded and stored, and none is one of the args that may
share memory (``aliased``). Anything else (a broadcast operand ``p1[i1]``, a
transpose, a gather) keeps the strided scalar path for the whole kernel.

**Alignment.** ``4 * w`` elements of 4 bytes are ``16 * w`` bytes: a multiple
of 16, so each vector access is 16-byte aligned whenever the buffer's base
pointer is. tcomp's GPU runtime (``backends/gpu/executable.py``,
``backends/gpu/memory.py``) gives every parameter, constant, output and temp
its own pool block, and a block is a whole driver allocation: ``cuMemAlloc``
(or pycuda's ``mem_alloc``) returns 256-byte aligned pointers and the
arguments are those pointers, never an offset into them. A runtime that
passed ``arena + offset`` for temps (the module docstring of
:mod:`~tcomp.backends.cfamily.render` allows it) would still be aligned:
:mod:`tcomp.ir.kernel.lowering.memory` places temps at multiples of 64 bytes.
OpenCL's ``vload4`` / ``vstore4`` need only the element's alignment (4 bytes)
anyway; CUDA's ``float4`` / ``int4`` accesses need 16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from tcomp.backends.cfamily.exprs import ExprRenderer
from tcomp.backends.cfamily.helpers import bare, c_name
from tcomp.backends.cfamily.mapping import KernelMapping, reads_what_it_writes
from tcomp.ir.kernel.analysis import affine_terms
from tcomp.ir.kernel.expr import (
    Binary,
    Cast,
    Expr,
    Load,
    Unary,
    Var,
    free_vars,
    walk,
)
from tcomp.ir.kernel.kernel import Kernel, Let, Loop, Stmt, Store, statement_exprs

LANES = ("x", "y", "z", "w")
VECTOR_TYPES = {"float32": "float4", "int32": "int4"}  # 16 bytes, in both dialects
INDENT = "  "


@dataclass(frozen=True)
class VectorPlan:
    """The buffers of a vectorised nest: ``loaded`` and ``stored`` (name, vector type),
    in order of first use; ``needs_vars``: whether the body uses the nest's variables
    other than in its vector accesses (then each copy recovers them from its index)."""

    loaded: tuple[tuple[str, str], ...]
    stored: tuple[tuple[str, str], ...]
    needs_vars: bool


def _nest_statements(mapping: KernelMapping) -> tuple[Stmt, ...]:
    """The ``Let`` statements between the nest's levels, then the body."""
    lets: list[Stmt] = []
    for loop in mapping.nest[:-1]:
        lets.extend(loop.body[:-1])
    return (*lets, *mapping.body)


def is_flat_index(index: Expr, nest: tuple[Loop, ...]) -> bool:
    """Whether ``index`` is the flat row-major index of ``nest`` (innermost fastest)."""
    linear = affine_terms(index)
    if linear is None:
        return False
    terms, constant = linear
    expected: dict[str, int] = {}
    stride = 1
    for loop in reversed(nest):
        if loop.extent > 1:  # a variable of extent 1 is 0: its term may be present or not
            expected[loop.var.name] = stride
        elif loop.var.name in terms:
            expected[loop.var.name] = terms[loop.var.name]
        stride *= loop.extent
    return constant == 0 and terms == expected


def vector_plan(
    kernel: Kernel, mapping: KernelMapping, aliased: frozenset[str] = frozenset()
) -> VectorPlan | None:
    """The vector accesses of ``kernel``'s coarsened nest, or None when the nest must
    keep the scalar path (the conditions are in the module docstring)."""
    if mapping.local_size is not None or not mapping.nest:
        return None
    if reads_what_it_writes(kernel, aliased):
        return None  # (the prefix's loads included)
    statements = _nest_statements(mapping)
    if not all(isinstance(stmt, (Let, Store)) for stmt in statements):
        return None
    dtypes = {arg.name: arg.dtype for arg in kernel.args}
    nest_names = {loop.var.name for loop in mapping.nest}
    local = nest_names | {stmt.var.name for stmt in statements if isinstance(stmt, Let)}
    flat: dict[str, str] = {}  # buffers accessed at the flat index -> their dtype
    other: set[str] = set()  # buffers loaded at an index free of the nest
    loaded: list[str] = []
    stored: list[str] = []
    needs_vars = any(isinstance(stmt, Let) for loop in mapping.nest[:-1] for stmt in loop.body[:-1])
    for stmt in statements:
        exprs = statement_exprs(stmt)
        if isinstance(stmt, Store):
            if not is_flat_index(stmt.index, mapping.nest):
                return None
            flat[stmt.buffer] = stmt.value.dtype
            if stmt.buffer not in stored:
                stored.append(stmt.buffer)
            exprs = (stmt.value,)
        for expr in exprs:
            for node in walk(expr):
                if isinstance(node, Load):
                    if is_flat_index(node.index, mapping.nest):
                        if flat.setdefault(node.buffer, node.dtype) != node.dtype:
                            return None
                        if node.buffer not in loaded:
                            loaded.append(node.buffer)
                    elif {v.name for v in free_vars(node.index)} & local:
                        return None  # a broadcast, transpose or gather: scalar path
                    else:
                        other.add(node.buffer)
            if _uses_nest_vars(expr, set(flat), nest_names):
                needs_vars = True
    names = set(flat)
    if names & other or set(loaded) & set(stored) or names & aliased:
        return None
    if any(flat[name] not in VECTOR_TYPES or dtypes.get(name) != flat[name] for name in names):
        return None
    return VectorPlan(
        tuple((name, VECTOR_TYPES[flat[name]]) for name in loaded),
        tuple((name, VECTOR_TYPES[flat[name]]) for name in stored),
        needs_vars,
    )


def _uses_nest_vars(expr: Expr, vectorised: set[str], nest_names: set[str]) -> bool:
    """Whether ``expr`` reads a nest variable outside the loads of ``vectorised``."""
    if isinstance(expr, Load):
        return expr.buffer not in vectorised and _uses_nest_vars(expr.index, vectorised, nest_names)
    if isinstance(expr, Var):
        return expr.name in nest_names
    if isinstance(expr, (Unary, Cast)):
        return _uses_nest_vars(expr.x, vectorised, nest_names)
    if isinstance(expr, Binary):
        children: tuple[Expr, ...] = (expr.a, expr.b)
    else:
        children = expr.children()  # Select, Call; none for a constant
    return any(_uses_nest_vars(child, vectorised, nest_names) for child in children)


class Writer(Protocol):
    """What :func:`vector_nest` needs of the renderer's body writer."""

    exprs: ExprRenderer
    lines: list[str]

    def block(self, body: tuple[Stmt, ...], depth: int) -> None: ...

    def unflatten(self, source: str, levels: tuple[Loop, ...], depth: int) -> None: ...


def vector_nest(
    writer: Writer, mapping: KernelMapping, plan: VectorPlan,
    scalar_index: Callable[[str, int], None],
) -> None:
    """The vectorised nest (see the module docstring); ``scalar_index(source, depth)``
    writes the scalar body for the flat index ``source`` (the tail's indices)."""
    d = writer.exprs.dialect
    t = d.index_type
    total = mapping.outer
    lines = writer.lines
    lines.append(f"{INDENT}const {t} tc_i = {d.global_id} * {len(LANES)};")
    if total % len(LANES) == 0:
        lines.append(f"{INDENT}if (tc_i >= {total}) return;")
        _vector_body(writer, mapping, plan, 1)
        return
    lines.append(f"{INDENT}if (tc_i + {len(LANES) - 1} < {total}) {{")
    _vector_body(writer, mapping, plan, 2)
    lines.append(f"{INDENT}}} else {{")
    lines.append(f"{INDENT * 2}for ({t} tc_g = tc_i; tc_g < {total}; ++tc_g) {{")
    scalar_index("tc_g", 3)
    lines.append(f"{INDENT * 2}}}")
    lines.append(f"{INDENT}}}")


def _vector_body(writer: Writer, mapping: KernelMapping, plan: VectorPlan, depth: int) -> None:
    exprs = writer.exprs
    d = exprs.dialect
    t = d.index_type
    pad = INDENT * depth
    lines = writer.lines
    for name, vector in plan.loaded:
        load = d.vector_load.format(type=vector, pointer=f"{c_name(name)} + tc_i")
        lines.append(f"{pad}const {vector} tc_v_{c_name(name)} = {load};")
    for name, vector in plan.stored:
        lines.append(f"{pad}{vector} tc_o_{c_name(name)};")
    saved = dict(exprs.load_overrides)
    try:
        for number, lane in enumerate(LANES):
            lines.append(f"{pad}{{")
            exprs.load_overrides.update(
                {name: f"tc_v_{c_name(name)}.{lane}" for name, _ in plan.loaded}
            )
            if plan.needs_vars:
                source = "tc_i" if number == 0 else f"tc_i + {number}"
                if len(mapping.nest) == 1:
                    lines.append(f"{pad}{INDENT}const {t} {mapping.nest[0].var.name} = {source};")
                else:
                    lines.append(f"{pad}{INDENT}const {t} tc_g = {source};")
                    writer.unflatten("tc_g", mapping.nest, depth + 1)
            for stmt in mapping.body:
                if isinstance(stmt, Store):
                    value = exprs.stored(exprs.render(stmt.value), stmt.value.dtype)
                    lines.append(f"{pad}{INDENT}tc_o_{c_name(stmt.buffer)}.{lane} = {bare(value)};")
                else:
                    writer.block((stmt,), depth + 1)
            lines.append(f"{pad}}}")
    finally:
        exprs.load_overrides.clear()
        exprs.load_overrides.update(saved)
    for name, vector in plan.stored:
        store = d.vector_store.format(
            type=vector, value=f"tc_o_{c_name(name)}", pointer=f"{c_name(name)} + tc_i"
        )
        lines.append(f"{pad}{store}")
