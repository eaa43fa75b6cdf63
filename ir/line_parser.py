"""Reading one line of IR text: the tokens, errors with line and column, and the pieces
both IR text forms share (types, attribute values, ``dense<>`` arrays, locations).

:class:`LineParser` is a recursive descent over the tokens of one line; the
graph IR's parser (:mod:`tcomp.ir.text`) uses it as it is, the kernel IR's
(:mod:`tcomp.ir.kernel.parser`) subclasses it with its own tokens. Brackets
nested deeper than :data:`MAX_NESTING` are a parse error, never Python's
``RecursionError``: parse inside ``deep_recursion(PARSE_RECURSION_LIMIT)``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from tcomp.ir.bfloat16 import convert_array
from tcomp.ir.errors import TcompError, TcompParseError
from tcomp.ir.graph import Location
from tcomp.ir.types import (
    TensorType,
    dtype_from_short,
    is_integer,
    numpy_dtype,
    shape_problem,
)

# brackets nested deeper than this in one line are a parse error; deep enough for any
# expression the lowering builds (a chain of hundreds of fused ops prints that deep)
MAX_NESTING = 1000
PARSE_RECURSION_LIMIT = 8 * MAX_NESTING + 1000  # Python frames a parse at that depth needs
KEYWORDS = frozenset({"true", "false", "none", "nan", "inf", "dense", "hex"})
_INTEGER = re.compile(r"[-+]?\d+")


def elements_to_array(elements: list[str], dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Element texts -> array (raises ValueError for texts that do not fit the dtype)."""
    if dtype == "bool":
        if any(e not in ("true", "false") for e in elements):
            raise ValueError("bool elements are true or false")
        return np.array([e == "true" for e in elements], dtype=np.bool_).reshape(shape)
    if is_integer(dtype):
        values = [int(e) for e in elements]
        info = np.iinfo(numpy_dtype(dtype))
        if any(not info.min <= v <= info.max for v in values):
            raise ValueError(f"{dtype} element out of range")
        return np.array(values, dtype=numpy_dtype(dtype)).reshape(shape)
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
class Token:
    kind: str  # string, hex, value, symbol, arrow, number, ident, punct, end
    text: str
    column: int  # 1-based


def parse_error(line_no: int, column: int, line: str, message: str) -> TcompParseError:
    caret = " " * (column - 1) + "^"
    return TcompParseError(f"line {line_no}, column {column}: {message}\n  {line}\n  {caret}")


class LineParser:
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

    def _tokenize(self) -> list[Token]:
        tokens: list[Token] = []
        position = 0
        while position < len(self.line):
            match = self.TOKEN_PATTERN.match(self.line, position)
            if match is None:
                raise self.error_at(position + 1, f"unexpected character {self.line[position]!r}")
            kind = match.lastgroup or ""
            if kind != "ws":
                tokens.append(Token(kind, match.group(), position + 1))
            position = match.end()
        tokens.append(Token("end", "", len(self.line) + 1))
        return tokens

    # -- helpers -----------------------------------------------------------

    def error_at(self, column: int, message: str) -> TcompParseError:
        return parse_error(self.line_no, column, self.line, message)

    def error(self, message: str, token: Token | None = None) -> TcompParseError:
        token = token or self.peek()
        return self.error_at(token.column, message)

    def peek(self) -> Token:
        return self.tokens[self.index]

    def next(self) -> Token:
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

    def expect(self, text: str) -> Token:
        if not self.at(text):
            raise self.error(f"expected {text!r}, found {self._describe(self.peek())}")
        return self.next()

    def expect_kind(self, kind: str, what: str) -> Token:
        if self.peek().kind != kind:
            raise self.error(f"expected {what}, found {self._describe(self.peek())}")
        return self.next()

    def expect_end(self) -> None:
        if self.peek().kind != "end":
            raise self.error(f"unexpected {self._describe(self.peek())} at the end of the line")

    @staticmethod
    def _describe(token: Token) -> str:
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

    def int_literal(self, token: Token) -> int:
        """The value of an integer token (one with more digits than Python converts is an error)."""
        try:
            return int(token.text)
        except ValueError:
            raise self.error(f"the integer {token.text[:20]}... is too long", token) from None

    def nest(self, token: Token) -> None:
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

    def decode_string(self, token: Token) -> str:
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

    def parse_bracketed(self, token: Token) -> Any:
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
                array = elements_to_array(elements, tensor_type.dtype, tensor_type.shape)
            except ValueError as error:
                raise self.error(f"invalid {tensor_type.dtype} element: {error}", body) from None
        self.expect(">")
        return array

    def parse_element(self) -> str:
        token = self.peek()
        if token.kind == "number" or (token.kind == "ident" and token.text in KEYWORDS):
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
