"""Graph-IR primitive shape rules (bad shapes, dtypes and attributes raise
TcompShapeError / TcompTypeError naming the op) and gather / scatter_add
semantics (negative indices, clamping, repeats)."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import (
    GRAD_CASES,
    check_gradients,
    one_op_function,
)
from hypothesis import given

from tcomp.backends.reference.executor import evaluate
from tcomp.ir.autodiff import vjp_function
from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.graph import Location
from tcomp.ir.primitives import PRIMITIVES
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS  # tested in test_distributed_jit.py
from tcomp.ir.primitives.control_flow import CONTROL_FLOW_OPS
from tcomp.ir.types import DTYPE_NAMES, TensorType

FLOATS = ("float16", "float32", "float64")
NUMERIC = FLOATS + ("int32",)
ALL = DTYPE_NAMES

# ---------------------------------------------------------------------------
# 3. Shape and dtype rules


def T(shape, dtype="float32") -> TensorType:
    return TensorType(tuple(shape), dtype)


I32 = "int32"
SHAPE, TYPE = TcompShapeError, TcompTypeError

# one row per elementwise op that shares a rule with another, then the rest
_SAME_SHAPE_BINARY = ["sub", "max", "min", "pow", "eq", "ne", "lt", "le", "gt", "ge"]
_FLOAT_UNARY = ["exp", "log", "sqrt", "tanh", "sin", "cos", "logistic"]
_MATH_UNARY = ["floor", "ceil", "trunc", "rint", "erf", "log1p", "expm1", "sinh", "cosh",
               "asinh", "acosh", "atanh", "asin", "acos", "atan"]
_BITWISE_BINARY = ["bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift"]

CONV1 = {"strides": (1,), "padding": (0, 0), "lhs_dilation": (1,), "rhs_dilation": (1,),
         "groups": 1}

WIN = {"window": (1, 2), "strides": (1, 2), "padding": (0, 0, 0, 0), "window_dilation": (1, 1)}

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
    ("floor_divide", [T((2,), "bool"), T((2,), "bool")], {}, TYPE),
    ("remainder", [T((2, 3)), T((2, 4))], {}, SHAPE),
    ("remainder", [T((2,), "bool"), T((2,), "bool")], {}, TYPE),
    ("neg", [T((2,), "bool")], {}, TYPE),
    ("lt", [T((2,)), T((3,))], {}, SHAPE),
    ("select", [T((2,)), T((2,)), T((2,))], {}, TYPE),
    ("select", [T((2,), "bool"), T((2,)), T((3,))], {}, SHAPE),
    ("select", [T((2,), "bool"), T((2,)), T((2,), I32)], {}, TYPE),
    ("convert", [T((2,))], {"dtype": "int16"}, TYPE),
    ("convert", [T((2,))], {}, TYPE),
    ("constant", [], {"value": np.zeros(2, dtype=np.int16)}, TYPE),
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
    ("conv", [T((1, 2, 5)), T((3, 2))], CONV1, SHAPE),
    ("conv", [T((1, 2, 5)), T((3, 1, 2))], CONV1, SHAPE),
    ("conv", [T((1, 2, 5)), T((3, 2, 2))], {**CONV1, "groups": 2}, SHAPE),
    ("conv", [T((1, 2, 5)), T((3, 2, 2))], {**CONV1, "strides": (1, 1)}, SHAPE),
    ("conv", [T((1, 2, 5)), T((3, 2, 2))], {**CONV1, "strides": (0,)}, SHAPE),
    ("conv", [T((1, 2, 5)), T((3, 2, 2))], {**CONV1, "padding": (1,)}, SHAPE),
    ("conv", [T((1, 2, 5)), T((3, 2, 2), "float64")], CONV1, TYPE),
    ("conv", [T((1, 2, 5), "bool"), T((3, 2, 2), "bool")], CONV1, TYPE),
    ("reduce_window_max", [T((2, 4))], {**WIN, "window": (2,)}, SHAPE),
    ("reduce_window_max", [T((2, 4))], {**WIN, "strides": (1, 0)}, SHAPE),
    ("reduce_window_max", [T((2, 4))], {**WIN, "padding": (0, 0)}, SHAPE),
    ("reduce_window_max", [T((2, 4), I32)], WIN, TYPE),
    ("window_argmax", [T((2, 4), "bool")], WIN, TYPE),
    ("reduce_window_max", [T((2, 0))], {**WIN, "padding": (0, 0, 2, 2)}, SHAPE),
    ("reduce_window_sum", [T((2, 4))], {**WIN, "base_dilation": (1,)}, SHAPE),
    ("reduce_window_sum", [T((2, 4), "bool")], {**WIN, "base_dilation": (1, 1)}, TYPE),
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
    # math functions (float only, like exp), predicates, bitwise ops and shifts
    *[(op, [T((2,), I32)], {}, TYPE) for op in _MATH_UNARY],
    *[(op, [T((2,), "bool")], {}, TYPE) for op in ["floor", "rint", "erf"]],
    *[(op, [T((2,)), T((2,))], {}, TYPE) for op in ["isnan", "isinf", "isfinite"]],
    *[(op, [T((2,), I32), T((3,), I32)], {}, SHAPE) for op in _BITWISE_BINARY],
    *[(op, [T((2,)), T((2,))], {}, TYPE) for op in _BITWISE_BINARY],
    ("bitwise_and", [T((2,), I32), T((2,), "bool")], {}, TYPE),
    ("bitwise_not", [T((2,))], {}, TYPE),
    ("bitwise_not", [T((2,), I32), T((2,), I32)], {}, TYPE),
    ("left_shift", [T((2,), "bool"), T((2,), "bool")], {}, TYPE),
    ("right_shift", [T((2,), "bool"), T((2,), "bool")], {}, TYPE),
    # the random-bit generator: four int32 words of one shape, word 0 or 1
    ("threefry2x32", [T((2,), I32)] * 3 + [T((3,), I32)], {"word": 0}, SHAPE),
    ("threefry2x32", [T((2,), I32)] * 3 + [T((2,))], {"word": 0}, TYPE),
    ("threefry2x32", [T((2,), I32)] * 4, {"word": 2}, SHAPE),
    ("threefry2x32", [T((2,), I32)] * 3, {"word": 0}, TYPE),
    ("threefry2x32", [T((2,), I32)] * 4, {}, TYPE),
]


@pytest.mark.parametrize("op, types, attrs, error", BAD_CALLS)
def test_bad_calls_raise_errors_naming_the_op(op, types, attrs, error):
    primitive = PRIMITIVES[op]
    with pytest.raises(error, match=f"^{op}: "):
        primitive.check_call(types, attrs)


def test_every_primitive_has_a_bad_call():
    assert {op for op, *_ in BAD_CALLS} == set(PRIMITIVES) - CONTROL_FLOW_OPS - COLLECTIVE_OPS  # test_control_flow_*


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
