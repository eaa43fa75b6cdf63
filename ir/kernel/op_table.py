"""The table of kernel-IR scalar ops: one :class:`KernelOpInfo` per op, :data:`KERNEL_OPS`.

Each entry says what the op takes and gives, and where its meaning comes from:

- ``arity`` (1: a ``Unary`` node, 2: a ``Binary`` node; the n-ary ``Call`` ops are
  :data:`tcomp.ir.kernel.ops.CALL_OPS`) and ``category`` (the group it belongs to:
  ``math``, ``float``, ``number``, ``logical``, ``bitwise``, ``shift``,
  ``arithmetic``, ``comparison``; :mod:`tcomp.ir.kernel.ops` derives its sets from it);
- ``operands``: the dtypes an operand may have (both operands of a binary op have one
  dtype); the storage types ``int8``, ``uint8``, ``uint32`` are never among them (the
  lowering computes them in ``int32`` / ``int64``); ``result``: ``same`` (the operand's
  dtype) or ``bool``. :mod:`tcomp.ir.kernel.verifier` checks nodes against these two;
- ``rounds_half``: a float16 / bfloat16 result is computed in float32 and rounded to
  16 bits (the ops without it are exact on 16-bit floats: ``floor``, ``neg``, ``max`` ...);
- ``c_math``: the C ``<math.h>`` function of its float case (``fabs`` for ``abs``; the
  c-family dialects add their ``f`` suffix), ``llvm_intrinsic``: the ``llvm.<name>``
  intrinsic of its float case, when LLVM has one; a ``math`` op with ``c_math`` and no
  intrinsic is a direct call of libm's ``<name>f`` / ``<name>`` on llvm;
- ``numpy``: the op's meaning on numpy arrays of one operand dtype (what the tests
  compare every backend with; on 16-bit floats, computed in float32 and rounded);
  ``primitive``: the graph primitive whose numpy reference the kernel interpreter
  evaluates (``None``: the interpreter evaluates ``numpy`` itself).

Adding a scalar op is one entry here plus its code in each renderer's dict
(``backends/cfamily/exprs.py``, ``backends/llvm/exprs.py``) and, where the
interpreter does not call a primitive, ``numpy``; ``tests/test_kernel_op_table.py``
checks that the dicts have exactly these keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Literal, Mapping

import numpy as np

FLOAT = frozenset({"float16", "bfloat16", "float32", "float64"})
INT = frozenset({"int32", "int64"})  # the integer compute types
INDEX = frozenset({"index"})
BOOL = frozenset({"bool"})
NUMBERS = FLOAT | INT | INDEX
ANY = NUMBERS | BOOL


@dataclass(frozen=True)
class KernelOpInfo:
    """One scalar op of the kernel IR (see the module docstring for each field)."""

    name: str
    arity: int
    category: str
    operands: frozenset[str]
    result: Literal["same", "bool"]
    rounds_half: bool
    numpy: Callable[..., Any]
    c_math: str | None = None
    llvm_intrinsic: str | None = None
    primitive: str | None = None

    def result_dtype(self, operand: str) -> str:
        """The dtype of the op's value on operands of dtype ``operand``."""
        return "bool" if self.result == "bool" else operand


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[x.dtype])(x)


def _power(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x ** y``: numpy's for floats; for integers the exact power wrapped to the
    width, and for a negative exponent ``1 / x`` truncated (1, -1 or 0)."""
    if x.dtype.kind == "f":
        return np.power(x, y)
    bits = x.dtype.itemsize * 8

    def one(a: int, b: int) -> int:
        if b < 0:
            return 1 if a == 1 else (1 - 2 * (b % 2)) if a == -1 else 0
        wrapped = pow(a, b, 1 << bits)
        return wrapped - (1 << bits) if wrapped >= 1 << (bits - 1) else wrapped

    return np.array([one(int(a), int(b)) for a, b in zip(x.flat, y.flat)], x.dtype).reshape(x.shape)


def _op(
    name: str,
    arity: int,
    category: str,
    operands: frozenset[str],
    numpy: Callable[..., Any],
    result: Literal["same", "bool"] = "same",
    rounds_half: bool = False,
    c_math: str | None = None,
    llvm_intrinsic: str | None = None,
    primitive: str | None = None,
) -> KernelOpInfo:
    return KernelOpInfo(
        name,
        arity,
        category,
        operands,
        result,
        rounds_half,
        numpy,
        c_math,
        llvm_intrinsic,
        primitive,
    )


def _math(
    name: str, numpy: Callable[..., Any], rounds: bool = True, intrinsic: str | None = None
) -> KernelOpInfo:
    """A C99 ``<math.h>`` function of one float (``category`` ``math``)."""
    return _op(
        name,
        1,
        "math",
        FLOAT,
        numpy,
        rounds_half=rounds,
        c_math=name,
        llvm_intrinsic=intrinsic,
        primitive=name,
    )


def _float(
    name: str,
    numpy: Callable[..., Any],
    c_math: str | None,
    intrinsic: str | None,
    result: Literal["same", "bool"] = "same",
) -> KernelOpInfo:
    """Another unary op on floats only (``category`` ``float``)."""
    return _op(
        name,
        1,
        "float",
        FLOAT,
        numpy,
        result,
        rounds_half=result == "same",
        c_math=c_math,
        llvm_intrinsic=intrinsic,
        primitive=None if result == "bool" else name,
    )


def _binary(
    name: str,
    category: str,
    operands: frozenset[str],
    numpy: Callable[..., Any],
    primitive: str | None,
    rounds: bool = False,
    c_math: str | None = None,
    intrinsic: str | None = None,
) -> KernelOpInfo:
    result: Literal["same", "bool"] = "bool" if category in ("comparison", "logical") else "same"
    return _op(name, 2, category, operands, numpy, result, rounds, c_math, intrinsic, primitive)


_TABLE = (
    # C99 math functions: float16/bfloat16 rounded, except the four exact ones
    _math("floor", np.floor, rounds=False, intrinsic="floor"),
    _math("ceil", np.ceil, rounds=False, intrinsic="ceil"),
    _math("trunc", np.trunc, rounds=False, intrinsic="trunc"),
    _math("rint", np.rint, rounds=False, intrinsic="roundeven"),  # halves to even
    _math("erf", _erf),
    _math("log1p", np.log1p),
    _math("expm1", np.expm1),
    _math("sinh", np.sinh, intrinsic="sinh"),
    _math("cosh", np.cosh, intrinsic="cosh"),
    _math("asinh", np.arcsinh),
    _math("acosh", np.arccosh),
    _math("atanh", np.arctanh),
    _math("asin", np.arcsin, intrinsic="asin"),
    _math("acos", np.arccos, intrinsic="acos"),
    _math("atan", np.arctan, intrinsic="atan"),
    # the other float functions
    _float("exp", np.exp, "exp", "exp"),
    _float("log", np.log, "log", "log"),
    _float("sqrt", np.sqrt, "sqrt", "sqrt"),
    _float("tanh", np.tanh, "tanh", "tanh"),
    _float("sin", np.sin, "sin", "sin"),
    _float("cos", np.cos, "cos", "cos"),
    _float("logistic", _logistic, None, None),  # 1 / (1 + exp(-x)), computed stably
    _float("isnan", np.isnan, None, None, result="bool"),
    # unary ops on numbers and bools
    _op("neg", 1, "number", NUMBERS, np.negative, primitive="neg"),  # integers wrap
    _op("abs", 1, "number", NUMBERS, np.abs, c_math="fabs", llvm_intrinsic="fabs", primitive="abs"),
    _op("sign", 1, "number", NUMBERS, np.sign, primitive="sign"),  # NaN stays, -0.0 -> 0.0
    _op("not", 1, "logical", BOOL, np.logical_not, "bool"),
    _op("bitnot", 1, "bitwise", INT | BOOL, np.invert, primitive="bitwise_not"),  # ~x, not
    # binary arithmetic
    _binary("add", "arithmetic", NUMBERS, np.add, "add", rounds=True),
    _binary("sub", "arithmetic", NUMBERS, np.subtract, "sub", rounds=True),
    _binary("mul", "arithmetic", NUMBERS, np.multiply, "mul", rounds=True),
    _binary("div", "arithmetic", FLOAT, np.true_divide, "div", rounds=True),
    _binary(
        "pow", "arithmetic", FLOAT | INT, _power, "pow", rounds=True, c_math="pow", intrinsic="pow"
    ),
    _binary("max", "arithmetic", NUMBERS, np.maximum, "max", intrinsic="maximum"),  # NaN wins
    _binary("min", "arithmetic", NUMBERS, np.minimum, "min", intrinsic="minimum"),
    _binary("floordiv", "arithmetic", NUMBERS, np.floor_divide, "floor_divide", rounds=True),
    _binary("mod", "arithmetic", NUMBERS, np.remainder, "remainder", rounds=True),
    # comparisons (any dtype) and logic
    _binary("eq", "comparison", ANY, np.equal, "eq"),
    _binary("ne", "comparison", ANY, np.not_equal, "ne"),
    _binary("lt", "comparison", ANY, np.less, "lt"),
    _binary("le", "comparison", ANY, np.less_equal, "le"),
    _binary("gt", "comparison", ANY, np.greater, "gt"),
    _binary("ge", "comparison", ANY, np.greater_equal, "ge"),
    _binary("and", "logical", BOOL, np.logical_and, None),  # short-circuits
    _binary("or", "logical", BOOL, np.logical_or, None),
    # bitwise; the shifts with numpy's result for every amount (ops.py)
    _binary("bitand", "bitwise", INT | BOOL, np.bitwise_and, "bitwise_and"),
    _binary("bitor", "bitwise", INT | BOOL, np.bitwise_or, "bitwise_or"),
    _binary("bitxor", "bitwise", INT | BOOL, np.bitwise_xor, "bitwise_xor"),
    _binary("shl", "shift", INT, np.left_shift, "left_shift"),
    _binary("shr", "shift", INT, np.right_shift, "right_shift"),
)

KERNEL_OPS: Mapping[str, KernelOpInfo] = MappingProxyType({info.name: info for info in _TABLE})


def ops_where(test: Callable[[KernelOpInfo], bool]) -> frozenset[str]:
    """The names of the ops whose entry passes ``test``."""
    return frozenset(name for name, info in KERNEL_OPS.items() if test(info))
