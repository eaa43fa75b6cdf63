"""Every graph-IR primitive, checked at the IR level.

1. Gradients: each differentiable primitive's VJP rule (through
   ``vjp_function`` and the reference executor) against central finite
   differences in float64, with shapes and attributes drawn by hypothesis;
   second derivatives (the VJP of a VJP) the same way; autodiff's
   bookkeeping (inactive paths, accumulation, repeated outputs).
2. References: each primitive's numpy ``reference`` against a direct numpy
   expression, for every dtype its rule accepts, and its raw result dtype
   against the inferred one.
3. Shape rules: bad shapes, dtypes and attributes raise TcompShapeError /
   TcompTypeError naming the op.
4. gather / scatter_add semantics (negative indices, clamping, repeats).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from gradcheck import (
    FIXED_GRAD_CASES,
    GRAD_CASES,
    GradCase,
    away_from_zero,
    case_id,
    check_gradients,
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

from tcomp.backends.reference.executor import evaluate
from tcomp.ir.autodiff import vjp_function
from tcomp.ir.builder import Emitter, FunctionBuilder
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.graph import Location
from tcomp.ir.primitives import PRIMITIVES
from tcomp.ir.types import DTYPE_NAMES, TensorType, is_float, numpy_dtype

FLOATS = ("float16", "float32", "float64")
NUMERIC = FLOATS + ("int32",)
ALL = DTYPE_NAMES

# ---------------------------------------------------------------------------
# 1. Gradients (the cases live in gradcheck.py)

# stop_gradient's rule is "no gradient", which finite differences of the
# identity contradict on purpose; test_stop_gradient checks it instead.
ZERO_GRADIENT_BY_DESIGN = {"stop_gradient"}


def test_every_differentiable_primitive_has_a_gradient_check():
    differentiable = {name for name, p in PRIMITIVES.items() if p.vjp is not None}
    assert differentiable == set(GRAD_CASES) | ZERO_GRADIENT_BY_DESIGN


def test_every_gradient_check_has_fixed_cases():
    assert {case.op for case in FIXED_GRAD_CASES} == set(GRAD_CASES)


def _check_first_order(case: GradCase) -> None:
    function = one_op_function(case.op, case.inputs, case.attrs)
    check_gradients(function, case.inputs, case.wrt, rng=case.rng)


def _check_second_order(case: GradCase) -> None:
    """The VJP function is differentiable again, in its inputs and in its cotangent."""
    function = one_op_function(case.op, case.inputs, case.attrs)
    first = vjp_function(function, case.wrt, [0])
    cotangent = case.rng.standard_normal(function.outputs[0].shape)
    inputs = case.inputs + [cotangent]
    grad_outputs = [1 + i for i in range(len(case.wrt))]
    check_gradients(first, inputs, case.wrt + (len(inputs) - 1,), grad_outputs, rng=case.rng)


@pytest.mark.parametrize("op", sorted(GRAD_CASES))
@given(data=st.data())
def test_gradient_matches_finite_differences(op, data):
    _check_first_order(data.draw(GRAD_CASES[op]))


@pytest.mark.parametrize("op", sorted(GRAD_CASES))
@given(data=st.data())
def test_second_derivative_matches_finite_differences(op, data):
    _check_second_order(data.draw(GRAD_CASES[op]))


@pytest.mark.parametrize("case", FIXED_GRAD_CASES, ids=case_id)
def test_fixed_case_gradients_match_finite_differences(case):
    _check_first_order(case)
    _check_second_order(case)


def test_gradient_check_can_fail(monkeypatch):
    """A wrong rule is caught: sin's gradient rule swapped for cos's."""
    monkeypatch.setattr(PRIMITIVES["sin"], "vjp", PRIMITIVES["cos"].vjp)
    x = np.linspace(-1, 1, 5)
    with pytest.raises(AssertionError, match="finite differences"):
        check_gradients(one_op_function("sin", [x], {}), [x], [0])


_LOW_PRECISION = {"float32": (1e-4, 1e-4), "float16": (2e-2, 5e-2)}


@pytest.mark.parametrize("dtype", sorted(_LOW_PRECISION))
@pytest.mark.parametrize("op", sorted(GRAD_CASES))
@given(data=st.data())
def test_gradient_rules_are_typed_for_every_float_dtype(op, dtype, data):
    """The VJP in float32 / float16 builds (each rule's constants take the input's dtype)
    and agrees with the float64 VJP up to rounding."""
    case = data.draw(GRAD_CASES[op])
    low = [x.astype(dtype) if x.dtype == np.float64 else x for x in case.inputs]
    attrs = dict(case.attrs, dtype=dtype) if op == "convert" else case.attrs
    results = []
    for inputs, attributes in [(low, attrs), (case.inputs, case.attrs)]:
        function = one_op_function(op, inputs, attributes)
        cotangent = np.ones(function.outputs[0].shape, dtype=function.outputs[0].dtype)
        results.append(evaluate(vjp_function(function, case.wrt, [0]), inputs + [cotangent])[1:])
    rtol, atol = _LOW_PRECISION[dtype]
    for index, mine, exact in zip(case.wrt, *results):
        assert mine.dtype == low[index].dtype
        np.testing.assert_allclose(mine.astype(np.float64), exact, rtol=rtol, atol=atol)


@pytest.mark.parametrize("op", ["max", "min"])
def test_binary_max_and_min_split_a_tie(op):
    # the winner takes the cotangent; at x == y each side gets half
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 0.0, 5.0])
    function = one_op_function(op, [x, y], {})
    c = np.array([2.0, 4.0, 8.0])
    _, gx, gy = evaluate(vjp_function(function, [0, 1], [0]), [x, y, c])
    x_wins = (x > y) if op == "max" else (x < y)
    np.testing.assert_array_equal(gx, np.where(x == y, 0.5 * c, np.where(x_wins, c, 0.0)))
    np.testing.assert_array_equal(gy, c - gx)


@pytest.mark.parametrize("op", ["reduce_max", "reduce_min"])
def test_reductions_share_the_gradient_among_tied_extremes(op):
    extreme = 3.0 if op == "reduce_max" else -3.0
    x = np.array([[extreme, 1.0, extreme, extreme], [0.5, extreme, 0.0, 0.25]])
    function = one_op_function(op, [x], {"axes": (1,)})
    c = np.array([6.0, 2.0])
    _, grad = evaluate(vjp_function(function, [0], [0]), [x, c])
    np.testing.assert_array_equal(grad, [[2.0, 0.0, 2.0, 2.0], [0.0, 2.0, 0.0, 0.0]])


# ---------------------------------------------------------------------------
# Gradients that finite differences cannot check directly


def test_stop_gradient_blocks_the_gradient():
    # f(x) = stop_gradient(x) * x: d/dx = stop_gradient(x) only (the direct path)
    x = np.array([0.5, -2.0, 3.0])
    builder = FunctionBuilder("f")
    p = builder.add_param(type_of(x))
    b = Emitter(builder)
    function = builder.finish([b.mul(b.stop_gradient(p), p)])
    cotangent = np.array([1.0, 2.0, -1.0])
    y, grad = evaluate(vjp_function(function, [0], [0]), [x, cotangent])
    np.testing.assert_array_equal(y, x * x)
    np.testing.assert_array_equal(grad, x * cotangent)


@pytest.mark.parametrize(
    "source, target",
    [
        ("float64", "float32"),
        ("float32", "float64"),
        ("float64", "float16"),
        ("float16", "float32"),
    ],
)
def test_convert_gradient_between_float_types(source, target):
    # d convert(x) = 1: the cotangent converted back to the source dtype
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3)).astype(source)
    function = one_op_function("convert", [x], {"dtype": target})
    vjp = vjp_function(function, [0], [0])
    cotangent = rng.standard_normal((2, 3)).astype(target)
    y, grad = evaluate(vjp, [x, cotangent])
    assert y.dtype == numpy_dtype(target) and grad.dtype == numpy_dtype(source)
    np.testing.assert_array_equal(grad, cotangent.astype(source))


def test_convert_chain_through_float32_is_close_to_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(4)
    builder = FunctionBuilder("f")
    p = builder.add_param(type_of(x))
    b = Emitter(builder)
    function = builder.finish([b.convert(b.convert(p, dtype="float32"), dtype="float64")])
    # float32 rounding makes a wider step necessary
    check_gradients(function, [x], [0], rng=rng, rtol=1e-3, atol=1e-3, eps=1e-3)


def test_no_gradient_flows_through_an_integer_conversion():
    x = np.array([1.5, -2.5])
    builder = FunctionBuilder("f")
    p = builder.add_param(type_of(x))
    b = Emitter(builder)
    function = builder.finish([b.convert(b.convert(p, dtype="int32"), dtype="float64")])
    y, grad = evaluate(vjp_function(function, [0], [0]), [x, np.ones(2)])
    np.testing.assert_array_equal(y, [1.0, -2.0])
    np.testing.assert_array_equal(grad, [0.0, 0.0])


# ---------------------------------------------------------------------------
# Autodiff bookkeeping


def _backward_ops(function, vjp) -> list[str]:
    return [node.op for node in vjp.nodes[len(function.nodes) :]]


def test_nodes_feeding_only_undifferentiated_outputs_get_no_gradient():
    # f(x, y) = (exp(x), sin(x), sin(y)) with a cotangent for exp(x) only
    x, y = np.array([0.3, 1.2]), np.array([0.7, -0.4, 2.0])
    builder = FunctionBuilder("f")
    px, py = builder.add_param(type_of(x)), builder.add_param(type_of(y))
    b = Emitter(builder)
    function = builder.finish([b.exp(px), b.sin(px), b.sin(py)])
    vjp = vjp_function(function, [0, 1], [0])
    assert _backward_ops(function, vjp).count("cos") == 0  # neither sin's rule ran
    c = np.array([2.0, -1.0])
    *_, gx, gy = evaluate(vjp, [x, y, c])
    np.testing.assert_allclose(gx, np.exp(x) * c)
    np.testing.assert_array_equal(gy, np.zeros(3))


@pytest.mark.parametrize(
    "op, shapes_, wrt",
    [
        ("matmul", [(2, 3), (3, 4)], 1),
        ("matmul", [(2, 3), (3, 4)], 0),
        ("mul", [(3,), (3,)], 0),
        ("div", [(3,), (3,)], 1),
    ],
)
def test_inputs_outside_wrt_get_no_gradient(op, shapes_, wrt):
    """A rule's contribution to an input that needs none is not left in the IR."""
    rng = np.random.default_rng(3)
    inputs = [rng.uniform(0.5, 2, s) for s in shapes_]
    function = one_op_function(op, inputs, {})
    vjp = check_gradients(function, inputs, [wrt], rng=rng)
    ops = _backward_ops(function, vjp)
    assert ops.count(op) <= 1, ops
    used = {v for node in vjp.nodes for v in node.inputs} | set(vjp.outputs)
    assert all(node.output in used for node in vjp.nodes[len(function.nodes) :])


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda b, x: b.mul(x, x), lambda x, c: 2 * x * c),
        (lambda b, x: b.add(x, x), lambda x, c: 2 * c),
        (lambda b, x: b.add(b.mul(x, x), b.sin(x)), lambda x, c: (2 * x + np.cos(x)) * c),
    ],
)
def test_a_parameter_used_twice_accumulates(build, expected):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(5)
    builder = FunctionBuilder("f")
    p = builder.add_param(type_of(x))
    function = builder.finish([build(Emitter(builder), p)])
    c = rng.standard_normal(5)
    vjp = check_gradients(function, [x], [0], cotangents=[c])
    assert "add" in _backward_ops(function, vjp)
    np.testing.assert_allclose(evaluate(vjp, [x, c])[1], expected(x, c), rtol=1e-12)


def test_an_output_listed_twice_and_a_parameter_output_both_count():
    x = np.array([1.0, 2.0])
    builder = FunctionBuilder("f")
    p = builder.add_param(type_of(x))
    b = Emitter(builder)
    function = builder.finish([p, b.neg(p), p])
    vjp = vjp_function(function, [0], [0, 1, 2])
    c0, c1, c2 = np.array([1.0, 10.0]), np.array([100.0, 1000.0]), np.array([3.0, 4.0])
    grad = evaluate(vjp, [x, c0, c1, c2])[-1]
    np.testing.assert_array_equal(grad, c0 - c1 + c2)


def test_wrt_and_cotangent_outputs_must_be_float():
    x = np.array([1, 2], dtype=np.int32)
    function = one_op_function("neg", [x], {})
    with pytest.raises(TcompTypeError, match="dtype int32"):
        vjp_function(function, [0], [])
    with pytest.raises(TcompTypeError, match="output 0"):
        vjp_function(function, [], [0])


def _logistic(x):
    return 1 / (1 + np.exp(-x))


def _second_derivative_function(build):
    builder = FunctionBuilder("f")
    p = builder.add_param(TensorType((4,), "float64"))
    function = builder.finish([build(Emitter(builder), p)])
    first = vjp_function(function, [0], [0])  # (x, c) -> (f(x), c * f'(x))
    second = vjp_function(first, [0], [1])  # (x, c, c2) -> (..., c * c2 * f''(x))
    return first, second


@pytest.mark.parametrize(
    "build, second_derivative",
    [
        (lambda b, x: b.tanh(x), lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
        (lambda b, x: b.mul(b.mul(x, x), x), lambda x: 6 * x),
        (
            lambda b, x: b.logistic(x),
            lambda x: _logistic(x) * (1 - _logistic(x)) * (1 - 2 * _logistic(x)),
        ),
        (lambda b, x: b.pow(x, b.full(3.0, x.type)), lambda x: 6 * x),
    ],
)
def test_vjp_of_a_vjp_gives_the_second_derivative(build, second_derivative):
    rng = np.random.default_rng(5)
    x = rng.uniform(0.3, 1.5, 4)
    c, c2 = rng.standard_normal(4), rng.standard_normal(4)
    first, second = _second_derivative_function(build)
    check_gradients(first, [x, c], [0], outputs=[1], cotangents=[c2])
    hessian_vector = evaluate(second, [x, c, c2])[-1]
    np.testing.assert_allclose(hessian_vector, c * c2 * second_derivative(x), rtol=1e-10)


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
    "pow": RefCase(
        FLOATS,
        _binary_make(x_range=(0.5, 3), y_range=(-2, 2)),
        lambda i, a: _f64(i[0]) ** _f64(i[1]),
    ),
    "max": RefCase(NUMERIC, _binary_make(), lambda i, a: np.maximum(i[0], i[1])),
    "min": RefCase(NUMERIC, _binary_make(), lambda i, a: np.minimum(i[0], i[1])),
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
        return [values(rng, shape, dtype)], draw(build_attrs(shape))

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
        "gather": RefCase(ALL, _make_gather, _expect_gather),
        "scatter_add": RefCase(NUMERIC, _make_scatter, _expect_scatter),
    }
)

# float16 sums (reduce_sum, matmul, scatter_add) round at every partial sum
_TOLERANCES = {"float16": (2e-3, 3e-2), "float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12)}


def test_every_primitive_has_a_reference_check():
    assert set(REF_CASES) == set(PRIMITIVES)


def _check_reference(op: str, inputs, attrs):
    primitive = PRIMITIVES[op]
    out_type = primitive.check_call([type_of(x) for x in inputs], attrs)
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
    [(op, d) for op in sorted(REF_CASES) for d in ALL if d not in REF_CASES[op].accepts],
)
@given(data=st.data())
def test_rejected_dtypes_raise_a_type_error_naming_the_op(op, dtype, data):
    inputs, attrs = REF_CASES[op].make(data.draw, data.draw(rngs()), dtype)
    with pytest.raises(TcompTypeError, match=f"^{op}: "):
        PRIMITIVES[op].check_call([type_of(x) for x in inputs], attrs)


# ---------------------------------------------------------------------------
# 3. Shape and dtype rules


def T(shape, dtype="float32") -> TensorType:
    return TensorType(tuple(shape), dtype)


I32 = "int32"
SHAPE, TYPE = TcompShapeError, TcompTypeError

# one row per elementwise op that shares a rule with another, then the rest
_SAME_SHAPE_BINARY = ["sub", "max", "min", "pow", "eq", "ne", "lt", "le", "gt", "ge"]
_FLOAT_UNARY = ["exp", "log", "sqrt", "tanh", "sin", "cos", "logistic"]

BAD_CALLS = [
    *[(op, [T((2, 3)), T((2, 4))], {}, SHAPE) for op in _SAME_SHAPE_BINARY],
    *[(op, [T((2,), I32)], {}, TYPE) for op in _FLOAT_UNARY],
    *[(op, [T((2,), "bool")], {}, TYPE) for op in ["neg", "abs", "sign"]],
    ("stop_gradient", [T((2,)), T((2,))], {}, TYPE),
    ("argmax", [T((2, 3))], {"axis": 0, "keepdims": True}, TYPE),
    ("add", [T((2, 3)), T((3, 2))], {}, SHAPE),
    ("add", [T((2,)), T((2,), "float64")], {}, TYPE),
    ("add", [T((2,))], {}, TYPE),
    ("mul", [T((2,), "bool"), T((2,), "bool")], {}, TYPE),
    ("exp", [T((2,), I32)], {}, TYPE),
    ("div", [T((2,), I32), T((2,), I32)], {}, TYPE),
    ("neg", [T((2,), "bool")], {}, TYPE),
    ("lt", [T((2,)), T((3,))], {}, SHAPE),
    ("select", [T((2,)), T((2,)), T((2,))], {}, TYPE),
    ("select", [T((2,), "bool"), T((2,)), T((3,))], {}, SHAPE),
    ("select", [T((2,), "bool"), T((2,)), T((2,), I32)], {}, TYPE),
    ("convert", [T((2,))], {"dtype": "int64"}, TYPE),
    ("convert", [T((2,))], {}, TYPE),
    ("constant", [], {"value": np.zeros(2, dtype=np.int64)}, TYPE),
    ("constant", [], {"value": 1.0}, TYPE),
    ("iota", [], {"shape": (3,), "axis": 1, "dtype": I32}, SHAPE),
    ("iota", [], {"shape": (3, -1), "axis": 0, "dtype": I32}, SHAPE),
    ("iota", [], {"shape": (3,), "axis": 0, "dtype": "bool"}, TYPE),
    ("matmul", [T((2, 3)), T((4, 5))], {}, SHAPE),
    ("matmul", [T((3,)), T((3, 2))], {}, SHAPE),
    ("matmul", [T((2, 2, 3)), T((3, 2))], {}, SHAPE),
    ("matmul", [T((2, 2, 3)), T((3, 3, 2))], {}, SHAPE),
    ("matmul", [T((2, 3)), T((3, 2), "float64")], {}, TYPE),
    ("matmul", [T((2, 3), "bool"), T((3, 2), "bool")], {}, TYPE),
    ("reduce_sum", [T((2, 3))], {"axes": (2,)}, SHAPE),
    ("reduce_sum", [T((2, 3))], {"axes": (-1,)}, SHAPE),
    ("reduce_sum", [T((2, 3))], {"axes": (1, 0)}, SHAPE),
    ("reduce_sum", [T((2, 3))], {"axes": (0, 0)}, SHAPE),
    ("reduce_sum", [T((2, 3), "bool")], {"axes": (0,)}, TYPE),
    ("reduce_max", [T((2, 0))], {"axes": (1,)}, SHAPE),
    ("reduce_min", [T((0, 2))], {"axes": (0, 1)}, SHAPE),
    ("argmax", [T((2, 3))], {"axis": 2}, SHAPE),
    ("argmax", [T((0, 3))], {"axis": 0}, SHAPE),
    ("reshape", [T((2, 3))], {"shape": (4, 2)}, SHAPE),
    ("reshape", [T((2, 3))], {"shape": (-1, 6)}, SHAPE),
    ("transpose", [T((2, 3))], {"perm": (0, 0)}, SHAPE),
    ("transpose", [T((2, 3))], {"perm": (1, 0, 2)}, SHAPE),
    ("broadcast_to", [T((2, 3))], {"shape": (4, 2, 3)}, SHAPE),
    ("broadcast_to", [T((2, 3))], {"shape": (4, 3)}, SHAPE),
    ("slice", [T((4,))], {"start": (0,), "stop": (5,), "step": (1,)}, SHAPE),
    ("slice", [T((4,))], {"start": (3,), "stop": (2,), "step": (1,)}, SHAPE),
    ("slice", [T((4,))], {"start": (0,), "stop": (4,), "step": (0,)}, SHAPE),
    ("slice", [T((4, 2))], {"start": (0,), "stop": (4,), "step": (1,)}, SHAPE),
    ("rev", [T((2, 3))], {"axes": (2,)}, SHAPE),
    ("rev", [T((2, 3))], {"axes": (1, 1)}, SHAPE),
    ("pad", [T((2,))], {"low": (-1,), "high": (0,), "interior": (0,), "value": 0.0}, SHAPE),
    ("pad", [T((2,))], {"low": (0, 0), "high": (0,), "interior": (0,), "value": 0.0}, SHAPE),
    ("pad", [T((2,))], {"low": (0,), "high": (0,), "interior": (0,), "value": "zero"}, TYPE),
    ("concatenate", [T((2, 3)), T((2, 3), "float64")], {"axis": 0}, TYPE),
    ("concatenate", [T((2, 3)), T((2, 4))], {"axis": 0}, SHAPE),
    ("concatenate", [T((2, 3)), T((2, 3, 1))], {"axis": 0}, SHAPE),
    ("concatenate", [T((2, 3))], {"axis": 2}, SHAPE),
    ("concatenate", [T(())], {"axis": 0}, SHAPE),
    ("concatenate", [], {"axis": 0}, SHAPE),
    ("gather", [T((4,)), T((2,))], {"axis": 0}, TYPE),
    ("gather", [T((4,)), T((2,), I32)], {"axis": 1}, SHAPE),
    ("gather", [T((0, 2)), T((2,), I32)], {"axis": 0}, SHAPE),
    ("scatter_add", [T((2,)), T((2,))], {"axis": 0, "size": 4}, TYPE),
    ("scatter_add", [T((3,)), T((2,), I32)], {"axis": 0, "size": 4}, SHAPE),
    ("scatter_add", [T((2, 3)), T((), I32)], {"axis": 5, "size": 4}, SHAPE),
    ("scatter_add", [T((2, 3)), T((3,), I32)], {"axis": -1, "size": 4}, SHAPE),
    ("scatter_add", [T((0,)), T((0,), I32)], {"axis": 0, "size": -1}, SHAPE),
    ("scatter_add", [T((2,)), T((2,), I32)], {"axis": 0, "size": 0}, SHAPE),
    ("scatter_add", [T((2,), "bool"), T((2,), I32)], {"axis": 0, "size": 3}, TYPE),
]


@pytest.mark.parametrize("op, types, attrs, error", BAD_CALLS)
def test_bad_calls_raise_errors_naming_the_op(op, types, attrs, error):
    primitive = PRIMITIVES[op]
    with pytest.raises(error, match=f"^{op}: "):
        primitive.check_call(types, attrs)


def test_every_primitive_has_a_bad_call():
    assert {op for op, *_ in BAD_CALLS} == set(PRIMITIVES)


def test_builder_errors_carry_the_user_location():
    builder = FunctionBuilder("f")
    x, y = builder.add_param(T((2, 3))), builder.add_param(T((4, 5)))
    with pytest.raises(TcompShapeError, match=r"(?s)^matmul: .*at user\.py:7$"):
        builder.emit("matmul", [x, y], {}, Location("user.py", 7))


# ---------------------------------------------------------------------------
# 4. gather and scatter_add semantics


def _run(op, inputs, attrs):
    return evaluate(one_op_function(op, inputs, attrs), inputs)[0]


def test_gather_negative_indices_count_from_the_end():
    x = np.arange(12.0).reshape(3, 4)
    indices = np.array([-1, -4, 0, -2], dtype=np.int32)
    np.testing.assert_array_equal(_run("gather", [x, indices], {"axis": 1}), x[:, [3, 0, 0, 2]])


def test_gather_clamps_out_of_range_indices():
    x = np.array([10.0, 11.0, 12.0])
    indices = np.array([[3, 100], [-4, -100]], dtype=np.int32)
    out = _run("gather", [x, indices], {"axis": 0})
    np.testing.assert_array_equal(out, [[12.0, 12.0], [10.0, 10.0]])


def test_gather_with_a_scalar_index_drops_the_axis():
    x = np.arange(6.0).reshape(2, 3)
    out = _run("gather", [x, np.array(-1, dtype=np.int32)], {"axis": 1})
    np.testing.assert_array_equal(out, [2.0, 5.0])


def test_scatter_add_adds_repeated_indices():
    updates = np.array([[1.0, 2.0, 4.0, 8.0, 16.0]])
    indices = np.array([1, 1, -3, 5, -9], dtype=np.int32)  # -3 -> 0, 5 -> 2 (clamp), -9 -> 0
    out = _run("scatter_add", [updates, indices], {"axis": 1, "size": 3})
    np.testing.assert_array_equal(out, [[4.0 + 16.0, 3.0, 8.0]])


@given(case=GRAD_CASES["gather"])
def test_scatter_add_is_the_adjoint_of_gather(case):
    # <gather(x, i), u> == <x, scatter_add(u, i)> for every x and u
    x, indices = case.inputs
    axis = case.attrs["axis"]
    gathered = _run("gather", [x, indices], case.attrs)
    u = case.rng.standard_normal(gathered.shape)
    scattered = _run("scatter_add", [u, indices], {"axis": axis, "size": x.shape[axis]})
    np.testing.assert_allclose(np.sum(gathered * u), np.sum(x * scattered), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "op, other, attrs",
    [
        ("gather", "scatter_add", {"axis": 0}),
        ("scatter_add", "gather", {"axis": 0, "size": 4}),
    ],
)
def test_gather_and_scatter_add_are_each_others_gradient(op, other, attrs):
    x = np.arange(4.0)
    indices = np.array([3, 0, 3, -1], dtype=np.int32)
    function = one_op_function(op, [x, indices], attrs)
    vjp = vjp_function(function, [0], [0])
    (node,) = [n for n in vjp.nodes[len(function.nodes) :] if n.op in ("gather", "scatter_add")]
    assert node.op == other and node.inputs[1] is vjp.params[1]
    check_gradients(function, [x, indices], [0])
