"""The IR text form: golden output, exact round trips, and parse errors with line and column."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ir_strategies import functions_with_inputs, random_functions

from tcomp.backends.reference.executor import evaluate
from tcomp.ir.builder import Emitter, FunctionBuilder
from tcomp.ir.errors import TcompParseError
from tcomp.ir.graph import Function, Location
from tcomp.ir.line_parser import MAX_NESTING
from tcomp.ir.text import parse_function, print_function
from tcomp.ir.types import TensorType
from tcomp.ir.verifier import verify

F32 = "float32"


def _train_step() -> Function:
    b = FunctionBuilder("train_step")
    x = b.add_param(TensorType((4, 3), F32))
    bias = b.add_param(TensorType((3,), F32))
    at = Emitter(b, Location("model.py", 12))
    row = at.reshape(bias, shape=(1, 3))
    wide = Emitter(b).broadcast_to(row, shape=(4, 3))
    total = at.add(x, wide)
    Emitter(b).constant(np.array(2.0, np.float32))  # unused, printed all the same
    scaled = Emitter(b, Location("my dir/a:b.py", 7)).mul(total, Emitter(b).full(2.0, total.type))
    return b.finish([total, scaled], {"lr": 0.5, "tags": ("a", "b c")})


GOLDEN = """\
func @train_step(%0: f32[4,3], %1: f32[3]) -> (f32[4,3], f32[4,3]) attributes {lr=0.5, tags=("a", "b c")} {
  %2: f32[1,3] = reshape(%1) {shape=(1, 3)}  loc("model.py":12)
  %3: f32[4,3] = broadcast_to(%2) {shape=(4, 3)}
  %4: f32[4,3] = add(%0, %3)  loc("model.py":12)
  %5: f32[] = constant() {value=dense<f32[] 2.0>}
  %6: f32[] = constant() {value=dense<f32[] 2.0>}
  %7: f32[1,1] = reshape(%6) {shape=(1, 1)}
  %8: f32[4,3] = broadcast_to(%7) {shape=(4, 3)}
  %9: f32[4,3] = mul(%4, %8)  loc("my dir/a:b.py":7)
  return %4, %9
}
"""


def test_golden_text() -> None:
    assert print_function(_train_step()) == GOLDEN


def test_golden_without_locations() -> None:
    text = print_function(_train_step(), locations=False)
    assert "loc(" not in text
    assert "  %4: f32[4,3] = add(%0, %3)\n" in text


def test_str_of_function_is_the_text() -> None:
    fn = _train_step()
    assert str(fn) == print_function(fn)


def test_golden_parses_back() -> None:
    fn = _train_step()
    parsed = parse_function(GOLDEN)
    assert parsed == fn
    assert parsed.metadata == fn.metadata
    assert print_function(parsed) == GOLDEN


def test_parser_accepts_named_values_and_comments() -> None:
    text = """
    // a comment
    func @g(%x: f32[2], %y: f32[2]) -> (f32[2]) {
      %sum: f32[2] = add(%x, %y)

      %out.1: f32[2] = neg(%sum)  loc("g.py":3)
      return %out.1
    }
    """
    fn = parse_function(text)
    assert [n.op for n in fn.nodes] == ["add", "neg"]
    assert fn.nodes[1].location == Location("g.py", 3)
    assert evaluate(fn, [np.ones(2, np.float32), np.ones(2, np.float32)])[0].tolist() == [-2, -2]


def test_no_metadata_prints_no_attributes() -> None:
    b = FunctionBuilder("f")
    x = b.add_param(TensorType((), F32))
    text = print_function(b.finish([x]))
    assert text == "func @f(%0: f32[]) -> (f32[]) {\n  return %0\n}\n"
    assert parse_function(text).metadata == {}


def test_function_without_outputs_and_odd_name() -> None:
    b = FunctionBuilder('<lambda> "q"')
    fn = b.finish([])
    text = print_function(fn)
    assert text.startswith('func @"<lambda> \\"q\\""() -> () {')
    assert parse_function(text) == fn


# ---------------------------------------------------------------------------
# Round trips


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@given(functions_with_inputs())
def test_round_trip_random_functions(case) -> None:
    fn, inputs = case
    text = print_function(fn)
    parsed = parse_function(text)
    assert parsed == fn
    assert print_function(parsed) == text
    verify(parsed)
    with np.errstate(all="ignore"):
        want = evaluate(fn, inputs)
        got = evaluate(parsed, inputs)
    assert all(_bits_equal(a, b) for a, b in zip(got, want))


@given(random_functions())
def test_round_trip_without_locations_drops_only_locations(fn: Function) -> None:
    parsed = parse_function(print_function(fn, locations=False))
    assert parsed.structurally_equal(fn, compare_locations=False)
    assert all(node.location is None for node in parsed.nodes)


_DTYPE_CASES = {
    "float32": np.array([0.0, -0.0, 1.5, np.nan, np.inf, -np.inf, 1e-45, 3.4028235e38, 0.1]),
    "float64": np.array([0.0, -0.0, 0.1, np.nan, -np.inf, 5e-324, 1.7976931348623157e308]),
    "float16": np.array([0.0, -0.0, 0.1, np.nan, np.inf, 6e-8, 65504.0, 1 / 3]),
    "int32": np.array([0, -1, 7, 2**31 - 1, -(2**31)]),
    "bool": np.array([True, False, True]),
}


def _constant_function(array: np.ndarray) -> Function:
    b = FunctionBuilder("c")
    return b.finish([Emitter(b).constant(array)])


def _round_trip_constant(array: np.ndarray) -> np.ndarray:
    fn = _constant_function(array)
    parsed = parse_function(print_function(fn))
    assert parsed == fn
    return parsed.nodes[0].attrs["value"]


@pytest.mark.parametrize("dtype", sorted(_DTYPE_CASES))
@pytest.mark.parametrize("shape", ["scalar", "vector", "matrix", "big", "empty"])
def test_round_trip_constant_every_dtype(dtype: str, shape: str) -> None:
    values = _DTYPE_CASES[dtype].astype(dtype)
    if shape == "scalar":
        array = values[3 % len(values)].reshape(())
    elif shape == "vector":
        array = values
    elif shape == "matrix":
        array = np.resize(values, (2, 3))
    elif shape == "big":
        array = np.resize(values, (5, 13))  # more than 16 elements: printed as hex
    else:
        array = values[:0].reshape(0, 2)
    back = _round_trip_constant(array)
    assert _bits_equal(back, array)
    text = print_function(_constant_function(array))
    assert ('hex"' in text) == (shape == "big")


def test_nan_payloads_and_signs_survive() -> None:
    odd_nans = np.array([0x7FC00001, 0xFFC00000, 0x7F800001], dtype=np.uint32).view(np.float32)
    back = _round_trip_constant(odd_nans)
    assert _bits_equal(back, odd_nans)


@given(st.floats(width=32), st.integers(0, 3))
def test_round_trip_any_float32_constant(x: float, ndim: int) -> None:
    array = np.full((1,) * ndim, x, dtype=np.float32)
    assert _bits_equal(_round_trip_constant(array), array)


@given(st.floats(allow_nan=False) | st.integers(-(2**40), 2**40) | st.booleans())
def test_round_trip_scalar_attribute(value) -> None:
    b = FunctionBuilder("p")
    x = b.add_param(TensorType((2,), "float64"))
    fn = b.finish([Emitter(b).pad(x, low=(1,), high=(0,), interior=(0,), value=value)])
    back = parse_function(print_function(fn)).nodes[0].attrs["value"]
    assert type(back) is type(value)
    assert back == value and math.copysign(1, back) == math.copysign(1, value)


def _exact(value):
    """A key that tells -0.0 from 0.0, 1 from 1.0 from True, tuples from lists."""
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_exact(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _exact(v)) for k, v in value.items()))
    return (type(value).__name__, value)


plain_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=6), plain_data, max_size=4), st.text(min_size=1))
def test_round_trip_metadata_name_and_location(metadata: dict, name: str) -> None:
    b = FunctionBuilder(name)
    x = b.add_param(TensorType((3,), F32))
    y = Emitter(b, Location(name, 3)).neg(x)
    fn = b.finish([y], metadata)
    parsed = parse_function(print_function(fn))
    assert parsed == fn
    assert _exact(parsed.metadata) == _exact(metadata)


# ---------------------------------------------------------------------------
# Parse errors

_HEADER = "func @f(%0: f32[3], %1: f32[4]) -> (f32[3]) {"


@pytest.mark.parametrize(
    "body, line, column, words",
    [
        ("  %2: f32[3] = frob(%0)\n  return %2", 2, 16, "unknown primitive"),
        ("  %2: f32[3] = neg(%9)\n  return %2", 2, 20, "used before it is defined"),
        ("  %2: f32[3] = add(%0, %1)\n  return %2", 2, 16, "equal shapes"),
        ("  %2: f32[4] = neg(%0)\n  return %2", 2, 3, "declared f32[4]"),
        ("  %2: f32[3] = neg(%0)\n  %2: f32[3] = neg(%0)\n  return %2", 3, 3, "defined twice"),
        ("  %2: f33[3] = neg(%0)\n  return %2", 2, 7, "unknown element type"),
        ("  %2: f32[3] = neg(%0 %1)\n  return %2", 2, 23, "expected ')'"),
        ("  %2: f32[3] = neg(%0) {x=1\n  return %2", 2, 28, "expected '}'"),
        ("  %2: f32[3] = neg(%0) ?\n  return %2", 2, 24, "unexpected character"),
        ("  return %1", 2, 3, "header declares (f32[3])"),
        ("  %2: f32[3] = neg(%0)", 3, 1, "or 'return', found '}'"),
        ("  %2: f32[3] = neg(%0)\n  return %2\n}\nextra", 5, 1, "after the closing"),
        ("  %2: f32[2] = constant() {value=dense<f32[2] [1.0]>}\n  return %0", 2, 40, "has 2 elements"),
        ('  %2: f32[1] = constant() {value=dense<f32[1] hex"00">}\n  return %0', 2, 47, "bytes"),
        ("  %2: f32[3] = neg(%0)  loc(\"a.py\" 3)\n  return %2", 2, 36, "expected ':'"),
    ],
)
def test_parse_errors_name_line_and_column(body: str, line: int, column: int, words: str) -> None:
    text = f"{_HEADER}\n{body}\n" + ("}\n" if "}" not in body else "")
    with pytest.raises(TcompParseError) as info:
        parse_function(text)
    message = str(info.value)
    assert f"line {line}, column {column}:" in message
    assert words in message
    offending = text.splitlines()[line - 1]
    assert offending in message  # the line is quoted, with a caret under the column
    assert "\n  " + " " * (column - 1) + "^" in message


def test_parse_error_on_bad_header_and_empty_text() -> None:
    with pytest.raises(TcompParseError, match="line 1, column 1: expected 'func'"):
        parse_function("function @f() -> () {\n  return\n}\n")
    with pytest.raises(TcompParseError, match="empty IR text"):
        parse_function("\n\n")
    with pytest.raises(TcompParseError, match="line 2, column 1: expected '}'"):
        parse_function("func @f() -> () {\n  return\n")
    with pytest.raises(TcompParseError, match="line 2, column 22: missing 'return'"):
        parse_function("func @f(%0: f32[]) -> () {\n  %1: f32[] = neg(%0)\n")


# ---------------------------------------------------------------------------
# Attributes and types of the wrong kind: a parse error at the op, naming the attribute


@pytest.mark.parametrize(
    "param, node, column, words",
    [
        # integers where ints are required: floats, bools, inf, huge values
        ("f32[4]", "slice(%0) {start=(0.5,), stop=(4,), step=(1,)}",
         16, "slice: attribute 'start' = (0.5,): expected a tuple of non-negative ints, "
             "but item 0 is 0.5 (float)"),
        ("f32[4,3]", "pad(%0) {low=(1, 0.5), high=(0, 0), interior=(0, 0), value=0.0}",
         16, "pad: attribute 'low' = (1, 0.5)"),
        ("f32[4]", "reshape(%0) {shape=(-inf,)}", 16, "attribute 'shape' = (-inf,)"),
        ("f32[4]", "reshape(%0) {shape=(99999999999999999999,)}", 16,
         "dimension 99999999999999999999 lies outside 0..9223372036854775807"),
        ("f32[4,3]", "reduce_sum(%0) {axes=(0.0,)}", 16,
         "reduce_sum: attribute 'axes' = (0.0,): expected a tuple of axes (ints), but item 0 "
         "is 0.0 (float)"),
        ("f32[4,3]", "reduce_max(%0) {axes=(true,)}", 16, "item 0 is true (bool)"),
        ("f32[4,3]", "argmax(%0) {axis=false}", 16, "argmax: attribute 'axis' = false"),
        ("f32[4,3]", "transpose(%0) {perm=(1.0, 0.0)}", 16, "attribute 'perm' = (1.0, 0.0)"),
        ("f32[4,3]", "transpose(%0) {perm=(1, 1)}", 16, "not a permutation of the 2 axes"),
        ("f32[4,3]", "rev(%0) {axes=(2,)}", 16, "axis 2 is out of range for rank 2"),
        ("f32[1]", "broadcast_to(%0) {shape=(nan,)}", 16, "attribute 'shape' = (nan,)"),
        ("f32[1]", "concatenate(%0) {axis=0.5}", 16, "attribute 'axis' = 0.5"),
        ("f32[1]", "iota() {shape=(3,), axis=true, dtype=\"int32\"}", 16,
         "iota: attribute 'axis' = true"),
        ("f32[1]", "iota() {shape=(3,), axis=0, dtype=\"i32\"}", 16,
         "iota: attribute 'dtype' = \"i32\": expected a dtype name"),
        ("f32[4]", "convert(%0) {dtype=\"f64\"}", 16, "convert: attribute 'dtype' = \"f64\""),
        ("i32[4]", "pad(%0) {low=(1,), high=(0,), interior=(0,), value=nan}", 16,
         "pad: value nan does not fit int32"),
        ("f32[4]", "pad(%0) {low=(1,), high=(0,), interior=(0,), value=99999999999999999999}",
         16, "an int attribute must fit int64"),
        ("f32[4]", "constant() {value=1.0}", 16, "constant: attribute 'value' = 1.0"),
        # types: dimensions are ints within int64, element counts fit int64
        ("f32[4]", "reshape(%0) {shape=(4,)}\n  %2: f32[99999999999999999999,8] = neg(%0)",
         7, "invalid shape [99999999999999999999,8]"),
    ],
)
def test_attributes_and_types_of_the_wrong_kind_are_parse_errors(
    param: str, node: str, column: int, words: str
) -> None:
    text = f"func @f(%0: {param}) -> () {{\n  %1: f32[4] = {node}\n  return\n}}\n"
    with pytest.raises(TcompParseError) as info:
        parse_function(text)
    message = str(info.value)
    assert words in message
    assert f", column {column}:" in message


@pytest.mark.parametrize(
    "header, words",
    [
        ("func @f(%0: f32[99999999999999999999,8]) -> () {",
         "line 1, column 13: invalid shape [99999999999999999999,8]: dimension "
         "99999999999999999999 lies outside 0..9223372036854775807 (int64)"),
        ("func @f(%0: f32[4611686018427387904,2]) -> () {",
         "9223372036854775808 elements do not fit int64"),
        ("func @f() -> (f32[-1]) {", "line 1, column 15: invalid shape [-1]"),
        ("func @f(%0: f32[1" + "0" * 5000 + "]) -> () {", "is too long"),
    ],
)
def test_types_out_of_int64_are_parse_errors(header: str, words: str) -> None:
    with pytest.raises(TcompParseError) as info:
        parse_function(f"{header}\n  return\n}}\n")
    assert words in str(info.value)


def test_the_largest_int64_shape_parses() -> None:
    fn = parse_function("func @f(%0: f32[9223372036854775807,1,0]) -> () {\n  return\n}\n")
    assert fn.params[0].type.shape == (2**63 - 1, 1, 0)
    verify(fn)


def test_deeply_nested_attributes_are_a_parse_error_not_a_recursion_error() -> None:
    deep = "(" * 5000 + ")" * 5000
    text = f"func @f() -> () attributes {{x={deep}}} {{\n  return\n}}\n"
    with pytest.raises(TcompParseError, match=f"line 1, column .*: nested more than {MAX_NESTING}"):
        parse_function(text)


def test_numeric_names_that_collide_get_fresh_ids() -> None:
    fn = parse_function("func @f(%7: f32[3]) -> (f32[3]) {\n  %007: f32[3] = neg(%7)\n"
                        "  return %007\n}\n")
    verify(fn)  # %7 and %007 would share the id 7
    assert len({v.id for v in fn.all_values()}) == 2
