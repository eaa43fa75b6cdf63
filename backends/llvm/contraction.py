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
operands) cost only the packing (``contraction_packing.py``); the micro-kernel
is ``micro_kernel.py``'s.

With few row blocks (128 rows are 11 register tiles: 6 for one of two threads, 5
for the other), the shared items are row blocks by column chunks instead
(:func:`column_chunks`), and the threads pack all of A with B before any item.
"""

from __future__ import annotations

import dataclasses
import functools
from contextlib import contextmanager
from typing import Any, Iterator

from llvmlite import ir

from tcomp.backends.llvm.contraction_packing import ELEMENT_BYTES, WIDENED, PanelPacking
from tcomp.backends.llvm.exprs import (
    F32,
    F64,
    I8,
    I32,
    I64,
    PTR,
    intrinsic,
    memory_type,
)
from tcomp.backends.llvm.loops import check_interrupt, counted_loop, i64, round_up, smin
from tcomp.backends.llvm.micro_kernel import ALIGN, micro_kernel
from tcomp.backends.llvm.stmts import _BodyRenderer, render_kernel
from tcomp.backends.llvm.vecmath import VariantTable
from tcomp.ir.kernel.analysis import Contraction, Operand
from tcomp.ir.kernel.expr import INDEX, Binary, Load, Var
from tcomp.ir.kernel.kernel import Kernel, KernelArg, Let, Loop

# What the threads of a shared contraction see (set up by the caller, see render.py):
# buffers, next work item (row block, or row block and column chunk), items done, next
# pack item (B's panels, then A's row blocks when packed ahead), pack items done, the
# scratch they are packed into (64-byte aligned: B's panels, then A's blocks).
# ``_take`` counts done items in the field after its counter.
SHARED_CONTEXT = ir.LiteralStructType([PTR, I64, I64, I64, I64, PTR])
C_BUFFER = "tc.cbuf"
COUNTER = "tc.counter"
ROW_OFFSET = "tc.row"
_WIDE = {"float32": F32, "float64": F64}
BALANCED = 0.95  # share of the ideal per-thread row tiles that row blocks alone must reach
PACKED_A_LIMIT = 8 << 20  # bytes of A that the threads of a column-split item grid pack ahead


def render_contraction_kernel(
    module: ir.Module,
    kernel: Kernel,
    match: Contraction,
    name: str,
    aliased: frozenset[str] = frozenset(),
    split: bool = False,
    vector_functions: VariantTable | None = None,
    shared: bool = False,
    threads: int = 1,
) -> ir.Function:
    """Like :func:`~tcomp.backends.llvm.stmts.render_kernel`, with ``match.m_loop`` blocked.

    ``shared`` (the ``m`` loop is the parallel one): the function takes one more pointer,
    after the buffers: the ``SHARED_CONTEXT`` of the call, the same for all its threads.
    They pack B's panels together (taking panels from a counter) into the context's
    scratch and wait until all are packed; then each takes the next MC-row block from
    another counter until none is left (a thread slowed by other work does less),
    instead of its own ``start .. end`` chunk; ``threads`` (how many run it) decides
    whether those items are also cut into column chunks (:func:`column_chunks`)."""
    renderer = functools.partial(_ContractionRenderer, match=match, kernel=kernel,
                                 threads=threads)
    if shared:
        counter = KernelArg(COUNTER, INDEX, 1, "inout")
        kernel = dataclasses.replace(kernel, args=kernel.args + (counter,))
    return render_kernel(module, kernel, name, aliased, split, vector_functions, renderer)


@dataclasses.dataclass(frozen=True)
class SharedLayout:
    """What the threads of a shared contraction share: ``chunks`` column chunks per row
    block (:func:`column_chunks`), and the caller's scratch: ``b_elements`` of B's
    packed panels (0: read in place), then ``a_elements`` of A packed ahead (0: packed
    per item, or read in place)."""

    chunks: int
    b_elements: int
    a_elements: int

    def scratch_bytes(self, dtype: str) -> int:
        """The scratch's bytes for accumulators of ``dtype``, plus room to align it."""
        return (self.b_elements + self.a_elements) * ELEMENT_BYTES[dtype] + ALIGN


def shared_layout(kernel: Kernel, match: Contraction, threads: int) -> SharedLayout:
    """The :class:`SharedLayout` of ``kernel``'s contraction run by ``threads`` threads."""
    nr = kernel.schedule.unroll[match.n_loop.var.name]
    n_pad = -(-match.n_loop.extent // nr) * nr
    chunks = column_chunks(kernel, match, threads)
    b_elements = 0 if reads_b_in_place(match, nr) else match.k_loop.extent * n_pad
    a_ahead = chunks > 1 and not reads_a_in_place(kernel, match)
    return SharedLayout(chunks, b_elements, _packed_a_elements(kernel, match) if a_ahead else 0)


def shared_scratch_bytes(kernel: Kernel, match: Contraction, threads: int) -> int:
    """Bytes of the scratch a shared contraction's caller provides (plus alignment)."""
    return shared_layout(kernel, match, threads).scratch_bytes(match.acc.dtype)


def reads_a_in_place(kernel: Kernel, match: Contraction) -> bool:
    """Whether the micro-kernel reads A where it is instead of from packed panels: when
    the output has at most two register tiles of columns (each A element then serves
    at most two micro-kernel calls, and packing it cost about as much as they do: a
    256x784 @ 784x32 matmul), and A's rows are contiguous in k, of the accumulator's
    dtype (no conversion while packing)."""
    a, k, m = match.a, match.k_loop.var.name, match.m_loop.var.name
    nr = kernel.schedule.unroll[match.n_loop.var.name]
    n_pad = -(-match.n_loop.extent // nr) * nr
    return (
        n_pad <= 2 * nr
        and a.dtype == match.acc.dtype
        and a.strides.get(k) == 1
        and a.strides.get(m, 0) >= match.k_loop.extent
    )


def column_chunks(kernel: Kernel, match: Contraction, threads: int) -> int:
    """How many column chunks the work items of a shared contraction cut ``N`` into.

    One (the items are MC-row blocks) unless that leaves threads idle: 128 rows in
    24-row blocks of 12-row tiles are 11 tiles, so one of two threads computes 6 while
    the ideal is 5.5 (a 128x1024x1024 matmul ran 1.73x its one-thread speed, a 192-row
    one 1.95x). Then each row block is cut into ``threads`` column chunks (items: block
    by chunk, chunks inner), and A is packed by all threads before any item, so a
    block's chunks do not pack it again. Not when the m loop computes anything before
    its n loop but lets (an item would run it once per chunk), when there are fewer
    B panels than threads, or when packing all of A takes over ``PACKED_A_LIMIT`` bytes."""
    if threads < 2 or any(not isinstance(stmt, Let) for stmt in match.m_prefix):
        return 1
    schedule = kernel.schedule
    mr = schedule.unroll[match.m_loop.var.name]
    mc = schedule.tile[match.m_loop.var.name]
    nr = schedule.unroll[match.n_loop.var.name]
    if -(-match.n_loop.extent // nr) < threads:
        return 1
    if _packed_a_elements(kernel, match) * 8 > PACKED_A_LIMIT:
        return 1
    size_m = match.m_loop.extent
    tiles = -(-size_m // mr)
    blocks = -(-size_m // mc)
    busiest = -(-blocks // threads) * (mc // mr)  # the tiles of the thread with most blocks
    return 1 if tiles / threads >= BALANCED * busiest else threads


def _packed_a_elements(kernel: Kernel, match: Contraction) -> int:
    """Elements of every row block of A packed (the last one padded to a whole block)."""
    mc = kernel.schedule.tile[match.m_loop.var.name]
    return -(-match.m_loop.extent // mc) * mc * match.k_loop.extent


def reads_b_in_place(match: Contraction, nr: int) -> bool:
    """Whether the micro-kernel reads B's rows where they are instead of packed panels:
    rows contiguous in n, of the accumulator's dtype (or 16-bit floats, widened as the
    micro-kernel loads them), and every panel whole (``N`` a
    multiple of ``NR``: a partial last panel would read past the row). A conv's im2col
    copy is such a B (``[K, P]``, ``P`` the image): packing it again cost about as much
    as the multiply-adds (16 per element for 16 output channels)."""
    b, n = match.b, match.n_loop.var.name
    widened = b.dtype in WIDENED and match.acc.dtype == "float32"
    return ((b.dtype == match.acc.dtype or widened) and b.strides.get(n) == 1
            and match.n_loop.extent % nr == 0)


class _ContractionRenderer(PanelPacking, _BodyRenderer):
    """The statement renderer with the contraction's ``m`` loop rendered blocked."""

    def __init__(self, *args, match: Contraction, kernel: Kernel, threads: int,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.match = match
        self.kernel = kernel
        self.threads = threads
        self._columns: tuple[Loop, tuple[ir.Value, ir.Value]] | None = None
        schedule = kernel.schedule
        m, n, k = (loop.var.name for loop in (match.m_loop, match.n_loop, match.k_loop))
        self.mr, self.nr = schedule.unroll[m], schedule.unroll[n]
        self.mc, self.kc = schedule.tile[m], schedule.tile[k]
        self.lanes = schedule.vector.get(n, 16)
        assert self.nr % self.lanes == 0 and self.mc % self.mr == 0
        self.wide = match.acc.dtype
        self.ty = _WIDE[self.wide]

    def loop(self, loop: Loop, scope) -> None:
        if self._columns is not None and loop is self._columns[0]:
            self._column_range(loop, scope, *self._columns[1])
            return
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

    def _column_range(self, loop: Loop, scope, start: ir.Value, end: ir.Value) -> None:
        """The epilogue's n loop over one column chunk, ``start ..< end``."""
        self.loop_depth += 1
        self.counted_loop(
            loop.var.name, start, end,
            lambda index: self.block(loop.body, {**scope, loop.var.name: (index, False)}),
            interleave=self._interleave_for(loop),
        )
        self.loop_depth -= 1

    # -- helpers --------------------------------------------------------------

    def _malloc(self, elements: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(raw, aligned) pointers to room for ``elements`` accumulator values."""
        b = self.builder
        malloc = intrinsic(b.module, "malloc", PTR, [I64])
        size = b.add(b.mul(elements, i64(ELEMENT_BYTES[self.wide])), i64(ALIGN))
        raw = b.call(malloc, [size])
        address = b.ptrtoint(raw, I64)
        pad = b.sub(i64(ALIGN), b.and_(address, i64(ALIGN - 1)))
        return raw, b.gep(raw, [pad], inbounds=True, source_etype=I8)

    def _base(self, operand: Operand, scope) -> ir.Value:
        """The operand's index with m, n and k at 0 (its batch part)."""
        b = self.builder
        value: ir.Value = i64(operand.offset)
        inner = {self.match.m_loop.var.name, self.match.n_loop.var.name,
                 self.match.k_loop.var.name}
        for name, stride in operand.strides.items():
            if name not in inner:
                value = b.add(value, b.mul(scope[name][0], i64(stride)))
        return value

    # -- the blocked loop nest --------------------------------------------------

    def _blocked(self, lo: ir.Value, hi: ir.Value, scope, shared: bool) -> None:
        b = self.builder
        match = self.match
        size_m, size_n, size_k = match.m_loop.extent, match.n_loop.extent, match.k_loop.extent
        m, n = match.m_loop.var.name, match.n_loop.var.name
        mr, nr, mc, kc = self.mr, self.nr, self.mc, self.kc
        n_pad = -(-size_n // nr) * nr
        direct_a = reads_a_in_place(self.kernel, match)
        direct_b = reads_b_in_place(match, nr)
        layout = shared_layout(self.kernel, match, self.threads) if shared else None
        chunks = layout.chunks if layout else 1
        a_ahead = layout is not None and layout.a_elements > 0  # A packed before the items
        ldb = match.b.strides[match.k_loop.var.name] if direct_b else 0  # B's row stride
        a_raw, packed_a = self._malloc(i64(0 if direct_a or a_ahead else mc * size_k))
        c_raw, c_block = self._malloc(i64(mc * n_pad))
        a_base, b_base = self._base(match.a, scope), self._base(match.b, scope)
        raws: tuple[Any, ...] = (c_raw, a_raw)  # malloc'd here, freed at the end
        packed_b = self.pointers[match.b.buffer][0] if direct_b else None
        if layout is not None:  # the threads pack B and A ahead together, into the scratch
            scratch = b.load(self._field(self.pointers[COUNTER][0], 5), typ=PTR)
            if not direct_b:
                packed_b = scratch
            if a_ahead:  # after B's panels
                packed_a = b.gep(scratch, [i64(layout.b_elements)], source_etype=self.ty)
            self._pack_shared(layout.b_elements // (size_k * nr),
                              layout.a_elements // (mc * size_k), packed_b, packed_a, a_base,
                              b_base)
        elif not direct_b:
            b_raw, packed_b = self._malloc(i64(size_k * n_pad))
            self._pack(packed_b, match.b, b_base, n, i64(0), i64(size_n), i64(n_pad),
                       size_k, nr, "packb")
            raws = (c_raw, a_raw, b_raw)
        b_dtype = match.b.dtype if direct_b and match.b.dtype != self.wide else None
        ukernel = micro_kernel(b.module, self.ty, mr, nr, self.lanes, direct_a, direct_b,
                               b_dtype)
        if shared:
            count = -(-size_m // mc) * chunks
            items = self._take(self._field(self.pointers[COUNTER][0], 1), count, "ic.take",
                               interruptible=True)
        else:
            items = counted_loop(b, lo, hi, "ic", mc, interruptible=True)
        chunk_width = -(-n_pad // nr // chunks) * nr  # whole panels
        with items as item:
            if shared:  # item = row block * chunks + column chunk
                block = b.sdiv(item, i64(chunks)) if chunks > 1 else item
                ic = b.mul(block, i64(mc), name="ic")
                hi = i64(size_m)
            else:
                ic = item
            rows = smin(b, i64(mc), b.sub(hi, ic))
            rows_pad = round_up(b, rows, mr)
            if chunks > 1:
                j_lo = b.mul(b.srem(item, i64(chunks)), i64(chunk_width), name="jc")
                j_hi = smin(b, b.add(j_lo, i64(chunk_width)), i64(n_pad))
                columns = (j_lo, smin(b, j_hi, i64(size_n)))
            else:
                j_lo, j_hi, columns = i64(0), i64(n_pad), None
            a_block = packed_a
            if a_ahead:
                a_block = b.gep(packed_a, [b.mul(ic, i64(size_k))], source_etype=self.ty)
            elif not direct_a:
                self._pack_rows(packed_a, a_base, ic, rows, rows_pad)
            # polled per row block and per depth block, never while packing B (whose
            # threads wait for each other: leaving it early would leave them waiting)
            with counted_loop(b, 0, size_k, "pc", kc, interruptible=True) as pc:
                depth = smin(b, i64(kc), b.sub(i64(size_k), pc))
                first = b.icmp_signed("==", pc, i64(0))
                with counted_loop(b, j_lo, j_hi, "jr", nr) as jr:
                    if direct_b:  # row pc of B, from column jr on
                        start = b.add(b_base, b.add(b.mul(pc, i64(ldb)), jr))
                        b_panel = b.gep(packed_b, [start],
                                        source_etype=memory_type(match.b.dtype))
                    else:
                        b_panel = b.gep(packed_b, [b.add(b.mul(jr, i64(size_k)),
                                                         b.mul(pc, i64(nr)))],
                                        source_etype=self.ty)
                    with counted_loop(b, 0, rows_pad, "ir", mr) as row:
                        c_tile = b.gep(c_block, [b.add(b.mul(row, i64(n_pad)), jr)],
                                       source_etype=self.ty)
                        if direct_a:  # row ic + row of A, from column pc on
                            s_m = match.a.strides[m]
                            start = b.add(a_base, b.add(b.mul(b.add(ic, row), i64(s_m)), pc))
                            a_panel = b.gep(self.pointers[match.a.buffer][0], [start],
                                            source_etype=self.ty)
                            extra = [i64(s_m), b.sub(rows, row)]
                        else:
                            a_panel = b.gep(
                                a_block, [b.add(b.mul(row, i64(size_k)), b.mul(pc, i64(mr)))],
                                source_etype=self.ty)
                            extra = []
                        if direct_b:
                            extra.append(i64(ldb))
                        b.call(ukernel, [a_panel, b_panel, c_tile, depth, i64(n_pad), first,
                                         *extra])
            self._epilogue(ic, rows, n_pad, c_block, scope, columns)
        free = intrinsic(b.module, "free", ir.VoidType(), [PTR])
        for raw in raws:
            b.call(free, [raw])

    def _pack_shared(self, b_panels: int, a_blocks: int, packed_b, packed_a, a_base,
                     b_base) -> None:
        """The threads of a shared contraction pack B's ``b_panels`` panels, then A's first
        ``a_blocks`` row blocks (``MC`` rows each, block ``i`` at ``i * MC * K``), taking
        them from one counter, and wait until all are packed."""
        total = b_panels + a_blocks
        if total == 0:
            return
        b = self.builder
        match = self.match
        size_m, size_n, size_k = match.m_loop.extent, match.n_loop.extent, match.k_loop.extent
        context = self.pointers[COUNTER][0]

        def pack_b(panel: ir.Value) -> None:
            self._pack_panel(packed_b, match.b, b_base, match.n_loop.var.name, i64(0),
                             i64(size_n), size_k, self.nr, "packb", panel)

        def pack_a(block: ir.Value) -> None:
            ic = b.mul(block, i64(self.mc))
            rows = smin(b, i64(self.mc), b.sub(i64(size_m), ic))
            dest = b.gep(packed_a, [b.mul(ic, i64(size_k))], source_etype=self.ty)
            self._pack_rows(dest, a_base, ic, rows, round_up(b, rows, self.mr))

        with self._take(self._field(context, 3), total, "pack.take") as item:
            if a_blocks == 0:
                pack_b(item)
            elif b_panels == 0:
                pack_a(item)
            else:
                with b.if_else(b.icmp_signed("<", item, i64(b_panels))) as (then, otherwise):
                    with then:
                        pack_b(item)
                    with otherwise:
                        pack_a(b.sub(item, i64(b_panels)))
        self._wait(self._field(context, 4), total)

    def _pack_rows(self, dest, a_base, ic: ir.Value, rows: ir.Value,
                   rows_pad: ir.Value) -> None:
        """A's rows ``ic ..< ic + rows`` into ``dest`` as ``MR``-tall panels, zero rows up
        to ``rows_pad``."""
        match = self.match
        self._pack(dest, match.a, a_base, match.m_loop.var.name, ic, rows, rows_pad,
                   match.k_loop.extent, self.mr, "packa")

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
        item = b.atomic_rmw("add", counter, i64(1), "seq_cst")
        b.cbranch(b.icmp_signed("<", item, i64(count)), body, exit_block)
        b.position_at_end(body)
        if interruptible:
            check_interrupt(b, exit_block)
        yield item
        done = b.gep(counter, [ir.Constant(I32, 1)], source_etype=I64)
        b.atomic_rmw("add", done, i64(1), "seq_cst")
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
        b.cbranch(b.icmp_signed("<", value, i64(count)), header, exit_block)
        b.position_at_end(exit_block)

    def _epilogue(self, ic, rows, n_pad: int, c_block, scope, columns=None) -> None:
        """The kernel's own statements after the contraction, for rows ``ic ..< ic + rows``
        (and columns ``columns``, a ``(start, end)`` pair, when given), with ``acc`` read
        from the C block."""
        b = self.builder
        match = self.match
        acc_index = Binary("add", Var(ROW_OFFSET, INDEX), match.n_loop.var, INDEX)
        let = Let(match.acc, Load(C_BUFFER, acc_index, match.acc.dtype))
        n_loop = Loop(match.n_loop.var, match.n_before + (let,) + match.n_after)
        self.pointers[C_BUFFER] = (c_block, match.acc.dtype, 0)
        self._columns = None if columns is None else (n_loop, columns)
        with counted_loop(b, 0, rows, "ep") as local:
            row = b.add(ic, local)
            inner = {**scope, match.m_loop.var.name: (row, False),
                     ROW_OFFSET: (b.mul(local, i64(n_pad)), False)}
            self.block(match.m_prefix + (n_loop,), inner)
        self._columns = None
