"""Contractions over several loops (convolutions) as two copies and one matmul.

A convolution lowers to a loop nest that is a matrix product in disguise: the
output loops split into the out-channel loop (read by the weight) and the
batch and spatial loops (read by the input), and the reduction runs over
several loops (in-channel and window). No single loop is the contracted one,
so the blocked matmul renderer cannot take it, and it runs as a plain loop
nest. :func:`flatten_contractions` rewrites such a kernel into three:

1. a copy of the first factor into ``[M, K]`` (the weight: ``M`` its output
   loops flattened, ``K`` the reduction loops flattened),
2. a copy of the second factor into ``[B, K, P]`` (im2col: ``B`` the output
   loops before the ``M`` loops, ``P`` those after), keeping the original
   loops, so both copies index their buffers affinely,
3. a contraction with one ``m``, one ``n`` and one ``k`` loop (per ``B``) over
   the two copies, with the original epilogue (its loop variables as digits
   of ``m`` and ``n``), which ``schedule-contractions`` then blocks::

    for i0 in 0..32 { for i1 in 0..16 { for i2 in 0..10 { for i3 in 0..10 {
      let acc0 = 0; for r0 in 0..6 { for r1 in 0..5 { for r2 in 0..5 {
        acc0 = acc0 + (%x[i0*1176 + r0*196 + i2*14 + r1*14 + i3 + r2] * %w[i1*150 + r0*25 + r1*5 + r2])
      }}} %out[i0*1600 + i1*100 + i2*10 + i3] = acc0 }}}}
    ->
    %tflat0[16, 150] = w per (i1; r0, r1, r2)         // the factor without i0, i2, i3
    %tflat1[32, 150, 100] = x per (i0; r0, r1, r2; i2, i3)
    for i0 { for f0 in 0..16 { for f1 in 0..100 {
      let acc0 = 0; for f2 in 0..150 { acc0 = acc0 + %tflat1[..] * %tflat0[..] }
      %out[i0*1600 + f0*100 + f1] = acc0 }}}

Only kernels that are such a nest (output loops, then ``let acc = 0``, then
perfectly nested reduction loops around ``acc = acc + a * b``, then lets and
stores), that no matmul matcher already takes, whose output loops order as
``[B..., M..., P...]`` with ``M`` the loops of one factor and ``B``, ``P``
those of the other, with no ``inout`` arg, and with at least ``MIN_WORK``
multiply-adds per ``B`` are rewritten. The products and sums are the same,
in the same order per output element.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterator

from tcomp.ir.kernel.analysis.contraction import FLOAT_ACCUMULATORS, match_contraction
from tcomp.ir.kernel.expr import (
    INDEX,
    Binary,
    Const,
    Expr,
    Load,
    Var,
    add,
    const_index,
    flat_index,
    floordiv,
    free_vars,
    mod,
    mul,
)
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    Let,
    Loop,
    Program,
    ProgramBuffer,
    Schedule,
    Stmt,
    Store,
)
from tcomp.ir.kernel.lowering.builder import buffer_sizes, kernel_args
from tcomp.ir.kernel.lowering.contraction import MIN_WORK
from tcomp.ir.kernel.lowering.split_reduction import substitute
from tcomp.ir.types import TensorType

VECTOR_HINT = 16  # the builder's innermost-loop hint
# An im2col laid out [B, P, K] is the matmul's rows when the other side is this narrow
# (two register tiles of float32 columns on AVX-512, up to which the blocked kernel reads
# its rows in place) or the im2col is big (below). Otherwise the other side is the rows:
# as columns of a 512-channel weight gradient, each im2col row's results were stored
# across the output, 4608 floats apart.
NARROW_ROWS = 64
# The most elements of such an im2col that the matmul takes as its B instead (the wide
# side then its rows): B is packed whole and read again for each row block, so a big one
# streams from memory each time. 8x512x4x4 images, 512 3x3 filters: the weight gradient
# 5.9 ms with the im2col (590k elements) as B, 11.6 ms as rows; 32x128x16x16, 128
# filters (9.4M elements): 40.4 ms as B, 26.8 ms as rows.
SMALL_IM2COL = 1 << 20


@dataclass(frozen=True)
class _Nest:
    outputs: tuple[Loop, ...]
    acc: Var
    reductions: tuple[Loop, ...]
    factors: tuple[Expr, Expr]
    epilogue: tuple[Stmt, ...]


def flatten_contractions(program: Program) -> Program:
    """The pass (see the module docstring); kernels are renumbered."""
    names = (f"tflat{n}" for n in itertools.count())
    kernels: list[Kernel] = []
    for kernel in program.kernels:
        kernels.extend(_flattened(program, kernel, names) or [kernel])
    for number, kernel in enumerate(kernels):
        kernel.name = f"k{number}"
    program.kernels = kernels
    return program


def _nest(kernel: Kernel) -> _Nest | None:
    """The kernel as output loops, accumulator, reduction loops, factors, epilogue."""
    outputs: list[Loop] = []
    hoisted: list[Let] = []  # lets the lowering hoisted out of inner output loops
    body = kernel.body
    while _lets_then_loop(body) and not _starts_reduction(body):
        hoisted.extend(body[:-1])  # type: ignore[arg-type]
        outputs.append(body[-1])  # type: ignore[arg-type]
        body = body[-1].body  # type: ignore[union-attr]
    if not _starts_reduction(body):
        return None
    let, first = body[0], body[1]
    assert isinstance(let, Let) and isinstance(first, Loop)
    reductions: list[Loop] = [first]
    inlined: list[Let] = []  # lets hoisted out of inner reduction loops: into the factors
    while _lets_then_loop(reductions[-1].body):
        *lets, nested = reductions[-1].body
        assert isinstance(nested, Loop) and all(isinstance(s, Let) for s in lets)
        inlined.extend(s for s in lets if isinstance(s, Let))
        reductions.append(nested)
    inner = reductions[-1].body
    acc = let.var
    if len(inner) != 1 or not isinstance(inner[0], Assign) or inner[0].var != acc:
        return None
    value = inner[0].value
    if not (isinstance(value, Binary) and value.op == "add" and value.a == acc):
        return None
    product = value.b
    if not (isinstance(product, Binary) and product.op == "mul"):
        return None
    epilogue = (*hoisted, *body[2:])
    if not outputs or not all(isinstance(s, (Let, Store)) for s in epilogue):
        return None
    factors = (_inline(product.a, inlined), _inline(product.b, inlined))
    return _Nest(tuple(outputs), acc, tuple(reductions), factors, epilogue)


def _lets_then_loop(body: tuple[Stmt, ...]) -> bool:
    return bool(body) and isinstance(body[-1], Loop) and all(isinstance(s, Let) for s in body[:-1])


def _starts_reduction(body: tuple[Stmt, ...]) -> bool:
    """``let acc = 0`` (a float accumulator) then a loop."""
    if len(body) < 2 or not isinstance(body[0], Let) or not isinstance(body[1], Loop):
        return False
    let = body[0]
    return let.var.dtype in FLOAT_ACCUMULATORS and isinstance(let.value, Const) and let.value.value == 0


def _inline(expr: Expr, lets: list[Let]) -> Expr:
    """``expr`` with the local scalars of ``lets`` replaced by their values."""
    for let in reversed(lets):  # a later let may read an earlier one
        expr = substitute(expr, let.var, let.value, {})
    return expr


def _split(nest: _Nest) -> tuple[int, int, int] | None:
    """``(which factor is the M one, where M starts, where P starts)`` in the output
    loops, or None when they do not order as ``[B..., M..., P...]``."""
    loops = [loop.var for loop in nest.outputs]
    allowed = set(loops) | {loop.var for loop in nest.reductions}
    uses = [free_vars(factor) for factor in nest.factors]
    if any(not used <= allowed for used in uses):
        return None  # a factor reads a local scalar: not a plain product of two tensors
    for first in (0, 1):
        mine, theirs = set(uses[first]) & set(loops), set(uses[1 - first]) & set(loops)
        if mine & theirs or (mine | theirs) != set(loops) or not mine or not theirs:
            continue
        at = [loops.index(var) for var in mine]
        start, stop = min(at), max(at) + 1
        if stop - start == len(mine) and stop < len(loops):
            return first, start, stop
    return None


def _reduction_innermost(cols: list[Loop], reductions: list[Loop]) -> bool:
    """Whether the second factor's copy is laid out ``[B, P, K]`` (its loops ``B, P, K``,
    vectorised along the last reduction loop) rather than ``[B, K, P]``: when the last
    output loop is shorter than a vector and the last reduction loop is longer. A conv's
    weight gradient has the window offsets as ``P`` (a 3-wide last loop) and the batch and
    image as ``K`` (the image's rows innermost): along ``P`` its im2col copy ran in
    3-element vectors, along ``K`` it reads and writes whole rows."""
    return cols[-1].extent < VECTOR_HINT and reductions[-1].extent > cols[-1].extent


def _digits(flat: Var, loops: list[Loop]) -> dict[Var, Expr]:
    """Each loop variable as its row-major digit of ``flat``."""
    digits, stride = {}, math.prod(loop.extent for loop in loops)
    for loop in loops:
        stride //= loop.extent
        digits[loop.var] = mod(floordiv(flat, const_index(stride)), const_index(loop.extent))
    return digits


def _replace(stmt: Stmt, digits: dict[Var, Expr]) -> Stmt:
    """``stmt`` (an epilogue let or store) with the old loop variables as digits."""

    def sub(expr: Expr) -> Expr:
        for var, by in digits.items():
            expr = substitute(expr, var, by, {})
        return expr

    if isinstance(stmt, Let):
        return Let(stmt.var, sub(stmt.value))
    assert isinstance(stmt, Store)
    return Store(stmt.buffer, sub(stmt.index), sub(stmt.value))


def _nested(loops: list[Loop], body: tuple[Stmt, ...]) -> tuple[Stmt, ...]:
    for loop in reversed(loops):
        body = (Loop(loop.var, body),)
    return body


def _flattened(program: Program, kernel: Kernel, names: Iterator[str]) -> list[Kernel] | None:
    """The three kernels of a flattened contraction (see the module docstring), or None."""
    if any(arg.access == "inout" for arg in kernel.args) or match_contraction(kernel) is not None:
        return None
    nest = _nest(kernel)
    if nest is None:
        return None
    split = _split(nest)
    if split is None:
        return None
    first, start, stop = split
    outputs, reductions = list(nest.outputs), list(nest.reductions)
    batch, rows, cols = outputs[:start], outputs[start:stop], outputs[stop:]
    extent = {name: math.prod(loop.extent for loop in loops)
              for name, loops in (("B", batch), ("M", rows), ("P", cols), ("K", reductions))}
    if extent["M"] * extent["P"] * extent["K"] < MIN_WORK:
        return None
    row_factor, col_factor = nest.factors[first], nest.factors[1 - first]
    dtype_rows, dtype_cols = row_factor.dtype, col_factor.dtype
    rows_buffer, cols_buffer = next(names), next(names)
    program.buffers[rows_buffer] = ProgramBuffer(
        rows_buffer, TensorType((extent["M"] * extent["K"],), dtype_rows), "temp")
    program.buffers[cols_buffer] = ProgramBuffer(
        cols_buffer, TensorType((extent["B"] * extent["K"] * extent["P"],), dtype_cols), "temp")

    def flat(loops: list[Loop]) -> Expr:
        return flat_index([loop.var for loop in loops], tuple(loop.extent for loop in loops))

    k_flat = flat(reductions)
    copy_rows = _nested(rows + reductions, (Store(
        rows_buffer, add(mul(flat(rows), const_index(extent["K"])), k_flat), row_factor),))
    m, n, k = (Var(f"f{i}", INDEX, extent[key]) for i, key in enumerate("MPK"))
    b_flat = mul(flat(batch), const_index(extent["K"] * extent["P"]))
    k_inner = _reduction_innermost(cols, reductions)
    if k_inner:  # [B, P, K]: the copy runs along the reduction's innermost loop
        cols_index = add(b_flat, add(mul(flat(cols), const_index(extent["K"])), k_flat))
        copy_cols = _nested(batch + cols + reductions,
                            (Store(cols_buffer, cols_index, col_factor),))
        b_index = add(b_flat, add(mul(n, const_index(extent["K"])), k))
    else:  # [B, K, P]: the copy runs along the last output loop
        cols_index = add(b_flat, add(mul(k_flat, const_index(extent["P"])), flat(cols)))
        copy_cols = _nested(batch + reductions + cols,
                            (Store(cols_buffer, cols_index, col_factor),))
        b_index = add(b_flat, add(mul(k, const_index(extent["P"])), n))
    a = Load(rows_buffer, add(mul(m, const_index(extent["K"])), k), dtype_rows)
    b = Load(cols_buffer, b_index, dtype_cols)
    product = Binary("mul", a, b, nest.acc.dtype) if first == 0 else Binary("mul", b, a, nest.acc.dtype)
    digits = {**_digits(m, rows), **_digits(n, cols)}
    body = (Let(nest.acc, Const(0.0, nest.acc.dtype)),
            Loop(k, (Assign(nest.acc, Binary("add", nest.acc, product, nest.acc.dtype)),)),
            *(_replace(stmt, digits) for stmt in nest.epilogue))
    # [B, P, K]: the im2col rows are contiguous in k, so they are the matmul's rows
    # (outer loop), which the blocked kernel reads in place when the other side is
    # narrow, and packs a row block at a time otherwise; only a wide other side with a
    # small im2col stays the outer loop, so the output (a weight gradient [O, C, kh, kw],
    # O the other side) is stored along the inner loop, not across it
    cols_outer = k_inner and (extent["M"] <= NARROW_ROWS
                              or extent["P"] * extent["K"] > SMALL_IM2COL)
    outer_loop, inner_loop = (n, m) if cols_outer else (m, n)
    matmul_body = _nested(batch, (Loop(outer_loop, (Loop(inner_loop, body),)),))
    sizes = buffer_sizes(program.buffers)
    made = []
    for loops_body, vector in ((copy_rows, reductions[-1].var.name),
                               (copy_cols, (reductions if k_inner else cols)[-1].var.name),
                               (matmul_body, inner_loop.name)):
        outer = loops_body[0]
        assert isinstance(outer, Loop)
        made.append(Kernel(kernel.name, kernel_args(loops_body, sizes), loops_body,
                           Schedule(parallel=outer.var.name, vector={vector: VECTOR_HINT}),
                           kernel.origin, kernel.loops))
    return made

