"""Kernel-IR programs rendered as OpenCL C or CUDA C source (pure: imports no driver).

Each :class:`Kernel` becomes one function, ``__kernel void`` (OpenCL) or
``extern "C" __global__ void`` (CUDA), named ``<program>_<kernel>``, taking
one pointer per kernel arg in ``kernel.args`` order (inputs ``const``; all
``restrict`` except arena temps whose byte ranges overlap another arg's).
Each buffer is its own argument, constants and arena temps included: the
runtime uploads constants once and may either allocate each temp on its own
or pass ``arena + offset`` (CUDA) / a sub-buffer (OpenCL; the offset must
meet ``CL_DEVICE_MEM_BASE_ADDR_ALIGN``). Each kernel renders as its schedule's GPU
launch says (``gpu={kind: ...}``: :mod:`tcomp.backends.cfamily.schedule`, the map-gpu
pass; decided on the spot for a kernel without one). :func:`launch_plan` lists, per
kernel, the function name, the buffer names in argument order, the global
size (work-items in all) and the local size (None: any work-group size, the
kernel checks its own bound; an int: exactly that size, declared by the
kernel, and the global size is a multiple of it).

Where loops run is what the launch records (``collapse``, ``local``), as
:mod:`tcomp.backends.cfamily.mapping` decides it for ``map-gpu``:

- the schedule's ``parallel`` loop and the independent loops perfectly
  nested in it (the first ``collapse`` of them) fold into one global index ``tc_g``, the loop variables
  recovered by div/mod, innermost fastest (coalesced accesses); ``Let``
  statements between the levels are recomputed per work-item. A 2-d
  elementwise kernel (OpenCL)::

      const long tc_g = (long)get_global_id(0);
      if (tc_g >= 6400) return;
      const long i0 = tc_g / 100;
      const long i1 = tc_g % 100;
      t9[(i0 * 100) + i1] = (tanh(p0[(i0 * 100) + i1]) * p1[i1]) + 1.0f;

- a body with a reduction over at least 64 elements (row softmax,
  layer_norm, a long sum) runs one work-group of ``L`` work-items per index
  instead: strided partials, a tree combine in local memory (every work-item
  reads the result), independent loops strided across the group, top-level
  stores by work-item 0, and no early return (every work-item reaches every
  barrier). Row softmax over 1000 columns (OpenCL, abridged)::

      __kernel __attribute__((reqd_work_group_size(256, 1, 1))) void softmax_k0(...) {
        __local float tc_red_acc0[256];
        ...
        const long tc_lid = (long)get_local_id(0);
        const long i0 = (long)get_group_id(0);
        float acc0 = -INFINITY;
        for (long r0 = tc_lid; r0 < 1000; r0 += 256) {
          float v0 = p0[(i0 * 1000) + r0];
          acc0 = tc_max_f32(acc0, v0);
        }
        tc_red_acc0[tc_lid] = acc0;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (long tc_s = 128; tc_s > 0; tc_s >>= 1) {
          if (tc_lid < tc_s) {
            tc_red_acc0[tc_lid] = tc_max_f32(tc_red_acc0[tc_lid], tc_red_acc0[tc_lid + tc_s]);
          }
          barrier(CLK_LOCAL_MEM_FENCE);
        }
        acc0 = tc_red_acc0[0];
        ...
        for (long i1 = tc_lid; i1 < 1000; i1 += 256) {
          t18[(i0 * 1000) + i1] = exp((p0[(i0 * 1000) + i1] - v1)) / acc1;
        }
      }

In CUDA (``Dialect.warp_shuffle``) the tree stops at ``tc_s >= 32``; warp 0
then finishes the last 32 values in registers with ``__shfl_down_sync`` (the
same pairs in the same order, so the same result) and a group of at most 32
never touches local memory (see :meth:`_BodyWriter.warp_combine`).

A collapsed nest of at least ``COARSEN_MIN`` indices gives each work-item
four (:func:`tcomp.backends.cfamily.schedule.coarsening`; same launch, ``ceil(total / 4)`` work-items):
strided by the group size (``tc_g = tc_base + tc_u * group size``), or, when
every access is the flat index or free of the nest and the buffers are
32-bit, the four consecutive indices ``4w .. 4w+3`` as one 16-byte vector
load per input and one vector store per output
(:mod:`tcomp.backends.cfamily.vector_nest`, ``Dialect.vector_load``).

A kernel without a parallel loop runs as a single work-item (or, holding a
long reduction, as one work-group). Other loops are C ``for`` loops, ``Let``
/ ``Assign`` typed locals, loads and stores pointer accesses with a 64-bit
index.

CUDA sources must be compiled with ``Dialect.compile_options``
(``--fmad=false``: no contraction into fma, so each operation rounds as
numpy's); OpenCL sources say ``#pragma OPENCL FP_CONTRACT OFF`` themselves.
"""

from __future__ import annotations

from tcomp.backends.cfamily.contraction import (
    GROUP_SIZE,
    TileShape,
    contraction_body,
    gpu_contraction,
)
from tcomp.backends.cfamily.dialect import Dialect, get_dialect
from tcomp.backends.cfamily.exprs import ExprRenderer, check_dtype
from tcomp.backends.cfamily.helpers import bare, c_name, render_helpers
from tcomp.backends.cfamily.mapping import (
    Accumulator,
    GroupStep,
    KernelMapping,
    identity,
)
from tcomp.backends.cfamily.schedule import (
    KernelLaunch,
    function_name,
    kernel_mapping,
    launch_for,
    launch_mapping,
    launch_plan,
)
from tcomp.backends.cfamily.tensor_core import GROUP_SIZE as TENSOR_CORE_GROUP
from tcomp.backends.cfamily.tensor_core import tensor_core_body, tensor_core_contraction
from tcomp.backends.cfamily.vector_nest import vector_nest, vector_plan
from tcomp.ir.kernel.analysis import overlapping_temps as aliased_args
from tcomp.ir.kernel.analysis import parallel_loop
from tcomp.ir.kernel.kernel import Assign, Kernel, Let, Loop, Program, Stmt, Store
from tcomp.ir.recursion import deep_recursion

RENDER_RECURSION_LIMIT = 20000  # Python frames to render a deep fused expression

__all__ = [
    "KernelLaunch", "aliased_args", "function_name", "kernel_mapping", "launch_plan",
    "parallel_loop", "render_program",
]

INDENT = "  "
LOCAL_ID = "tc_lid"  # the work-item's index in its group (work-group kernels)
GROUP_ID = "tc_grp"  # the group's index (work-group kernels with a parallel nest)
GLOBAL_ID = "tc_g"  # the collapsed global index (a nest of two loops or more)
WARP = 32  # lanes of a CUDA warp (Dialect.warp_shuffle)


def render_program(program: Program, dialect: str | Dialect) -> str:
    """The OpenCL C (``dialect="opencl"``) or CUDA C (``"cuda"``) source of ``program``."""
    # expressions are trees rendered recursively: a chain of hundreds of fused ops
    # is deeper than Python's default limit
    with deep_recursion(RENDER_RECURSION_LIMIT):
        return _render_program(program, dialect=dialect)


def _render_program(program: Program, dialect: str | Dialect) -> str:
    d = get_dialect(dialect) if isinstance(dialect, str) else dialect
    exprs = ExprRenderer(d)
    kernels = [_render_kernel(program, kernel, exprs) for kernel in program.kernels]
    uses_f64 = any(
        b.type.dtype == "float64" for b in program.buffers.values()
    ) or any(kind[1] == "float64" for kind in exprs.used)
    parts = [d.header + (d.fp64_header if uses_f64 else ""), f"/* program {program.name}: {len(kernels)} kernel(s) */\n"]
    helpers = render_helpers(exprs.used, d)
    if helpers:
        parts.append("\n" + helpers)
    for text in kernels:
        parts.append("\n" + text)
    return "".join(parts)


def _half_to_float(exprs: ExprRenderer, dtype: str, bits: str) -> str:
    """The float value of the 16-bit ``dtype`` value whose bits are ``bits``."""
    kind = "from_bf16" if dtype == "bfloat16" else "from_f16"
    return exprs.helper(kind, dtype, f"({exprs.dialect.half_type})({bits})")


def _render_kernel(program: Program, kernel: Kernel, exprs: ExprRenderer) -> str:
    d = exprs.dialect
    aliased = aliased_args(program, kernel)
    launch = launch_for(program, kernel, d)  # what the schedule says (map-gpu)
    kind = launch.kind
    tensor = tensor_core_contraction(kernel, d.tensor_cores) if kind == "tensor_core" else None
    contraction = gpu_contraction(kernel) if kind == "tiled_matmul" else None
    mapping = launch_mapping(kernel, launch)  # the recorded collapse and group size
    params = []
    for arg in kernel.args:
        check_dtype(arg.dtype)
        elem = exprs.memory_type(arg.dtype)
        const = "const " if arg.access == "in" else ""
        restrict = "" if arg.name in aliased else " restrict"
        if d.name == "cuda" and restrict:
            restrict = " __restrict__"
        params.append(f"{d.pointer_space}{const}{elem}*{restrict} {c_name(arg.name)}")
    name = function_name(program, kernel)
    if tensor is not None:
        size: int | None = TENSOR_CORE_GROUP
    else:
        size = GROUP_SIZE if contraction is not None else launch.local_size
    bounds = d.launch_bounds.format(size=size) if size is not None else ""
    head = f"{d.kernel_prefix} {bounds}void {name}("
    separator = ",\n" + " " * len(head)
    lines = [f"/* {kernel.name}: {', '.join(kernel.origin)} */"] if kernel.origin else []
    lines.append(f"{head}{separator.join(params)}) {{")
    writer = _BodyWriter(exprs, lines)
    if tensor is not None:
        body = tensor_core_body(
            kernel, tensor, d.tensor_cores, d.name, d.index_type, d.half_type, d.barrier,
            d.local_space, d.group_id, d.local_id,
            lambda bits: _half_to_float(exprs, tensor.a.dtype, bits),
            lambda stmts, depth, out: _BodyWriter(exprs, out).block(stmts, depth),
        )
        lines += [INDENT + line for line in body]
    elif contraction is not None:
        acc_type = exprs.ctype(contraction.acc.dtype)
        body = contraction_body(
            kernel, contraction, d.index_type, acc_type, d.math("fma", contraction.acc.dtype),
            d.barrier, d.local_space, d.group_id, d.local_id,
            lambda stmts, depth, out: _BodyWriter(exprs, out).block(stmts, depth),
            TileShape(launch.tm, launch.tn),
        )
        lines += [INDENT + line for line in body]
    elif kind == "vector":
        writer.block(mapping.prefix, 1)
        plan = vector_plan(kernel, mapping, aliased)
        assert plan is not None  # launch_for checked the kind against the kernel
        vector_nest(writer, mapping, plan, lambda source, depth: writer.flat_index(mapping, source, depth))
    elif kind == "coarsened":
        writer.block(mapping.prefix, 1)
        writer.coarsened_nest(mapping, launch.coarsen)
    elif size is None:
        writer.block(mapping.prefix, 1)
        if mapping.nest:
            writer.nest(mapping.nest, d.global_id, bound=True)
        writer.block(mapping.body, 1)
    else:
        writer.group_arrays(mapping.steps, size)
        lines.append(f"{INDENT}const {d.index_type} {LOCAL_ID} = {d.local_id};")
        writer.block(mapping.prefix, 1)
        if mapping.nest:
            writer.nest(mapping.nest, d.group_id, bound=False)
        for step in mapping.steps:
            writer.group_step(step, size)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _level_index(source: str, levels: tuple[Loop, ...], depth: int) -> str:
    """Loop ``levels[depth]``'s variable from the flattened index ``source`` (innermost
    fastest; ``source`` is below the product of the extents)."""
    if len(levels) == 1:
        return source
    stride = 1
    for loop in levels[depth + 1 :]:
        stride *= loop.extent
    if depth == 0:
        return f"{source} / {stride}"
    if depth == len(levels) - 1:
        return f"{source} % {levels[depth].extent}"
    return f"({source} / {stride}) % {levels[depth].extent}"


class _BodyWriter:
    def __init__(self, exprs: ExprRenderer, lines: list[str]) -> None:
        self.exprs = exprs
        self.lines = lines

    # -- the index space ------------------------------------------------------

    def unflatten(self, source: str, levels: tuple[Loop, ...], depth: int) -> None:
        """Declares the variables of the flattened ``levels`` from ``source``, each
        followed by the ``Let`` statements before the next level (not the innermost
        body)."""
        pad = INDENT * depth
        t = self.exprs.dialect.index_type
        for number, loop in enumerate(levels):
            value = _level_index(source, levels, number)
            self.lines.append(f"{pad}const {t} {loop.var.name} = {value};")
            if number < len(levels) - 1:
                self.block(loop.body[:-1], depth)

    def nest(self, nest: tuple[Loop, ...], source: str, bound: bool) -> None:
        """The parallel nest's variables from the global (``bound``: with a bounds
        check) or group index ``source``."""
        t = self.exprs.dialect.index_type
        total = 1
        for loop in nest:
            total *= loop.extent
        if len(nest) == 1:
            index = nest[0].var.name
            self.lines.append(f"{INDENT}const {t} {index} = {source};")
            if bound:
                self.lines.append(f"{INDENT}if ({index} >= {total}) return;")
            return
        name = GLOBAL_ID if bound else GROUP_ID
        self.lines.append(f"{INDENT}const {t} {name} = {source};")
        if bound:
            self.lines.append(f"{INDENT}if ({name} >= {total}) return;")
        self.unflatten(name, nest, 1)

    def coarsened_nest(self, mapping: KernelMapping, per_item: int) -> None:
        """The nest with ``per_item`` indices per work-item: a work-group takes
        ``per_item * group size`` consecutive indices, work-item ``l`` the ones at
        ``l, l + group size, ...`` (coalesced, and the loads of the unrolled copies
        overlap). A nest :func:`~tcomp.backends.cfamily.vector_nest.vector_plan`
        accepts takes :func:`~tcomp.backends.cfamily.vector_nest.vector_nest` instead."""
        d = self.exprs.dialect
        t = d.index_type
        total = mapping.outer
        self.lines.append(f"{INDENT}const {t} tc_base = {d.group_id} * {d.group_size} * {per_item} + {d.local_id};")
        self.lines.append(f"{INDENT}#pragma unroll")
        self.lines.append(f"{INDENT}for (int tc_u = 0; tc_u < {per_item}; ++tc_u) {{")
        self.lines.append(f"{INDENT * 2}const {t} {GLOBAL_ID} = tc_base + tc_u * {d.group_size};")
        self.lines.append(f"{INDENT * 2}if ({GLOBAL_ID} < {total}) {{")
        self.flat_index(mapping, GLOBAL_ID, 3)
        self.lines.append(f"{INDENT * 2}}}")
        self.lines.append(f"{INDENT}}}")

    def flat_index(self, mapping: KernelMapping, source: str, depth: int) -> None:
        """The nest's body for the flat index ``source`` (below the nest's size): its
        variables recovered from it, then the statements."""
        t = self.exprs.dialect.index_type
        if len(mapping.nest) == 1:
            self.lines.append(f"{INDENT * depth}const {t} {mapping.nest[0].var.name} = {source};")
        else:
            self.unflatten(source, mapping.nest, depth)
        self.block(mapping.body, depth)

    # -- work-groups ------------------------------------------------------------

    def local_type(self, dtype: str) -> str:
        d = self.exprs.dialect
        return d.byte_type if dtype == "bool" else self.exprs.ctype(dtype)

    def group_arrays(self, steps: tuple[GroupStep, ...], size: int) -> None:
        """Declares one local array of ``size`` per accumulator (at function scope, as
        OpenCL C requires)."""
        space = self.exprs.dialect.local_space
        if self.exprs.dialect.warp_shuffle and size <= WARP:
            return  # the combine stays in registers (warp_combine)
        for step in steps:
            if step.kind != "reduce":
                continue
            for acc in step.accumulators:
                t = self.local_type(acc.var.dtype)
                self.lines.append(f"{INDENT}{space} {t} tc_red_{c_name(acc.var.name)}[{size}];")

    def strided(self, levels: tuple[Loop, ...], size: int, depth: int) -> None:
        """``levels`` (a flattened perfect nest) strided across the work-group."""
        pad = INDENT * depth
        t = self.exprs.dialect.index_type
        total = 1
        for loop in levels:
            total *= loop.extent
        v = levels[0].var.name if len(levels) == 1 else f"tc_{levels[0].var.name}"
        self.lines.append(f"{pad}for ({t} {v} = {LOCAL_ID}; {v} < {total}; {v} += {size}) {{")
        if len(levels) > 1:
            self.unflatten(v, levels, depth + 1)
        self.block(levels[-1].body, depth + 1)
        self.lines.append(f"{pad}}}")

    def group_step(self, step: GroupStep, size: int) -> None:
        """One top-level statement of a work-group body (see :class:`GroupStep`)."""
        pad = INDENT
        r = self.exprs.render
        stmt = step.stmt
        if step.kind == "all":
            self.block((stmt,), 1)
        elif step.kind == "once":
            self.lines.append(f"{pad}if ({LOCAL_ID} == 0) {{")
            self.block((stmt,), 2)
            self.lines.append(f"{pad}}}")
        elif step.kind == "partial":
            assert isinstance(stmt, Let)
            (acc,) = step.accumulators
            start = identity(acc.op, acc.var.dtype)
            t = self.exprs.ctype(acc.var.dtype)
            value = bare(r(stmt.value))
            if stmt.value != start:
                value = f"({LOCAL_ID} == 0) ? {r(stmt.value)} : {r(start)}"
            self.lines.append(f"{pad}{t} {stmt.var.name} = {value};")
        elif step.kind == "strided":
            self.strided(step.levels, size, 1)
        elif step.kind == "reduce":
            self.strided(step.levels, size, 1)
            self.combine(step, size)
        else:
            raise ValueError(f"c-family renderer: unknown group step {step.kind!r}")

    def combine(self, step: GroupStep, size: int) -> None:
        """The tree combine of ``step``'s partials in local memory; every work-item then
        holds each accumulator's value. A dialect with ``warp_shuffle`` finishes the
        last :data:`WARP` values within one warp (:meth:`warp_combine`)."""
        d = self.exprs.dialect
        if d.warp_shuffle:
            self.warp_combine(step, size)
            return
        self.to_local(step)
        self.tree_steps(step, size, "tc_s > 0")
        for acc in step.accumulators:
            array = f"tc_red_{c_name(acc.var.name)}"
            self.lines.append(f"{INDENT}{acc.var.name} = {self.read(array, '0', acc.var.dtype)};")

    def to_local(self, step: GroupStep) -> None:
        """Each work-item's partials into the local arrays, then a barrier."""
        d = self.exprs.dialect
        for acc in step.accumulators:
            array = f"tc_red_{c_name(acc.var.name)}"
            value = acc.var.name
            if acc.var.dtype == "bool":
                value = f"({d.byte_type}){value}"
            self.lines.append(f"{INDENT}{array}[{LOCAL_ID}] = {value};")
        self.lines.append(f"{INDENT}{d.barrier}")

    def combined(self, acc: Accumulator, mine: str, other: str) -> str:
        """``acc.op(mine, other)`` as a C value of the accumulator's register type (a
        float16 or bfloat16 sum or product rounded, as numpy's)."""
        value = self.exprs.binary(acc.op, mine, other, acc.var.dtype)
        if acc.op in ("add", "mul"):
            value = self.exprs.rounded(value, acc.var.dtype)
        return bare(value)

    def tree_steps(self, step: GroupStep, size: int, condition: str) -> None:
        """The halving steps ``s = size / 2, size / 4, ...`` while ``condition`` holds:
        ``s[lid] = op(s[lid], s[lid + s])`` for ``lid < s``, a barrier after each."""
        d = self.exprs.dialect
        t = d.index_type
        self.lines.append(f"{INDENT}for ({t} tc_s = {size // 2}; {condition}; tc_s >>= 1) {{")
        self.lines.append(f"{INDENT * 2}if ({LOCAL_ID} < tc_s) {{")
        for acc in step.accumulators:
            array = f"tc_red_{c_name(acc.var.name)}"
            mine, other = self.read(array, LOCAL_ID, acc.var.dtype), self.read(
                array, f"{LOCAL_ID} + tc_s", acc.var.dtype
            )
            value = self.combined(acc, mine, other)
            if acc.var.dtype == "bool":
                value = f"({d.byte_type})({value})"
            self.lines.append(f"{INDENT * 3}{array}[{LOCAL_ID}] = {value};")
        self.lines.append(f"{INDENT * 2}}}")
        self.lines.append(f"{INDENT * 2}{d.barrier}")
        self.lines.append(f"{INDENT}}}")

    def warp_combine(self, step: GroupStep, size: int) -> None:
        """The combine of ``step``'s partials, finished within warp 0 (CUDA).

        A group of more than :data:`WARP` work-items runs the local-memory steps down
        to ``s = 32`` (after them, ``s[0..31]`` hold the tree's partial results), then
        work-items 0..31 (exactly warp 0: a 1-d block's warps are its consecutive runs
        of 32 threads, so all 32 lanes take the branch) load them into registers and
        run the steps ``16, 8, 4, 2, 1`` as ``v = op(v, __shfl_down_sync(full, v, w))``.
        Every lane runs every shuffle (no condition inside; the shuffled value goes
        into its own variable first, so no ``&&`` / ``||`` skips it), and lane ``l < w``
        reads lane ``l + w < 2w``, which holds its correct value of the previous step:
        lane 0 ends with exactly the local-memory tree's value (same pairs, same
        operand order). It writes it to ``s[0]``; a barrier; every work-item reads it.
        A group of at most 32 (one partial warp) shuffles its partials directly, the
        mask naming its ``size`` lanes and ``width`` = ``size``, then broadcasts lane
        0's value with ``__shfl_sync``: no local memory, no barrier. Sum, float32::

            if (tc_lid < 32) {
              acc0 = tc_red_acc0[tc_lid];
              for (int tc_w = 16; tc_w > 0; tc_w >>= 1) {
                const float tc_o_acc0 = __shfl_down_sync(0xffffffffu, acc0, tc_w);
                acc0 = acc0 + tc_o_acc0;
              }
              if (tc_lid == 0) {
                tc_red_acc0[0] = acc0;
              }
            }
            __syncthreads();
            acc0 = tc_red_acc0[0];
        """
        d = self.exprs.dialect
        if size <= 1:
            return  # the one work-item already holds the value
        if size <= WARP:
            mask = "0xffffffffu" if size == WARP else f"{hex((1 << size) - 1)}u"
            width = "" if size == WARP else f", {size}"
            self.shuffles(step, size, mask, width, 1)
            for acc in step.accumulators:
                name = acc.var.name
                self.lines.append(f"{INDENT}{name} = {self.shuffled('__shfl_sync', acc, mask, '0', width)};")
            return
        self.to_local(step)
        self.tree_steps(step, size, f"tc_s >= {WARP}")
        self.lines.append(f"{INDENT}if ({LOCAL_ID} < {WARP}) {{")
        for acc in step.accumulators:
            array = f"tc_red_{c_name(acc.var.name)}"
            self.lines.append(f"{INDENT * 2}{acc.var.name} = {self.read(array, LOCAL_ID, acc.var.dtype)};")
        self.shuffles(step, WARP, "0xffffffffu", "", 2)
        self.lines.append(f"{INDENT * 2}if ({LOCAL_ID} == 0) {{")
        for acc in step.accumulators:
            array = f"tc_red_{c_name(acc.var.name)}"
            value = acc.var.name
            if acc.var.dtype == "bool":
                value = f"({d.byte_type}){value}"
            self.lines.append(f"{INDENT * 3}{array}[0] = {value};")
        self.lines.append(f"{INDENT * 2}}}")
        self.lines.append(f"{INDENT}}}")
        self.lines.append(f"{INDENT}{d.barrier}")
        for acc in step.accumulators:
            array = f"tc_red_{c_name(acc.var.name)}"
            self.lines.append(f"{INDENT}{acc.var.name} = {self.read(array, '0', acc.var.dtype)};")

    def shuffled(self, function: str, acc: Accumulator, mask: str, lane: str, width: str) -> str:
        """``function(mask, acc, lane[, width])`` as a value of the accumulator's
        register type (a bool travels as an int: no bool overload)."""
        name = acc.var.name
        if acc.var.dtype == "bool":
            return f"({function}({mask}, (int){name}, {lane}{width}) != 0)"
        return f"{function}({mask}, {name}, {lane}{width})"

    def shuffles(self, step: GroupStep, lanes: int, mask: str, width: str, depth: int) -> None:
        """The in-register tree steps ``lanes / 2, ..., 1`` of every accumulator (all
        the ``mask`` lanes run them)."""
        pad = INDENT * depth
        self.lines.append(f"{pad}for (int tc_w = {lanes // 2}; tc_w > 0; tc_w >>= 1) {{")
        for acc in step.accumulators:
            name = acc.var.name
            other = f"tc_o_{c_name(name)}"
            t = self.exprs.ctype(acc.var.dtype)
            shuffled = self.shuffled("__shfl_down_sync", acc, mask, "tc_w", width)
            self.lines.append(f"{pad}{INDENT}const {t} {other} = {shuffled};")
            self.lines.append(f"{pad}{INDENT}{name} = {self.combined(acc, name, other)};")
        self.lines.append(f"{pad}}}")

    @staticmethod
    def read(array: str, index: str, dtype: str) -> str:
        access = f"{array}[{index}]"
        return f"({access} != 0)" if dtype == "bool" else access

    # -- statements -------------------------------------------------------------

    def block(self, body: tuple[Stmt, ...], depth: int) -> None:
        pad = INDENT * depth
        r = self.exprs.render
        for stmt in body:
            if isinstance(stmt, Loop):
                if stmt.extent == 0:
                    continue
                v, t = stmt.var.name, self.exprs.dialect.index_type
                self.lines.append(f"{pad}for ({t} {v} = 0; {v} < {stmt.extent}; ++{v}) {{")
                self.block(stmt.body, depth + 1)
                self.lines.append(f"{pad}}}")
            elif isinstance(stmt, Let):
                t = self.exprs.ctype(stmt.var.dtype)
                self.lines.append(f"{pad}{t} {stmt.var.name} = {bare(r(stmt.value))};")
            elif isinstance(stmt, Assign):
                self.lines.append(f"{pad}{stmt.var.name} = {bare(r(stmt.value))};")
            elif isinstance(stmt, Store):
                value = self.exprs.stored(r(stmt.value), stmt.value.dtype)
                target = f"{c_name(stmt.buffer)}[{bare(r(stmt.index))}]"
                self.lines.append(f"{pad}{target} = {value};")
            else:
                raise TypeError(f"c-family renderer: not a statement: {stmt!r}")
