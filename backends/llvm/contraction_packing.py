"""Packing a blocked contraction's operands into the panels its micro-kernel reads.

A panel is ``width`` lanes (rows of A, ``MR``, or columns of B, ``NR``) by ``depth``
values of k, stored k-major: ``panel[k * width + lane]``, so the micro-kernel reads one
contiguous vector (B) or ``MR`` neighbouring scalars (A) per k. The operand is read
through its affine index, so any strides work; how a panel is copied depends on them:

- lanes contiguous (B as stored): lanes inner, contiguous reads and writes;
- k contiguous (A as stored, B transposed): ``L x L`` blocks (``L`` the vector
  lanes) loaded as vectors (16-bit floats widened), transposed in registers
  (:func:`transpose_block`);
- otherwise element by element, k inner (in tiles of ``TILE_K`` for a panel bigger
  than L1), lanes past the operand's edge zero.

:class:`PanelPacking` is a mixin of ``contraction.py``'s renderer: it uses the
renderer's ``builder``, ``pointers``, ``match`` (the contraction), ``ty`` (the
accumulator's LLVM type), ``wide`` (its dtype name) and ``lanes``.
"""

from __future__ import annotations

from llvmlite import ir

from tcomp.backends.llvm.exprs import F32, I32, I64, PTR, from_memory, memory_type
from tcomp.backends.llvm.loops import counted_loop, i64, smin
from tcomp.ir.kernel.analysis import Contraction, Operand

PANEL_IN_L1 = 4096  # elements of a packed panel that one lane-by-lane pass may write
TILE_K = 16  # k per tile when a panel is packed lane by lane in tiles (one cache line)
WIDENED = frozenset({"bfloat16", "float16"})  # 16-bit operands of float32 accumulators
ELEMENT_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "float64": 8}


class PanelPacking:
    """Renders the copy of an operand's lanes into packed panels (see the module
    docstring)."""

    builder: ir.IRBuilder
    pointers: dict
    match: Contraction
    ty: ir.Type
    wide: str
    lanes: int

    def _read(self, operand: Operand, index: ir.Value) -> ir.Value:
        """Element ``index`` of ``operand`` as the accumulator type (widened exactly)."""
        pointer = self.pointers[operand.buffer][0]
        return read_widened(self.builder, pointer, index, operand.dtype, self.ty)

    def _pack(self, dest, operand: Operand, base, lane_var: str, first_lane, limit,
              lanes_padded, depth: int, width: int, name: str, taker=None) -> None:
        """``dest[(l // width) * depth * width + k * width + l % width] =
        operand[base + (first_lane + l) * s_lane + k * s_k]`` for lanes ``l < limit``
        (zero for ``limit <= l < lanes_padded``), ``k < depth``: each panel of ``width``
        lanes in turn, or those ``taker`` hands out."""
        panels = self.builder.sdiv(lanes_padded, i64(width))
        with (taker or counted_loop(self.builder, 0, panels, f"{name}.panel")) as panel:
            self._pack_panel(dest, operand, base, lane_var, first_lane, limit, depth, width,
                             name, panel)

    def _pack_panel(self, dest, operand: Operand, base, lane_var: str, first_lane, limit,
                    depth: int, width: int, name: str, panel: ir.Value) -> None:
        """Panel ``panel`` of :meth:`_pack`: lanes ``panel * width ..`` of it."""
        b = self.builder
        s_lane = operand.strides.get(lane_var, 0)
        s_k = operand.strides.get(self.match.k_loop.var.name, 0)
        zero = ir.Constant(self.ty, 0.0)
        # lanes inner: contiguous writes; k inner when that reads contiguously, in tiles of
        # TILE_K for a panel bigger than L1 (down a 32768-deep panel, 64 bytes a step, every
        # lane's pass went out to L2; across it, lanes 128 KiB apart met in one cache set)
        lane_inner = abs(s_lane) == 1 or abs(s_k) != 1
        tiled = not lane_inner and depth * width > PANEL_IN_L1
        panel_dest = b.gep(dest, [b.mul(panel, i64(depth * width))], source_etype=self.ty)
        first = b.mul(panel, i64(width))
        full = b.icmp_signed("<=", b.add(first, i64(width)), limit)
        source = b.add(base, b.mul(b.add(first_lane, first), i64(s_lane)))

        def element(k, c, guarded: bool):
            index = b.add(source, b.add(b.mul(k, i64(s_k)), b.mul(c, i64(s_lane))))
            target = b.gep(panel_dest, [b.add(b.mul(k, i64(width)), c)],
                           source_etype=self.ty)
            if guarded:
                valid = b.icmp_signed("<", b.add(first, c), limit)
                with b.if_else(valid) as (then, otherwise):
                    with then:
                        b.store(self._read(operand, index), target)
                    with otherwise:
                        b.store(zero, target)
            else:
                b.store(self._read(operand, index), target)

        def nest(guarded: bool, tag: str):
            if lane_inner:
                with counted_loop(b, 0, depth, f"{name}.{tag}k") as k:
                    with counted_loop(b, 0, width, f"{name}.{tag}c") as c:
                        element(k, c, guarded)
            elif tiled:
                with counted_loop(b, 0, depth, f"{name}.{tag}t", TILE_K) as tile:
                    end = smin(b, b.add(tile, i64(TILE_K)), i64(depth))
                    with counted_loop(b, 0, width, f"{name}.{tag}c") as c:
                        with counted_loop(b, tile, end, f"{name}.{tag}k") as k:
                            element(k, c, guarded)
            else:
                with counted_loop(b, 0, width, f"{name}.{tag}c") as c:
                    with counted_loop(b, 0, depth, f"{name}.{tag}k") as k:
                        element(k, c, guarded)

        transposing = (s_k == 1 and not lane_inner
                       and (operand.dtype == self.wide or operand.dtype in WIDENED))
        with b.if_else(full) as (then, otherwise):
            with then:
                if transposing:
                    self._pack_transposing(operand, panel_dest, source, s_lane, depth, width)
                else:
                    nest(False, "f")
            with otherwise:
                nest(True, "g")

    def _pack_transposing(self, operand: Operand, panel_dest, source, s_lane: int,
                          depth: int, width: int) -> None:
        """A whole panel of an operand contiguous in k whose lanes are rows apart (A as
        stored, or B transposed), by a call of the module's :func:`transposing_packer`
        for this dtype and width (one copy of its unrolled code serves every panel)."""
        packer = transposing_packer(self.builder.module, self.ty, operand.dtype, width,
                                    self.lanes)
        pointer = self.pointers[operand.buffer][0]
        self.builder.call(packer, [pointer, source, i64(s_lane), panel_dest, i64(depth)])


def transposing_packer(module: ir.Module, ty: ir.Type, dtype: str, width: int,
                       lanes: int) -> ir.Function:
    """``void pack(ptr src, i64 source, i64 stride, ptr dest, i64 depth)``: ``dest[k *
    width + l] = src[source + l * stride + k]`` for ``l < width``, ``k < depth``, as the
    accumulator type ``ty`` (``dtype`` the operand's). For each ``L`` values of k (``L``
    the vector lanes) each group of ``L`` lanes loads a vector per lane (16-bit floats
    widened exactly), transposes the ``L x L`` block in registers (:func:`transpose_block`)
    and stores a vector per k; the last ``depth % L`` values of k go one by one. Element
    by element, packing a transposed 1024x1024 B took a fifth as long as the 128-row
    matmul that read it. One function per module and (``ty``, ``dtype``, ``width``):
    unrolled into every pack site, it made a ResNet's LLVM IR 37% bigger."""
    suffix = "f32" if ty == F32 else "f64"
    name = f"tc.pack_t.{suffix}.{dtype}.w{width}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64, PTR, I64]),
                           name=name)
    function.linkage = "internal"
    function.attributes.add("nounwind")
    function.attributes.add("noinline")
    src, source, stride, dest, depth = function.args
    for pointer in (src, dest):
        pointer.add_attribute("noalias")
    b = ir.IRBuilder(function.append_basic_block("entry"))
    vector = ir.VectorType(ty, lanes)
    element_bytes = 4 if ty == F32 else 8
    zero = ir.Constant(vector, None)
    whole = b.and_(depth, i64(-lanes))  # lanes is a power of two
    with counted_loop(b, 0, whole, "vk", lanes) as k:
        for group in range(0, width, lanes):
            count = min(lanes, width - group)
            rows = []
            for lane in range(count):
                index = b.add(b.add(source, k), b.mul(stride, i64(group + lane)))
                rows.append(_load_lanes(b, src, index, dtype, ty, lanes))
            columns = transpose_block(b, rows + [zero] * (lanes - count))
            for step, column in enumerate(columns):
                if count < lanes:
                    column = b.shuffle_vector(
                        column, column, ir.Constant(ir.VectorType(I32, count),
                                                    list(range(count))))
                offset = b.add(b.mul(b.add(k, i64(step)), i64(width)), i64(group))
                target = b.gep(dest, [offset], source_etype=ty)
                b.store(column, target, align=element_bytes)
    with counted_loop(b, whole, depth, "tk") as k:
        with counted_loop(b, 0, width, "tc") as c:
            index = b.add(b.add(source, k), b.mul(c, stride))
            value = read_widened(b, src, index, dtype, ty)
            target = b.gep(dest, [b.add(b.mul(k, i64(width)), c)], source_etype=ty)
            b.store(value, target)
    b.ret_void()
    return function


def read_widened(b: ir.IRBuilder, pointer: ir.Value, index: ir.Value, dtype: str,
                 ty: ir.Type) -> ir.Value:
    """Element ``index`` of a buffer of ``dtype`` as a scalar of ``ty``: float16 widens
    with fpext; a bfloat16 register value is a float already."""
    address = b.gep(pointer, [index], inbounds=True, source_etype=memory_type(dtype))
    value = from_memory(b, b.load(address, typ=memory_type(dtype)), dtype)
    return b.fpext(value, ty) if value.type != ty else value


def _load_lanes(b: ir.IRBuilder, src: ir.Value, index: ir.Value, dtype: str, ty: ir.Type,
                lanes: int) -> ir.Value:
    """``lanes`` consecutive elements of ``dtype`` from ``src[index]`` on, as a vector of
    ``ty``: bfloat16 bits shifted into a float's upper half, float16 extended (both
    exact, as the one-element path does)."""
    stored = memory_type(dtype)
    address = b.gep(src, [index], inbounds=True, source_etype=stored)
    loaded = b.load(address, typ=ir.VectorType(stored, lanes), align=ELEMENT_BYTES[dtype])
    return widen_lanes(b, loaded, dtype, ty)


def widen_lanes(b: ir.IRBuilder, loaded: ir.Value, dtype: str, ty: ir.Type) -> ir.Value:
    """A vector loaded from a buffer of ``dtype`` as a vector of ``ty`` (float32 for a
    16-bit ``dtype``): bfloat16 bits shifted into a float's upper half, float16
    extended; both exact. A vector of ``ty`` already is returned as it is."""
    lanes = loaded.type.count
    if dtype == "bfloat16":
        wide = b.zext(loaded, ir.VectorType(I32, lanes))
        shift = ir.Constant(ir.VectorType(I32, lanes), [16] * lanes)
        return b.bitcast(b.shl(wide, shift), ir.VectorType(ty, lanes))
    if dtype == "float16":
        return b.fpext(loaded, ir.VectorType(ty, lanes))
    return loaded


def transpose_block(b: ir.IRBuilder, rows: list[ir.Value]) -> list[ir.Value]:
    """The columns of the square block whose rows are the ``L`` vectors ``rows`` (``L`` a
    power of two): ``log2(L)`` rounds of perfect shuffles, each row ``i`` of the next
    round interleaving rows ``i // 2`` and ``i // 2 + L / 2`` (low halves for even ``i``,
    high for odd), one two-source shuffle per row and round."""
    lanes = len(rows)
    half = lanes // 2
    low = ir.Constant(ir.VectorType(I32, lanes), [i // 2 + (i % 2) * lanes for i in range(lanes)])
    high = ir.Constant(ir.VectorType(I32, lanes),
                       [half + i // 2 + (i % 2) * lanes for i in range(lanes)])
    for _ in range(lanes.bit_length() - 1):
        rows = [b.shuffle_vector(rows[i // 2], rows[i // 2 + half], high if i % 2 else low)
                for i in range(lanes)]
    return rows
