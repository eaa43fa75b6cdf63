"""Recognising contractions (matmul-like loop nests) and scheduling them as blocked kernels.

A *contraction* is a kernel whose loop nest, below any batch loops, is::

    for i in 0..M {              // the "m" loop: row of the register tile
      let ... (pure lets)
      for j in 0..N {            // the "n" loop: vector lanes of the register tile
        let acc: f32 = 0.0:f32
        for r in 0..K {          // the contracted loop
          acc = acc + (A[affine(batch, i, r)] * B[affine(batch, j, r)])   // loads maybe cast
        }
        ... (lets and the store: the epilogue, any function of acc)
      }
    }

with the ``A`` index free of ``j`` and the ``B`` index free of ``i``. Any
strides are allowed, so transposed operands (``x.T @ g``, ``g @ w.T``)
match too. :func:`schedule_contractions` is the pass that records the
blocking as data in each matched kernel's :class:`Schedule` (nothing else
changes)::

    before:  schedule {parallel=i0, vector={i1: 16}}            // f32 256x784 @ 784x512
    after:   schedule {parallel=i0, vector={i1: 16}, unroll={i0: 12, i1: 32},
                       tile={i0: 36, r0: 196}}

``unroll[m] x unroll[n]`` is the register tile (MR rows by NR lanes, NR a
multiple of ``vector[n]``), ``tile[m]`` the rows packed per block (MC) and
``tile[r]`` the contracted block (KC, at most 256 floats, split evenly). Backends that know how to render a
packed, register-blocked micro-kernel (see ``backends/llvm/contraction.py``)
read these; the others ignore them and run the loop nest as written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tcomp.ir.kernel.expr import FLOAT_TYPES, HALF_TYPES, Binary, Cast, Const, Expr, Load, Var
from tcomp.ir.kernel.kernel import Assign, Kernel, Let, Loop, Program, Schedule, Stmt

FLOAT_ACCUMULATORS = ("float32", "float64")
VECTOR_LANES = {"float32": 16, "float64": 8}  # AVX-512: one zmm register
MIN_WORK = 32 * 32 * 32  # below this the plain loop nest is as good
# the blocking (measured on AVX-512, 2 cores): MR rows x NR_VECTORS vectors of accumulators,
# MC = MC_TILES * MR rows packed per block, KC deep contracted blocks
MR = 12
NR_VECTORS = 2
MC_TILES = 8
MIN_BLOCKS = 8
KC = {"float32": 256, "float64": 128}


@dataclass(frozen=True)
class Operand:
    """One factor of the product: ``buffer[offset + sum(strides[v] * v)]`` read as ``dtype``
    and widened to the accumulator type."""

    buffer: str
    dtype: str
    strides: dict[str, int]  # loop variable name -> coefficient
    offset: int


@dataclass(frozen=True)
class Contraction:
    """A matched contraction (see the module docstring).

    ``outer``: the loops enclosing ``m_loop`` (batch axes), outermost first;
    ``m_loop``/``n_loop``/``k_loop``: the three loops; ``acc``: the accumulator;
    ``a`` depends on m and k, ``b`` on n and k.
    """

    outer: tuple[Loop, ...]
    m_loop: Loop
    n_loop: Loop
    k_loop: Loop
    acc: Var
    a: Operand
    b: Operand
    m_prefix: tuple[Stmt, ...]  # statements of the m loop before the n loop
    n_before: tuple[Stmt, ...]  # statements of the n loop before ``let acc``
    n_after: tuple[Stmt, ...]  # statements after the k loop (the epilogue)

    @property
    def sizes(self) -> tuple[int, int, int]:
        return self.m_loop.extent, self.n_loop.extent, self.k_loop.extent


def affine_terms(expr: Expr) -> tuple[dict[str, int], int] | None:
    """``expr`` as ``(coefficients by loop variable, constant)``, or None when it is not
    an affine function of loop variables."""
    if isinstance(expr, Const) and expr.dtype == "index":
        return {}, int(expr.value)
    if isinstance(expr, Var) and expr.extent is not None:
        return {expr.name: 1}, 0
    if isinstance(expr, Binary) and expr.op in ("add", "sub"):
        a, b = affine_terms(expr.a), affine_terms(expr.b)
        if a is None or b is None:
            return None
        sign = 1 if expr.op == "add" else -1
        terms = dict(a[0])
        for name, k in b[0].items():
            terms[name] = terms.get(name, 0) + sign * k
        return {n: k for n, k in terms.items() if k}, a[1] + sign * b[1]
    if isinstance(expr, Binary) and expr.op == "mul":
        for x, y in ((expr.a, expr.b), (expr.b, expr.a)):
            if isinstance(y, Const) and y.dtype == "index":
                inner = affine_terms(x)
                if inner is None:
                    return None
                k = int(y.value)
                return {n: v * k for n, v in inner[0].items() if v * k}, inner[1] * k
    return None


def _operand(expr: Expr, wide: str) -> Operand | None:
    if isinstance(expr, Cast) and expr.dtype == wide:
        expr = expr.x
    if not isinstance(expr, Load) or expr.dtype not in FLOAT_TYPES:
        return None
    if expr.dtype != wide and not (expr.dtype in HALF_TYPES and wide == "float32"):
        return None
    affine = affine_terms(expr.index)
    if affine is None:
        return None
    return Operand(expr.buffer, expr.dtype, affine[0], affine[1])


def _reduction(stmts: tuple[Stmt, ...]) -> tuple[int, Var, Loop, Expr] | None:
    """The first ``let acc = 0; for r { acc = acc + x * y }`` pair in ``stmts``."""
    for at in range(len(stmts) - 1):
        let, loop = stmts[at], stmts[at + 1]
        if not (isinstance(let, Let) and isinstance(loop, Loop) and len(loop.body) == 1):
            continue
        acc = let.var
        if acc.dtype not in FLOAT_ACCUMULATORS or not (
            isinstance(let.value, Const) and let.value.value == 0
        ):
            continue
        (assign,) = loop.body
        if not (isinstance(assign, Assign) and assign.var == acc):
            continue
        value = assign.value
        if not (isinstance(value, Binary) and value.op == "add"):
            continue
        if value.a == acc:
            product = value.b
        elif value.b == acc:
            product = value.a
        else:
            continue
        if isinstance(product, Binary) and product.op == "mul":
            return at, acc, loop, product
    return None


def match_contraction(kernel: Kernel) -> Contraction | None:
    """The contraction of ``kernel`` (see the module docstring), or None."""
    outer: list[Loop] = []
    body = kernel.body
    while True:
        *prefix, last = body if body else (None,)
        if not isinstance(last, Loop) or not all(isinstance(s, Let) for s in prefix):
            return None
        inner = last.body
        if inner and isinstance(inner[-1], Loop) and all(isinstance(s, Let) for s in inner[:-1]):
            n_loop = inner[-1]
            found = _reduction(n_loop.body)
            if found is not None:
                m_loop = last
                break
        outer.append(last)
        body = last.body
    at, acc, k_loop, product = found
    m, n, k = m_loop.var.name, n_loop.var.name, k_loop.var.name
    x, y = _operand(product.a, acc.dtype), _operand(product.b, acc.dtype)
    if x is None or y is None:
        return None
    if n in x.strides or m in y.strides:
        x, y = y, x
    if n in x.strides or m in y.strides or m not in x.strides or n not in y.strides:
        return None
    allowed = {loop.var.name for loop in outer} | {m, n, k}
    if not (set(x.strides) | set(y.strides)) <= allowed:
        return None
    return Contraction(
        outer=tuple(outer), m_loop=m_loop, n_loop=n_loop, k_loop=k_loop, acc=acc, a=x, b=y,
        m_prefix=m_loop.body[:-1], n_before=n_loop.body[:at], n_after=n_loop.body[at + 2:],
    )


def contraction_schedule(kernel: Kernel, match: Contraction) -> Schedule:
    """The blocked schedule of a matched contraction: register tile MR x NR (NR two vectors),
    MC rows packed per block, KC-deep contracted blocks."""
    m, n, k = match.m_loop.var.name, match.n_loop.var.name, match.k_loop.var.name
    lanes = VECTOR_LANES[match.acc.dtype]
    # one vector of lanes when n fits in it (a 10-wide output would waste 22 of 32 lanes)
    mr, nr = MR, (lanes if match.n_loop.extent <= lanes else NR_VECTORS * lanes)
    blocks = -(-match.k_loop.extent // KC[match.acc.dtype])
    kc = -(-match.k_loop.extent // blocks)  # equal blocks: 784 -> 4 x 196, not 3 x 256 + 16
    # MC: at most MC_TILES register tiles, yet at least MIN_BLOCKS blocks of rows when m
    # allows (threads take blocks in turn: 256 rows in 3 blocks would idle one of 2 threads)
    rows = -(-match.m_loop.extent // MIN_BLOCKS)
    mc = max(2 * mr, min(MC_TILES * mr, -(-rows // mr) * mr))
    schedule = kernel.schedule
    return dataclasses.replace(
        schedule,
        vector={**schedule.vector, n: lanes},
        unroll={**schedule.unroll, m: mr, n: nr},
        tile={**schedule.tile, m: mc, k: kc},
    )


def blocked_contraction(kernel: Kernel) -> Contraction | None:
    """The contraction of ``kernel`` when its schedule asks for the blocked form."""
    schedule = kernel.schedule
    if not schedule.tile or any(arg.access == "inout" for arg in kernel.args):
        return None  # the blocked form reads operands after writing outputs
    match = match_contraction(kernel)
    if match is None:
        return None
    m, n, k = match.m_loop.var.name, match.n_loop.var.name, match.k_loop.var.name
    if m in schedule.tile and k in schedule.tile and m in schedule.unroll and n in schedule.unroll:
        return match
    return None


def schedule_contractions(program: Program) -> Program:
    """The pass: gives every large enough contraction kernel its blocked schedule."""
    for kernel in program.kernels:
        match = match_contraction(kernel)
        if match is None:
            continue
        size_m, size_n, size_k = match.sizes
        if size_m * size_n * size_k < MIN_WORK or size_n < 2 or size_k < 2:
            continue
        kernel.schedule = contraction_schedule(kernel, match)
    return program
