"""The scalar operations of the kernel IR, by name, grouped by the types they take.

Each op is one entry of :data:`tcomp.ir.kernel.op_table.KERNEL_OPS` (its arity, operand
dtypes, result, 16-bit rounding, C / LLVM names and numpy meaning); the sets here are
derived from that table and kept for their many importers.

:mod:`tcomp.ir.kernel.expr` builds expressions of them (and re-exports the sets it
always had), :mod:`tcomp.ir.kernel.verifier` checks their operand types against the
table, and the renderers and the kernel interpreter give each its meaning:

- ``FLOAT_UNARY_OPS``: float operands only (16-bit floats computed in float32 and
  rounded). ``MATH_OPS`` among them are C's math-library functions of the same
  name (``rint`` rounds halves to even, as numpy's ``round``/``rint``);
  ``isnan`` gives ``bool``;
- no op takes the storage types ``int8``, ``uint8``, ``uint32`` (the lowering computes
  them in ``int32`` / ``int64``, :func:`tcomp.ir.types.compute_dtype`); where ``int32``
  is named below, ``int64`` works the same way at 64 bits;
- ``neg``, ``abs``, ``sign``: numbers; ``not``: ``bool`` (gives ``bool``);
  ``bitnot``: ``int32`` (``~x``) and ``bool`` (``not``);
- ``ARITHMETIC_OPS``: numbers (``div``, ``pow`` floats only);
  ``COMPARISON_OPS``: any type, give ``bool``; ``LOGICAL_OPS``: ``bool``;
- ``BITWISE_OPS``: ``bitand``, ``bitor``, ``bitxor`` on ``int32`` and ``bool``;
  ``shl``, ``shr`` on ``int32`` only, with numpy's result for every shift amount
  (C and LLVM leave shifts by >= 32 or < 0 undefined; tcomp does not)::

      shl(x, s) = x << s (wrapping)  if 0 <= s < 32  else 0
      shr(x, s) = x >> s (sign-filling) if 0 <= s < 32  else x >> 31  (-1 or 0)

- ``CALL_OPS``: the ops of ``Call`` nodes (:mod:`tcomp.ir.kernel.call`), by operand
  count: ``threefry2x32_0`` and ``threefry2x32_1`` take four ``int32`` (key words
  k0, k1, counter words x0, x1) and give word 0 or 1 of Threefry-2x32-20 as
  ``int32`` (the ``threefry2x32`` primitive, ``ir/primitives/random_bits.py``).
"""

from __future__ import annotations

from types import MappingProxyType

from tcomp.ir.kernel.op_table import FLOAT, KERNEL_OPS, KernelOpInfo, ops_where  # noqa: F401

# The groups below are derived from the table (tcomp.ir.kernel.op_table); add an op there.
# C99 <math.h> names; each takes and gives one float
MATH_OPS = ops_where(lambda op: op.category == "math")
FLOAT_UNARY_OPS = ops_where(lambda op: op.arity == 1 and op.operands == FLOAT)
BOOL_UNARY_OPS = ops_where(lambda op: op.arity == 1 and op.result == "bool")
UNARY_OPS = ops_where(lambda op: op.arity == 1)
ARITHMETIC_OPS = ops_where(lambda op: op.category == "arithmetic")
COMPARISON_OPS = ops_where(lambda op: op.category == "comparison")
LOGICAL_OPS = ops_where(lambda op: op.arity == 2 and op.category == "logical")
SHIFT_OPS = ops_where(lambda op: op.category == "shift")  # int32 and int64 only
BITWISE_OPS = ops_where(lambda op: op.arity == 2 and op.category in ("bitwise", "shift"))
BINARY_OPS = ops_where(lambda op: op.arity == 2)
REDUCE_OPS = frozenset({"add", "max", "min", "argmax"})
# n-ary ops (Call nodes): name -> operand count; int32 operands and result
CALL_OPS = MappingProxyType({"threefry2x32_0": 4, "threefry2x32_1": 4})
