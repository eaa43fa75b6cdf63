"""The LLVM IR of each kernel-IR scalar op: ``UNARY_CODE`` and ``BINARY_CODE``, by op name.

:class:`tcomp.backends.llvm.exprs.ExprRenderer` looks every ``Unary`` and ``Binary`` op up
here; the keys are exactly those of :data:`tcomp.ir.kernel.op_table.KERNEL_OPS` (a test
keeps them so). Most entries are built by :func:`_by_kind` from a float case and an
integer case: the float case gets float or double values (float16 and bfloat16 are
widened and rounded back around it by ``ExprRenderer._in_float``), the integer case
``i1`` (bool), ``i32`` or ``i64`` values. The libm and intrinsic names come from the
table (``llvm_intrinsic``; math functions without one call libm through
:mod:`tcomp.backends.llvm.scalar_ops`). The semantics are those of the module docstring
of :mod:`tcomp.backends.llvm.exprs` (numpy's, NaN and overflow included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from llvmlite import ir

from tcomp.backends.llvm.inline_math import exp_f32, tanh_f32
from tcomp.backends.llvm.int_power import int_power
from tcomp.backends.llvm.scalar_ops import bitwise, bitwise_not, math_function
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.kernel.op_table import KERNEL_OPS

if TYPE_CHECKING:
    from tcomp.backends.llvm.exprs import ExprRenderer

I1 = ir.IntType(1)
F32 = ir.FloatType()
FLOATS = ("float16", "bfloat16", "float32", "float64")
_FLOAT_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}

# (renderer, op, operand, dtype) -> value; dtype the operand's (float cases: float32 or
# float64, the type they compute in)
UnaryCode = Callable[["ExprRenderer", str, ir.Value, str], ir.Value]
# (renderer, op, a, c, dtype, fast-math flags for float add / mul) -> value
BinaryCode = Callable[["ExprRenderer", str, ir.Value, ir.Value, str, tuple[str, ...]], ir.Value]
FloatBinary = Callable[["ExprRenderer", str, ir.Value, ir.Value, tuple[str, ...]], ir.Value]


def unsupported(what: str) -> TcompBackendError:
    """An op/type pair the kernel-IR verifier rejects and lowering never emits."""
    return TcompBackendError(f"llvm backend: no rendering for {what} (a tcomp bug: please report)")


# -- unary ------------------------------------------------------------------


def _by_kind(float_code: UnaryCode | None, int_code: UnaryCode | None) -> UnaryCode:
    """The op on floats (through ``_in_float``) by ``float_code``, on bool and integers by
    ``int_code``; ``None``: the op does not take that kind."""

    def code(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
        if dtype in FLOATS:
            if float_code is None:
                raise unsupported(f"unary {op} on {dtype}")
            return r._in_float(dtype, [x], lambda v, t: float_code(r, op, v[0], t))
        if int_code is None:
            raise unsupported(f"unary {op} on {dtype}")
        return int_code(r, op, x, dtype)

    return code


def _intrinsic_unary(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    """``llvm.<name>`` of the table (``fabs`` for ``abs``, ``log``, ``sqrt`` ...)."""
    name = KERNEL_OPS[op].llvm_intrinsic
    assert name is not None, op
    return r._call(name, x.type, [x])


def _math(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    """A C math function: an intrinsic or a libm call (:mod:`~.scalar_ops`)."""
    return math_function(r.builder, r._call, r.vector_functions, op, x)


def exp(r: ExprRenderer, x: ir.Value) -> ir.Value:
    """exp: inline IR for float (:mod:`tcomp.backends.llvm.inline_math`), libm for double."""
    ty = x.type
    if ty != F32:
        return r._call("exp", ty, [x])
    return exp_f32(
        r.builder,
        lambda p, q, s: r._call("fma", ty, [p, q, s]),
        lambda p, q: r._call("minnum", ty, [p, q]),
        lambda p, q: r._call("maxnum", ty, [p, q]),
        x,
    )


def _tanh(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    """tanh: inline IR for float, the intrinsic for double."""
    ty = x.type
    if ty != F32:
        return _intrinsic_unary(r, op, x, dtype)
    return tanh_f32(
        r.builder,
        lambda p, q, s: r._call("fma", ty, [p, q, s]),
        lambda p, q: r._call("minnum", ty, [p, q]),
        lambda p: r._call("fabs", ty, [p]),
        lambda p, q: r._call("copysign", ty, [p, q]),
        x,
    )


def _float_sign(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    # x > 0 ? 1 : x < 0 ? -1 : x == 0 ? 0 : x  (NaN stays NaN, -0.0 -> 0.0)
    b, ty = r.builder, x.type
    one, zero = ir.Constant(ty, 1.0), ir.Constant(ty, 0.0)
    inner = b.select(b.fcmp_ordered("==", x, zero), zero, x)
    inner = b.select(b.fcmp_ordered("<", x, zero), ir.Constant(ty, -1.0), inner)
    return b.select(b.fcmp_ordered(">", x, zero), one, inner)


def _logistic(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    # z = exp(-|x|); x >= 0 ? 1 / (1 + z) : z / (1 + z), each step rounded to dtype
    b, ty = r.builder, x.type
    one = ir.Constant(ty, 1.0)
    z = exp(r, b.fneg(r._call("fabs", ty, [x])))
    positive = b.fcmp_ordered(">=", x, ir.Constant(ty, 0.0))
    return b.fdiv(b.select(positive, one, z), b.fadd(one, z))


def _int_neg(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    if dtype == "bool":
        raise unsupported(f"{op} on bool (convert first)")
    return r.builder.sub(ir.Constant(x.type, 0), x)  # wraps, as numpy


def _int_abs(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    if dtype == "bool":
        return x
    b, zero = r.builder, ir.Constant(x.type, 0)
    return b.select(b.icmp_signed("<", x, zero), b.sub(zero, x), x)


def _int_sign(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    if dtype == "bool":
        raise unsupported(f"{op} on bool (convert first)")
    b, ty = r.builder, x.type
    zero = ir.Constant(ty, 0)
    positive = b.zext(b.icmp_signed(">", x, zero), ty)
    negative = b.zext(b.icmp_signed("<", x, zero), ty)
    return b.sub(positive, negative)


def _isnan(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    return r.builder.fcmp_unordered("uno", x, x) if dtype in FLOATS else ir.Constant(I1, 0)


def _exp(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    return exp(r, x)


def _fneg(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    return r.builder.fneg(x)


def _not(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    return r.builder.xor(x, ir.Constant(I1, 1))


def _bitnot(r: ExprRenderer, op: str, x: ir.Value, dtype: str) -> ir.Value:
    return bitwise_not(r.builder, x)  # ~x on integers, not x on bool


_FLOAT_MATH = _by_kind(_math, None)
_FLOAT_INTRINSIC = _by_kind(_intrinsic_unary, None)

UNARY_CODE: dict[str, UnaryCode] = {
    **{op: _FLOAT_MATH for op, info in KERNEL_OPS.items() if info.category == "math"},
    "exp": _by_kind(_exp, None),
    "log": _FLOAT_INTRINSIC,
    "sqrt": _FLOAT_INTRINSIC,
    "sin": _FLOAT_INTRINSIC,
    "cos": _FLOAT_INTRINSIC,
    "tanh": _by_kind(_tanh, None),
    "logistic": _by_kind(_logistic, None),
    "isnan": _isnan,
    "neg": _by_kind(_fneg, _int_neg),
    "abs": _by_kind(_intrinsic_unary, _int_abs),
    "sign": _by_kind(_float_sign, _int_sign),
    "not": _not,
    "bitnot": _by_kind(None, _bitnot),
}


# -- binary -----------------------------------------------------------------


def _binary_by_kind(float_code: FloatBinary | None, int_code: BinaryCode | None) -> BinaryCode:
    """As :func:`_by_kind`, for two operands of one dtype."""

    def code(
        r: ExprRenderer, op: str, a: ir.Value, c: ir.Value, dtype: str, flags: tuple[str, ...]
    ) -> ir.Value:
        if dtype in FLOATS:
            if float_code is None:
                raise unsupported(f"float {op}")
            return r._in_float(dtype, [a, c], lambda v, t: float_code(r, op, v[0], v[1], flags))
        if int_code is None:
            raise unsupported(f"{op} on {dtype}")
        return int_code(r, op, a, c, dtype, flags)

    return code


def _compare(
    r: ExprRenderer, op: str, a: ir.Value, c: ir.Value, dtype: str, flags: tuple[str, ...]
) -> ir.Value:
    """Ordered float comparisons (``ne`` unordered: NaN != x), unsigned on bool."""
    b = r.builder
    if dtype in FLOATS:
        if op == "ne":
            return b.fcmp_unordered("!=", a, c)
        return b.fcmp_ordered(_FLOAT_COMPARE[op], a, c)
    if dtype == "bool":
        return b.icmp_unsigned(_FLOAT_COMPARE[op], a, c)
    return b.icmp_signed(_FLOAT_COMPARE[op], a, c)


def _logical(
    r: ExprRenderer, op: str, a: ir.Value, c: ir.Value, dtype: str, flags: tuple[str, ...]
) -> ir.Value:
    """``and`` / ``or`` of two values at hand (``ExprRenderer`` branches instead when the
    second operand is not safe to evaluate)."""
    return r.builder.and_(a, c) if op == "and" else r.builder.or_(a, c)


def _float_intrinsic(
    r: ExprRenderer, op: str, a: ir.Value, c: ir.Value, flags: tuple[str, ...]
) -> ir.Value:
    """``llvm.<name>`` of the table: ``pow``, ``maximum`` / ``minimum`` (NaN propagates)."""
    name = KERNEL_OPS[op].llvm_intrinsic
    assert name is not None, op
    return r._call(name, a.type, [a, c])


def _float_division(
    r: ExprRenderer, op: str, a: ir.Value, c: ir.Value, flags: tuple[str, ...]
) -> ir.Value:
    """numpy's floor_divide (``floordiv``) or remainder (``mod``) of floats: its
    ``npy_divmod``, as ``ir/primitives/elementwise.py`` states it, with selects."""
    b, ty = r.builder, a.type
    zero, one, half = ir.Constant(ty, 0.0), ir.Constant(ty, 1.0), ir.Constant(ty, 0.5)
    mod = b.frem(a, c)  # fmod(a, c): exact, a's sign; NaN for c == 0
    nonzero_mod = b.fcmp_unordered("!=", mod, zero)  # C's `if (mod)`: NaN counts
    signs_differ = b.xor(b.fcmp_ordered("<", c, zero), b.fcmp_ordered("<", mod, zero))
    flip = b.and_(nonzero_mod, signs_differ)  # mod += c; div -= 1
    if op == "mod":
        # a zero remainder takes c's sign; c == 0 leaves fmod's NaN as it is
        kept = b.select(nonzero_mod, mod, r._call("copysign", ty, [zero, c]))
        return b.select(flip, b.fadd(mod, c), kept)
    div = b.fdiv(b.fsub(a, mod), c)  # nearly an integer
    div = b.select(flip, b.fsub(div, one), div)
    floored = r._call("floor", ty, [div])
    # snapped to the nearest integer: floor(div) + 1 when div - floor(div) > 0.5
    snapped = b.select(
        b.fcmp_ordered(">", b.fsub(div, floored), half), b.fadd(floored, one), floored
    )
    quotient = b.fdiv(a, c)
    zero_div = r._call("copysign", ty, [zero, quotient])  # div == 0: the sign of a / c
    result = b.select(b.fcmp_unordered("!=", div, zero), snapped, zero_div)
    return b.select(b.fcmp_ordered("==", c, zero), quotient, result)  # c == 0: a / c


def _int_division(
    r: ExprRenderer, op: str, a: ir.Value, c: ir.Value, dtype: str, flags: tuple[str, ...]
) -> ir.Value:
    # A divisor of 0 or -1 never reaches sdiv/srem (0 traps, INT_MIN / -1 traps):
    # x // 0 = x % 0 = 0 (numpy), x // -1 = -x (wrapping), x % -1 = 0.
    if dtype == "bool":
        raise unsupported(f"{op} on bool")
    b, ty = r.builder, a.type
    zero, one, minus_one = ir.Constant(ty, 0), ir.Constant(ty, 1), ir.Constant(ty, -1)
    is_zero = b.icmp_signed("==", c, zero)
    is_minus_one = b.icmp_signed("==", c, minus_one)
    safe = b.select(b.or_(is_zero, is_minus_one), one, c)
    quotient = b.sdiv(a, safe)
    remainder = b.srem(a, safe)
    if op == "div":  # truncating (numpy's int division then astype)
        result = quotient
        special = b.select(is_zero, zero, b.sub(zero, a))
        return b.select(b.or_(is_zero, is_minus_one), special, result)
    # floor: step down when the remainder is non-zero and its sign differs from c's
    adjust = b.and_(
        b.icmp_signed("!=", remainder, zero),
        b.icmp_signed("<", b.xor(remainder, safe), zero),
    )
    if op == "floordiv":
        result = b.sub(quotient, b.zext(adjust, ty))
        special = b.select(is_zero, zero, b.sub(zero, a))
    else:
        result = b.select(adjust, b.add(remainder, safe), remainder)
        special = zero
    return b.select(b.or_(is_zero, is_minus_one), special, result)


def _float_arithmetic(
    r: ExprRenderer, op: str, a: ir.Value, c: ir.Value, flags: tuple[str, ...]
) -> ir.Value:
    """fadd, fsub, fmul, fdiv; the fast-math ``flags`` (accumulators) on fadd and fmul."""
    b = r.builder
    if op == "add":
        return b.fadd(a, c, flags=flags)
    if op == "mul":
        return b.fmul(a, c, flags=flags)
    return b.fsub(a, c) if op == "sub" else b.fdiv(a, c)


# bool as numbers: add / max are or, mul / min are and
_BOOL_ARITHMETIC = {"add": "or_", "max": "or_", "mul": "and_", "min": "and_"}
# integer instructions and intrinsics
_INT_ARITHMETIC = {"add": "add", "sub": "sub", "mul": "mul"}
_INT_EXTREME = {"max": "smax", "min": "smin"}


def _int_arithmetic(
    r: ExprRenderer, op: str, a: ir.Value, c: ir.Value, dtype: str, flags: tuple[str, ...]
) -> ir.Value:
    """add, sub, mul (wrapping), max, min; or / and on bool."""
    if dtype == "bool":
        if op not in _BOOL_ARITHMETIC:
            raise unsupported(f"{op} on bool")
        return getattr(r.builder, _BOOL_ARITHMETIC[op])(a, c)
    if op in _INT_EXTREME:
        return r._call(_INT_EXTREME[op], a.type, [a, c])
    return getattr(r.builder, _INT_ARITHMETIC[op])(a, c)


def _int_power(
    r: ExprRenderer, op: str, a: ir.Value, c: ir.Value, dtype: str, flags: tuple[str, ...]
) -> ir.Value:
    if dtype == "bool":
        raise unsupported(f"{op} on bool")
    return int_power(r.builder, a, c)  # exact (:mod:`~.int_power`)


def _bitwise(
    r: ExprRenderer, op: str, a: ir.Value, c: ir.Value, dtype: str, flags: tuple[str, ...]
) -> ir.Value:
    return bitwise(r.builder, op, a, c)  # shifts with numpy's result for every amount


BINARY_CODE: dict[str, BinaryCode] = {
    **dict.fromkeys(_FLOAT_COMPARE, _compare),
    "and": _logical,
    "or": _logical,
    "add": _binary_by_kind(_float_arithmetic, _int_arithmetic),
    "sub": _binary_by_kind(_float_arithmetic, _int_arithmetic),
    "mul": _binary_by_kind(_float_arithmetic, _int_arithmetic),
    "div": _binary_by_kind(_float_arithmetic, _int_division),
    "pow": _binary_by_kind(_float_intrinsic, _int_power),
    "max": _binary_by_kind(_float_intrinsic, _int_arithmetic),
    "min": _binary_by_kind(_float_intrinsic, _int_arithmetic),
    "floordiv": _binary_by_kind(_float_division, _int_division),
    "mod": _binary_by_kind(_float_division, _int_division),
    **dict.fromkeys(("bitand", "bitor", "bitxor", "shl", "shr"), _binary_by_kind(None, _bitwise)),
}
