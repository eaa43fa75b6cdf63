"""Elementwise primitives: unary math, binary arithmetic, comparisons, select, convert.

Binary primitives take inputs of one shape and one dtype: numpy
broadcasting and dtype promotion happen in the frontend, which inserts
``broadcast_to`` and ``convert`` explicitly, so every rule here is simple and
every backend sees explicit layouts.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tcomp.ir.bfloat16 import to_bfloat16
from tcomp.ir.errors import TcompTypeError
from tcomp.ir.primitives.attrs import AttrKind
from tcomp.ir.primitives.base import Primitive, register, shape_error, type_error
from tcomp.ir.types import TensorType, canonical_dtype, is_float, numpy_dtype

# ---------------------------------------------------------------------------
# Shape rules


def _same_type_rule(op: str, float_only: bool, allow_bool: bool = False):
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        first = types[0]
        for other in types[1:]:
            if other.shape != first.shape:
                raise shape_error(op, "inputs must have equal shapes", *types)
            if other.dtype != first.dtype:
                raise type_error(op, "inputs must have equal dtypes", *types)
        if float_only and not is_float(first.dtype):
            raise type_error(op, f"needs a float dtype, got {first.dtype}", *types)
        if first.dtype == "bool" and not allow_bool:
            raise type_error(op, "is not defined on bool", *types)
        return first

    return infer


def _compare_rule(op: str):
    same = _same_type_rule(op, float_only=False, allow_bool=True)

    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        return same(types, attrs).with_dtype("bool")

    return infer


def _typed(fn: Callable[..., np.ndarray]):
    """Wraps a numpy function so its result keeps the first input's dtype (numpy may widen)."""

    def reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(fn(*inputs)).astype(inputs[0].dtype, copy=False)

    return reference


def _define_unary(
    name: str, fn, vjp, float_only: bool = True, allow_bool: bool = False
) -> Primitive:
    return register(
        Primitive(
            name, _same_type_rule(name, float_only, allow_bool), _typed(fn), vjp, num_inputs=1
        )
    )


def _define_binary(name: str, fn, vjp, float_only: bool = False) -> Primitive:
    return register(
        Primitive(name, _same_type_rule(name, float_only), _typed(fn), vjp, num_inputs=2)
    )


# ---------------------------------------------------------------------------
# Unary math. Each gradient rule states d(out)/d(x) in a comment.

# d(-x) = -1
_define_unary("neg", np.negative, lambda b, n, ct: [b.neg(ct)], float_only=False)
# d|x| = sign(x)
_define_unary("abs", np.abs, lambda b, n, ct: [b.mul(ct, b.sign(n.inputs[0]))], float_only=False)
# sign is piecewise constant: no gradient contribution
_define_unary("sign", np.sign, lambda b, n, ct: [None], float_only=False)
# d exp(x) = exp(x)
_define_unary("exp", np.exp, lambda b, n, ct: [b.mul(ct, n.output)])
# d log(x) = 1 / x
_define_unary("log", np.log, lambda b, n, ct: [b.div(ct, n.inputs[0])])
# d sqrt(x) = 0.5 / sqrt(x)
_define_unary("sqrt", np.sqrt, lambda b, n, ct: [b.div(b.scale(ct, 0.5), n.output)])
# d tanh(x) = 1 - tanh(x)^2
_define_unary(
    "tanh",
    np.tanh,
    lambda b, n, ct: [b.mul(ct, b.sub(b.full(1, n.output.type), b.mul(n.output, n.output)))],
)
# d sin(x) = cos(x)
_define_unary("sin", np.sin, lambda b, n, ct: [b.mul(ct, b.cos(n.inputs[0]))])
# d cos(x) = -sin(x)
_define_unary("cos", np.cos, lambda b, n, ct: [b.neg(b.mul(ct, b.sin(n.inputs[0])))])


def _logistic(x: np.ndarray) -> np.ndarray:
    # exp(-|x|) never overflows; the two branches pick the stable form.
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


# d logistic(x) = logistic(x) * (1 - logistic(x))
_define_unary(
    "logistic",
    _logistic,
    lambda b, n, ct: [b.mul(ct, b.mul(n.output, b.sub(b.full(1, n.output.type), n.output)))],
)

# stop_gradient(x) = x, with no gradient flowing back; `simplify` removes it after autodiff.
# An identity, so every dtype (bool too) is fine.
_define_unary(
    "stop_gradient", lambda x: x, lambda b, n, ct: [None], float_only=False, allow_bool=True
)

# ---------------------------------------------------------------------------
# Binary arithmetic

# d(x + y) = (1, 1)
_define_binary("add", np.add, lambda b, n, ct: [ct, ct])
# d(x - y) = (1, -1)
_define_binary("sub", np.subtract, lambda b, n, ct: [ct, b.neg(ct)])
# d(x * y) = (y, x)
_define_binary(
    "mul", np.multiply, lambda b, n, ct: [b.mul(ct, n.inputs[1]), b.mul(ct, n.inputs[0])]
)
# d(x / y) = (1 / y, -x / y^2 = -out / y)
_define_binary(
    "div",
    np.divide,
    lambda b, n, ct: [b.div(ct, n.inputs[1]), b.neg(b.div(b.mul(ct, n.output), n.inputs[1]))],
    float_only=True,
)


# ---------------------------------------------------------------------------
# pow(x, y) = x ** y
#
# Floats: numpy's power (libm's pow). Integers (int32; the frontend computes bool ** bool
# in int32 too), tcomp's definition, which every backend computes exactly:
#     y >= 0: the exact power wrapped to int32 (two's complement, as numpy's);
#     y < 0:  the exact value 1 / x ** -y truncated toward zero, as int(x ** y) in Python:
#             1 for x == 1, 1 or -1 for x == -1 (y even, odd), 0 otherwise, and 0 for
#             x == 0 (where 1 / 0 ** -y is infinite; as x // 0 = 0 in numpy).
# numpy refuses negative integer exponents; the frontend refuses them where it sees their
# values (a Python int, a numpy array), and traced ones get the value above.


def integer_power(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Integer ``x ** y`` by tcomp's definition (the comment above), elementwise, in
    ``x``'s dtype (any integer dtype: the exact power wrapped to its width)."""
    dtype = np.asarray(x).dtype
    x64, y64 = np.asarray(x).astype(np.int64), np.asarray(y).astype(np.int64)
    # uint64 arithmetic wraps modulo 2**64 (defined behaviour), so the low bits are exact
    with np.errstate(all="ignore"):
        wrapped = np.power(x64.astype(np.uint64), np.maximum(y64, 0).astype(np.uint64))
        powers = wrapped.astype(dtype)  # the low bits, two's complement
    reciprocals = np.where(x64 == 1, 1, np.where(x64 == -1, np.where(y64 % 2 == 0, 1, -1), 0))
    with np.errstate(all="ignore"):
        return np.asarray(np.where(y64 >= 0, powers, reciprocals.astype(dtype)), dtype=dtype)


def _pow_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    x, y = inputs
    if not is_float(canonical_dtype(x.dtype)):
        return integer_power(x, y)
    with np.errstate(all="ignore"):
        return np.asarray(np.power(x, y)).astype(x.dtype, copy=False)


def _pow_vjp(b, n, ct):
    # d(x ** y)/dx = y * x ** (y - 1), but 0 wherever y == 0 (x ** 0 is the constant 1; at
    #   x == 0 the formula would be 0 * inf).
    # d(x ** y)/dy = x ** y * log(x). At x == 0: 0 for y >= 0 (0 ** y is 0 for every y > 0,
    #   as JAX and PyTorch); for y < 0 the formula itself, 0 ** y * log(0) = inf * -inf =
    #   -inf, which is also the limit from positive bases (PyTorch's value; at -0.0 and an
    #   odd integer y, (-0.0) ** y = -inf makes it +inf, as in PyTorch); NaN for a NaN y.
    #   For x < 0 it is NaN (log(x)): x ** y is real only at integer y, so it has no
    #   derivative in y (JAX's and PyTorch's value).
    # The special points are selected, never multiplied away (NaN * 0 is NaN), and each
    # unselected branch is computed at a safe point (y = 1, x = 1) where it is finite, so
    # its zero cotangent gives zeros, not NaN, in second derivatives.
    x, y = n.inputs
    if not is_float(x.dtype):
        return [None, None]  # integer powers are not differentiable
    zero, one = b.zeros(x.type), b.full(1, x.type)
    y_is_zero = b.eq(y, zero)
    safe_y = b.select(y_is_zero, one, y)
    dx = b.select(y_is_zero, zero, b.mul(ct, b.mul(safe_y, b.pow(x, b.sub(safe_y, one)))))
    flat_at_zero = b.bitwise_and(b.eq(x, zero), b.ge(y, zero))  # 0 ** y, y >= 0: 0 nearby
    safe_x = b.select(flat_at_zero, one, x)
    general = b.mul(ct, b.mul(b.pow(safe_x, y), b.log(safe_x)))
    dy = b.select(flat_at_zero, zero, general)
    return [dx, dy]


register(
    Primitive(
        "pow", _same_type_rule("pow", float_only=False), _pow_reference, _pow_vjp, num_inputs=2
    )
)


def _minmax_vjp(strict_compare: str):
    def vjp(b, n, ct):
        # The winner gets the cotangent; a tie splits it in half.
        x, y = n.inputs
        wins = b.convert(b.emit(strict_compare, x, y), dtype=x.dtype)
        ties = b.convert(b.eq(x, y), dtype=x.dtype)
        weight_x = b.add(wins, b.scale(ties, 0.5))
        weight_y = b.sub(b.full(1, x.type), weight_x)
        return [b.mul(ct, weight_x), b.mul(ct, weight_y)]

    return vjp


_define_binary("max", np.maximum, _minmax_vjp("gt"))
_define_binary("min", np.minimum, _minmax_vjp("lt"))

# ---------------------------------------------------------------------------
# Floor division and remainder: numpy's floor_divide, remainder (and so divmod)
#
# Integers (int32), as Python and numpy:
#     floor_divide(x, y) = floor(x / y),  remainder(x, y) = x - y * floor_divide(x, y)
#     (the remainder has y's sign); y == 0 gives 0 for both (numpy's result, without its
#     warning); INT_MIN // -1 wraps to INT_MIN and INT_MIN % -1 is 0. Compiled code
#     guards the divisor, so neither traps nor is undefined behaviour.
#
# Floats: numpy's npy_divmod, step by step in the dtype (float16 and bfloat16 in float32,
# the result rounded once), which every backend renders as written, so results equal
# numpy's bit for bit (NaN as NaN). `!= 0` is true for NaN, `<` and `>` false:
#     mod = fmod(x, y)                          # exact, with x's sign
#     if y == 0: floor_divide = x / y (inf or nan), remainder = mod (nan); done
#     div = (x - mod) / y                       # nearly an integer
#     if mod != 0:
#         if (y < 0) != (mod < 0): mod += y; div -= 1   # the remainder takes y's sign
#     else: mod = copysign(0, y)
#     if div != 0:
#         q = floor(div); if div - q > 0.5: q += 1      # snapped to the nearest integer
#     else: q = copysign(0, x / y)
#     floor_divide = q, remainder = mod
#
# bool is refused (numpy computes these in int8, which tcomp lacks).
# Gradients: floor_divide is piecewise constant (no gradient);
# d remainder(x, y) = (1, -floor_divide(x, y)), as remainder = x - y * floor_divide(x, y).

_define_binary("floor_divide", np.floor_divide, lambda b, n, ct: [None, None])
_define_binary(
    "remainder",
    np.remainder,
    lambda b, n, ct: [ct, b.neg(b.mul(ct, b.floor_divide(*n.inputs)))],
)

# ---------------------------------------------------------------------------
# Comparisons: bool results, no gradient


def applied_to_inputs(fn: Callable[..., Any]) -> Callable[[Sequence[np.ndarray], Any], np.ndarray]:
    """The numpy reference that applies the ufunc ``fn`` to a node's inputs."""

    def reference(inputs: Sequence[np.ndarray], attrs: Any) -> np.ndarray:
        return np.asarray(fn(*inputs))

    return reference


for _name, _fn in [
    ("eq", np.equal),
    ("ne", np.not_equal),
    ("lt", np.less),
    ("le", np.less_equal),
    ("gt", np.greater),
    ("ge", np.greater_equal),
]:
    register(
        Primitive(
            _name,
            _compare_rule(_name),
            applied_to_inputs(_fn),
            None,
            num_inputs=2,
        )
    )

# ---------------------------------------------------------------------------
# select(pred, a, b) = a where pred else b


def _select_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    pred, a, b = types
    if pred.dtype != "bool":
        raise type_error("select", f"the condition must be bool, got {pred.dtype}", *types)
    if not (pred.shape == a.shape == b.shape):
        raise shape_error("select", "condition and both branches must have equal shapes", *types)
    if a.dtype != b.dtype:
        raise type_error("select", "both branches must have one dtype", *types)
    return a


def _select_vjp(b, n, ct):
    # d select(p, x, y) = (none, p ? 1 : 0, p ? 0 : 1)
    pred = n.inputs[0]
    zero = b.zeros(ct.type)
    return [None, b.select(pred, ct, zero), b.select(pred, zero, ct)]


register(
    Primitive(
        "select",
        _select_infer,
        lambda inputs, attrs: np.where(*inputs),
        _select_vjp,
        num_inputs=3,
    )
)

# ---------------------------------------------------------------------------
# convert(x) {dtype}: numpy's astype (float -> int truncates toward zero, out of range by
# float_to_int's rule; int -> int wraps); to bfloat16 tcomp's rounding
# (tcomp.ir.bfloat16: once, from the exact value), not ml_dtypes'


def _dtype_attr(op: str, dtype: object) -> str:
    """The dtype named by a ``dtype`` attribute; an unsupported one is an error naming the op."""
    try:
        return canonical_dtype(dtype)
    except TcompTypeError as error:
        raise type_error(op, str(error)) from None


def _convert_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    return types[0].with_dtype(_dtype_attr("convert", attrs["dtype"]))


def float_to_int(x: np.ndarray, dtype: str) -> np.ndarray:
    """Floats converted to the integer ``dtype`` by tcomp's rule (numpy's on x86, made
    explicit, as C leaves out-of-range conversions undefined):

    - int32 and int64: truncation toward zero in range; the least value (``INT_MIN``,
      x86's "integer indefinite") for NaN and values out of range;
    - int8 and uint8: as int32, then wrapped to 8 bits; uint32: as int64, then wrapped
      to 32 bits (what x86 compilers emit, so ``-1.0`` gives 255 as uint8).
    """
    if dtype in ("int8", "uint8", "uint32"):
        wide = float_to_int(x, "int64" if dtype == "uint32" else "int32")
        return wide.astype(numpy_dtype(dtype))  # wraps
    bits = 31 if dtype == "int32" else 63
    values = np.asarray(x, dtype=np.float64)
    in_range = (values >= -(2.0**bits)) & (values < 2.0**bits)  # false for NaN
    safe = np.where(in_range, values, 0.0)
    with np.errstate(all="ignore"):
        return np.where(in_range, np.trunc(safe), -(2**bits)).astype(numpy_dtype(dtype))


def _convert_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    x, dtype = inputs[0], attrs["dtype"]
    with np.errstate(all="ignore"):
        if dtype == "bfloat16":
            return to_bfloat16(x)  # tcomp's rounding: once, from the exact value
        if is_float(canonical_dtype(x.dtype)) and dtype not in ("bool",) and not is_float(dtype):
            return np.asarray(float_to_int(x, dtype))
        return x.astype(numpy_dtype(dtype))


def _convert_vjp(b, n, ct):
    # d convert(x) = 1 between float types; nothing flows to an int or bool input
    source = n.inputs[0].dtype
    if is_float(source) and is_float(ct.dtype):
        return [b.convert_to(ct, source)]
    return [None]


register(
    Primitive(
        "convert",
        _convert_infer,
        _convert_reference,
        _convert_vjp,
        {"dtype": AttrKind.DTYPE},
        num_inputs=1,
    )
)

# ---------------------------------------------------------------------------
# Constants and iota (no inputs, no gradient)


def _constant_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    value = attrs["value"]
    if not isinstance(value, np.ndarray):
        raise type_error("constant", f"value must be a numpy array, got {type(value).__name__}")
    return TensorType(tuple(int(d) for d in value.shape), _dtype_attr("constant", value.dtype))


register(
    Primitive(
        "constant",
        _constant_infer,
        lambda inputs, attrs: attrs["value"],
        None,
        {"value": AttrKind.DENSE},
        num_inputs=0,
    )
)


def _iota_infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    shape = tuple(attrs["shape"])
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise shape_error("iota", f"invalid shape {shape}")
    if not 0 <= attrs["axis"] < len(shape):
        raise shape_error("iota", f"axis {attrs['axis']} out of range for shape {shape}")
    dtype = _dtype_attr("iota", attrs["dtype"])
    if dtype == "bool":
        raise type_error("iota", "is not defined on bool (indices above 1 have no bool value)")
    return TensorType(shape, dtype)


def _iota_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    """iota {shape, axis, dtype}: each element is its index along ``axis``."""
    shape, axis = tuple(attrs["shape"]), attrs["axis"]
    if attrs["dtype"] == "bfloat16":
        ramp = to_bfloat16(np.arange(shape[axis]))  # each index rounded once, by tcomp's rule
    else:
        ramp = np.arange(shape[axis], dtype=numpy_dtype(attrs["dtype"]))
    ramp = ramp.reshape([-1 if i == axis else 1 for i in range(len(shape))])
    return np.ascontiguousarray(np.broadcast_to(ramp, shape))


register(
    Primitive(
        "iota",
        _iota_infer,
        _iota_reference,
        None,
        # the axis is checked against the shape attribute by the rule (iota has no input)
        {"shape": AttrKind.SHAPE, "axis": AttrKind.INDEX, "dtype": AttrKind.DTYPE},
        num_inputs=0,
    )
)
