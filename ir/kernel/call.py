"""``Call``: a kernel-IR expression with any number of operands, for the ops of ``CALL_OPS``.

The other expression nodes (``ir/kernel/expr.py``) have at most three operands;
an op of :data:`tcomp.ir.kernel.ops.CALL_OPS` takes the count that table gives it.
Today those are the two words of Threefry-2x32-20 (the ``threefry2x32`` primitive,
``ir/primitives/random_bits.py``)::

    threefry2x32_0(k0, k1, x0, x1)    # word 0; all four operands and the result int32

It prints and parses as a call (``threefry2x32_1(%p0[i0], 0:i32, 0:i32, i32(i0))``),
the verifier checks the operand count and types, the lowering's hoisting gives a
repeated call a ``let`` like any other computation, and each backend renders the
op as a call of one helper function per program (C: ``tc_threefry2x32_i32``, LLVM:
an internal, always-inlined ``tcomp.threefry2x32``), which the compilers inline, so
the two words of one block are computed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from tcomp.ir.kernel.expr_nodes import Expr, _cache_hash
from tcomp.ir.kernel.ops import CALL_OPS


@dataclass(frozen=True, eq=True)
class Call(Expr):
    """``op(*args)`` for an op of ``CALL_OPS``."""

    op: str
    args: tuple[Expr, ...]
    dtype: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _cache_hash(self, self.op, tuple(a._hash for a in self.args), self.dtype)

    def children(self) -> tuple[Expr, ...]:
        return self.args

    __hash__ = Expr.__hash__


def call_dtype(op: str) -> str:
    """The result type of ``op`` (every op of ``CALL_OPS`` gives ``int32``)."""
    if op not in CALL_OPS:
        raise KeyError(f"{op!r} is not a kernel-IR call op (known: {sorted(CALL_OPS)})")
    return "int32"


def call(op: str, args: Sequence[Expr]) -> Call:
    """``op(*args)``: a :class:`Call` with its result type."""
    return Call(op, tuple(args), call_dtype(op))


def threefry_op(word: int) -> str:
    """The kernel op of output word ``word`` (0 or 1) of Threefry-2x32-20."""
    return f"threefry2x32_{word}"


def threefry_word(op: str) -> int:
    """Which word of Threefry-2x32-20 the call op ``op`` gives."""
    return int(op.rsplit("_", 1)[1])
