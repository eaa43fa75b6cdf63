"""The text form of the graph IR: :func:`print_function` and :func:`parse_function`.

``parse_function(print_function(f)) == f`` for every valid function: names,
types, attributes (bit-exact, arrays included), locations and metadata all
survive the trip. Example::

    func @train_step(%0: f32[4,3], %1: f32[3]) -> (f32[4,3]) attributes {lr=0.1} {
      %2: f32[1,3] = reshape(%1) {shape=(1, 3)}  loc("model.py":12)
      %3: f32[4,3] = broadcast_to(%2) {shape=(4, 3)}
      %4: f32[4,3] = add(%0, %3)  loc("model.py":12)
      %5: f32[2] = constant() {value=dense<f32[2] [1.0, 2.5]>}
      return %4
    }

Grammar, one construct per line:

- header: ``func @name(%p: type, ...) -> (type, ...) [attributes {k=v, ...}] {``;
  a name that is not an identifier is quoted (``@"<lambda>"``);
- node: ``%v: type = op(%a, %b) [{k=v, ...}] [loc("file":line)]``;
- control-flow node (several results, regions): ``%c: type, %ys: type =
  scan(%a, %b) {...} [loc(...)] regions {``, then each region as a whole
  function (``func @body(...) -> (...) {`` ... ``}``), then ``}``::

      %3: f32[4], %4: f32[8,4] = scan(%0, %1) {length=8, num_carry=1, num_xs=1, reverse=false} regions {
        func @body(%0: f32[4], %1: f32[4]) -> (f32[4], f32[4]) {
          %2: f32[4] = add(%0, %1)
          return %2, %2
        }
      }
- ``return %a, %b`` then ``}``. Blank lines and lines starting with ``//``
  are ignored.

Attribute values: ints (``3``), floats (``2.5``, ``-0.0``, ``1e-05``,
``nan``, ``inf``, ``-inf``; printed with ``repr`` so they round-trip
exactly), ``true``/``false``, ``none``, strings (``"float32"``, JSON
escapes), tuples (``()``, ``(1,)``, ``(1, 2)``) and numpy arrays
``dense<type elements>``. Arrays of at most 16 elements print their
elements in row-major order (``dense<f32[2,2] [1.0, 2.0, 3.0, 4.0]>``, a 0-d
one as ``dense<f32[] 2.0>``); bigger arrays, and any array whose elements
would not read back bit for bit (a NaN payload), print their little-endian
bytes as hex (``dense<f32[64,64] hex"0000803f...">``). Metadata values may
also be lists (``[1, 2]``) and dicts with string keys (``{a=1, "b c"=2}``).

Value names are ``%`` followed by letters, digits, ``_`` or ``.``; the
printer writes ``%<id>``, the parser accepts any such name and builds fresh
values through :class:`tcomp.ir.builder.FunctionBuilder`, so every parsed
node is checked by its primitive's shape rule. When every name is ``%<n>``
the values keep those numbers, so ``print(parse(text)) == text``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.errors import TcompError, TcompParseError
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.line_parser import KEYWORDS as _KEYWORDS
from tcomp.ir.line_parser import PARSE_RECURSION_LIMIT
from tcomp.ir.line_parser import LineParser as _LineParser
from tcomp.ir.line_parser import Token as _Token
from tcomp.ir.line_parser import elements_to_array as _elements_to_array
from tcomp.ir.line_parser import parse_error as _parse_error
from tcomp.ir.recursion import deep_recursion
from tcomp.ir.types import (
    TensorType,
    canonical_dtype,
)

READABLE_ELEMENTS = 16  # arrays up to this many elements print their values


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")

# ---------------------------------------------------------------------------
# Printing


def print_function(fn: Function, locations: bool = True) -> str:
    """The text form of ``fn`` (see the module docstring); ``locations=False`` omits ``loc(...)``."""
    return "\n".join(function_lines(fn, locations)) + "\n"


def function_lines(fn: Function, locations: bool = True) -> list[str]:
    """The lines of :func:`print_function`: header, one per node, ``return``, ``}``
    (a control-flow node spans several: its regions follow it, indented)."""
    lines = [format_header(fn)]
    lines.extend(format_node(node, locations) for node in fn.nodes)
    lines.append(format_return(fn))
    lines.append("}")
    return lines


def format_header(fn: Function) -> str:
    """``func @name(%0: f32[3]) -> (f32[3]) [attributes {...}] {``."""
    params = ", ".join(f"{_value_name(p)}: {p.type}" for p in fn.params)
    results = ", ".join(str(v.type) for v in fn.outputs)
    metadata = f" attributes {_format_dict(fn.metadata)}" if fn.metadata else ""
    return f"func @{_format_key(fn.name)}({params}) -> ({results}){metadata} {{"


def format_node(node: Node, locations: bool = True) -> str:
    """One indented node line: ``  %2: f32[3] = add(%0, %1) {attrs}  loc("f.py":3)``."""
    inputs = ", ".join(_value_name(v) for v in node.inputs)
    targets = ", ".join(f"{_value_name(v)}: {v.type}" for v in node.outputs)
    text = f"  {targets} = {node.op}({inputs})"
    if node.attrs:
        text += " " + _format_dict(node.attrs)
    if locations and node.location is not None:
        text += f"  loc({json.dumps(node.location.file)}:{node.location.line})"
    if node.regions:  # a control-flow node: its regions, indented, then a closing brace
        text += " regions {"
        for region in node.regions:
            text += "".join("\n    " + line for line in function_lines(region, locations))
        text += "\n  }"
    return text


def format_return(fn: Function) -> str:
    """The indented ``return %a, %b`` line."""
    names = ", ".join(_value_name(v) for v in fn.outputs)
    return f"  return {names}" if names else "  return"


def format_attr(value: Any) -> str:
    """The text of one attribute (or metadata) value; raises TypeError for other data."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest exact form; 'nan', 'inf', '-inf', '-0.0' included
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, np.ndarray):
        return _format_dense(value)
    if isinstance(value, tuple):
        if len(value) == 1:
            return f"({format_attr(value[0])},)"
        return "(" + ", ".join(format_attr(v) for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    if isinstance(value, dict):
        return _format_dict(value)
    raise TypeError(
        f"cannot print attribute value {value!r} of type {type(value).__name__}: attributes are "
        "ints, floats, bools, None, strings, tuples, numpy arrays (metadata: also lists, dicts)"
    )


def _value_name(value: Value) -> str:
    return f"%{value.id}"


def _format_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"cannot print dictionary key {key!r}: keys must be strings")
    return key if _IDENTIFIER.match(key) and key not in _KEYWORDS else json.dumps(key)


def _format_dict(mapping: dict) -> str:
    return "{" + ", ".join(f"{_format_key(k)}={format_attr(v)}" for k, v in mapping.items()) + "}"


def _format_dense(array: np.ndarray) -> str:
    dtype = canonical_dtype(array.dtype)
    type_text = str(TensorType(tuple(int(d) for d in array.shape), dtype))
    if array.size <= READABLE_ELEMENTS:
        elements = [_format_element(x) for x in array.reshape(-1)]
        if _elements_to_array(elements, dtype, array.shape).tobytes() == array.tobytes():
            body = elements[0] if array.ndim == 0 else "[" + ", ".join(elements) + "]"
            return f"dense<{type_text} {body}>"
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return f'dense<{type_text} hex"{little.tobytes().hex()}">'


def _format_element(x: np.generic) -> str:
    if isinstance(x, np.bool_):
        return "true" if x else "false"
    return str(x)  # numpy's shortest form for the element's own dtype


# Public names for other IR text forms (the kernel IR's printer builds on them).
format_key = _format_key


# ---------------------------------------------------------------------------
# Parsing


def parse_function(text: str) -> Function:
    """Parses the text form back into a :class:`Function` (raises :class:`TcompParseError`)."""
    with deep_recursion(PARSE_RECURSION_LIMIT):
        return _parse_function(text)


def _parse_function(text: str) -> Function:
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("//")
    ]
    if not lines:
        raise TcompParseError("line 1, column 1: empty IR text (expected 'func @name(...)')")
    function, end = _parse_function_at(lines, 0)
    if end < len(lines):
        extra_no, extra = lines[end]
        raise _parse_error(extra_no, 1, extra, "unexpected text after the closing '}'")
    return function


Lines = list[tuple[int, str]]


def _parse_function_at(lines: Lines, start: int) -> tuple[Function, int]:
    """The function whose header is ``lines[start]``, and the index after its ``}``."""
    header_no, header = lines[start]
    builder, names, result_types, metadata = _parse_header(_LineParser(header, header_no))
    position = start + 1
    while position < len(lines):
        number, line = lines[position]
        parser = _LineParser(line, number)
        if parser.at("return"):
            outputs = _parse_return(parser, names, result_types)
            if position + 1 >= len(lines) or lines[position + 1][1].strip() != "}":
                last_no, last = lines[position + 1] if position + 1 < len(lines) else (number, line)
                raise _parse_error(last_no, 1, last, "expected '}' after the return line")
            _keep_numeric_names(names)
            return builder.finish(outputs, metadata), position + 2
        position = _parse_node(parser, builder, names, lines, position + 1)
    last_no, last = lines[-1]
    raise _parse_error(last_no, len(last) + 1, last, "missing 'return' line and closing '}'")


def _parse_regions(lines: Lines, position: int) -> tuple[list[Function], int]:
    """The region functions after a ``... regions {`` line, up to its closing ``}``."""
    regions: list[Function] = []
    while position < len(lines):
        number, line = lines[position]
        if line.strip() == "}":
            return regions, position + 1
        if not line.strip().startswith("func"):
            raise _parse_error(number, 1, line, "expected a region 'func @name(...)' or '}'")
        region, position = _parse_function_at(lines, position)
        regions.append(region)
    last_no, last = lines[-1]
    raise _parse_error(last_no, len(last) + 1, last, "missing '}' after the regions")


def _keep_numeric_names(names: dict[str, Value]) -> None:
    """Gives values named ``%<n>`` the id ``n``, so printing a parsed function
    reproduces its text exactly (optimised IR keeps its gaps in numbering).
    Names are kept only when all of them are distinct numbers of at most 18
    digits (``%7`` and ``%007`` would collide); otherwise the builder's fresh
    ids stand, as they cannot collide."""
    if not all(name[1:].isdigit() and name[1:].isascii() and len(name) <= 19 for name in names):
        return
    ids = {name: int(name[1:]) for name in names}
    if len(set(ids.values())) == len(ids):
        for name, value in names.items():
            value.id = ids[name]


def _parse_header(
    parser: _LineParser,
) -> tuple[FunctionBuilder, dict[str, Value], list[TensorType], dict[str, Any]]:
    parser.expect("func")
    symbol = parser.expect_kind("symbol", "the function name such as @f")
    name = symbol.text[1:]
    if name.startswith('"'):
        name = parser.decode_string(_Token("string", name, symbol.column + 1))
    builder = FunctionBuilder(name)
    names: dict[str, Value] = {}

    def param() -> None:
        token = parser.expect_kind("value", "a parameter such as %0")
        if token.text in names:
            raise parser.error(f"parameter {token.text} is defined twice", token)
        parser.expect(":")
        names[token.text] = builder.add_param(parser.parse_type())

    parser.expect("(")
    parser.comma_list(")", param)
    parser.expect("->")
    parser.expect("(")
    result_types = parser.comma_list(")", parser.parse_type)
    metadata: dict[str, Any] = {}
    if parser.accept("attributes"):
        metadata = parser.parse_dict()
    parser.expect("{")
    parser.expect_end()
    return builder, names, result_types, metadata


def _parse_node(
    parser: _LineParser, builder: FunctionBuilder, names: dict[str, Value], lines: Lines,
    position: int,
) -> int:
    """Parses one node (a control-flow node reads its regions from ``lines[position:]``);
    returns the index of the next line."""
    targets: list[tuple[_Token, TensorType]] = []
    while True:
        target = parser.expect_kind(
            "value", "a node such as '%2: f32[3] = add(%0, %1)' or 'return'")
        if target.text in names or any(t.text == target.text for t, _ in targets):
            raise parser.error(f"value {target.text} is defined twice", target)
        parser.expect(":")
        targets.append((target, parser.parse_type()))
        if not parser.accept(","):
            break
    parser.expect("=")
    op_token = parser.expect_kind("ident", "an op name")
    parser.expect("(")
    inputs = parser.comma_list(")", lambda: _parse_use(parser, names))
    attrs = parser.parse_dict() if parser.at("{") else {}
    location = parser.parse_location() if parser.at("loc") else None
    regions = None
    if parser.accept("regions"):
        parser.expect("{")
        parser.expect_end()
        regions, position = _parse_regions(lines, position)
    else:
        parser.expect_end()
    try:
        if regions is not None:
            outputs = builder.emit_regions(op_token.text, inputs, attrs, regions, location)
        else:
            outputs = [builder.emit(op_token.text, inputs, attrs, location)]
    except TcompError as error:
        raise parser.error(str(error), op_token) from None
    except Exception as error:  # the last line of defence: a shape rule that crashed
        message = f"internal error: the rule of {op_token.text} raised {type(error).__name__}: {error}"
        raise parser.error(message, op_token) from None
    if len(outputs) != len(targets):
        raise parser.error(
            f"{op_token.text} defines {len(outputs)} values, {len(targets)} are named", op_token
        )
    for (target, declared), output in zip(targets, outputs):
        if output.type != declared:
            raise parser.error(
                f"{target.text} is declared {declared} but {op_token.text} gives {output.type}",
                target,
            )
        names[target.text] = output
    return position


def _parse_use(parser: _LineParser, names: dict[str, Value]) -> Value:
    token = parser.expect_kind("value", "a value such as %0")
    if token.text not in names:
        raise parser.error(f"value {token.text} is used before it is defined", token)
    return names[token.text]


def _parse_return(
    parser: _LineParser, names: dict[str, Value], result_types: list[TensorType]
) -> list[Value]:
    start = parser.expect("return")
    outputs: list[Value] = []
    if parser.peek().kind != "end":
        outputs.append(_parse_use(parser, names))
        while parser.accept(","):
            outputs.append(_parse_use(parser, names))
    parser.expect_end()
    returned = [v.type for v in outputs]
    if returned != result_types:
        shown = ", ".join(str(t) for t in returned)
        declared = ", ".join(str(t) for t in result_types)
        raise parser.error(f"returns ({shown}) but the header declares ({declared})", start)
    return outputs
