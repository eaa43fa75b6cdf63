"""Blocked contractions: a matched matmul loop nest rendered as packed, register-blocked code.

``ir/kernel/analysis/contraction.py`` recognises the loop nest, and
``ir/kernel/lowering/contraction.py`` records the blocking in the kernel's schedule (``unroll={m: MR, n: NR}``,
``tile={m: MC, k: KC}``, ``vector={n: lanes}``); this module renders it.
The batch loops and everything the kernel does with the accumulator (bias,
relu, masks, casts, the store) are rendered by the generic statement
renderer; only the ``m`` loop is replaced. Before (kernel IR)::

    for i0 in 0..256 {
      for i1 in 0..512 {
        let acc0: f32 = 0.0:f32
        for r0 in 0..784 { acc0 = acc0 + (%x[(i0 * 784) + r0] * %w[(r0 * 512) + i1]) }
        %out[(i0 * 512) + i1] = acc0 + %b[i1]
      }
    }

After (the rendered function, as pseudo-code over this thread's rows lo..hi)::

    Bp = pack(w)          // NR-wide column panels, K deep, zero padded to Npad
    for ic in lo..hi step MC {
      Ap = pack(x rows ic..ic+MC)          // MR-tall row panels, zero padded
      for pc in 0..K step KC, jr in 0..Npad step NR, ir in 0..MC step MR {
        ukernel(Ap[ir, pc], Bp[jr, pc], C[ir, jr])   // MR x NR accumulators in vector
      }                                              // registers, one fma per vector
      for i0 in ic..ic+MC { for i1 in 0..512 {       // the kernel's own epilogue
        let acc0 = C[i0 - ic, i1]; %out[(i0 * 512) + i1] = acc0 + %b[i1] } }
    }

Scratch (Ap, C; Bp on one thread) comes from ``malloc`` per call and
thread (64-byte aligned by hand). When the ``m`` loop is split across
threads, the caller (``render.py``) gives them one ``SHARED_CONTEXT``: they
pack Bp's panels together into its scratch, wait for the last one, then
take MC-row blocks from a shared counter (dynamic scheduling: on a busy
machine the thread that runs faster does more blocks). Packing reads the
operands through their affine indices, so any strides (transposed
operands) cost only the packing.
"""

from __future__ import annotations

import dataclasses
import functools
from contextlib import contextmanager
from typing import Any, Iterator

from llvmlite import ir

from tcomp.backends.llvm.exprs import (
    F32,
    F64,
    I1,
    I8,
    I32,
    I64,
    PTR,
    from_memory,
    intrinsic,
    memory_type,
)
from tcomp.backends.llvm.loops import check_interrupt, counted_loop
from tcomp.backends.llvm.stmts import _BodyRenderer, render_kernel
from tcomp.backends.llvm.vecmath import VariantTable
from tcomp.ir.kernel.analysis import Contraction, Operand
from tcomp.ir.kernel.expr import INDEX, Binary, Load, Var
from tcomp.ir.kernel.kernel import Kernel, KernelArg, Let, Loop

# What the threads of a shared contraction see (set up by the caller, see render.py):
# buffers, next row block, row blocks done, next B panel, B panels packed, B scratch
# (64-byte aligned). ``_take`` counts done items in the field after its counter.
SHARED_CONTEXT = ir.LiteralStructType([PTR, I64, I64, I64, I64, PTR])
C_BUFFER = "tc.cbuf"
COUNTER = "tc.counter"
ROW_OFFSET = "tc.row"
ALIGN = 64
_WIDE = {"float32": F32, "float64": F64}
PANEL_IN_L1 = 4096  # elements of a packed panel that one lane-by-lane pass may write
TILE_K = 16  # k per tile when a panel is packed lane by lane in tiles (one cache line)


def render_contraction_kernel(
    module: ir.Module,
    kernel: Kernel,
    match: Contraction,
    name: str,
    aliased: frozenset[str] = frozenset(),
    split: bool = False,
    vector_functions: VariantTable | None = None,
    shared: bool = False,
) -> ir.Function:
    """Like :func:`~tcomp.backends.llvm.stmts.render_kernel`, with ``match.m_loop`` blocked.

    ``shared`` (the ``m`` loop is the parallel one): the function takes one more pointer,
    after the buffers: the ``SHARED_CONTEXT`` of the call, the same for all its threads.
    They pack B's panels together (taking panels from a counter) into the context's
    scratch and wait until all are packed; then each takes the next MC-row block from
    another counter until none is left (a thread slowed by other work does less),
    instead of its own ``start .. end`` chunk."""
    renderer = functools.partial(_ContractionRenderer, match=match, kernel=kernel)
    if shared:
        counter = KernelArg(COUNTER, INDEX, 1, "inout")
        kernel = dataclasses.replace(kernel, args=kernel.args + (counter,))
    return render_kernel(module, kernel, name, aliased, split, vector_functions, renderer)


def shared_scratch_bytes(kernel: Kernel, match: Contraction) -> int:
    """Bytes of the packed-B scratch a shared contraction's caller provides (plus alignment)."""
    nr = kernel.schedule.unroll[match.n_loop.var.name]
    if reads_b_in_place(match, nr):
        return ALIGN
    n_pad = -(-match.n_loop.extent // nr) * nr
    return match.k_loop.extent * n_pad * (4 if match.acc.dtype == "float32" else 8) + ALIGN


def reads_b_in_place(match: Contraction, nr: int) -> bool:
    """Whether the micro-kernel reads B's rows where they are instead of packed panels:
    rows contiguous in n, of the accumulator's dtype, and every panel whole (``N`` a
    multiple of ``NR``: a partial last panel would read past the row). A conv's im2col
    copy is such a B (``[K, P]``, ``P`` the image): packing it again cost about as much
    as the multiply-adds (16 per element for 16 output channels)."""
    b, n = match.b, match.n_loop.var.name
    return (b.dtype == match.acc.dtype and b.strides.get(n) == 1
            and match.n_loop.extent % nr == 0)


def _i64(value) -> ir.Value:
    return ir.Constant(I64, value) if isinstance(value, int) else value


def _round_up(b: ir.IRBuilder, value: ir.Value, multiple: int) -> ir.Value:
    added = b.add(value, _i64(multiple - 1))
    return b.mul(b.sdiv(added, _i64(multiple)), _i64(multiple))


def _smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


class _ContractionRenderer(_BodyRenderer):
    """The statement renderer with the contraction's ``m`` loop rendered blocked."""

    def __init__(self, *args, match: Contraction, kernel: Kernel, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.match = match
        schedule = kernel.schedule
        m, n, k = (loop.var.name for loop in (match.m_loop, match.n_loop, match.k_loop))
        self.mr, self.nr = schedule.unroll[m], schedule.unroll[n]
        self.mc, self.kc = schedule.tile[m], schedule.tile[k]
        self.lanes = schedule.vector.get(n, 16)
        assert self.nr % self.lanes == 0 and self.mc % self.mr == 0
        self.wide = match.acc.dtype
        self.ty = _WIDE[self.wide]

    def loop(self, loop: Loop, scope) -> None:
        if loop is not self.match.m_loop:
            super().loop(loop, scope)
            return
        if self.bounds is not None and loop.var.name == self.parallel:
            lo, hi = self.bounds
            shared = COUNTER in self.pointers
        else:
            lo, hi = ir.Constant(I64, 0), ir.Constant(I64, loop.extent)
            shared = False
        self._blocked(lo, hi, scope, shared)

    # -- helpers --------------------------------------------------------------

    def _malloc(self, elements: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(raw, aligned) pointers to room for ``elements`` accumulator values."""
        b = self.builder
        malloc = intrinsic(b.module, "malloc", PTR, [I64])
        size = b.add(b.mul(elements, _i64(4 if self.ty == F32 else 8)), _i64(ALIGN))
        raw = b.call(malloc, [size])
        address = b.ptrtoint(raw, I64)
        pad = b.sub(_i64(ALIGN), b.and_(address, _i64(ALIGN - 1)))
        return raw, b.gep(raw, [pad], inbounds=True, source_etype=I8)

    def _base(self, operand: Operand, scope) -> ir.Value:
        """The operand's index with m, n and k at 0 (its batch part)."""
        b = self.builder
        value: ir.Value = _i64(operand.offset)
        inner = {self.match.m_loop.var.name, self.match.n_loop.var.name,
                 self.match.k_loop.var.name}
        for name, stride in operand.strides.items():
            if name not in inner:
                value = b.add(value, b.mul(scope[name][0], _i64(stride)))
        return value

    def _read(self, operand: Operand, index: ir.Value) -> ir.Value:
        b = self.builder
        pointer = self.pointers[operand.buffer][0]
        address = b.gep(pointer, [index], inbounds=True, source_etype=memory_type(operand.dtype))
        value = from_memory(b, b.load(address, typ=memory_type(operand.dtype)), operand.dtype)
        # float16 widens with fpext; a bfloat16 register value is a float already
        return b.fpext(value, self.ty) if value.type != self.ty else value

    def _pack(self, dest, operand: Operand, base, lane_var: str, first_lane, limit,
              lanes_padded, depth: int, width: int, name: str, taker=None) -> None:
        """``dest[(l // width) * depth * width + k * width + l % width] =
        operand[base + (first_lane + l) * s_lane + k * s_k]`` for lanes ``l < limit``
        (zero for ``limit <= l < lanes_padded``), ``k < depth``."""
        b = self.builder
        s_lane = operand.strides.get(lane_var, 0)
        s_k = operand.strides.get(self.match.k_loop.var.name, 0)
        zero = ir.Constant(self.ty, 0.0)
        panels = b.sdiv(lanes_padded, _i64(width))
        # lanes inner: contiguous writes; k inner when that reads contiguously, in tiles of
        # TILE_K for a panel bigger than L1 (down a 32768-deep panel, 64 bytes a step, every
        # lane's pass went out to L2; across it, lanes 128 KiB apart met in one cache set)
        lane_inner = abs(s_lane) == 1 or abs(s_k) != 1
        tiled = not lane_inner and depth * width > PANEL_IN_L1
        with (taker or counted_loop(b, 0, panels, f"{name}.panel")) as panel:
            panel_dest = b.gep(dest, [b.mul(panel, _i64(depth * width))], source_etype=self.ty)
            first = b.mul(panel, _i64(width))
            full = b.icmp_signed("<=", b.add(first, _i64(width)), limit)
            source = b.add(base, b.mul(b.add(first_lane, first), _i64(s_lane)))

            def element(k, c, guarded: bool):
                index = b.add(source, b.add(b.mul(k, _i64(s_k)), b.mul(c, _i64(s_lane))))
                target = b.gep(panel_dest, [b.add(b.mul(k, _i64(width)), c)],
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
                        end = _smin(b, b.add(tile, _i64(TILE_K)), _i64(depth))
                        with counted_loop(b, 0, width, f"{name}.{tag}c") as c:
                            with counted_loop(b, tile, end, f"{name}.{tag}k") as k:
                                element(k, c, guarded)
                else:
                    with counted_loop(b, 0, width, f"{name}.{tag}c") as c:
                        with counted_loop(b, 0, depth, f"{name}.{tag}k") as k:
                            element(k, c, guarded)

            with b.if_else(full) as (then, otherwise):
                with then:
                    nest(False, "f")
                with otherwise:
                    nest(True, "g")

    # -- the blocked loop nest --------------------------------------------------

    def _blocked(self, lo: ir.Value, hi: ir.Value, scope, shared: bool) -> None:
        b = self.builder
        match = self.match
        size_n, size_k = match.n_loop.extent, match.k_loop.extent
        m, n = match.m_loop.var.name, match.n_loop.var.name
        mr, nr, mc, kc = self.mr, self.nr, self.mc, self.kc
        n_pad = -(-size_n // nr) * nr
        direct_a = self._reads_a_in_place(n_pad)
        direct_b = reads_b_in_place(match, nr)
        ldb = match.b.strides[match.k_loop.var.name] if direct_b else 0  # B's row stride
        a_raw, packed_a = self._malloc(_i64(0 if direct_a else mc * size_k))
        c_raw, c_block = self._malloc(_i64(mc * n_pad))
        b_base = self._base(match.b, scope)
        raws: tuple[Any, ...] = (c_raw, a_raw)  # malloc'd here, freed at the end
        if direct_b:  # the micro-kernel reads B's rows where they are: nothing to pack
            packed_b = self.pointers[match.b.buffer][0]
        elif shared:  # the threads pack B together, into the caller's scratch, then wait
            context = self.pointers[COUNTER][0]
            packed_b = b.load(self._field(context, 5), typ=PTR)
            panels = n_pad // nr
            taker = self._take(self._field(context, 3), panels, "packb.take")
            self._pack(packed_b, match.b, b_base, n, _i64(0), _i64(size_n), _i64(n_pad), size_k,
                       nr, "packb", taker)
            self._wait(self._field(context, 4), panels)
        else:
            b_raw, packed_b = self._malloc(_i64(size_k * n_pad))
            self._pack(packed_b, match.b, b_base, n, _i64(0), _i64(size_n), _i64(n_pad),
                       size_k, nr, "packb")
            raws = (c_raw, a_raw, b_raw)
        a_base = self._base(match.a, scope)
        ukernel = _micro_kernel(b.module, self.ty, mr, nr, self.lanes, direct_a, direct_b)
        if shared:
            count = -(-match.m_loop.extent // mc)
            blocks = self._take(self._field(self.pointers[COUNTER][0], 1), count, "ic.take",
                                interruptible=True)
        else:
            blocks = counted_loop(b, lo, hi, "ic", mc, interruptible=True)
        with blocks as ic:
            if shared:
                ic = b.mul(ic, _i64(mc), name="ic")
                hi = _i64(match.m_loop.extent)
            rows = _smin(b, _i64(mc), b.sub(hi, ic))
            rows_pad = _round_up(b, rows, mr)
            if not direct_a:
                self._pack(packed_a, match.a, a_base, m, ic, rows, rows_pad, size_k, mr, "packa")
            # polled per row block and per depth block, never while packing B (whose
            # threads wait for each other: leaving it early would leave them waiting)
            with counted_loop(b, 0, size_k, "pc", kc, interruptible=True) as pc:
                depth = _smin(b, _i64(kc), b.sub(_i64(size_k), pc))
                first = b.icmp_signed("==", pc, _i64(0))
                with counted_loop(b, 0, n_pad, "jr", nr) as jr:
                    if direct_b:  # row pc of B, from column jr on
                        start = b.add(b_base, b.add(b.mul(pc, _i64(ldb)), jr))
                        b_panel = b.gep(packed_b, [start], source_etype=self.ty)
                    else:
                        b_panel = b.gep(packed_b, [b.add(b.mul(jr, _i64(size_k)),
                                                         b.mul(pc, _i64(nr)))],
                                        source_etype=self.ty)
                    with counted_loop(b, 0, rows_pad, "ir", mr) as row:
                        c_tile = b.gep(c_block, [b.add(b.mul(row, _i64(n_pad)), jr)],
                                       source_etype=self.ty)
                        if direct_a:  # row ic + row of A, from column pc on
                            s_m = match.a.strides[m]
                            start = b.add(a_base, b.add(b.mul(b.add(ic, row), _i64(s_m)), pc))
                            a_panel = b.gep(self.pointers[match.a.buffer][0], [start],
                                            source_etype=self.ty)
                            extra = [_i64(s_m), b.sub(rows, row)]
                        else:
                            a_panel = b.gep(
                                packed_a, [b.add(b.mul(row, _i64(size_k)), b.mul(pc, _i64(mr)))],
                                source_etype=self.ty)
                            extra = []
                        if direct_b:
                            extra.append(_i64(ldb))
                        b.call(ukernel, [a_panel, b_panel, c_tile, depth, _i64(n_pad), first,
                                         *extra])
            self._epilogue(ic, rows, n_pad, c_block, scope)
        free = intrinsic(b.module, "free", ir.VoidType(), [PTR])
        for raw in raws:
            b.call(free, [raw])

    def _reads_a_in_place(self, n_pad: int) -> bool:
        """Whether the micro-kernel reads A where it is instead of from packed panels: when
        the output has at most two register tiles of columns (each A element then serves
        at most two micro-kernel calls, and packing it cost about as much as they do: a
        256x784 @ 784x32 matmul), and A's rows are contiguous in k, of the accumulator's
        dtype (no conversion while packing)."""
        a, k, m = self.match.a, self.match.k_loop.var.name, self.match.m_loop.var.name
        return (
            n_pad <= 2 * self.nr
            and a.dtype == self.wide
            and a.strides.get(k) == 1
            and a.strides.get(m, 0) >= self.match.k_loop.extent
        )

    def _field(self, context: ir.Value, number: int) -> ir.Value:
        zero = ir.Constant(I32, 0)
        return self.builder.gep(context, [zero, ir.Constant(I32, number)],
                                source_etype=SHARED_CONTEXT)

    @contextmanager
    def _take(self, counter: ir.Value, count: int, name: str,
              interruptible: bool = False) -> Iterator[ir.Value]:
        """``while (item = counter++) < count``: items taken from a counter the threads
        share; after each item, ``counter[1]`` (the next field) counts it done.
        ``interruptible``: each item first polls the interrupt flag (and leaves, its item
        not counted done: only items that nobody waits for may be interruptible)."""
        b = self.builder
        header = b.append_basic_block(f"{name}.header")
        body = b.append_basic_block(f"{name}.body")
        exit_block = b.append_basic_block(f"{name}.exit")
        b.branch(header)
        b.position_at_end(header)
        item = b.atomic_rmw("add", counter, _i64(1), "seq_cst")
        b.cbranch(b.icmp_signed("<", item, _i64(count)), body, exit_block)
        b.position_at_end(body)
        if interruptible:
            check_interrupt(b, exit_block)
        yield item
        done = b.gep(counter, [ir.Constant(I32, 1)], source_etype=I64)
        b.atomic_rmw("add", done, _i64(1), "seq_cst")
        b.branch(header)
        b.position_at_end(exit_block)

    def _wait(self, done: ir.Value, count: int) -> None:
        """Spins until ``*done == count`` (every thread's packed panels are written)."""
        b = self.builder
        header = b.append_basic_block("wait.header")
        exit_block = b.append_basic_block("wait.exit")
        b.branch(header)
        b.position_at_end(header)
        value = b.load_atomic(done, "seq_cst", 8, typ=I64)
        b.cbranch(b.icmp_signed("<", value, _i64(count)), header, exit_block)
        b.position_at_end(exit_block)

    def _epilogue(self, ic, rows, n_pad: int, c_block, scope) -> None:
        """The kernel's own statements after the contraction, for rows ``ic ..< ic + rows``,
        with ``acc`` read from the C block."""
        b = self.builder
        match = self.match
        acc_index = Binary("add", Var(ROW_OFFSET, INDEX), match.n_loop.var, INDEX)
        let = Let(match.acc, Load(C_BUFFER, acc_index, match.acc.dtype))
        n_loop = Loop(match.n_loop.var, match.n_before + (let,) + match.n_after)
        self.pointers[C_BUFFER] = (c_block, match.acc.dtype, 0)
        with counted_loop(b, 0, rows, "ep") as local:
            row = b.add(ic, local)
            inner = {**scope, match.m_loop.var.name: (row, False),
                     ROW_OFFSET: (b.mul(local, _i64(n_pad)), False)}
            self.block(match.m_prefix + (n_loop,), inner)


def _micro_kernel(
    module: ir.Module, ty: ir.Type, mr: int, nr: int, lanes: int, direct_a: bool = False,
    direct_b: bool = False,
) -> ir.Function:
    """``void ukernel(ptr a, ptr b, ptr c, i64 depth, i64 ldc, i1 first)``:
    ``c[r, 0..nr) (+)= sum_p a[p, r] * b[p, 0..nr)`` for ``r < mr`` with ``a`` packed
    ``[p][mr]``, ``b`` packed ``[p][nr]`` and ``c`` rows ``ldc`` apart (all 64-byte aligned);
    ``first`` starts from zero instead of ``c``. ``direct_a``: two more arguments, ``i64
    lda, i64 valid``, and ``a`` is A itself, row ``r`` at ``a + min(r, valid - 1) * lda``
    (rows past ``valid`` repeat the last one: their results land in C rows nobody reads).
    ``direct_b``: one more argument after those, ``i64 ldb``, and ``b`` is B itself, row
    ``p`` at ``b + p * ldb`` (read unaligned)."""
    suffix = "f32" if ty == F32 else "f64"
    name = (f"tc.ukernel.{suffix}.{mr}x{nr}" + (".direct" if direct_a else "")
            + (".b_in_place" if direct_b else ""))
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    vector = ir.VectorType(ty, lanes)
    per_row = nr // lanes
    fma = intrinsic(module, f"llvm.fma.v{lanes}{suffix}", vector, [vector] * 3)
    arguments = ([PTR, PTR, PTR, I64, I64, I1] + ([I64, I64] if direct_a else [])
                 + ([I64] if direct_b else []))
    function = ir.Function(module, ir.FunctionType(ir.VoidType(), arguments), name=name)
    function.linkage = "internal"
    function.attributes.add("nounwind")
    # One copy for every kernel of the module: inlined, each matmul kernel carried (and
    # LLVM optimised and compiled) its own copy of the biggest function of the program.
    function.attributes.add("noinline")
    a, bp, c, depth, ldc, first = function.args[:6]
    for arg in (a, bp, c):
        arg.add_attribute("noalias")
    b = ir.IRBuilder(function.append_basic_block("entry"))
    ldb = function.args[-1] if direct_b else None
    if direct_a:
        lda, valid = function.args[6:8]
        last = b.sub(valid, _i64(1))
        a_rows = [b.gep(a, [b.mul(_smin(b, _i64(r), last), lda)], inbounds=True,
                        source_etype=ty) for r in range(mr)]
    zero_block = function.append_basic_block("zero")
    load_block = function.append_basic_block("load")
    start = function.append_basic_block("start")
    b.cbranch(first, zero_block, load_block)

    def c_address(builder, r, v):
        offset = builder.add(builder.mul(_i64(r), ldc), _i64(v * lanes))
        return builder.gep(c, [offset], inbounds=True, source_etype=ty)

    b.position_at_end(load_block)
    loaded = [b.load(c_address(b, r, v), typ=vector, align=ALIGN)
              for r in range(mr) for v in range(per_row)]
    b.branch(start)
    b.position_at_end(zero_block)
    b.branch(start)
    b.position_at_end(start)
    zero = ir.Constant(vector, None)
    initial = []
    for value in loaded:
        phi = b.phi(vector)
        phi.add_incoming(value, load_block)
        phi.add_incoming(zero, zero_block)
        initial.append(phi)
    header = function.append_basic_block("p.header")
    body = function.append_basic_block("p.body")
    done = function.append_basic_block("p.exit")
    b.branch(header)
    b.position_at_end(header)
    p = b.phi(I64, name="p")
    p.add_incoming(_i64(0), start)
    accs = []
    for value in initial:
        phi = b.phi(vector)
        phi.add_incoming(value, start)
        accs.append(phi)
    b.cbranch(b.icmp_signed("<", p, depth), body, done)
    b.position_at_end(body)
    b_row = b.gep(bp, [b.mul(p, ldb if direct_b else _i64(nr))], inbounds=True,
                  source_etype=ty)
    b_align = (4 if ty == F32 else 8) if direct_b else ALIGN
    b_vectors = [
        b.load(b.gep(b_row, [_i64(v * lanes)], inbounds=True, source_etype=ty), typ=vector,
               align=b_align)
        for v in range(per_row)
    ]
    if not direct_a:
        a_row = b.gep(a, [b.mul(p, _i64(mr))], inbounds=True, source_etype=ty)
    mask = ir.Constant(ir.VectorType(I32, lanes), None)
    undefined = ir.Constant(vector, ir.Undefined)
    updated = []
    for r in range(mr):
        address = (b.gep(a_rows[r], [p], inbounds=True, source_etype=ty) if direct_a
                   else b.gep(a_row, [_i64(r)], inbounds=True, source_etype=ty))
        scalar = b.load(address, typ=ty)
        splat = b.shuffle_vector(b.insert_element(undefined, scalar, ir.Constant(I32, 0)),
                                 undefined, mask)
        for v in range(per_row):
            updated.append(b.call(fma, [splat, b_vectors[v], accs[r * per_row + v]]))
    following = b.add(p, _i64(1), flags=("nuw", "nsw"))
    p.add_incoming(following, body)
    for phi, value in zip(accs, updated):
        phi.add_incoming(value, body)
    b.branch(header)
    b.position_at_end(done)
    for r in range(mr):
        for v in range(per_row):
            b.store(accs[r * per_row + v], c_address(b, r, v), align=ALIGN)
    b.ret_void()
    return function
