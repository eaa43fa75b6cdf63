"""Every graph-IR primitive's numpy ``reference`` against a direct numpy
expression, for every dtype its rule accepts, and its raw result dtype
against the inferred one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np
import pytest
from gradcheck import (
    away_from_zero,
    one_op_function,
    pad_amounts,
    reshape_targets,
    rngs,
    shapes,
    sides,
    slice_bounds,
    subset_of,
    type_of,
    values,
)
from hypothesis import given
from hypothesis import strategies as st
from threefry_reference import threefry_arrays

from tcomp.backends.reference.executor import evaluate
from tcomp.ir.errors import TcompTypeError
from tcomp.ir.primitives import PRIMITIVES
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS  # tested in test_distributed_jit.py
from tcomp.ir.primitives.control_flow import CONTROL_FLOW_OPS
from tcomp.ir.types import DTYPE_NAMES, is_float, numpy_dtype

FLOATS = ("float16", "bfloat16", "float32", "float64")
NUMERIC = FLOATS + ("int32",)
ALL = DTYPE_NAMES
NEW_INTS = ("int8", "uint8", "uint32", "int64")

# ---------------------------------------------------------------------------
# 2. References against direct numpy expressions, for every accepted dtype


@dataclass
class RefCase:
    accepts: tuple[str, ...]
    make: Callable  # (draw, rng, dtype) -> (inputs, attrs)
    expect: Callable  # (inputs as given, attrs) -> expected array


def _f64(x: np.ndarray) -> np.ndarray:
    """Widens for an exact-enough expectation: floats to float64, ints to int64."""
    if x.dtype == np.bool_:
        return x
    return x.astype(np.int64 if x.dtype == np.int32 else np.float64)


def _unary_make(low=-3, high=3):
    def make(draw, rng, dtype):
        return [values(rng, draw(shapes(min_dims=0)), dtype, low, high)], {}

    return make


def _binary_make(x_range=(-3, 3), y_range=(-3, 3), y_away_from_zero=False):
    def make(draw, rng, dtype):
        shape = draw(shapes(min_dims=0))
        x = values(rng, shape, dtype, *x_range)
        if y_away_from_zero and is_float(dtype):
            y = away_from_zero(rng, shape, dtype, 0.5, 3)
        else:
            y = values(rng, shape, dtype, *y_range)
        return [x, y], {}

    return make


def _make_division(draw, rng, dtype):
    """x in [-10, 10] and a divisor at least 0.5 away from zero (ints: nonzero); the zero
    divisors and other edges are tests/test_floor_divide.py's."""
    shape = draw(shapes(min_dims=0))
    x = values(rng, shape, dtype, -10, 10)
    if is_float(dtype):
        return [x, away_from_zero(rng, shape, dtype, 0.5, 3)], {}
    y = values(rng, shape, dtype, -3, 3)
    return [x, np.where(y == 0, np.int32(2), y).astype(np.int32)], {}


def _exact_division(part: str):
    """floor(x / y) (``part="quotient"``) or x - y * floor(x / y) in exact rational
    arithmetic, for nonzero y: what numpy's algorithm computes (then rounded)."""

    def expect(inputs, attrs):
        x, y = (_f64(v) for v in inputs)
        out = np.zeros(x.shape, dtype=x.dtype)
        for index in np.ndindex(*x.shape):
            a, b = Fraction(x[index].item()), Fraction(y[index].item())
            quotient = math.floor(a / b)
            out[index] = quotient if part == "quotient" else a - b * quotient
        return out

    return expect


def _make_pow(draw, rng, dtype):
    """Floats: a positive base (fractional exponents stay real). int32: bases in [-3, 3]
    and exponents in [-3, 40] (negative ones, and powers that wrap around int32)."""
    if is_float(dtype):
        return _binary_make(x_range=(0.5, 3), y_range=(-2, 2))(draw, rng, dtype)
    shape = draw(shapes(min_dims=0))
    return [values(rng, shape, dtype, -3, 3), values(rng, shape, dtype, -3, 40)], {}


def _expect_pow(inputs, attrs):
    """Floats: x ** y in float64. int32, exactly in Python ints: x ** y wrapped to int32
    for y >= 0, and 1 / x ** -y truncated toward zero for y < 0 (0 when x == 0)."""
    x, y = inputs
    if x.dtype != np.int32:
        return _f64(x) ** _f64(y)
    out = np.zeros(x.shape, dtype=np.int64)
    for index in np.ndindex(*x.shape):
        a, b = int(x[index]), int(y[index])
        if b >= 0:
            out[index] = (a**b + 2**31) % 2**32 - 2**31
        else:
            out[index] = 0 if a == 0 else math.trunc(Fraction(1, a ** -b))
    return out


def _logistic_expect(inputs, attrs):
    return 1 / (1 + np.exp(-_f64(inputs[0])))


REF_CASES: dict[str, RefCase] = {
    "neg": RefCase(NUMERIC, _unary_make(), lambda i, a: -_f64(i[0])),
    "abs": RefCase(NUMERIC, _unary_make(), lambda i, a: np.abs(_f64(i[0]))),
    "sign": RefCase(NUMERIC, _unary_make(), lambda i, a: np.sign(_f64(i[0]))),
    "exp": RefCase(FLOATS, _unary_make(), lambda i, a: np.exp(_f64(i[0]))),
    "log": RefCase(FLOATS, _unary_make(0.1, 5), lambda i, a: np.log(_f64(i[0]))),
    "sqrt": RefCase(FLOATS, _unary_make(0.0, 5), lambda i, a: np.sqrt(_f64(i[0]))),
    "tanh": RefCase(FLOATS, _unary_make(), lambda i, a: np.tanh(_f64(i[0]))),
    "sin": RefCase(FLOATS, _unary_make(), lambda i, a: np.sin(_f64(i[0]))),
    "cos": RefCase(FLOATS, _unary_make(), lambda i, a: np.cos(_f64(i[0]))),
    "logistic": RefCase(FLOATS, _unary_make(-30, 30), _logistic_expect),
    "stop_gradient": RefCase(ALL, _unary_make(), lambda i, a: i[0]),
    "add": RefCase(NUMERIC, _binary_make(), lambda i, a: _f64(i[0]) + _f64(i[1])),
    "sub": RefCase(NUMERIC, _binary_make(), lambda i, a: _f64(i[0]) - _f64(i[1])),
    "mul": RefCase(NUMERIC, _binary_make(), lambda i, a: _f64(i[0]) * _f64(i[1])),
    "div": RefCase(
        FLOATS, _binary_make(y_away_from_zero=True), lambda i, a: _f64(i[0]) / _f64(i[1])
    ),
    "pow": RefCase(NUMERIC, _make_pow, _expect_pow),
    "max": RefCase(NUMERIC, _binary_make(), lambda i, a: np.maximum(i[0], i[1])),
    "min": RefCase(NUMERIC, _binary_make(), lambda i, a: np.minimum(i[0], i[1])),
    "floor_divide": RefCase(NUMERIC, _make_division, _exact_division("quotient")),
    "remainder": RefCase(NUMERIC, _make_division, _exact_division("remainder")),
}

for _name, _fn in [
    ("eq", np.equal),
    ("ne", np.not_equal),
    ("lt", np.less),
    ("le", np.less_equal),
    ("gt", np.greater),
    ("ge", np.greater_equal),
]:
    REF_CASES[_name] = RefCase(ALL, _binary_make(), lambda i, a, fn=_fn: fn(i[0], i[1]))

# ---------------------------------------------------------------------------
# Math functions, predicates and bitwise ops (ir/primitives/math_functions.py, bitwise.py)


def _make_with_halves(draw, rng, dtype):
    """Values in [-5, 5], about half of them whole or halves (ties: rint rounds to even)."""
    x = values(rng, draw(shapes(min_dims=0)), dtype, -5, 5)
    if is_float(dtype):
        halves = values(rng, x.shape, "int32", -10, 10).astype(np.float64) / 2
        x = np.where(rng.random(x.shape) < 0.5, halves, x).astype(x.dtype)
    return [x], {}


def _make_with_specials(draw, rng, dtype):
    """Values with NaN, +inf and -inf among them (floats)."""
    x = values(rng, draw(shapes(min_dims=0)), dtype)
    if is_float(dtype):
        specials = np.array([np.nan, np.inf, -np.inf, 0.0], dtype=np.float64)
        chosen = specials[rng.integers(0, len(specials), x.shape)]
        x = np.where(rng.random(x.shape) < 0.5, chosen, x).astype(x.dtype)
    return [x], {}


def _erf_expect(inputs, attrs):
    return np.vectorize(math.erf, otypes=[np.float64])(_f64(inputs[0]))


def _make_shift(draw, rng, dtype):
    """int32 values of every size, shift amounts in [-40, 40] (outside 0..31 too)."""
    shape = draw(shapes(min_dims=0))
    big = 2**31 if dtype == "int32" else 3  # other dtypes: only to see them refused
    x = values(rng, shape, dtype, -big, big - 1)
    return [x, values(rng, shape, dtype, -40, 40)], {}


def _unary_math_case(fn, low: float, high: float) -> RefCase:
    return RefCase(FLOATS, _unary_make(low, high), lambda i, a: fn(_f64(i[0])))


REF_CASES.update(
    {
        "floor": RefCase(FLOATS, _make_with_halves, lambda i, a: np.floor(_f64(i[0]))),
        "ceil": RefCase(FLOATS, _make_with_halves, lambda i, a: np.ceil(_f64(i[0]))),
        "trunc": RefCase(FLOATS, _make_with_halves, lambda i, a: np.trunc(_f64(i[0]))),
        "rint": RefCase(FLOATS, _make_with_halves, lambda i, a: np.rint(_f64(i[0]))),
        "erf": RefCase(FLOATS, _unary_make(-4, 4), _erf_expect),
        "log1p": _unary_math_case(np.log1p, -0.9, 5),
        "expm1": _unary_math_case(np.expm1, -3, 3),
        "sinh": _unary_math_case(np.sinh, -3, 3),
        "cosh": _unary_math_case(np.cosh, -3, 3),
        "asinh": _unary_math_case(np.arcsinh, -5, 5),
        "acosh": _unary_math_case(np.arccosh, 1, 5),
        "atanh": _unary_math_case(np.arctanh, -0.95, 0.95),
        "asin": _unary_math_case(np.arcsin, -1, 1),
        "acos": _unary_math_case(np.arccos, -1, 1),
        "atan": _unary_math_case(np.arctan, -5, 5),
        "isnan": RefCase(ALL, _make_with_specials, lambda i, a: np.isnan(i[0])),
        "isinf": RefCase(ALL, _make_with_specials, lambda i, a: np.isinf(i[0])),
        "isfinite": RefCase(ALL, _make_with_specials, lambda i, a: np.isfinite(i[0])),
        "bitwise_and": RefCase(
            ("int32", "bool"), _binary_make((-1000, 1000), (-1000, 1000)), lambda i, a: i[0] & i[1]
        ),
        "bitwise_or": RefCase(
            ("int32", "bool"), _binary_make((-1000, 1000), (-1000, 1000)), lambda i, a: i[0] | i[1]
        ),
        "bitwise_xor": RefCase(
            ("int32", "bool"), _binary_make((-1000, 1000), (-1000, 1000)), lambda i, a: i[0] ^ i[1]
        ),
        "bitwise_not": RefCase(("int32", "bool"), _unary_make(-1000, 1000), lambda i, a: ~i[0]),
        # numpy's int32 shifts are tcomp's definition (every amount, negative ones too)
        "left_shift": RefCase(("int32",), _make_shift, lambda i, a: np.left_shift(i[0], i[1])),
        "right_shift": RefCase(("int32",), _make_shift, lambda i, a: np.right_shift(i[0], i[1])),
    }
)


def _make_threefry(draw, rng, dtype):
    """Key and counter words of every size (int32 bit patterns of uint32), either word."""
    shape = draw(shapes(min_dims=0))
    big = 2**31 if dtype == "int32" else 3  # other dtypes: only to see them refused
    words = [values(rng, shape, dtype, -big, big - 1) for _ in range(4)]
    return words, {"word": draw(st.sampled_from((0, 1)))}


# an independent Threefry (Python ints, from Random123's definition): tests/threefry_reference.py
REF_CASES["threefry2x32"] = RefCase(
    ("int32",), _make_threefry, lambda i, a: threefry_arrays(*i, word=a["word"])
)


def _make_select(draw, rng, dtype):
    shape = draw(shapes(min_dims=0))
    return [values(rng, shape, "bool"), values(rng, shape, dtype), values(rng, shape, dtype)], {}


def _make_convert(draw, rng, dtype):
    # the target dtype is drawn; float -> int truncates toward zero within int32 range
    x = values(rng, draw(shapes(min_dims=0)), dtype, -5, 5)
    return [x], {"dtype": draw(st.sampled_from(ALL))}


def _expect_convert(inputs, attrs):
    x, target = inputs[0], attrs["dtype"]
    if target == "bool":
        return x != 0
    if target == "int32" and x.dtype.kind == "f":
        return np.trunc(_f64(x)).astype(np.int64)
    return _f64(x)


def _make_constant(draw, rng, dtype):
    return [], {"value": values(rng, draw(shapes(min_dims=0)), dtype)}


def _make_iota(draw, rng, dtype):
    shape = draw(shapes())
    return [], {"shape": shape, "axis": draw(st.integers(0, len(shape) - 1)), "dtype": dtype}


def _expect_iota(inputs, attrs):
    return np.indices(attrs["shape"])[attrs["axis"]]


def _make_reduce(nonempty: bool):
    def make(draw, rng, dtype):
        shape = list(draw(shapes(min_dims=0)))
        axes = draw(subset_of(len(shape)))
        if nonempty:
            for a in axes:
                shape[a] = max(shape[a], 1)
        return [values(rng, tuple(shape), dtype)], {"axes": axes}

    return make


def _make_argmax(draw, rng, dtype):
    shape = list(draw(shapes()))
    axis = draw(st.integers(0, len(shape) - 1))
    shape[axis] = max(shape[axis], 1)
    return [values(rng, tuple(shape), dtype)], {"axis": axis}


def _make_layout(build_attrs):
    def make(draw, rng, dtype):
        shape = draw(shapes(min_dims=0, max_side=4))
        attrs = draw(build_attrs(shape))
        if dtype in ("uint8", "uint32") and "value" in attrs:
            attrs = dict(attrs, value=abs(attrs["value"]))  # a pad value the dtype holds
        return [values(rng, shape, dtype)], attrs

    return make


def _expect_slice(inputs, attrs):
    index = tuple(slice(*b) for b in zip(attrs["start"], attrs["stop"], attrs["step"]))
    return inputs[0][index]


def _broadcast_attrs(shape):
    # each 1-axis may stretch to any length (0 included); other axes stay
    stretched = st.lists(st.integers(0, 3), min_size=len(shape), max_size=len(shape))
    return stretched.map(
        lambda new: {"shape": tuple(n if d == 1 else d for d, n in zip(shape, new))}
    )


def _expect_broadcast(inputs, attrs):
    x, target = inputs[0], attrs["shape"]
    out = np.empty(target, dtype=x.dtype)
    for position in np.ndindex(*target):
        out[position] = x[tuple(0 if d == 1 else p for d, p in zip(x.shape, position))]
    return out


def _expect_rev(inputs, attrs):
    x = inputs[0]
    index = tuple(
        slice(None, None, -1) if k in attrs["axes"] else slice(None) for k in range(x.ndim)
    )
    return x[index]


def _pad_attrs(shape):
    return pad_amounts(len(shape)).flatmap(
        lambda amounts: st.sampled_from([0, 1, -2]).map(lambda v: dict(amounts, value=v))
    )


def _expect_pad(inputs, attrs):
    x = inputs[0]
    value = np.asarray(attrs["value"]).astype(x.dtype)
    # interior padding by hand: spread each axis, then numpy's edge padding
    for axis, gap in enumerate(attrs["interior"]):
        if gap and x.shape[axis] > 1:
            pieces = []
            for i in range(x.shape[axis]):
                pieces.append(np.take(x, [i], axis=axis))
                if i + 1 < x.shape[axis]:
                    filler_shape = list(x.shape)
                    filler_shape[axis] = gap
                    pieces.append(np.full(filler_shape, value, dtype=x.dtype))
            x = np.concatenate(pieces, axis=axis)
    if x.ndim == 0:
        return x
    widths = list(zip(attrs["low"], attrs["high"]))
    return np.pad(x, widths, constant_values=value)


def _make_concatenate(draw, rng, dtype):
    shape = list(draw(shapes()))
    axis = draw(st.integers(0, len(shape) - 1))
    inputs = []
    for _ in range(draw(st.integers(1, 3))):
        shape[axis] = draw(sides())
        inputs.append(values(rng, tuple(shape), dtype))
    return inputs, {"axis": axis}


def _make_matmul(draw, rng, dtype):
    batch = draw(shapes(min_dims=0, max_dims=2, max_side=2))
    m, k, n = (draw(sides()) for _ in range(3))
    return [values(rng, batch + (m, k), dtype), values(rng, batch + (k, n), dtype)], {}


def _make_conv(draw, rng, dtype):
    from window_reference import conv_attrs_and_shapes

    x_shape, w_shape, attrs = draw(conv_attrs_and_shapes())
    return [values(rng, x_shape, dtype), values(rng, w_shape, dtype)], attrs


def _expect_conv(inputs, attrs):
    from window_reference import direct_conv

    return direct_conv(*(_f64(x) for x in inputs), **attrs)


def _make_window(op):
    def make(draw, rng, dtype):
        from window_reference import window_attrs_and_shapes

        shape, attrs = draw(window_attrs_and_shapes("sum" if op == "reduce_window_sum" else "max"))
        return [values(rng, shape, dtype)], attrs

    return make


def _expect_window(op):
    kind = {"reduce_window_sum": "sum", "reduce_window_max": "max", "window_argmax": "argmax"}[op]

    def expect(inputs, attrs):
        from window_reference import direct_window

        return direct_window(_f64(inputs[0]), kind, **attrs)

    return expect


def _make_gather(draw, rng, dtype):
    shape = list(draw(shapes()))
    axis = draw(st.integers(0, len(shape) - 1))
    size = shape[axis] = max(shape[axis], 1)
    index_shape = draw(shapes(min_dims=0, max_dims=2))
    indices = np.asarray(rng.integers(-size - 2, size + 2, index_shape), dtype=np.int32)
    return [values(rng, tuple(shape), dtype), indices], {"axis": axis}


def _expect_gather(inputs, attrs):
    x, indices = inputs
    size = x.shape[attrs["axis"]]
    wrapped = np.where(indices < 0, indices + size, indices)
    return np.take(x, wrapped, axis=attrs["axis"], mode="clip")


def _make_scatter(draw, rng, dtype):
    index_shape = draw(shapes(min_dims=0, max_dims=2))
    before, after = draw(shapes(min_dims=0, max_dims=1)), draw(shapes(min_dims=0, max_dims=1))
    size = draw(st.integers(1, 4))
    indices = np.asarray(rng.integers(-size - 2, size + 2, index_shape), dtype=np.int32)
    updates = values(rng, before + index_shape + after, dtype)
    return [updates, indices], {"axis": len(before), "size": size}


def _expect_scatter(inputs, attrs):
    updates, indices = inputs
    axis, size = attrs["axis"], attrs["size"]
    out = np.zeros(updates.shape[:axis] + (size,) + updates.shape[axis + indices.ndim :])
    out = _f64(out.astype(updates.dtype))
    for position in np.ndindex(*indices.shape):
        index = int(indices[position])
        target = min(max(index + size if index < 0 else index, 0), size - 1)
        source = (slice(None),) * axis + position
        out[(slice(None),) * axis + (target,)] += _f64(updates[source])
    return out


REF_CASES.update(
    {
        "select": RefCase(ALL, _make_select, lambda i, a: np.where(i[0], i[1], i[2])),
        "convert": RefCase(ALL, _make_convert, _expect_convert),
        "constant": RefCase(ALL, _make_constant, lambda i, a: a["value"]),
        "iota": RefCase(NUMERIC, _make_iota, _expect_iota),
        "reduce_sum": RefCase(
            NUMERIC, _make_reduce(False), lambda i, a: np.sum(_f64(i[0]), axis=a["axes"])
        ),
        "reduce_max": RefCase(
            NUMERIC, _make_reduce(True), lambda i, a: np.max(i[0], axis=a["axes"])
        ),
        "reduce_min": RefCase(
            NUMERIC, _make_reduce(True), lambda i, a: np.min(i[0], axis=a["axes"])
        ),
        "argmax": RefCase(ALL, _make_argmax, lambda i, a: np.argmax(i[0], axis=a["axis"])),
        "reshape": RefCase(
            ALL,
            _make_layout(lambda s: reshape_targets(s).map(lambda t: {"shape": t})),
            lambda i, a: np.reshape(i[0], a["shape"]),
        ),
        "transpose": RefCase(
            ALL,
            _make_layout(
                lambda s: st.permutations(range(len(s))).map(lambda p: {"perm": tuple(p)})
            ),
            lambda i, a: np.transpose(i[0], a["perm"]),
        ),
        "broadcast_to": RefCase(ALL, _make_layout(_broadcast_attrs), _expect_broadcast),
        "slice": RefCase(ALL, _make_layout(slice_bounds), _expect_slice),
        "rev": RefCase(
            ALL,
            _make_layout(lambda s: subset_of(len(s)).map(lambda axes: {"axes": axes})),
            _expect_rev,
        ),
        "pad": RefCase(ALL, _make_layout(_pad_attrs), _expect_pad),
        "concatenate": RefCase(
            ALL, _make_concatenate, lambda i, a: np.concatenate(i, axis=a["axis"])
        ),
        "matmul": RefCase(
            NUMERIC,
            _make_matmul,
            lambda i, a: np.einsum("...mk,...kn->...mn", _f64(i[0]), _f64(i[1])),
        ),
        "conv": RefCase(NUMERIC, _make_conv, _expect_conv),
        **{op: RefCase(NUMERIC if op == "reduce_window_sum" else FLOATS, _make_window(op),
                       _expect_window(op))
           for op in ("reduce_window_sum", "reduce_window_max", "window_argmax")},
        "gather": RefCase(ALL, _make_gather, _expect_gather),
        "scatter_add": RefCase(NUMERIC, _make_scatter, _expect_scatter),
    }
)

# float16 sums (reduce_sum, matmul, scatter_add) round at every partial sum
_TOLERANCES = {"float16": (2e-3, 3e-2), "bfloat16": (1e-2, 3e-2), "float32": (1e-5, 1e-5),
               "float64": (1e-12, 1e-12)}


def test_every_primitive_has_a_reference_check():
    assert set(REF_CASES) == set(PRIMITIVES) - CONTROL_FLOW_OPS - COLLECTIVE_OPS  # test_control_flow_*.py


def _check_reference(op: str, inputs, attrs):
    primitive = PRIMITIVES[op]
    out_type = primitive.check_call([type_of(x) for x in inputs], attrs)
    if any(type_of(x).dtype == "bfloat16" for x in inputs):
        # bfloat16's meaning is the reference run in float32 and rounded (Primitive.evaluate)
        raw = primitive.evaluate(list(inputs), attrs, out_type.dtype)
    else:
        raw = primitive.reference(list(inputs), attrs)
    assert isinstance(raw, np.ndarray), f"{op} reference gave a {type(raw).__name__}, not an array"
    assert raw.dtype == numpy_dtype(out_type.dtype), f"{op} gave {raw.dtype}, rule says {out_type}"
    assert raw.shape == out_type.shape
    return out_type, raw


REF_PARAMS = [(op, dtype) for op in sorted(REF_CASES) for dtype in REF_CASES[op].accepts]


@pytest.mark.parametrize("op, dtype", REF_PARAMS)
@given(data=st.data())
def test_reference_matches_numpy(op, dtype, data):
    case = REF_CASES[op]
    rng = data.draw(rngs())
    inputs, attrs = case.make(data.draw, rng, dtype)
    out_type, raw = _check_reference(op, inputs, attrs)
    expected = np.asarray(case.expect(inputs, attrs))
    if is_float(out_type.dtype):
        rtol, atol = _TOLERANCES[out_type.dtype]
        with np.errstate(all="ignore"):
            expected = expected.astype(np.float64)
        np.testing.assert_allclose(raw.astype(np.float64), expected, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(raw, expected.astype(raw.dtype))
    # the executor agrees with the raw reference
    if inputs:
        function = one_op_function(op, inputs, attrs)
        (result,) = evaluate(function, inputs)
        np.testing.assert_array_equal(result, raw)


@pytest.mark.parametrize(
    "op, dtype",
    [
        (op, d) for op in sorted(REF_CASES) for d in ALL
        if d not in REF_CASES[op].accepts
        # an op on int32 takes the other integer dtypes too (tests/test_int_dtypes.py)
        and not (d in NEW_INTS and "int32" in REF_CASES[op].accepts)
    ],
)
@given(data=st.data())
def test_rejected_dtypes_raise_a_type_error_naming_the_op(op, dtype, data):
    inputs, attrs = REF_CASES[op].make(data.draw, data.draw(rngs()), dtype)
    with pytest.raises(TcompTypeError, match=f"^{op}: "):
        PRIMITIVES[op].check_call([type_of(x) for x in inputs], attrs)
