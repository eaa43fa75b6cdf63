"""The verifier: every class of broken IR is caught, named, and shown in context."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from ir_strategies import random_functions

from tcomp.ir.builder import Emitter, FunctionBuilder
from tcomp.ir.errors import TcompVerifyError
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.primitives import PRIMITIVES
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS  # tested in test_distributed_jit.py
from tcomp.ir.primitives.control_flow import CONTROL_FLOW_OPS
from tcomp.ir.types import TensorType
from tcomp.ir.verifier import verify

T3 = TensorType((3,), "float32")
T4 = TensorType((4,), "float32")


def _chain() -> Function:
    """f(x) = exp(neg(x)) + x with a few extra nodes, valid."""
    b = FunctionBuilder("f")
    x = b.add_param(T3)
    e = Emitter(b)
    n = e.neg(x)
    ex = e.exp(n)
    s = e.add(ex, x)
    t = e.tanh(s)
    return b.finish([t])


def _marked_line(message: str) -> str:
    (line,) = [line for line in message.splitlines() if line.startswith("  >> ")]
    return line[5:]


def _fails(fn: Function, *words: str, pass_name: str | None = None) -> str:
    with pytest.raises(TcompVerifyError) as info:
        verify(fn, pass_name=pass_name)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert ">>" in message
    return message


@given(random_functions())
def test_valid_functions_verify(fn: Function) -> None:
    verify(fn)


def test_use_before_definition() -> None:
    fn = _chain()
    fn.nodes[0], fn.nodes[1] = fn.nodes[1], fn.nodes[0]  # exp now reads neg's value first
    message = _fails(fn, "exp (node 0)", "used before its definition")
    assert _marked_line(message) == "  %2: f32[3] = exp(%1)"


def test_value_not_defined_in_function() -> None:
    fn = _chain()
    stranger = Value(T3, 99)
    fn.nodes[2].inputs = (fn.nodes[1].output, stranger)
    message = _fails(fn, "add (node 2)", "%99", "not defined in the function")
    assert _marked_line(message) == "  %3: f32[3] = add(%2, %99)"


def test_value_defined_twice() -> None:
    fn = _chain()
    first = fn.nodes[0]
    fn.nodes.insert(1, Node("neg", first.inputs, {}, first.output))
    _fails(fn, "neg (node 1)", "%1 is defined twice")


def test_parameter_redefined_by_a_node() -> None:
    fn = _chain()
    fn.nodes[0].output = fn.params[0]
    _fails(fn, "neg (node 0)", "defined twice")


def test_two_values_share_an_id() -> None:
    fn = _chain()
    fn.nodes[1].output.id = fn.nodes[0].output.id
    _fails(fn, "exp (node 1)", "share the id %1")


def test_duplicate_parameters() -> None:
    fn = _chain()
    fn.params.append(fn.params[0])
    message = _fails(fn, "parameter 1", "defined twice")
    assert _marked_line(message).startswith("func @f(%0: f32[3], %0: f32[3])")
    fn = _chain()
    fn.params.append(Value(T3, 0))
    _fails(fn, "parameter 1", "share the id %0")


def test_unknown_op() -> None:
    fn = _chain()
    fn.nodes[1].op = "frobnicate"
    message = _fails(fn, "frobnicate (node 1)", "unknown op 'frobnicate'")
    assert _marked_line(message) == "  %2: f32[3] = frobnicate(%1)"


def test_input_types_break_the_rule() -> None:
    fn = _chain()
    other = Value(T4, 50)
    fn.params.append(other)
    fn.nodes[2].inputs = (fn.nodes[1].output, other)
    _fails(fn, "add (node 2)", "equal shapes", "f32[4]")


def test_attributes_break_the_rule() -> None:
    b = FunctionBuilder("r")
    x = b.add_param(TensorType((2, 3), "float32"))
    y = Emitter(b).reshape(x, shape=(3, 2))
    fn = b.finish([y])
    fn.nodes[0].attrs = {"shape": (4, 2)}
    _fails(fn, "reshape (node 0)", "cannot reshape")
    fn.nodes[0].attrs = {}
    _fails(fn, "reshape (node 0)", "attributes must be ['shape']")
    fn.nodes[0].attrs = {"shape": (3, 2), "order": "C"}
    _fails(fn, "reshape (node 0)", "attributes must be")


def test_attribute_that_is_not_plain_data() -> None:
    b = FunctionBuilder("r")
    x = b.add_param(TensorType((2, 3), "float32"))
    fn = b.finish([Emitter(b).reshape(x, shape=(3, 2))])
    fn.nodes[0].attrs = {"shape": [3, 2]}  # a list: the builder would have made a tuple
    _fails(fn, "reshape (node 0)", "attribute 'shape'", "not plain data")


def test_declared_output_type_differs_from_rule() -> None:
    fn = _chain()
    fn.nodes[1].output.type = T4
    _fails(fn, "exp (node 1)", "declared f32[4] but the rule gives f32[3]")


def test_output_not_defined() -> None:
    fn = _chain()
    fn.outputs.append(Value(T3, 77))
    message = _fails(fn, "output 1", "%77 is not defined")
    assert _marked_line(message) == "  return %4, %77"


def test_output_of_a_removed_node() -> None:
    fn = _chain()
    del fn.nodes[-1]
    _fails(fn, "output 0", "%4 is not defined")


def test_message_names_pass_and_shows_context() -> None:
    b = FunctionBuilder("long")
    x = b.add_param(T3)
    e = Emitter(b)
    value = x
    for _ in range(10):
        value = e.neg(value)
    fn = b.finish([value])
    fn.nodes[5].op = "bogus"
    message = _fails(fn, "after pass 'simplify'", "bogus (node 5)", pass_name="simplify")
    lines = message.splitlines()
    assert lines[0].startswith("verify failed after pass 'simplify': bogus (node 5)")
    shown = lines[1:]
    assert shown[0] == "     ..." and shown[-1] == "     ..."
    assert len(shown) == 2 + 7  # three lines either side of the marked one
    assert shown[4] == "  >>   %6: f32[3] = bogus(%5)"
    assert shown[1] == "       %3: f32[3] = neg(%2)"


def test_verify_accepts_constants_of_every_dtype() -> None:
    b = FunctionBuilder("c")
    e = Emitter(b)
    outs = [
        e.constant(np.zeros((2,), dtype))
        for dtype in (np.float32, np.float64, np.float16, np.int32, np.bool_)
    ]
    verify(b.finish(outs))


# ---------------------------------------------------------------------------
# Attribute kinds (Primitive.attrs): wrong types and ranges fail by op, attribute and value

# One valid node per primitive with attributes: (input types, attributes).
VALID_ATTRS = {
    "convert": ([T3], {"dtype": "float64"}),
    "constant": ([], {"value": np.zeros(3, np.float32)}),
    "iota": ([], {"shape": (2, 3), "axis": 1, "dtype": "int32"}),
    "reduce_sum": ([TensorType((2, 3), "float32")], {"axes": (0, 1)}),
    "reduce_max": ([TensorType((2, 3), "float32")], {"axes": (1,)}),
    "reduce_min": ([TensorType((2, 3), "float32")], {"axes": (0,)}),
    "argmax": ([TensorType((2, 3), "float32")], {"axis": 1}),
    "reshape": ([TensorType((2, 3), "float32")], {"shape": (3, 2)}),
    "transpose": ([TensorType((2, 3), "float32")], {"perm": (1, 0)}),
    "broadcast_to": ([TensorType((1, 3), "float32")], {"shape": (2, 3)}),
    "slice": ([T4], {"start": (1,), "stop": (4,), "step": (2,)}),
    "rev": ([TensorType((2, 3), "float32")], {"axes": (1,)}),
    "pad": ([T3], {"low": (1,), "high": (2,), "interior": (1,), "value": 0.5}),
    "concatenate": ([T3, T4], {"axis": 0}),
    "gather": ([T4, TensorType((2,), "int32")], {"axis": 0}),
    "conv": ([TensorType((1, 2, 5), "float32"), TensorType((4, 1, 2), "float32")],
             {"strides": (2,), "padding": (1, 0), "lhs_dilation": (1,), "rhs_dilation": (1,),
              "groups": 2}),
    "scatter_add": ([T3, TensorType((3,), "int32")], {"axis": 0, "size": 5}),
    "threefry2x32": ([TensorType((3,), "int32")] * 4, {"word": 1}),
    **{op: ([TensorType((2, 5), "float32")],
            {"window": (1, 2), "strides": (1, 2), "padding": (0, 0, 1, 0), "window_dilation": (1, 2),
             **({"base_dilation": (1, 2)} if op == "reduce_window_sum" else {})})
       for op in ("reduce_window_sum", "reduce_window_max", "window_argmax")},
}
_INTEGER_KINDS = {"INDEX", "INDICES", "SHAPE", "AXIS", "AXES", "PERM"}


def _one_node(op: str, input_types, attrs) -> Function:
    """``op`` applied to parameters of ``input_types``, built and checked by the builder."""
    b = FunctionBuilder(op)
    params = [b.add_param(t) for t in input_types]
    return b.finish([b.emit(op, params, attrs)])


def _replace_ints(value, replacement):
    """``value`` with its (first) int replaced: 3 -> r, (1, 0) -> (r, 0)."""
    if isinstance(value, tuple):
        return (replacement, *value[1:]) if value else (replacement,)
    return replacement


def test_every_primitive_with_attributes_has_a_valid_case() -> None:
    assert set(VALID_ATTRS) == {name for name, p in PRIMITIVES.items()
                                if p.attrs and name not in CONTROL_FLOW_OPS | COLLECTIVE_OPS}
    for op, (types, attrs) in VALID_ATTRS.items():
        verify(_one_node(op, types, attrs))


_BAD_INTS = [0.5, float("inf"), float("-inf"), float("nan"), True, "1", None, 99999999999999999999]
_INT_ATTRS = [
    (op, name)
    for op, (_, attrs) in VALID_ATTRS.items()
    for name in attrs
    if PRIMITIVES[op].attrs[name].name in _INTEGER_KINDS
]


@pytest.mark.parametrize("op, name", _INT_ATTRS)
@pytest.mark.parametrize("bad", _BAD_INTS, ids=repr)
def test_integer_attributes_reject_floats_bools_and_huge_values(op: str, name: str, bad) -> None:
    types, attrs = VALID_ATTRS[op]
    fn = _one_node(op, types, attrs)
    fn.nodes[0].attrs = {**attrs, name: _replace_ints(attrs[name], bad)}
    message = _fails(fn, f"{op} (node 0): {op}: attribute {name!r} = ")
    assert _marked_line(message).startswith(f"  %{fn.nodes[0].output.id}: ")
    if not isinstance(bad, int) or isinstance(bad, bool):
        assert f"({type(bad).__name__})" in message  # the offending value's Python type


M43 = TensorType((4, 3), "float32")


@pytest.mark.parametrize(
    "op, input_type, valid, bad, words",
    [
        # the audit's cases: the llvm backend ran them as start 0 and low 0
        ("slice", T4, {"start": (0,), "stop": (4,), "step": (1,)},
         {"start": (0.5,), "stop": (4,), "step": (1,)},
         "slice: attribute 'start' = (0.5,): expected a tuple of non-negative ints, "
         "but item 0 is 0.5 (float)"),
        ("pad", M43, {"low": (1, 0), "high": (0, 0), "interior": (0, 0), "value": 0.0},
         {"low": (1, 0.5), "high": (0, 0), "interior": (0, 0), "value": 0.0},
         "pad: attribute 'low' = (1, 0.5): expected a tuple of non-negative ints, "
         "but item 1 is 0.5 (float)"),
        ("reshape", T4, {"shape": (4,)}, {"shape": (float("-inf"),)},
         "attribute 'shape' = (-inf,)"),
        ("reshape", T4, {"shape": (4,)}, {"shape": (2**62, 4)}, "elements do not fit int64"),
        ("reduce_sum", M43, {"axes": (0,)}, {"axes": (0.0,)}, "attribute 'axes' = (0.0,)"),
        ("reduce_sum", M43, {"axes": (0,)}, {"axes": (True,)}, "attribute 'axes' = (true,)"),
        ("transpose", M43, {"perm": (1, 0)}, {"perm": (0, 0)}, "not a permutation of the 2 axes"),
        ("convert", T4, {"dtype": "float64"}, {"dtype": "f64"},
         "attribute 'dtype' = \"f64\": expected a dtype name"),
        ("pad", T4, {"low": (0,), "high": (0,), "interior": (0,), "value": 0.0},
         {"low": (0,), "high": (0,), "interior": (0,), "value": "zero"},
         "attribute 'value' = \"zero\": expected a number or bool"),
    ],
)
def test_attribute_kinds_fail_by_op_attribute_and_value(
    op: str, input_type: TensorType, valid: dict, bad: dict, words: str
) -> None:
    fn = _one_node(op, [input_type], valid)
    fn.nodes[0].attrs = bad
    _fails(fn, f"{op} (node 0)", words)


def test_value_types_outside_int64_fail() -> None:
    fn = _chain()
    bad = TensorType((3,), "float32")
    object.__setattr__(bad, "shape", (99999999999999999999, 8))  # what the parser refuses
    fn.params[0].type = bad
    message = _fails(fn, "parameter 0", "value %0 has an invalid type",
                     "dimension 99999999999999999999 lies outside")
    assert _marked_line(message).startswith("func @f(")


def test_a_rule_that_crashes_is_still_a_verify_error(monkeypatch) -> None:
    fn = _chain()

    def broken_rule(types, attrs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(PRIMITIVES["exp"], "infer", broken_rule)
    _fails(fn, "exp (node 1)", "internal error: the rule of exp raised ZeroDivisionError: oops")
