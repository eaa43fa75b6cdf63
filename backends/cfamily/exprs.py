"""Kernel-IR scalar expressions rendered as C expressions (OpenCL C and CUDA C alike).

Every operation is fully parenthesised and follows the kernel interpreter
(numpy) exactly, through the helpers of :mod:`tcomp.backends.cfamily.helpers`
where C differs: ``max``/``min`` propagate NaN as ``np.maximum``, ``sign``
keeps NaN and maps -0.0 to 0.0, integer ``floordiv``/``mod`` floor as Python
and give 0 for a zero divisor, float ``floordiv``/``mod`` are numpy's
``npy_divmod`` (fmod, then corrected: see ``ir/primitives/elementwise.py``),
int32 ``add``/``sub``/``mul`` wrap (through unsigned arithmetic: signed
overflow is undefined in C), int32 ``pow`` is exact (``tc_pow_i32``), float -> int gives ``INT_MIN`` for NaN and
out-of-range values. The math functions (``floor`` ... ``rint`` ... ``atan``)
are C's of the same name (``rint`` rounds halves to even, as numpy), ``bitand``
... ``bitnot`` C's ``& | ^ ~`` (``!`` on bool) and the shifts helpers with
numpy's result for every amount (C leaves >= 32 and negative undefined).
Each op's code is found in ``UNARY_CODE`` / ``BINARY_CODE`` (one function per op, keyed
like :data:`tcomp.ir.kernel.op_table.KERNEL_OPS`, whose ``c_math`` names the C functions
and ``rounds_half`` the ops rounded to 16 bits). ``Select`` is C's ``?:`` and
``and``/``or`` are ``&&``/``||``, so a guarded load is never evaluated. A ``Call``
(``threefry2x32_0``/``_1``) is the helper ``tc_threefry2x32_i32(k0, k1, x0, x1, word)``
(:mod:`tcomp.backends.cfamily.threefry`).
Example (float32, OpenCL)::

    select(abs(acc0) < inf:f32, acc0, 0.0:f32)  ->  ((fabs(acc0) < INFINITY) ? acc0 : 0.0f)

``bool`` is ``bool`` in registers and one byte in memory (``uchar`` /
``unsigned char``). float16 is its IEEE bits in memory (``ushort`` /
``unsigned short``, converted by integer helpers, so no device needs half
support) and a ``float`` in registers; every operation that makes a new
float16 value is rounded to half precision (``tc_round_f16``), which is how
numpy computes in float16; a float64 converts with one rounding
(``tc_round_f16_f64``: ``(float)x`` first would round twice). bfloat16 is
the same with its own helpers: the upper 16 bits of a float32 in memory
(``tc_from_bf16`` shifts them back), a ``float`` in registers, each new value rounded to nearest even
(``tc_round_bf16``), by tcomp's rule (:mod:`tcomp.ir.bfloat16`); float64,
int32 and index values convert to bfloat16 with one rounding too
(``tc_round_bf16_f64``, ``tc_round_bf16_int``). A bfloat16 ``tanh``, OpenCL::

    tanh(p0[i0]):bf16  ->  tc_round_bf16(tanh(tc_from_bf16(p0[i0])))
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tcomp.backends.cfamily.dialect import Dialect
from tcomp.backends.cfamily.helpers import (
    BF16_ROUNDINGS,
    CONVERSIONS,
    F16_ROUNDINGS,
    HALF_TYPES,
    bare,
    c_name,
    c_type,
    helper_name,
    memory_type,
)
from tcomp.backends.cfamily.threefry import KIND as THREEFRY
from tcomp.ir.bfloat16 import bfloat16_value
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.kernel.call import Call, threefry_word
from tcomp.ir.kernel.expr import (
    INDEX,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Number,
    Select,
    Unary,
    Var,
)
from tcomp.ir.kernel.op_table import KERNEL_OPS
from tcomp.ir.types import numpy_dtype

FLOATS = ("float16", "bfloat16", "float32", "float64")
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_ARITH = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
# sources that a float cannot hold exactly: their bfloat16 conversion is one helper
_ONCE_TO_BF16 = {
    "float64": "round_bf16_f64",
    "int32": "round_bf16_int",
    "uint32": "round_bf16_int",
    "int64": "round_bf16_int",
    INDEX: "round_bf16_int",
}
_INTEGERS = ("int8", "uint8", "int32", "uint32", "int64")
# float -> these integer types: the int32 (to_i32) or int64 (to_i64) result, wrapped
_FLOAT_TO_INT = {
    "int8": "to_i32",
    "uint8": "to_i32",
    "int32": "to_i32",
    "uint32": "to_i64",
    "int64": "to_i64",
    INDEX: "to_i64",
}


def unsupported(what: str) -> TcompBackendError:
    return TcompBackendError(f"c-family renderer: {what}")


def check_dtype(dtype: str) -> None:
    """Raises for a type this renderer does not handle."""
    if dtype not in ("bool", *_INTEGERS, "index", *FLOATS):
        raise unsupported(f"no C type for {dtype}")


class ExprRenderer:
    """Renders expressions to C text; ``used`` collects the helpers they call."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.used: set[tuple[str, str]] = set()
        # buffer name -> the C value that stands for every Load of that buffer (the
        # lane of a vector already loaded: tcomp.backends.cfamily.vector_nest)
        self.load_overrides: dict[str, str] = {}

    def helper(self, kind: str, dtype: str, *args: str) -> str:
        if dtype in HALF_TYPES and kind not in CONVERSIONS[dtype] + BF16_ROUNDINGS + F16_ROUNDINGS:
            dtype = "float32"  # 16-bit floats are floats in registers
        if dtype == "int64":
            dtype = INDEX  # one C type, one meaning: the index helpers serve int64
        self.used.add((kind, dtype))
        return f"{helper_name(kind, dtype)}({', '.join(args)})"

    def ctype(self, dtype: str) -> str:
        check_dtype(dtype)
        return c_type(dtype, self.dialect)

    def memory_type(self, dtype: str) -> str:
        """The element type of a ``dtype`` buffer."""
        check_dtype(dtype)
        return memory_type(dtype, self.dialect)

    def stored(self, value: str, dtype: str) -> str:
        """The C value to store into a ``dtype`` buffer for the register value ``value``."""
        if dtype == "bool":
            return f"({self.dialect.byte_type})({bare(value)})"
        if dtype in HALF_TYPES:
            return self.helper(CONVERSIONS[dtype][1], dtype, bare(value))
        return bare(value)

    def rounded(self, text: str, dtype: str) -> str:
        """``text`` rounded to 16 bits when ``dtype`` is float16 or bfloat16."""
        if dtype in HALF_TYPES:
            return self.helper(CONVERSIONS[dtype][2], dtype, bare(text))
        return text

    # -- entry point ----------------------------------------------------------

    def render(self, expr: Expr) -> str:
        check_dtype(expr.dtype)
        if isinstance(expr, Const):
            return self.constant(expr.value, expr.dtype)
        if isinstance(expr, Var):
            return c_name(expr.name)
        if isinstance(expr, Load):
            if expr.buffer in self.load_overrides:
                return self.load_overrides[expr.buffer]
            access = f"{c_name(expr.buffer)}[{bare(self.render(expr.index))}]"
            if expr.dtype in HALF_TYPES:
                return self.helper(CONVERSIONS[expr.dtype][0], expr.dtype, access)
            return f"({access} != 0)" if expr.dtype == "bool" else access
        if isinstance(expr, Select):
            cond, a, b = (self.render(e) for e in (expr.cond, expr.a, expr.b))
            return f"({cond} ? {a} : {b})"
        if isinstance(expr, Cast):
            if expr.dtype == "bfloat16" and expr.x.dtype in _ONCE_TO_BF16:
                # one rounding from the exact value (float's would be a second one)
                kind = _ONCE_TO_BF16[expr.x.dtype]
                return self.helper(kind, "bfloat16", bare(self.render(expr.x)))
            if expr.dtype == "float16" and expr.x.dtype == "float64":
                # one rounding too; int32 and index need none: (float)i is exact below
                # 2**24 and stays >= 65520 (float16 inf either way) above it
                return self.helper("round_f16_f64", "float16", bare(self.render(expr.x)))
            text = self.cast(self.render(expr.x), expr.x.dtype, expr.dtype)
            return self.rounded(text, expr.dtype) if expr.x.dtype != expr.dtype else text
        if isinstance(expr, Unary):
            text = self.unary(expr.op, self.render(expr.x), expr.x.dtype)
            return self.rounded(text, expr.dtype) if KERNEL_OPS[expr.op].rounds_half else text
        if isinstance(expr, Binary):
            text = self.binary(expr.op, self.render(expr.a), self.render(expr.b), expr.a.dtype)
            return self.rounded(text, expr.dtype) if KERNEL_OPS[expr.op].rounds_half else text
        if isinstance(expr, Call):  # threefry2x32_<word>: one helper, the word a constant
            args = [bare(self.render(arg)) for arg in expr.args]
            return self.helper(THREEFRY, "int32", *args, str(threefry_word(expr.op)))
        raise TypeError(f"c-family renderer: cannot render {expr!r} (Reduce must be hoisted)")

    def constant(self, value: Number, dtype: str) -> str:
        d = self.dialect
        if dtype == "bool":
            return "true" if value else "false"
        if dtype == "bfloat16":  # its value (tcomp's rounding), as the float that holds it
            value, dtype = bfloat16_value(value), "float32"
        elif dtype in HALF_TYPES:  # a 16-bit float's value, as the float that holds it exactly
            value, dtype = float(numpy_dtype(dtype).type(value)), "float32"
        if dtype in FLOATS:
            v = float(np.float32(value)) if dtype == "float32" else float(value)
            # the shortest decimal that reads back as the same float32 / float64
            if np.isnan(v):
                return d.nan32 if dtype == "float32" else d.nan64
            if np.isinf(v):
                inf = d.inf32 if dtype == "float32" else d.inf64
                return inf if v > 0 else f"(-{inf})"
            text = str(np.float32(v)) + "f" if dtype == "float32" else repr(v)
            return f"({text})" if v < 0 or text.startswith("-") else text
        v = int(value)
        if dtype == "int32" and v == -(2**31):
            return "(-2147483647 - 1)"
        if dtype in (INDEX, "int64") and v == -(2**63):
            return f"(-({d.index_type})9223372036854775807 - 1)"
        if dtype in ("int8", "uint8", "uint32"):
            return f"(({self.ctype(dtype)}){v}{'u' if dtype == 'uint32' else ''})"
        return f"({v})" if v < 0 else str(v)

    # -- unary and binary: through UNARY_CODE / BINARY_CODE -------------------

    def unary(self, op: str, x: str, dtype: str) -> str:
        """``op(x)`` where ``x`` has ``dtype`` (16-bit floats: before the rounding)."""
        dtype = "float32" if dtype in HALF_TYPES else dtype  # computed in float, then rounded
        code = UNARY_CODE.get(op)
        if code is None:
            raise _no_unary(op, dtype)
        return code(self, op, x, dtype)

    def binary(self, op: str, a: str, b: str, dtype: str) -> str:
        """``op(a, b)`` where both operands have ``dtype``."""
        dtype = "float32" if dtype in HALF_TYPES else dtype  # computed in float, then rounded
        code = BINARY_CODE.get(op)
        if code is None:
            raise unsupported(f"no rendering for binary {op} on {dtype}")
        return code(self, op, a, b, dtype)

    # -- casts ----------------------------------------------------------------

    def cast(self, x: str, source: str, target: str) -> str:
        """``x`` converted from ``source`` to ``target`` as numpy's ``astype`` does (before
        the rounding to a 16-bit ``target``, :meth:`render` adds; float64, int32 and index
        -> bfloat16 and float64 -> float16 are one helper each, rounding once)."""
        if source == target:
            return x
        if target == "bool":
            return f"({x} != 0)"  # NaN != 0 is true, as numpy's bool(nan)
        if source in FLOATS and target in _FLOAT_TO_INT:
            # tcomp's rule (ir/primitives/elementwise.py float_to_int): int8 and uint8
            # through int32, uint32 through int64, wrapped by the C conversion
            converted = self.helper(_FLOAT_TO_INT[target], source, x)
            if target in ("int32", INDEX):
                return converted
            return f"({self.ctype(target)}){converted}"
        if source in HALF_TYPES and target == "float32":
            return x  # the same float
        return f"({self.ctype(target)}){x}"


# -- the code of each kernel-IR op ---------------------------------------------
# One function per op (shared by ops alike): (renderer, op, operand texts..., dtype) -> C.
# 16-bit floats arrive as float32; the rounding after them is KERNEL_OPS[op].rounds_half.
UnaryCode = Callable[[ExprRenderer, str, str, str], str]
BinaryCode = Callable[[ExprRenderer, str, str, str, str], str]


def _no_unary(op: str, dtype: str) -> TcompBackendError:
    return unsupported(f"no rendering for unary {op} on {dtype}")


def _math_call(r: ExprRenderer, op: str, x: str, dtype: str) -> str:
    """A C math function of one float (``fabs`` for ``abs``): the table's ``c_math``."""
    name = KERNEL_OPS[op].c_math
    if dtype not in FLOATS or name is None:
        raise _no_unary(op, dtype)
    return f"{r.dialect.math(name, dtype)}({x})"


def _float_helper(r: ExprRenderer, op: str, x: str, dtype: str) -> str:
    """``sign``, ``logistic`` and ``tanh`` of floats: a helper (NaN, -0.0, overflow and
    tanh's +-1 as numpy)."""
    if dtype not in FLOATS:
        raise _no_unary(op, dtype)
    return r.helper(op, dtype, x)


def _isnan(r: ExprRenderer, op: str, x: str, dtype: str) -> str:
    return f"(isnan({x}) != 0)" if dtype in FLOATS else "false"


def _bitnot(r: ExprRenderer, op: str, x: str, dtype: str) -> str:
    return f"(!{x})" if dtype == "bool" else f"(~{x})"


def _neg(r: ExprRenderer, op: str, x: str, dtype: str) -> str:
    if dtype in FLOATS or dtype == INDEX:
        return f"(-{x})"
    if dtype == "bool":
        raise unsupported("no rendering for neg on bool (convert first)")
    return r.helper("neg", dtype, x)  # int32 and int64 wrap


def _abs(r: ExprRenderer, op: str, x: str, dtype: str) -> str:
    if dtype in FLOATS:
        return _math_call(r, op, x, dtype)
    return x if dtype == "bool" else r.helper("abs", dtype, x)


def _sign(r: ExprRenderer, op: str, x: str, dtype: str) -> str:
    if dtype in FLOATS:
        return r.helper(op, dtype, x)
    if dtype == "bool":
        raise unsupported("no rendering for sign on bool (convert first)")
    if dtype == "int32":
        return f"(({x} > 0) - ({x} < 0))"
    t = r.ctype(dtype)
    return f"(({t})({x} > 0) - ({t})({x} < 0))"


def _infix(symbol: str) -> BinaryCode:
    """``(a symbol b)`` on every dtype the op takes."""
    return lambda r, op, a, b, dtype: f"({a} {symbol} {b})"


def _binary_helper(r: ExprRenderer, op: str, a: str, b: str, dtype: str) -> str:
    """A helper of ``cfamily/helpers.py`` (shifts, floor division, NaN-propagating max ...)."""
    if dtype == "bool":
        raise unsupported(f"no rendering for {op} on bool")
    return r.helper(op, dtype, a, b)


def _arithmetic(r: ExprRenderer, op: str, a: str, b: str, dtype: str) -> str:
    """``add``, ``sub``, ``mul``, ``div``: C's operator on floats and index, wrapping on
    int32 / int64 (signed overflow is undefined in C), ``|`` / ``&`` on bool."""
    if dtype in FLOATS or dtype == INDEX:
        return f"({a} {_ARITH[op]} {b})"
    if dtype == "bool":
        if op in _BOOL_ARITH:
            return f"({a} {_BOOL_ARITH[op]} {b})"
        raise unsupported(f"no rendering for {op} on bool")
    if op == "div":
        return r.helper(op, dtype, a, b)
    if dtype == "int64":
        t, u = r.ctype(dtype), r.dialect.unsigned_index_type
        return f"({t})(({u}){a} {_ARITH[op]} ({u}){b})"
    return f"(int)((unsigned int){a} {_ARITH[op]} (unsigned int){b})"


def _pow(r: ExprRenderer, op: str, a: str, b: str, dtype: str) -> str:
    if dtype in FLOATS:
        return f"{r.dialect.math('pow', dtype)}({a}, {b})"
    return _binary_helper(r, op, a, b, dtype)  # int32 / int64: exact (tc_pow_i32)


def _extreme(r: ExprRenderer, op: str, a: str, b: str, dtype: str) -> str:
    """``max`` / ``min``: ``|`` / ``&`` on bool, else a helper (NaN propagates)."""
    if dtype == "bool":
        return f"({a} {_BOOL_ARITH[op]} {b})"
    return r.helper(op, dtype, a, b)


_BOOL_ARITH = {"max": "|", "add": "|", "min": "&", "mul": "&"}

UNARY_CODE: dict[str, UnaryCode] = {
    **{op: _math_call for op, info in KERNEL_OPS.items() if info.category == "math"},
    **dict.fromkeys(("exp", "log", "sqrt", "sin", "cos"), _math_call),
    "tanh": _float_helper,
    "logistic": _float_helper,
    "isnan": _isnan,
    "neg": _neg,
    "abs": _abs,
    "sign": _sign,
    "not": lambda r, op, x, dtype: f"(!{x})",
    "bitnot": _bitnot,
}
BINARY_CODE: dict[str, BinaryCode] = {
    **{op: _infix(symbol) for op, symbol in _COMPARE.items()},
    "and": _infix("&&"),
    "or": _infix("||"),
    "bitand": _infix("&"),
    "bitor": _infix("|"),
    "bitxor": _infix("^"),
    "shl": _binary_helper,
    "shr": _binary_helper,
    **dict.fromkeys(("add", "sub", "mul", "div"), _arithmetic),
    "pow": _pow,
    "max": _extreme,
    "min": _extreme,
    "floordiv": _binary_helper,
    "mod": _binary_helper,
}
