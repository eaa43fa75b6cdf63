"""The scalar operations of the kernel IR, by name, grouped by the types they take.

:mod:`tcomp.ir.kernel.expr` builds expressions of them (and re-exports the sets it
always had), :mod:`tcomp.ir.kernel.verifier` checks their operand types with these
groups, and the renderers and the kernel interpreter give each its meaning:

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

# C99 <math.h> names; each takes and gives one float
MATH_OPS = frozenset(
    {"floor", "ceil", "trunc", "rint", "erf", "log1p", "expm1", "sinh", "cosh", "asinh"}
    | {"acosh", "atanh", "asin", "acos", "atan"}
)
FLOAT_UNARY_OPS = MATH_OPS | {"exp", "log", "sqrt", "tanh", "sin", "cos", "logistic", "isnan"}
BOOL_UNARY_OPS = frozenset({"not", "isnan"})  # the unary ops whose result is bool
UNARY_OPS = FLOAT_UNARY_OPS | {"neg", "abs", "sign", "not", "bitnot"}
ARITHMETIC_OPS = frozenset({"add", "sub", "mul", "div", "pow", "max", "min", "floordiv", "mod"})
COMPARISON_OPS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
LOGICAL_OPS = frozenset({"and", "or"})
SHIFT_OPS = frozenset({"shl", "shr"})  # int32 only
BITWISE_OPS = SHIFT_OPS | {"bitand", "bitor", "bitxor"}
BINARY_OPS = ARITHMETIC_OPS | COMPARISON_OPS | LOGICAL_OPS | BITWISE_OPS
REDUCE_OPS = frozenset({"add", "max", "min", "argmax"})
# n-ary ops (Call nodes): name -> operand count; int32 operands and result
CALL_OPS = MappingProxyType({"threefry2x32_0": 4, "threefry2x32_1": 4})
