"""Parses the kernel IR's text form back: :func:`parse_program` and :func:`parse_kernel`.

``parse_program(print_program(p))`` equals ``p`` (:func:`programs_equal`:
constants bit for bit) and prints to the same text. The grammar is in
:mod:`tcomp.ir.kernel.printer`; tokenizer, helpers and ``dense<>`` constants
are the graph IR's (:class:`tcomp.ir.text.LineParser`), operators added.

What the text leaves implicit is rebuilt from the declarations: a loop
variable is ``Var(name, "index", extent)`` with the extent of its ``for``;
a local is ``Var(name, dtype)`` with the type of its ``let``; a load has its
buffer's element type (from the kernel's arguments); an operation's type
follows from its operands (comparisons, ``&&``, ``||``, ``not`` and
``isnan`` give ``bool``, ``reduce_argmax`` gives ``i32``).

Errors are :class:`TcompParseError` with the line and column and what was
expected there, e.g. ``line 4, column 18: unknown variable 'acc1': no
enclosing 'for' or earlier 'let' declares it``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, TypeVar

import numpy as np

from tcomp.ir.errors import TcompError
from tcomp.ir.kernel.call import Call, call_dtype
from tcomp.ir.kernel.expr import (
    BINARY_OPS,
    COMPARISON_OPS,
    FLOAT_TYPES,
    INDEX,
    LOGICAL_OPS,
    REDUCE_OPS,
    SCALAR_TYPES,
    UNARY_OPS,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Reduce,
    Select,
    Unary,
    Var,
    const,
)
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    KernelArg,
    Let,
    Loop,
    Program,
    ProgramBuffer,
    Schedule,
    Stmt,
    Store,
)
from tcomp.ir.kernel.ops import CALL_OPS
from tcomp.ir.kernel.printer import (  # noqa: F401 (the equality helpers are re-exported)
    INFIX,
    program_difference,
    programs_equal,
    type_name,
)
from tcomp.ir.kernel.schedule_text import parse_schedule
from tcomp.ir.line_parser import PARSE_RECURSION_LIMIT, LineParser, Token, parse_error
from tcomp.ir.recursion import deep_recursion
from tcomp.ir.types import TensorType, canonical_dtype, int_bounds

_KERNEL_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<hex>hex"[0-9A-Fa-f]*")
  | (?P<value>%[A-Za-z0-9_.]+)
  | (?P<symbol>@(?:[A-Za-z_][A-Za-z0-9_.]*|"(?:[^"\\]|\\.)*"))
  | (?P<arrow>->)
  | (?P<number>-inf(?![A-Za-z0-9_])|[-+]?(?:\d+(?:\.(?!\.)\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>\.\.|//|==|!=|<=|>=|&&|\|\||[-+*/%<>()\[\]{},:=])
    """,
    re.VERBOSE | re.ASCII,
)
_INTEGER = re.compile(r"[-+]?\d+")
_FLOAT_MAX = float(np.finfo(np.float64).max)
MAX_LOOP_NESTING = 100  # loops nested deeper than this are a parse error, not a RecursionError

T = TypeVar("T")
_INFIX_OPS = {text: op for op, text in INFIX.items()}
_TYPE_NAMES = {type_name(t): t for t in SCALAR_TYPES}
_ACCESS = ("in", "out", "inout")
_BUFFER_WORDS = {"out": "output", "temp": "temp", "const": "constant"}


def result_dtype(op: str, a: Expr) -> str:
    """The type of ``Binary(op, a, b)``: bool for comparisons and logic, else ``a``'s."""
    return "bool" if op in COMPARISON_OPS or op in LOGICAL_OPS else a.dtype


class _Scope:
    """The kernel's arguments and the variables visible: a dict per block, innermost last."""

    def __init__(self, args: dict[str, KernelArg]) -> None:
        self.args = args
        self.blocks: list[dict[str, Var]] = [{}]

    def lookup(self, name: str) -> Var | None:
        return next((b[name] for b in reversed(self.blocks) if name in b), None)


class _Parser(LineParser):
    """One line of kernel IR text: statements and expressions over a scope."""

    TOKEN_PATTERN = _KERNEL_TOKEN

    def __init__(self, line: str, line_no: int, scope: _Scope | None = None) -> None:
        super().__init__(line, line_no)
        self.scope = scope or _Scope({})

    def name(self, what: str) -> Token:
        return self.expect_kind("ident", what)

    def scalar_type(self) -> str:
        token = self.name("a scalar type (f32, f64, f16, bf16, i8, u8, i32, u32, i64, bool, index)")
        if token.text not in _TYPE_NAMES:
            raise self.error(f"unknown scalar type {token.text!r}", token)
        return _TYPE_NAMES[token.text]

    def extent(self) -> int:
        """``0..N`` of a ``for`` or a reduction axis."""
        start = self.peek()
        if self.parse_int() != 0:
            raise self.error("ranges start at 0: expected '0..extent'", start)
        self.expect("..")
        return self.parse_int()

    # -- expressions -------------------------------------------------------

    def expr(self) -> Expr:
        """``operand [infix operand]``: infix operations do not chain unparenthesised."""
        token = self.peek()
        self.nest(token)  # an expression nested too deep is a parse error, not a RecursionError
        try:
            return self.infix()
        finally:
            self.unnest()

    def infix(self) -> Expr:
        """The body of :meth:`expr`."""
        a = self.operand()
        token = self.peek()
        if token.kind == "punct" and token.text in _INFIX_OPS:
            self.next()
            op = _INFIX_OPS[token.text]
            b = self.operand()
            return Binary(op, a, b, result_dtype(op, a))
        return a

    def operand(self) -> Expr:
        token = self.peek()
        if self.accept("("):
            inner = self.expr()
            self.expect(")")
            return inner
        if token.kind == "number":
            return self.number()
        if token.kind == "value":
            return self.load()
        if token.kind == "ident":
            return self.named()
        raise self.error(f"expected an expression, found {self._describe(token)}")

    def number(self) -> Const:
        token = self.next()
        if not self.accept(":"):
            if _INTEGER.fullmatch(token.text):
                return Const(self.int_literal(token), INDEX)
            raise self.error(
                f"a constant other than an index needs its type, as in {token.text}:f32", token
            )
        return self.typed_const(token)

    def typed_const(self, token: Token) -> Const:
        """``text:type``: an integer or float literal of a scalar type (bools are true/false)."""
        dtype = self.scalar_type()
        integer = _INTEGER.fullmatch(token.text)
        if dtype in FLOAT_TYPES and not integer:
            return Const(float(token.text), dtype)
        if dtype == "bool" or not integer:
            raise self.error(f"{token.text} is not a {type_name(dtype)} constant", token)
        value = self.int_literal(token)
        if dtype in FLOAT_TYPES and abs(value) > _FLOAT_MAX:
            raise self.error(f"{token.text} is too large for a float constant", token)
        if dtype not in FLOAT_TYPES and dtype != INDEX:
            low, high = int_bounds(dtype)
            if not low <= value <= high:
                raise self.error(f"{token.text} does not fit {type_name(dtype)}", token)
        return const(value, dtype)

    def load(self) -> Load:
        arg = self.arg(self.next())
        return Load(arg.name, self.subscript(), arg.dtype)

    def subscript(self) -> Expr:
        self.expect("[")
        index = self.expr()
        self.expect("]")
        return index

    def arg(self, token: Token) -> KernelArg:
        name = token.text[1:]
        if name not in self.scope.args:
            known = ", ".join(f"%{a}" for a in self.scope.args) or "none"
            raise self.error(f"%{name} is not an argument of the kernel (arguments: {known})", token)
        return self.scope.args[name]

    def named(self) -> Expr:
        token = self.next()
        text = token.text
        if text in ("true", "false"):
            return Const(text == "true", "bool")
        if text in ("nan", "inf"):
            self.expect(":")
            return self.typed_const(token)
        if text.startswith("reduce_") and self.at("["):
            return self.reduce(token)
        if not self.at("("):
            var = self.scope.lookup(text)
            if var is None:
                why = "no enclosing 'for' or earlier 'let' declares it"
                raise self.error(f"unknown variable {text!r}: {why}", token)
            return var
        self.next()
        operands = self.comma_list(")", self.expr)
        if text == "select":
            self.arity(token, operands, 3)
            return Select(operands[0], operands[1], operands[2], operands[1].dtype)
        if text in _TYPE_NAMES:
            self.arity(token, operands, 1)
            return Cast(operands[0], _TYPE_NAMES[text])
        if text in UNARY_OPS:
            self.arity(token, operands, 1)
            x = operands[0]
            return Unary(text, x, "bool" if text in ("not", "isnan") else x.dtype)
        if text in BINARY_OPS:
            self.arity(token, operands, 2)
            a, b = operands
            return Binary(text, a, b, result_dtype(text, a))
        if text in CALL_OPS:
            self.arity(token, operands, CALL_OPS[text])
            return Call(text, tuple(operands), call_dtype(text))
        raise self.error(f"unknown operation {text!r}", token)

    def arity(self, token: Token, operands: list[Expr], count: int) -> None:
        if len(operands) != count:
            plural = "s" if count > 1 else ""
            raise self.error(f"{token.text} takes {count} operand{plural}, found {len(operands)}",
                             token)

    def reduce(self, token: Token) -> Reduce:
        op = token.text[len("reduce_"):]
        if op not in REDUCE_OPS:
            raise self.error(f"unknown reduction {op!r} (known: {sorted(REDUCE_OPS)})", token)
        self.expect("[")

        def axis() -> Var:
            name = self.name("a reduction axis such as 'r0 in 0..3'")
            self.expect("in")
            return Var(name.text, INDEX, self.extent())

        axes = tuple(self.comma_list("]", axis))
        self.scope.blocks.append({a.name: a for a in axes})
        try:
            self.expect("(")
            body = self.expr()
            self.expect(")")
        finally:
            self.scope.blocks.pop()
        return Reduce(op, axes, body, "int32" if op == "argmax" else body.dtype)

    # -- statements --------------------------------------------------------

    def statement(self) -> Stmt | tuple[str, Var]:
        """One statement line; a ``for`` line gives ``("for", var)`` (its body follows)."""
        token = self.peek()
        if token.kind == "value":
            arg = self.arg(self.next())
            return Store(arg.name, self.subscript(), self.value())
        if self.accept("for"):
            name = self.name("a loop variable")
            self.expect("in")
            var = Var(name.text, INDEX, self.extent())
            self.expect("{")
            self.expect_end()
            return ("for", var)
        if self.accept("let"):
            name = self.name("a local variable name")
            self.expect(":")
            dtype = self.scalar_type()
            return Let(Var(name.text, dtype), self.value())
        name = self.name("a statement ('for', 'let', 'name = ...', '%buffer[i] = ...' or '}')")
        target = self.scope.lookup(name.text)
        if target is None:
            raise self.error(f"assignment to {name.text!r}, which no earlier 'let' declares", name)
        if target.extent is not None:
            raise self.error(f"assignment to the loop variable {name.text!r}", name)
        return Assign(target, self.value())

    def value(self) -> Expr:
        """``= expr`` up to the end of the line."""
        self.expect("=")
        value = self.expr()
        self.expect_end()
        return value


class _Reader:
    """The text's lines (blank lines and ``//`` comment lines left out), read in order."""

    def __init__(self, text: str) -> None:
        numbered = list(enumerate(text.splitlines() or [""], start=1))
        self.lines = [(n, s) for n, s in numbered if s.strip() and not s.lstrip().startswith("//")]
        self.position = 0
        self.last = numbered[-1]

    def peek(self) -> tuple[int, str] | None:
        return self.lines[self.position] if self.position < len(self.lines) else None

    def next(self, expected: str) -> tuple[int, str]:
        line = self.peek()
        if line is None:
            number, text = self.last
            raise parse_error(number, len(text) + 1, text, f"expected {expected}, found the end")
        self.position += 1
        return line

    def closes(self) -> bool:
        line = self.peek()
        return line is not None and line[1].strip() == "}"


def _block(reader: _Reader, scope: _Scope, opened: str, depth: int = 0) -> tuple[Stmt, ...]:
    """Statements up to the ``}`` that closes ``opened`` (``depth`` loops deep)."""
    body: list[Stmt] = []
    scope.blocks.append({})
    while not reader.closes():
        number, line = reader.next(f"'}}' closing {opened}")
        stmt = _Parser(line, number, scope).statement()
        if isinstance(stmt, tuple):
            if depth >= MAX_LOOP_NESTING:
                column = len(line) - len(line.lstrip()) + 1
                raise parse_error(number, column, line, f"loops nested deeper than {depth}")
            var = stmt[1]
            scope.blocks.append({var.name: var})
            stmt = Loop(var, _block(reader, scope, f"the loop on line {number}", depth + 1))
            scope.blocks.pop()
        elif isinstance(stmt, Let):
            scope.blocks[-1][stmt.var.name] = stmt.var
        body.append(stmt)
    reader.next("'}'")
    scope.blocks.pop()
    return tuple(body)


def _parse_origin(text: str, number: int, column: int) -> tuple[str, ...]:
    """The names of the origin comment (``text`` starts at ``column``, after the ``//``)."""
    if text.startswith(" "):
        text, column = text[1:], column + 1
    if not text.startswith('"'):
        return tuple(text.split(", "))
    parser = LineParser(" " * (column - 1) + text, number)
    names = [parser.parse_string()]
    while parser.accept(","):
        names.append(parser.parse_string())
    parser.expect_end()
    return tuple(names)


def _kernel(reader: _Reader, line_no: int, line: str) -> Kernel:
    comment = line.find("//")  # no '//' before the origin comment: arguments hold none
    origin = _parse_origin(line[comment + 2:], line_no, comment + 3) if comment >= 0 else ()
    parser = _Parser(line if comment < 0 else line[:comment], line_no)
    parser.expect("kernel")
    name = parser.name("the kernel name")
    parser.expect("(")

    def argument() -> KernelArg:
        access = parser.name("an argument such as 'in %p0: f32[12]'")
        if access.text not in _ACCESS:
            raise parser.error(f"expected in, out or inout, found {access.text!r}", access)
        token = parser.expect_kind("value", "a buffer name such as %p0")
        parser.expect(":")
        dtype = parser.scalar_type()
        parser.expect("[")
        size = parser.parse_int()
        parser.expect("]")
        if token.text[1:] in args:
            raise parser.error(f"{token.text} is an argument twice", token)
        args[token.text[1:]] = arg = KernelArg(token.text[1:], dtype, size, access.text)
        return arg

    args: dict[str, KernelArg] = {}
    parser.comma_list(")", argument)
    parser.expect("{")
    parser.expect_end()
    schedule = Schedule()
    following = reader.peek()
    if following is not None and re.match(r"\s*schedule\s*\{", following[1]):
        reader.next("a schedule")
        schedule = parse_schedule(_Parser(following[1], following[0]))
    body = _block(reader, _Scope(args), f"kernel {name.text} (line {line_no})")
    return Kernel(name.text, tuple(args.values()), body, schedule, origin)


def parse_kernel(text: str) -> Kernel:
    """Parses the text of one kernel (:func:`print_kernel`); raises :class:`TcompParseError`."""
    reader = _Reader(text)
    return _guarded(reader, lambda: _parse_kernel(reader))


def _parse_kernel(reader: _Reader) -> Kernel:
    number, line = reader.next("'kernel name(...) {'")
    kernel = _kernel(reader, number, line)
    _expect_end(reader)
    return kernel


def _guarded(reader: _Reader, parse: Callable[[], T]) -> T:
    """``parse()``, where any error that is not a tcomp error (a bug of the parser) still
    becomes a :class:`TcompParseError` at the line being read, saying it is internal."""
    try:
        with deep_recursion(PARSE_RECURSION_LIMIT):
            return parse()
    except TcompError:
        raise
    except Exception as error:  # the last line of defence
        number, line = reader.lines[reader.position - 1] if reader.position else reader.last
        message = f"internal error: {type(error).__name__}: {error}"
        raise parse_error(number, 1, line, message) from None


def _expect_end(reader: _Reader) -> None:
    extra = reader.peek()
    if extra is not None:
        raise parse_error(extra[0], 1, extra[1], "unexpected text after the closing '}'")


def parse_program(text: str) -> Program:
    """Parses the text of a program (:func:`print_program`); raises :class:`TcompParseError`."""
    reader = _Reader(text)
    return _guarded(reader, lambda: _parse_program(reader))


def _parse_program(reader: _Reader) -> Program:
    number, line = reader.next("'program @name(...) -> (...) {'")
    parser = _Parser(line, number)
    parser.expect("program")
    symbol = parser.expect_kind("symbol", "the program name such as @f")
    name = symbol.text[1:]
    if name.startswith('"'):
        name = parser.decode_string(Token("string", name, symbol.column + 1))
    buffers: dict[str, ProgramBuffer] = {}

    def param() -> str:
        token = parser.expect_kind("value", "a parameter such as %p0")
        parser.expect(":")
        _declare(parser, buffers, token, ProgramBuffer(token.text[1:], parser.parse_type(), "param"))
        return token.text[1:]

    parser.expect("(")
    params = parser.comma_list(")", param)
    parser.expect("->")
    parser.expect("(")
    outputs = parser.comma_list(")", lambda: parser.expect_kind("value", "an output such as %t1"))
    arena = 0
    if parser.accept("arena_bytes"):
        parser.expect("=")
        arena = parser.parse_int()
    parser.expect("{")
    parser.expect_end()
    kernels: list[Kernel] = []
    loops: dict[str, int] = {}
    conditions: dict[str, str] = {}
    _program_items(reader, buffers, kernels, (loops, conditions), ())
    reader.next("'}'")
    _expect_end(reader)
    for token in outputs:
        if token.text[1:] not in buffers:
            raise parser.error(f"output {token.text} is not a declared buffer", token)
    return Program(name, buffers, params, [t.text[1:] for t in outputs], kernels, arena, loops,
                   conditions)


def _program_items(
    reader: _Reader, buffers: dict[str, ProgramBuffer], kernels: list[Kernel],
    declared: tuple[dict[str, int], dict[str, str]], inside: tuple[str, ...],
) -> None:
    """Buffers, kernels and ``repeat NAME count=N {`` (or ``repeat NAME while %FLAG {``)
    blocks up to a closing ``}``; ``declared``: the repeat loops and the while loops."""
    loops, conditions = declared
    while not reader.closes():
        number, line = reader.next("'}' closing the program")
        word = line.split(None, 1)[0]
        if word == "kernel":
            kernels.append(dataclasses.replace(_kernel(reader, number, line), loops=inside))
        elif word == "repeat":
            parser = _Parser(line, number)
            parser.expect("repeat")
            token = parser.name("a loop name such as s5")
            if token.text in loops or token.text in conditions:
                raise parser.error(f"loop {token.text} is declared twice", token)
            if parser.accept("while"):
                flag = parser.expect_kind("value", "a condition buffer such as %t3")
                conditions[token.text] = flag.text[1:]
            else:
                parser.expect("count")
                parser.expect("=")
                loops[token.text] = parser.parse_int()
            parser.expect("{")
            parser.expect_end()
            _program_items(reader, buffers, kernels, declared, inside + (token.text,))
            reader.next("'}' closing the repeat loop")
        elif inside:
            raise _Parser(line, number).error("a repeat loop holds kernels only",
                                              Token("ident", word, 1))
        else:
            _buffer(_Parser(line, number), buffers)


def _declare(parser: _Parser, buffers: dict, token: Token, buffer: ProgramBuffer) -> None:
    if buffer.name in buffers:
        raise parser.error(f"buffer {token.text} is declared twice", token)
    buffers[buffer.name] = buffer


def _buffer(parser: _Parser, buffers: dict[str, ProgramBuffer]) -> None:
    word = parser.name("a buffer declaration (out, temp, const) or a kernel")
    if word.text not in _BUFFER_WORDS:
        raise parser.error(f"expected out, temp, const or kernel, found {word.text!r}", word)
    token = parser.expect_kind("value", "a buffer name such as %t1")
    parser.expect(":")
    tensor_type = parser.parse_type()
    buffer = ProgramBuffer(token.text[1:], tensor_type, _BUFFER_WORDS[word.text])
    if word.text == "const":
        parser.expect("=")
        dense = parser.peek()
        buffer.data = parser.parse_dense()
        found = TensorType(buffer.data.shape, canonical_dtype(buffer.data.dtype))
        if found != tensor_type:
            raise parser.error(f"{token.text} is declared {tensor_type} but holds {found}", dense)
    if parser.accept("offset"):
        parser.expect("=")
        buffer.offset = parser.parse_int()
    parser.expect_end()
    _declare(parser, buffers, token, buffer)
