"""Elementwise methods and operators of the shim's Tensor: each one tcomp function."""

from __future__ import annotations

from typing import Any

from bench.op_suite.dtypes import to_dtype
from bench.op_suite.lookup import fn
from bench.op_suite.promotion import torch_mixed


def _unary(tinygrad_name: str, *tcomp_names: str, where: str = "tcomp") -> Any:
    """A method calling the first of ``tcomp_names`` (else ``tinygrad_name``) that tcomp
    has; the tinygrad spelling is tried last."""
    names = tuple(dict.fromkeys((*tcomp_names, tinygrad_name)))

    def method(self: Any) -> Any:
        return self._record(names[0], fn(*names, where=where), self)

    method.__name__ = tinygrad_name
    method.__doc__ = f"``tcomp{'' if where == 'tcomp' else '.' + where}.{names[0]}(x)``."
    return method


def _binary(tinygrad_name: str, tcomp_name: str, reflected: bool = False) -> Any:
    def method(self: Any, other: Any) -> Any:
        f = fn(tcomp_name)
        left, right = (other, self) if reflected else (self, other)
        left, right = torch_mixed(tcomp_name, left, right)
        return self._record(tcomp_name, f, left, right)

    method.__name__ = tinygrad_name
    method.__doc__ = f"``tcomp.{tcomp_name}``{' with the operands swapped' if reflected else ''}."
    return method


class ElementwiseMethods:
    """Arithmetic, comparisons, math functions, casts and activations that are one
    tcomp function each."""

    # operators
    __add__ = add = _binary("add", "add")
    __radd__ = _binary("__radd__", "add", reflected=True)
    __sub__ = sub = _binary("sub", "subtract")
    __rsub__ = _binary("__rsub__", "subtract", reflected=True)
    __mul__ = mul = _binary("mul", "multiply")
    __rmul__ = _binary("__rmul__", "multiply", reflected=True)
    __truediv__ = _binary("__truediv__", "divide")
    __rtruediv__ = _binary("__rtruediv__", "divide", reflected=True)
    __floordiv__ = _binary("__floordiv__", "floor_divide")
    __rfloordiv__ = _binary("__rfloordiv__", "floor_divide", reflected=True)
    __mod__ = mod = _binary("mod", "remainder")
    __rmod__ = _binary("__rmod__", "remainder", reflected=True)
    __pow__ = pow = _binary("pow", "power")
    __rpow__ = _binary("__rpow__", "power", reflected=True)
    __matmul__ = matmul = dot = _binary("matmul", "matmul")
    __rmatmul__ = _binary("__rmatmul__", "matmul", reflected=True)
    __and__ = bitwise_and = _binary("bitwise_and", "bitwise_and")
    __rand__ = _binary("__rand__", "bitwise_and", reflected=True)
    __or__ = bitwise_or = _binary("bitwise_or", "bitwise_or")
    __ror__ = _binary("__ror__", "bitwise_or", reflected=True)
    __xor__ = bitwise_xor = xor = _binary("xor", "bitwise_xor")
    __rxor__ = _binary("__rxor__", "bitwise_xor", reflected=True)
    __lshift__ = lshift = _binary("lshift", "left_shift")
    __rlshift__ = _binary("__rlshift__", "left_shift", reflected=True)
    __rshift__ = rshift = _binary("rshift", "right_shift")
    __rrshift__ = _binary("__rrshift__", "right_shift", reflected=True)
    __lt__ = _binary("__lt__", "less")
    __le__ = _binary("__le__", "less_equal")
    __gt__ = _binary("__gt__", "greater")
    __ge__ = _binary("__ge__", "greater_equal")
    __eq__ = eq = _binary("eq", "equal")  # type: ignore[assignment]
    __ne__ = ne = _binary("ne", "not_equal")  # type: ignore[assignment]
    maximum = _binary("maximum", "maximum")
    minimum = _binary("minimum", "minimum")
    fmod = _binary("fmod", "fmod")
    copysign = _binary("copysign", "copysign")
    logaddexp = _binary("logaddexp", "logaddexp")
    logical_and = _binary("logical_and", "logical_and")
    logical_or = _binary("logical_or", "logical_or")
    __neg__ = neg = _unary("neg", "negative")
    __invert__ = bitwise_not = _unary("bitwise_not", "bitwise_not")
    __abs__ = abs = _unary("abs")

    # math functions
    exp = _unary("exp")
    exp2 = _unary("exp2")
    log = _unary("log")
    log2 = _unary("log2")
    log10 = _unary("log10")
    sqrt = _unary("sqrt")
    rsqrt = _unary("rsqrt")
    square = _unary("square")
    reciprocal = _unary("reciprocal")
    sin = _unary("sin")
    cos = _unary("cos")
    tan = _unary("tan")
    asin = _unary("asin", "arcsin")
    acos = _unary("acos", "arccos")
    atan = _unary("atan", "arctan")
    sinh = _unary("sinh")
    cosh = _unary("cosh")
    tanh = _unary("tanh")
    asinh = _unary("asinh", "arcsinh")
    acosh = _unary("acosh", "arccosh")
    atanh = _unary("atanh", "arctanh")
    sign = _unary("sign")
    trunc = _unary("trunc")
    floor = _unary("floor")
    ceil = _unary("ceil")
    round = _unary("round")
    erf = _unary("erf")
    isnan = _unary("isnan")
    isfinite = _unary("isfinite")
    logical_not = _unary("logical_not")
    sigmoid = _unary("sigmoid")

    # activations (tcomp.nn)
    relu = _unary("relu", where="nn")
    relu6 = _unary("relu6", where="nn")
    silu = swish = _unary("silu", where="nn")
    mish = _unary("mish", where="nn")
    softsign = _unary("softsign", where="nn")
    selu = _unary("selu", where="nn")
    logsigmoid = _unary("logsigmoid", "log_sigmoid", where="nn")
    hardsigmoid = _unary("hardsigmoid", "hard_sigmoid", where="nn")
    hardswish = _unary("hardswish", "hard_swish", where="nn")
    quick_gelu = _unary("quick_gelu", where="nn")

    def gelu(self: Any, approximate: str = "tanh") -> Any:
        """``tcomp.nn.gelu``; tinygrad's default is the tanh form."""
        return self._record("gelu", fn("gelu", where="nn"), self, approximate=approximate)

    def elu(self: Any, alpha: float = 1.0) -> Any:
        return self._record("elu", fn("elu", where="nn"), self, alpha=alpha)

    def celu(self: Any, alpha: float = 1.0) -> Any:
        return self._record("celu", fn("celu", where="nn"), self, alpha=alpha)

    def leaky_relu(self: Any, neg_slope: float = 0.01) -> Any:
        return self._record(
            "leaky_relu", fn("leaky_relu", where="nn"), self, negative_slope=neg_slope
        )

    def softplus(self: Any, beta: float = 1.0) -> Any:
        return self._record("softplus", fn("softplus", where="nn"), self, beta=beta)

    def hardtanh(self: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
        return self._record(
            "hardtanh", fn("hardtanh", "hard_tanh", where="nn"), self, min_val, max_val
        )

    def isinf(self: Any, detect_positive: bool = True, detect_negative: bool = True) -> Any:
        if detect_positive and detect_negative:
            return self._record("isinf", fn("isinf"), self)
        if detect_positive:
            return self._record("isposinf", fn("isposinf"), self)
        if detect_negative:
            return self._record("isneginf", fn("isneginf"), self)
        # neither sign: nothing is detected, all False (tinygrad's result)
        return self._record("isinf", fn("zeros_like"), self, dtype="bool")

    def isclose(
        self: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
    ) -> Any:
        return self._record(
            "isclose", fn("isclose"), self, other, rtol=rtol, atol=atol, equal_nan=equal_nan
        )

    def lerp(self: Any, end: Any, weight: Any) -> Any:
        return self._record("lerp", fn("lerp"), self, end, weight)

    def clip(self: Any, min_: Any = None, max_: Any = None) -> Any:
        return self._record("clip", fn("clip"), self, min_, max_)

    clamp = clip

    def where(self: Any, x: Any, y: Any) -> Any:
        return self._record("where", fn("where"), self, x, y)

    def masked_fill(self: Any, mask: Any, value: Any) -> Any:
        """``where(mask, value, x)``: torch defines masked_fill so."""
        return self._record("where", fn("where"), mask, value, self)

    def div(self: Any, other: Any, rounding_mode: str | None = None) -> Any:
        """``divide``; ``"floor"``: ``floor_divide``; ``"trunc"``: ``trunc_divide``
        (rounded toward zero, torch's definition), each after torch's promotion of mixed
        int/float operands (:mod:`bench.op_suite.promotion`)."""
        names = {None: "divide", "floor": "floor_divide", "trunc": "trunc_divide"}
        if rounding_mode not in names:
            raise RuntimeError(
                f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}"
            )
        name = names[rounding_mode]
        left, right = torch_mixed(name, self, other)
        return self._record(name, fn(name), left, right)

    # casts
    def cast(self: Any, dtype: Any) -> Any:
        return self._record("astype", fn("astype"), self, to_dtype(dtype).tcomp_name)

    def bitcast(self: Any, dtype: Any) -> Any:
        return self._record(
            "bitcast", fn("bitcast", "bitcast_convert_type"), self, to_dtype(dtype).tcomp_name
        )

    def float(self: Any) -> Any:
        return self.cast("float32")

    def half(self: Any) -> Any:
        return self.cast("float16")

    def double(self: Any) -> Any:
        return self.cast("float64")

    def int(self: Any) -> Any:
        return self.cast("int32")

    def long(self: Any) -> Any:
        return self.cast("int64")

    def bool(self: Any) -> Any:
        return self.cast("bool")
