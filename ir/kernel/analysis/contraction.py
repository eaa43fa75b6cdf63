"""Recognising contractions: matmul-like loop nests in kernel IR.

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
match too. :func:`match_contraction` finds that shape;
:func:`blocked_contraction` finds it only in a kernel whose schedule asks for
the blocked form (``tile`` on the m and contracted loops, ``unroll`` on m
and n), which the lowering's ``schedule_contractions`` pass records and the
renderers of packed, register-blocked kernels (``backends/llvm/contraction.py``,
``backends/cfamily/contraction.py``, ``backends/cfamily/tensor_core.py``) read.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcomp.ir.kernel.analysis.affine import affine_terms
from tcomp.ir.kernel.expr import FLOAT_TYPES, HALF_TYPES, Binary, Cast, Const, Expr, Load, Var
from tcomp.ir.kernel.kernel import Assign, Kernel, Let, Loop, Stmt

FLOAT_ACCUMULATORS = ("float32", "float64")


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
        """The extents ``(M, N, K)`` of the m, n and contracted loops."""
        return self.m_loop.extent, self.n_loop.extent, self.k_loop.extent


def _operand(expr: Expr, wide: str) -> Operand | None:
    """``expr`` as a factor read as a float and widened to ``wide`` (a load, maybe cast,
    at an affine index), or None."""
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


def _reduction(stmts: tuple[Stmt, ...]) -> tuple[int, Var, Loop, Binary] | None:
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


MIN_WORK = 32 * 32 * 32  # multiply-adds below which the plain loop nest is as good


def worth_blocking(kernel: Kernel) -> Contraction | None:
    """The contraction of ``kernel`` when a blocked (CPU) or tiled (GPU) form pays: at
    least ``MIN_WORK`` multiply-adds and an output and a contracted axis of 2 or more.
    The CPU's ``schedule-contractions`` pass and the GPU's ``map-gpu`` ask the same
    question (the renderers also refuse kernels with an ``inout`` arg: the blocked
    forms read operands after writing outputs)."""
    match = match_contraction(kernel)
    if match is None:
        return None
    size_m, size_n, size_k = match.sizes
    if size_m * size_n * size_k < MIN_WORK or size_n < 2 or size_k < 2:
        return None
    return match


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
