"""Every differentiable graph-IR primitive's VJP rule, checked at the IR level.

Each rule (through ``vjp_function`` and the reference executor) against
central finite differences in float64, with shapes and attributes drawn by
hypothesis; second derivatives (the VJP of a VJP) the same way; autodiff's
bookkeeping (inactive paths, accumulation, repeated outputs).
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import (
    FIXED_GRAD_CASES,
    GRAD_CASES,
    GradCase,
    case_id,
    check_gradients,
    one_op_function,
    type_of,
)
from hypothesis import given
from hypothesis import strategies as st

from tcomp.backends.reference.executor import evaluate
from tcomp.ir.autodiff import vjp_function
from tcomp.ir.builder import Emitter, FunctionBuilder
from tcomp.ir.errors import TcompTypeError
from tcomp.ir.primitives import PRIMITIVES
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS  # tested in test_distributed_jit.py
from tcomp.ir.types import DTYPE_NAMES, TensorType, numpy_dtype

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
    assert differentiable - COLLECTIVE_OPS == set(GRAD_CASES) | ZERO_GRADIENT_BY_DESIGN


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
