"""Scalar expressions of the kernel IR, and the constructors that simplify them.

A kernel computes each element of its output with a scalar expression over
loop variables, loads and local scalars. Expressions are immutable, hashable
trees (equal trees are equal values, so a dict finds repeated work):

- ``Const(value, dtype)``, ``Var(name, dtype, extent)``: a loop variable has
  ``dtype="index"`` and runs over ``0 .. extent-1``; a local scalar has its
  element type and no extent;
- ``Load(buffer, index, dtype)``: element ``index`` of a flat, row-major buffer;
- ``Unary(op, x)``, ``Binary(op, a, b)``, ``Select(cond, a, b)``,
  ``Cast(x, dtype)``;
- ``Reduce(op, axes, body)``: a reduction over extra loop variables. It only
  appears while graph IR is being lowered; ``ir.kernel.lowering`` hoists each
  one into statements (a local accumulator and a loop), so kernels handed to
  renderers hold none.

``floordiv`` and ``mod`` are numpy's ``floor_divide`` and ``remainder``: on
``index`` they are Python's ``//`` and ``%``; on ``int32`` the same, with 0 for
a zero divisor and ``INT_MIN // -1`` wrapping; on floats numpy's ``npy_divmod``
algorithm (fmod, then corrected; see ``ir/primitives/elementwise.py``).

Scalar types are the graph IR's dtypes (``float32``, ``float64``, ``float16``, ``bfloat16``,
``int8``, ``uint8``, ``int32``, ``uint32``, ``int64``, ``bool``) plus ``index``, a signed
64-bit integer for loop variables and offsets. ``STORAGE_TYPES`` (int8, uint8, uint32):
constants, loads, stores, casts and selects only (the lowering computes them in
int32 / int64). Integer constants are wrapped into their type when built.

The node classes live in ``expr_nodes.py``; this module re-exports them. Build
expressions with the functions below (:func:`add`, :func:`mul`,
:func:`floordiv`, ...) rather than the classes: they fold constants and
apply identities, and for index arithmetic they know each loop variable's
range, so the div/mod chains that reshapes create vanish::

    i = Var("i0", INDEX, 4); j = Var("i1", INDEX, 3)
    flat = add(mul(i, const_index(3)), j)        # i0 * 3 + i1
    floordiv(flat, const_index(3))  -> i0        # because 0 <= i1 < 3
    mod(flat, const_index(3))       -> i1
    floordiv(flat, const_index(6))  -> i0 // 2   # (3*i0 + i1) // (3*2), 0 <= i1 < 3
"""

from __future__ import annotations

import math
from typing import Sequence

from tcomp.ir.kernel.expr_nodes import (  # noqa: F401 (re-exported)
    FLOAT_TYPES,
    HALF_TYPES,
    INDEX,
    INTEGER_TYPES,
    SCALAR_TYPES,
    STORAGE_TYPES,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Number,
    Reduce,
    Select,
    Unary,
    Var,
    free_vars,
    walk,
)
from tcomp.ir.kernel.folding import compare_ranges, floordiv_bound, fold_integer
from tcomp.ir.kernel.ops import (  # noqa: F401 (re-exported; the op names live there)
    BINARY_OPS,
    BOOL_UNARY_OPS,
    COMPARISON_OPS,
    LOGICAL_OPS,
    REDUCE_OPS,
    UNARY_OPS,
)
from tcomp.ir.types import int_bounds, wrap_int


def value_range(expr: Expr) -> tuple[float, float]:
    """Bounds (inclusive) that an integer expression's value is known to lie within."""
    if isinstance(expr, Const):
        return (expr.value, expr.value)
    if isinstance(expr, Var):
        if expr.extent is not None:
            return (0, expr.extent - 1)
        return (-math.inf, math.inf)
    if isinstance(expr, Binary) and expr.dtype in INTEGER_TYPES:
        lo_a, hi_a = value_range(expr.a)
        lo_b, hi_b = value_range(expr.b)
        if expr.op == "add":
            return (lo_a + lo_b, hi_a + hi_b)
        if expr.op == "sub":
            return (lo_a - hi_b, hi_a - lo_b)
        if expr.op == "mul" and isinstance(expr.b, Const):
            c = expr.b.value
            return (min(lo_a * c, hi_a * c), max(lo_a * c, hi_a * c))
        if expr.op == "floordiv" and isinstance(expr.b, Const) and expr.b.value > 0:
            c = expr.b.value
            return (floordiv_bound(lo_a, c), floordiv_bound(hi_a, c))
        if expr.op == "mod" and isinstance(expr.b, Const) and expr.b.value > 0 and lo_a >= 0:
            return (0, min(hi_a, expr.b.value - 1))
        if expr.op == "min":
            return (min(lo_a, lo_b), min(hi_a, hi_b))
        if expr.op == "max":
            return (max(lo_a, lo_b), max(hi_a, hi_b))
    if isinstance(expr, Select) and expr.dtype in INTEGER_TYPES:
        lo_a, hi_a = value_range(expr.a)
        lo_b, hi_b = value_range(expr.b)
        return (min(lo_a, lo_b), max(hi_a, hi_b))
    return (-math.inf, math.inf)


# ---------------------------------------------------------------------------
# Constructors that simplify


def const(value: Number, dtype: str) -> Const:
    """A constant of ``dtype`` (the value is converted to the type's Python kind; an
    integer is wrapped into its type, two's complement)."""
    if dtype == "bool":
        return Const(bool(value), dtype)
    if dtype == INDEX:
        return Const(int(value), dtype)
    if dtype in INTEGER_TYPES:
        return Const(wrap_int(int(value), dtype), dtype)
    return Const(float(value), dtype)


def const_index(value: int) -> Const:
    return Const(int(value), INDEX)


def _is_const(expr: Expr, value: Number | None = None) -> bool:
    return isinstance(expr, Const) and (value is None or expr.value == value)


def _linear_terms(expr: Expr) -> tuple[dict[Expr, int], int]:
    """Splits an index expression into ``sum(coefficient * atom) + constant``."""
    if isinstance(expr, Const):
        return {}, int(expr.value)
    if isinstance(expr, Binary) and expr.op in ("add", "sub"):
        terms_a, c_a = _linear_terms(expr.a)
        terms_b, c_b = _linear_terms(expr.b)
        sign = 1 if expr.op == "add" else -1
        terms = dict(terms_a)
        for atom, coefficient in terms_b.items():
            terms[atom] = terms.get(atom, 0) + sign * coefficient
        return {a: k for a, k in terms.items() if k != 0}, c_a + sign * c_b
    if isinstance(expr, Binary) and expr.op == "mul" and isinstance(expr.b, Const):
        terms, c = _linear_terms(expr.a)
        k = int(expr.b.value)
        return ({a: v * k for a, v in terms.items() if v * k != 0}, c * k)
    return {expr: 1}, 0


def _from_terms(terms: dict[Expr, int], constant: int) -> Expr:
    result: Expr | None = None
    for atom, coefficient in terms.items():
        term = atom if coefficient == 1 else Binary("mul", atom, const_index(coefficient), INDEX)
        result = term if result is None else Binary("add", result, term, INDEX)
    if result is None:
        return const_index(constant)
    if constant:
        result = Binary("add", result, const_index(constant), INDEX)
    return result


def _split_by_divisor(expr: Expr, divisor: int) -> tuple[Expr, Expr] | None:
    """``expr == divisor * quotient + rest`` with ``0 <= rest < divisor``, if the
    linear terms of ``expr`` split that way; else None."""
    terms, constant = _linear_terms(expr)
    multiples = {a: k // divisor for a, k in terms.items() if k % divisor == 0}
    rest_terms = {a: k for a, k in terms.items() if k % divisor != 0}
    quotient_constant, rest_constant = divmod(constant, divisor)
    rest = _from_terms(rest_terms, rest_constant)
    lo, hi = value_range(rest)
    if lo < 0 or hi >= divisor:
        return None
    return _from_terms(multiples, quotient_constant), rest


def _factor_divisor(op: str, expr: Expr, divisor: int) -> Expr | None:
    """``(f*q + r) // (f*d) -> q // d`` and ``(f*q + r) % (f*d) -> f*(q % d) + r`` for a
    factor ``f`` of ``divisor`` with ``0 <= r < f`` (floor semantics, any sign of ``q``):
    a reshape of a reshape reads ``(r0*128 + i0) // 8192`` for ``r0 // 64`` (``i0 < 128``)."""
    terms, constant = _linear_terms(expr)
    factors = sorted({math.gcd(divisor, k) for k in terms.values()}, reverse=True)
    for factor in factors:
        if factor <= 1 or factor == divisor:
            continue
        multiples = {a: k // factor for a, k in terms.items() if k % factor == 0}
        rest_terms = {a: k for a, k in terms.items() if k % factor != 0}
        quotient_constant, rest_constant = divmod(constant, factor)
        rest = _from_terms(rest_terms, rest_constant)
        lo, hi = value_range(rest)
        if lo < 0 or hi >= factor:
            continue
        quotient = _from_terms(multiples, quotient_constant)
        smaller = const_index(divisor // factor)
        if op == "floordiv":
            return binary("floordiv", quotient, smaller)
        return add(mul(binary("mod", quotient, smaller), const_index(factor)), rest)
    return None


def _peel_multiples(op: str, expr: Expr, divisor: int) -> Expr | None:
    """``(c*q + r) // c -> q + r // c`` and ``(c*q + r) % c -> r % c`` for any ``r``
    (floor semantics: adding a multiple of ``c`` moves the quotient by it and leaves the
    remainder), when ``expr`` has terms (or a constant) divisible by ``c`` to peel off.
    What a transposed copy of a reshaped operand reads: ``((i1*2048 + r0) // 32) % 64``
    becomes ``(i1*64 + r0 // 32) % 64``, then ``r0 // 32`` (``r0 < 2048``)."""
    terms, constant = _linear_terms(expr)
    multiples = {a: k // divisor for a, k in terms.items() if k % divisor == 0}
    quotient_constant, rest_constant = divmod(constant, divisor)
    if not multiples and quotient_constant == 0:
        return None
    rest_terms = {a: k for a, k in terms.items() if k % divisor != 0}
    rest = _from_terms(rest_terms, rest_constant)
    if op == "mod":
        return binary("mod", rest, const_index(divisor))
    quotient = _from_terms(multiples, quotient_constant)
    return add(quotient, binary("floordiv", rest, const_index(divisor)))


def _merge_div_mod(terms: dict[Expr, int], constant: int) -> tuple[dict[Expr, int], int]:
    """``(x // d) * (d*k) + (x % d) * k -> x * k`` among linear terms (floor semantics make
    it exact for any integer ``x``): what flattening an unflattened index leaves. Middle
    digits merge first: ``((x // a) % b) * (a*k) + (x % a) * k -> (x % (a*b)) * k``, so a
    flat index split into three digits, ``(x // 9) * 9 + ((x // 3) % 3) * 3 + x % 3`` (a
    conv weight gradient's store), comes back as ``x``."""
    while (digits := _nested_mod_pair(terms)) is not None:
        middle, remainder, merged, k = digits
        terms = {a: c for a, c in terms.items() if a not in (middle, remainder)}
        terms[merged] = terms.get(merged, 0) + k
    while (pair := _div_mod_pair(terms)) is not None:
        quotient, remainder, k = pair
        terms = {a: c for a, c in terms.items() if a not in (quotient, remainder)}
        inner, inner_constant = _linear_terms(quotient.a)
        for a, c in inner.items():
            terms[a] = terms.get(a, 0) + c * k
        terms = {a: c for a, c in terms.items() if c != 0}
        constant += inner_constant * k
    return terms, constant


def _nested_mod_pair(terms: dict[Expr, int]) -> tuple[Binary, Binary, Binary, int] | None:
    """A term ``((x // a) % b) * (a*k)`` and its ``(x % a) * k``: the two atoms, the
    merged atom ``x % (a*b)`` and ``k``."""
    for atom, k_middle in terms.items():
        if not (isinstance(atom, Binary) and atom.op == "mod" and isinstance(atom.b, Const)):
            continue
        inner = atom.a
        if not (isinstance(inner, Binary) and inner.op == "floordiv"
                and isinstance(inner.b, Const)):
            continue
        remainder = Binary("mod", inner.a, inner.b, INDEX)
        k = terms.get(remainder)
        if k is not None and k_middle == k * int(inner.b.value):
            span = const_index(int(inner.b.value) * int(atom.b.value))
            return atom, remainder, Binary("mod", inner.a, span, INDEX), k
    return None


def _div_mod_pair(terms: dict[Expr, int]) -> tuple[Binary, Binary, int] | None:
    """A term ``(x // d) * (d*k)`` and its ``(x % d) * k``: the two atoms and ``k``."""
    for atom, k_div in terms.items():
        if isinstance(atom, Binary) and atom.op == "floordiv" and isinstance(atom.b, Const):
            remainder = Binary("mod", atom.a, atom.b, INDEX)
            k_mod = terms.get(remainder)
            if k_mod is not None and k_div == k_mod * int(atom.b.value):
                return atom, remainder, k_mod
    return None


def binary(op: str, a: Expr, b: Expr) -> Expr:
    """``op(a, b)`` with constants folded and identities applied (see :func:`add` ...)."""
    dtype = "bool" if op in COMPARISON_OPS or op in LOGICAL_OPS else a.dtype
    if isinstance(a, Const) and isinstance(b, Const) and a.dtype in INTEGER_TYPES | {"bool"}:
        folded = fold_integer(op, a.value, b.value)
        if folded is not None:
            return const(folded, dtype)
    if a.dtype == INDEX:
        simplified = _simplify_index(op, a, b)
        if simplified is not None:
            return simplified
    if op == "add" and _is_const(b, 0) and a.dtype in INTEGER_TYPES:
        return a  # x + 0 -> x (integers only: -0.0 + 0.0 is 0.0)
    if op == "mul" and _is_const(b, 1):
        return a  # x * 1 -> x
    if op == "and":
        if _is_const(a, True):
            return b  # true and b -> b
        if _is_const(b, True):
            return a
    return Binary(op, a, b, dtype)


def _simplify_index(op: str, a: Expr, b: Expr) -> Expr | None:
    if op in ("add", "sub", "mul"):
        if op == "mul" and not isinstance(b, Const):
            if isinstance(a, Const):
                a, b = b, a
            else:
                return None
        terms, constant = _linear_terms(Binary(op, a, b, INDEX))
        return _from_terms(*_merge_div_mod(terms, constant))
    if op in ("floordiv", "mod") and isinstance(b, Const) and b.value > 0:
        divisor = int(b.value)
        if divisor == 1:
            return a if op == "floordiv" else const_index(0)  # x // 1 -> x, x % 1 -> 0
        split = _split_by_divisor(a, divisor)
        if split is not None:
            # (c*q + r) // c -> q and (c*q + r) % c -> r when 0 <= r < c
            return split[0] if op == "floordiv" else split[1]
        factored = _factor_divisor(op, a, divisor)
        if factored is not None:
            return factored
        peeled = _peel_multiples(op, a, divisor)
        if peeled is not None:
            return peeled
        inner = a
        if op == "floordiv" and isinstance(inner, Binary) and inner.op == "floordiv":
            if isinstance(inner.b, Const):
                # (x // c) // d -> x // (c * d)
                return binary("floordiv", inner.a, const_index(int(inner.b.value) * divisor))
    if op in ("min", "max"):
        lo_a, hi_a = value_range(a)
        lo_b, hi_b = value_range(b)
        if op == "min":
            if hi_a <= lo_b:
                return a  # min(a, b) -> a when a <= b always
            if hi_b <= lo_a:
                return b
        else:
            if lo_a >= hi_b:
                return a  # max(a, b) -> a when a >= b always
            if lo_b >= hi_a:
                return b
    if op in COMPARISON_OPS:
        lo_a, hi_a = value_range(a)
        lo_b, hi_b = value_range(b)
        known = compare_ranges(op, lo_a, hi_a, lo_b, hi_b)
        if known is not None:
            return const(known, "bool")
    return None


def add(a: Expr, b: Expr) -> Expr:
    return binary("add", a, b)


def sub(a: Expr, b: Expr) -> Expr:
    return binary("sub", a, b)


def mul(a: Expr, b: Expr) -> Expr:
    return binary("mul", a, b)


def floordiv(a: Expr, b: Expr) -> Expr:
    return binary("floordiv", a, b)


def mod(a: Expr, b: Expr) -> Expr:
    return binary("mod", a, b)


def minimum(a: Expr, b: Expr) -> Expr:
    return binary("min", a, b)


def maximum(a: Expr, b: Expr) -> Expr:
    return binary("max", a, b)


def unary(op: str, x: Expr) -> Expr:
    """``op(x)``; ``not`` and ``isnan`` give bool, the others keep ``x``'s type."""
    if op == "not" and isinstance(x, Const):
        return const(not x.value, "bool")
    dtype = "bool" if op in BOOL_UNARY_OPS else x.dtype
    return Unary(op, x, dtype)


def select(cond: Expr, a: Expr, b: Expr) -> Expr:
    """``a`` where ``cond`` else ``b``; a constant condition picks its side."""
    if isinstance(cond, Const):
        return a if cond.value else b
    if a == b:
        return a
    return Select(cond, a, b, a.dtype)


def cast(x: Expr, dtype: str) -> Expr:
    """``x`` converted to ``dtype`` (C semantics: floats truncate toward zero)."""
    if x.dtype == dtype:
        return x
    if isinstance(x, Const) and x.dtype in INTEGER_TYPES | {"bool"}:
        return const(x.value, dtype)
    if isinstance(x, Cast) and x.x.dtype == dtype and _widens(dtype, x.dtype):
        return x.x  # narrow(wide(x)) -> x when the wide integer type holds every narrow value
    return Cast(x, dtype)


def _widens(narrow: str, wide: str) -> bool:
    """Whether the integer type ``wide`` holds every value of the integer type ``narrow``."""
    if narrow not in INTEGER_TYPES or wide not in INTEGER_TYPES:
        return False
    low, high = int_bounds("int64" if narrow == INDEX else narrow)
    wide_low, wide_high = int_bounds("int64" if wide == INDEX else wide)
    return wide_low <= low and high <= wide_high


def clamp_index(x: Expr, extent: int) -> Expr:
    """``x`` clamped into ``0 .. extent-1`` (for gathers and padded reads)."""
    return minimum(maximum(x, const_index(0)), const_index(extent - 1))


def flat_index(indices: Sequence[Expr], shape: tuple[int, ...]) -> Expr:
    """The row-major offset of ``indices`` in a buffer of ``shape``."""
    offset: Expr = const_index(0)
    for index, extent in zip(indices, shape):
        offset = add(mul(offset, const_index(extent)), index)
    return offset


def unflatten_index(offset: Expr, shape: tuple[int, ...]) -> list[Expr]:
    """The row-major indices of ``offset`` in ``shape`` (the inverse of :func:`flat_index`)."""
    indices: list[Expr] = []
    stride = math.prod(shape)
    for extent in shape:
        stride //= extent if extent else 1
        position = floordiv(offset, const_index(stride)) if stride else const_index(0)
        indices.append(mod(position, const_index(extent)) if extent else const_index(0))
    return indices
