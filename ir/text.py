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
from dataclasses import dataclass
from typing import Any

import numpy as np

from tcomp.ir.bfloat16 import convert_array
from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.errors import TcompError, TcompParseError
from tcomp.ir.graph import Function, Location, Node, Value
from tcomp.ir.types import (
    TensorType,
    canonical_dtype,
    dtype_from_short,
    numpy_dtype,
    shape_problem,
)

READABLE_ELEMENTS = 16  # arrays up to this many elements print their values
MAX_NESTING = 100  # brackets nested deeper than this in one line are a parse error

_INTEGER = re.compile(r"[-+]?\d+")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_KEYWORDS = frozenset({"true", "false", "none", "nan", "inf", "dense", "hex"})

# ---------------------------------------------------------------------------
# Printing


def print_function(fn: Function, locations: bool = True) -> str:
    """The text form of ``fn`` (see the module docstring); ``locations=False`` omits ``loc(...)``."""
    return "\n".join(function_lines(fn, locations)) + "\n"


def function_lines(fn: Function, locations: bool = True) -> list[str]:
    """The lines of :func:`print_function`: header, one per node, ``return``, ``}``."""
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
    text = f"  {_value_name(node.output)}: {node.output.type} = {node.op}({inputs})"
    if node.attrs:
        text += " " + _format_dict(node.attrs)
    if locations and node.location is not None:
        text += f"  loc({json.dumps(node.location.file)}:{node.location.line})"
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


def _elements_to_array(elements: list[str], dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Element texts -> array (raises ValueError for texts that do not fit the dtype)."""
    if dtype == "bool":
        if any(e not in ("true", "false") for e in elements):
            raise ValueError("bool elements are true or false")
        return np.array([e == "true" for e in elements], dtype=np.bool_).reshape(shape)
    if dtype == "int32":
        values = [int(e) for e in elements]
        info = np.iinfo(np.int32)
        if any(not info.min <= v <= info.max for v in values):
            raise ValueError("int32 element out of range")
        return np.array(values, dtype=np.int32).reshape(shape)
    # Floats go through float64; the printer falls back to hex where that is not bit-exact.
    with np.errstate(all="ignore"):
        floats = np.array([float(e) for e in elements], dtype=np.float64)
        return convert_array(floats, dtype).reshape(shape)  # bfloat16: tcomp's rounding


# ---------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<hex>hex"[0-9A-Fa-f]*")
  | (?P<value>%[A-Za-z0-9_.]+)
  | (?P<symbol>@(?:[A-Za-z_][A-Za-z0-9_.]*|"(?:[^"\\]|\\.)*"))
  | (?P<arrow>->)
  | (?P<number>-inf(?![A-Za-z0-9_])|[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[()\[\]{}<>,:=])
    """,
    re.VERBOSE | re.ASCII,
)


@dataclass
class _Token:
    kind: str  # string, hex, value, symbol, arrow, number, ident, punct, end
    text: str
    column: int  # 1-based


def _parse_error(line_no: int, column: int, line: str, message: str) -> TcompParseError:
    caret = " " * (column - 1) + "^"
    return TcompParseError(f"line {line_no}, column {column}: {message}\n  {line}\n  {caret}")


class _LineParser:
    """Recursive descent over the tokens of one line.

    Other IR text forms (the kernel IR's) subclass it with their own
    ``TOKEN_PATTERN`` (whose groups name the token kinds: ``punct``, ``ident``
    and ``arrow`` tokens are matched by their text) and reuse the helpers and
    the pieces (types, attributes, ``dense<>`` arrays).
    """

    TOKEN_PATTERN = _TOKEN

    def __init__(self, line: str, line_no: int) -> None:
        self.line = line
        self.line_no = line_no
        self.tokens = self._tokenize()
        self.index = 0
        self.depth = 0  # brackets open around the current token (see nest)

    def _tokenize(self) -> list[_Token]:
        tokens: list[_Token] = []
        position = 0
        while position < len(self.line):
            match = self.TOKEN_PATTERN.match(self.line, position)
            if match is None:
                raise self.error_at(position + 1, f"unexpected character {self.line[position]!r}")
            kind = match.lastgroup or ""
            if kind != "ws":
                tokens.append(_Token(kind, match.group(), position + 1))
            position = match.end()
        tokens.append(_Token("end", "", len(self.line) + 1))
        return tokens

    # -- helpers -----------------------------------------------------------

    def error_at(self, column: int, message: str) -> TcompParseError:
        return _parse_error(self.line_no, column, self.line, message)

    def error(self, message: str, token: _Token | None = None) -> TcompParseError:
        token = token or self.peek()
        return self.error_at(token.column, message)

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def next(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token.text == text and token.kind in ("punct", "ident", "arrow")

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.next()
            return True
        return False

    def expect(self, text: str) -> _Token:
        if not self.at(text):
            raise self.error(f"expected {text!r}, found {self._describe(self.peek())}")
        return self.next()

    def expect_kind(self, kind: str, what: str) -> _Token:
        if self.peek().kind != kind:
            raise self.error(f"expected {what}, found {self._describe(self.peek())}")
        return self.next()

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise self.error(f"unexpected {self._describe(self.peek())} at the end of the line")

    @staticmethod
    def _describe(token: _Token) -> str:
        return "the end of the line" if token.kind == "end" else repr(token.text)

    def comma_list(self, close: str, item):
        """Items separated by commas up to ``close`` (a trailing comma is allowed)."""
        items = []
        while not self.accept(close):
            items.append(item())
            if not self.accept(","):
                self.expect(close)
                break
        return items

    # -- grammar pieces ----------------------------------------------------

    def parse_type(self) -> TensorType:
        token = self.expect_kind("ident", "a tensor type such as f32[4,3]")
        try:
            dtype = dtype_from_short(token.text)
        except TcompError:
            raise self.error(f"unknown element type {token.text!r}", token) from None
        self.expect("[")
        dims = self.comma_list("]", self.parse_int)
        problem = shape_problem(dims)
        if problem:
            raise self.error(f"invalid shape [{','.join(map(str, dims))}]: {problem}", token)
        return TensorType(tuple(dims), dtype)

    def parse_int(self) -> int:
        token = self.expect_kind("number", "an integer")
        if not _INTEGER.fullmatch(token.text):
            raise self.error(f"expected an integer, found {token.text!r}", token)
        return self.int_literal(token)

    def int_literal(self, token: _Token) -> int:
        """The value of an integer token (one with more digits than Python converts is an error)."""
        try:
            return int(token.text)
        except ValueError:
            raise self.error(f"the integer {token.text[:20]}... is too long", token) from None

    def nest(self, token: _Token) -> None:
        """Enters one level of brackets; text nested deeper than ``MAX_NESTING`` is an error
        (instead of exhausting Python's stack). Pair with :meth:`unnest`."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"nested more than {MAX_NESTING} levels deep", token)

    def unnest(self) -> None:
        self.depth -= 1

    def parse_string(self) -> str:
        token = self.expect_kind("string", "a quoted string")
        return self.decode_string(token)

    def decode_string(self, token: _Token) -> str:
        try:
            return json.loads(token.text)
        except ValueError:
            raise self.error(f"invalid string literal {token.text}", token) from None

    def parse_key(self) -> str:
        token = self.peek()
        if token.kind == "ident":
            return self.next().text
        if token.kind == "string":
            return self.decode_string(self.next())
        raise self.error(f"expected an attribute name, found {self._describe(token)}")

    def parse_dict(self) -> dict[str, Any]:
        self.expect("{")
        result: dict[str, Any] = {}

        def entry() -> None:
            token = self.peek()
            key = self.parse_key()
            if key in result:
                raise self.error(f"duplicate attribute {key!r}", token)
            self.expect("=")
            result[key] = self.parse_attr()

        self.comma_list("}", entry)
        return result

    def parse_attr(self) -> Any:
        token = self.peek()
        if token.kind == "number":
            self.next()
            if _INTEGER.fullmatch(token.text):
                return self.int_literal(token)
            return float(token.text)
        if token.kind == "string":
            return self.decode_string(self.next())
        if token.kind == "ident":
            constants = {"true": True, "false": False, "none": None}
            if token.text in constants:
                self.next()
                return constants[token.text]
            if token.text in ("nan", "inf"):
                self.next()
                return float(token.text)
            if token.text == "dense":
                return self.parse_dense()
        self.nest(token)
        try:
            return self.parse_bracketed(token)
        finally:
            self.unnest()

    def parse_bracketed(self, token: _Token) -> Any:
        """A tuple, list or dict attribute value (``token`` is its opening bracket)."""
        if self.accept("("):
            items = []
            trailing_comma = False
            while not self.accept(")"):
                items.append(self.parse_attr())
                trailing_comma = self.accept(",")
                if not trailing_comma:
                    self.expect(")")
                    break
            if len(items) == 1 and not trailing_comma:
                raise self.error("a one-element tuple needs a trailing comma: (x,)", token)
            return tuple(items)
        if self.at("["):
            self.next()
            return self.comma_list("]", self.parse_attr)
        if self.at("{"):
            return self.parse_dict()
        raise self.error(f"expected an attribute value, found {self._describe(token)}")

    def parse_dense(self) -> np.ndarray:
        self.expect("dense")
        self.expect("<")
        type_token = self.peek()
        tensor_type = self.parse_type()
        np_dtype = numpy_dtype(tensor_type.dtype)
        body = self.peek()
        if body.kind == "hex":
            self.next()
            try:
                data = bytes.fromhex(body.text[4:-1])
            except ValueError:
                raise self.error("a hex string needs two digits per byte", body) from None
            expected = tensor_type.size * np_dtype.itemsize
            if len(data) != expected:
                raise self.error(
                    f"{tensor_type} needs {expected} bytes, the hex string holds {len(data)}", body
                )
            array = np.frombuffer(data, dtype=np_dtype.newbyteorder("<")).astype(np_dtype)
            array = array.reshape(tensor_type.shape)
        else:
            if self.accept("["):
                elements = self.comma_list("]", self.parse_element)
            else:
                elements = [self.parse_element()]
            if len(elements) != tensor_type.size or (
                tensor_type.ndim == 0 and body.text == "["
            ):
                raise self.error(
                    f"{tensor_type} has {tensor_type.size} elements, found {len(elements)}",
                    type_token,
                )
            try:
                array = _elements_to_array(elements, tensor_type.dtype, tensor_type.shape)
            except ValueError as error:
                raise self.error(f"invalid {tensor_type.dtype} element: {error}", body) from None
        self.expect(">")
        return array

    def parse_element(self) -> str:
        token = self.peek()
        if token.kind == "number" or (token.kind == "ident" and token.text in _KEYWORDS):
            return self.next().text
        raise self.error(f"expected an array element, found {self._describe(token)}")

    def parse_location(self) -> Location:
        self.expect("loc")
        self.expect("(")
        file = self.parse_string()
        self.expect(":")
        line = self.parse_int()
        self.expect(")")
        return Location(file, line)


# Public names for other IR text forms (the kernel IR's parser builds on them).
LineParser = _LineParser
Token = _Token
parse_error = _parse_error
format_key = _format_key

# ---------------------------------------------------------------------------
# Parsing


def parse_function(text: str) -> Function:
    """Parses the text form back into a :class:`Function` (raises :class:`TcompParseError`)."""
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("//")
    ]
    if not lines:
        raise TcompParseError("line 1, column 1: empty IR text (expected 'func @name(...)')")
    header_no, header = lines[0]
    builder, names, result_types, metadata = _parse_header(_LineParser(header, header_no))

    for position, (number, line) in enumerate(lines[1:], start=1):
        parser = _LineParser(line, number)
        if parser.at("return"):
            outputs = _parse_return(parser, names, result_types)
            rest = lines[position + 1 :]
            if not rest or rest[0][1].strip() != "}":
                last_no, last = rest[0] if rest else (number, line)
                raise _parse_error(last_no, 1, last, "expected '}' after the return line")
            if len(rest) > 1:
                extra_no, extra = rest[1]
                raise _parse_error(extra_no, 1, extra, "unexpected text after the closing '}'")
            _keep_numeric_names(names)
            return builder.finish(outputs, metadata)
        _parse_node(parser, builder, names)
    last_no, last = lines[-1]
    raise _parse_error(last_no, len(last) + 1, last, "missing 'return' line and closing '}'")


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


def _parse_node(parser: _LineParser, builder: FunctionBuilder, names: dict[str, Value]) -> None:
    target = parser.expect_kind("value", "a node such as '%2: f32[3] = add(%0, %1)' or 'return'")
    if target.text in names:
        raise parser.error(f"value {target.text} is defined twice", target)
    parser.expect(":")
    declared = parser.parse_type()
    parser.expect("=")
    op_token = parser.expect_kind("ident", "an op name")
    parser.expect("(")
    inputs = parser.comma_list(")", lambda: _parse_use(parser, names))
    attrs = parser.parse_dict() if parser.at("{") else {}
    location = parser.parse_location() if parser.at("loc") else None
    parser.expect_end()
    try:
        output = builder.emit(op_token.text, inputs, attrs, location)
    except TcompError as error:
        raise parser.error(str(error), op_token) from None
    except Exception as error:  # the last line of defence: a shape rule that crashed
        message = f"internal error: the rule of {op_token.text} raised {type(error).__name__}: {error}"
        raise parser.error(message, op_token) from None
    if output.type != declared:
        raise parser.error(
            f"{target.text} is declared {declared} but {op_token.text} gives {output.type}", target
        )
    names[target.text] = output


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
