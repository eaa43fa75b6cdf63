"""The verifier: every class of broken IR is caught, named, and shown in context."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from ir_strategies import random_functions

from tcomp.ir.builder import Emitter, FunctionBuilder
from tcomp.ir.errors import TcompVerifyError
from tcomp.ir.graph import Function, Node, Value
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
