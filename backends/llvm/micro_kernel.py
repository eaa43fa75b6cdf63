"""The register-blocked micro-kernel of the llvm backend's blocked contractions.

``MR x NR`` accumulators live in vector registers (``NR / L`` vectors per row, ``L``
the vector lanes) while the kernel runs down ``depth`` values of k: per k it loads
``NR / L`` vectors of B's panel, broadcasts each of the ``MR`` values of A's panel and
issues one fused multiply-add per accumulator vector. ``contraction.py`` calls it for
each register tile of a block; one copy per variant serves every kernel of a module.
"""

from __future__ import annotations

from llvmlite import ir

from tcomp.backends.llvm.contraction_packing import ELEMENT_BYTES, widen_lanes
from tcomp.backends.llvm.exprs import F32, I1, I32, I64, PTR, intrinsic, memory_type
from tcomp.backends.llvm.loops import i64, smin

ALIGN = 64  # bytes: packed panels and the C block start on a cache line


def micro_kernel(
    module: ir.Module, ty: ir.Type, mr: int, nr: int, lanes: int, direct_a: bool = False,
    direct_b: bool = False, b_dtype: str | None = None,
) -> ir.Function:
    """``void ukernel(ptr a, ptr b, ptr c, i64 depth, i64 ldc, i1 first)``:
    ``c[r, 0..nr) (+)= sum_p a[p, r] * b[p, 0..nr)`` for ``r < mr`` with ``a`` packed
    ``[p][mr]``, ``b`` packed ``[p][nr]`` and ``c`` rows ``ldc`` apart (all 64-byte aligned);
    ``first`` starts from zero instead of ``c``. ``direct_a``: two more arguments, ``i64
    lda, i64 valid``, and ``a`` is A itself, row ``r`` at ``a + min(r, valid - 1) * lda``
    (rows past ``valid`` repeat the last one: their results land in C rows nobody reads).
    ``direct_b``: one more argument after those, ``i64 ldb``, and ``b`` is B itself, row
    ``p`` at ``b + p * ldb`` (read unaligned), of ``b_dtype`` (a 16-bit float, widened as
    it is loaded: half the bytes of a float32 B) when given."""
    suffix = "f32" if ty == F32 else "f64"
    name = (f"tc.ukernel.{suffix}.{mr}x{nr}" + (".direct" if direct_a else "")
            + (".b_in_place" if direct_b else "") + (f".{b_dtype}" if b_dtype else ""))
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
        last = b.sub(valid, i64(1))
        a_rows = [b.gep(a, [b.mul(smin(b, i64(r), last), lda)], inbounds=True,
                        source_etype=ty) for r in range(mr)]
    zero_block = function.append_basic_block("zero")
    load_block = function.append_basic_block("load")
    start = function.append_basic_block("start")
    b.cbranch(first, zero_block, load_block)

    def c_address(builder, r, v):
        offset = builder.add(builder.mul(i64(r), ldc), i64(v * lanes))
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
    p.add_incoming(i64(0), start)
    accs = []
    for value in initial:
        phi = b.phi(vector)
        phi.add_incoming(value, start)
        accs.append(phi)
    b.cbranch(b.icmp_signed("<", p, depth), body, done)
    b.position_at_end(body)
    b_type = memory_type(b_dtype) if b_dtype else ty
    b_row = b.gep(bp, [b.mul(p, ldb if direct_b else i64(nr))], inbounds=True,
                  source_etype=b_type)
    # B's own rows: aligned to an element only; packed panels: to a cache line
    accumulator = "float32" if ty == F32 else "float64"
    b_align = ELEMENT_BYTES[b_dtype or accumulator] if direct_b else ALIGN
    b_vectors = []
    for v in range(per_row):
        address = b.gep(b_row, [i64(v * lanes)], inbounds=True, source_etype=b_type)
        loaded = b.load(address, typ=ir.VectorType(b_type, lanes), align=b_align)
        b_vectors.append(widen_lanes(b, loaded, b_dtype, ty) if b_dtype else loaded)
    if not direct_a:
        a_row = b.gep(a, [b.mul(p, i64(mr))], inbounds=True, source_etype=ty)
    mask = ir.Constant(ir.VectorType(I32, lanes), None)
    undefined = ir.Constant(vector, ir.Undefined)
    updated = []
    for r in range(mr):
        address = (b.gep(a_rows[r], [p], inbounds=True, source_etype=ty) if direct_a
                   else b.gep(a_row, [i64(r)], inbounds=True, source_etype=ty))
        scalar = b.load(address, typ=ty)
        splat = b.shuffle_vector(b.insert_element(undefined, scalar, ir.Constant(I32, 0)),
                                 undefined, mask)
        for v in range(per_row):
            updated.append(b.call(fma, [splat, b_vectors[v], accs[r * per_row + v]]))
    following = b.add(p, i64(1), flags=("nuw", "nsw"))
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
