"""The kernel IR's text form: golden output, exact round trips, parse errors with line and column."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from kernel_strategies import random_kernels, random_programs

from tcomp.ir.errors import TcompParseError
from tcomp.ir.kernel.expr import INDEX, Binary, Cast, Const, Load, Select, Unary, Var
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    KernelArg,
    Let,
    Loop,
    Program,
    ProgramBuffer,
    Schedule,
    Store,
)
from tcomp.ir.kernel.parser import parse_kernel, parse_program
from tcomp.ir.kernel.printer import print_kernel, print_program, program_difference, programs_equal
from tcomp.ir.kernel.verifier import verify_program
from tcomp.ir.line_parser import MAX_NESTING
from tcomp.ir.types import TensorType

F32 = "float32"


def _program() -> Program:
    i0, r0 = Var("i0", INDEX, 4), Var("r0", INDEX, 3)
    acc = Var("acc0", F32)
    flat = Binary("add", Binary("mul", i0, Const(3, INDEX), INDEX), r0, INDEX)
    exp = Unary("exp", Load("p0", flat, F32), F32)
    body = (
        Loop(i0, (
            Let(acc, Const(float("-inf"), F32)),
            Loop(r0, (Assign(acc, Binary("max", acc, exp, F32)),)),
            Store("t1", i0, Binary("add", acc, Load("c1", Binary("mod", i0, Const(3, INDEX),
                                                                INDEX), F32), F32)),
            Store("t2", i0, Select(Binary("lt", i0, Const(2, INDEX), "bool"),
                                   Cast(i0, "int32"), Const(-7, "int32"), "int32")),
        )),
    )
    args = (
        KernelArg("p0", F32, 12, "in"),
        KernelArg("c1", F32, 3, "in"),
        KernelArg("t1", F32, 4, "out"),
        KernelArg("t2", "int32", 4, "out"),
    )
    kernel = Kernel("k0", args, body, Schedule("i0", {"r0": 4}), ("reduce_max %2", "exp %1"))
    buffers = {
        "p0": ProgramBuffer("p0", TensorType((4, 3), F32), "param"),
        "t1": ProgramBuffer("t1", TensorType((4,), F32), "output"),
        "t2": ProgramBuffer("t2", TensorType((4,), "int32"), "temp", offset=0),
        "c1": ProgramBuffer("c1", TensorType((3,), F32), "constant",
                            np.array([1.0, 2.5, -0.0], np.float32)),
    }
    return Program("f", buffers, ["p0"], ["t1", "p0"], [kernel], arena_bytes=64)


GOLDEN = """\
program @f(%p0: f32[4,3]) -> (%t1, %p0) arena_bytes=64 {
  out %t1: f32[4]
  temp %t2: i32[4] offset=0
  const %c1: f32[3] = dense<f32[3] [1.0, 2.5, -0.0]>
  kernel k0(in %p0: f32[12], in %c1: f32[3], out %t1: f32[4], out %t2: i32[4]) {  // reduce_max %2, exp %1
    schedule {parallel=i0, vector={r0: 4}}
    for i0 in 0..4 {
      let acc0: f32 = -inf:f32
      for r0 in 0..3 {
        acc0 = max(acc0, exp(%p0[(i0 * 3) + r0]))
      }
      %t1[i0] = acc0 + %c1[i0 % 3]
      %t2[i0] = select(i0 < 2, i32(i0), -7:i32)
    }
  }
}
"""


def test_golden_program_text() -> None:
    assert print_program(_program()) == GOLDEN


def test_golden_text_parses_to_the_program_and_prints_back() -> None:
    parsed = parse_program(GOLDEN)
    assert program_difference(parsed, _program()) is None
    assert print_program(parsed) == GOLDEN
    verify_program(parsed)


def test_parsed_variables_carry_their_declarations() -> None:
    kernel = parse_program(GOLDEN).kernels[0]
    loop = kernel.body[0]
    assert isinstance(loop, Loop) and loop.var == Var("i0", INDEX, 4)
    let = loop.body[0]
    assert isinstance(let, Let) and let.var == Var("acc0", F32, None)
    inner = loop.body[1]
    assert isinstance(inner, Loop) and inner.var == Var("r0", INDEX, 3)


@pytest.mark.parametrize(
    "expr, text",
    [
        (Const(3, INDEX), "3"),
        (Const(3, "int32"), "3:i32"),
        (Const(-3, INDEX), "-3"),
        (Const(True, "bool"), "true"),
        (Const(-0.0, "float16"), "-0.0:f16"),
        (Const(float("nan"), "float64"), "nan:f64"),
        (Const(1e-05, F32), "1e-05:f32"),
        (Binary("add", Var("i0", INDEX, 4), Const(-1, INDEX), INDEX), "i0 + -1"),
        (Binary("floordiv", Var("i0", INDEX, 4), Const(2, INDEX), INDEX), "i0 // 2"),
        (Cast(Var("i0", INDEX, 4), INDEX), "index(i0)"),
        (Unary("isnan", Const(1.0, F32), "bool"), "isnan(1.0:f32)"),
    ],
)
def test_expressions_print_and_parse_back(expr, text: str) -> None:
    i0 = Var("i0", INDEX, 4)
    kernel = Kernel("k", (KernelArg("o", expr.dtype, 4, "out"),), (Loop(i0, (Store("o", i0, expr),)),))
    printed = print_kernel(kernel)
    assert f"%o[i0] = {text}\n" in printed
    assert parse_kernel(printed) == kernel


def test_origins_that_need_quotes_are_quoted_and_read_back() -> None:
    kernel = Kernel("k", (), (), origin=("a, b", " x", ""))
    text = print_kernel(kernel)
    assert text.startswith('kernel k() {  // "a, b", " x", ""\n')
    assert parse_kernel(text) == kernel


def test_big_constants_print_as_hex_and_names_are_quoted() -> None:
    data = np.arange(20, dtype=np.float32)
    data[3] = -0.0
    program = Program(
        "<lambda>",
        {"c": ProgramBuffer("c", TensorType((4, 5), F32), "constant", data.reshape(4, 5))},
        [], ["c"], [],
    )
    text = print_program(program)
    assert text.startswith('program @"<lambda>"() -> (%c) {\n  const %c: f32[4,5] = dense<f32[4,5] hex"')
    parsed = parse_program(text)
    assert programs_equal(parsed, program) and print_program(parsed) == text


def test_program_equality_compares_constant_bits() -> None:
    a, b = _program(), _program()
    assert programs_equal(a, b)
    b.buffers["c1"].data = np.array([1.0, 2.5, 0.0], np.float32)
    assert "buffer c1 data" in program_difference(a, b)
    b.buffers["c1"].data = a.buffers["c1"].data.copy()
    b.kernels[0].origin = ()
    assert "kernel k0: origin" in program_difference(a, b)


@given(random_programs())
def test_random_programs_round_trip_and_verify(program: Program) -> None:
    verify_program(program)
    text = print_program(program)
    parsed = parse_program(text)
    assert program_difference(parsed, program) is None, text
    assert print_program(parsed) == text


@given(random_kernels(reductions=True))
def test_random_kernels_with_reductions_round_trip(kernel: Kernel) -> None:
    text = print_kernel(kernel)
    parsed = parse_kernel(text)
    assert parsed == kernel, text
    assert print_kernel(parsed) == text


_KERNEL = "kernel k(in %a: f32[4], out %b: f32[4]) {\n"


@pytest.mark.parametrize(
    "text, line, column, words",
    [
        ("", 1, 1, "expected 'kernel name(...) {'"),
        (_KERNEL + "  %b[0] = x\n}\n", 2, 11, "unknown variable 'x'"),
        (_KERNEL + "  %c[0] = 1.0:f32\n}\n", 2, 3, "%c is not an argument"),
        (_KERNEL + "  for i in 1..4 {\n  }\n}\n", 2, 12, "ranges start at 0"),
        (_KERNEL + "  %b[0] = 1.5\n}\n", 2, 11, "needs its type, as in 1.5:f32"),
        (_KERNEL + "  %b[0] = 1.0:f99\n}\n", 2, 15, "unknown scalar type 'f99'"),
        (_KERNEL + "  %b[0] = 1 + 2 + 3\n}\n", 2, 17, "unexpected '+' at the end of the line"),
        (_KERNEL + "  %b[0] = frob(1)\n}\n", 2, 11, "unknown operation 'frob'"),
        (_KERNEL + "  %b[0] = exp(1.0:f32, 2.0:f32)\n}\n", 2, 11, "exp takes 1 operand, found 2"),
        (_KERNEL + "  for i in 0..4 {\n    i = 3\n  }\n}\n", 3, 5, "assignment to the loop variable"),
        (_KERNEL + "  y = 3\n}\n", 2, 3, "assignment to 'y', which no earlier 'let' declares"),
        (_KERNEL + "  %b[0] = 1.0:f32\n", 2, 18, "expected '}' closing kernel k"),
        (_KERNEL + "}\n}\n", 3, 1, "unexpected text after the closing '}'"),
        ("kernel k(at %a: f32[4]) {\n}\n", 1, 10, "expected in, out or inout"),
        (_KERNEL + "  schedule {parallel=i, spin={}}\n}\n", 2, 25, "found 'spin'"),
        (_KERNEL + "  %b[0] = reduce_sum[r in 0..3](1.0:f32)\n}\n", 2, 11, "unknown reduction"),
    ],
)
def test_parse_errors_name_line_column_and_expectation(
    text: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(TcompParseError) as info:
        parse_kernel(text)
    message = str(info.value)
    assert message.startswith(f"line {line}, column {column}:"), message
    assert words in message


@pytest.mark.parametrize(
    "text, words",
    [
        ("program @f(%a: f32[2]) -> (%z) {\n}\n", "output %z is not a declared buffer"),
        ("program @f() -> () {\n  out %a: f32[2]\n  temp %a: f32[2]\n}\n", "declared twice"),
        ("program @f() -> () {\n  const %c: f32[2] = dense<f32[3] [1.0, 2.0, 3.0]>\n}\n",
         "is declared f32[2] but holds f32[3]"),
        ("program @f() -> () {\n  buffer %a: f32[2]\n}\n", "expected out, temp, const or kernel"),
        ("program @f() -> () {\n", "expected '}' closing the program"),
    ],
)
def test_program_parse_errors(text: str, words: str) -> None:
    with pytest.raises(TcompParseError, match="line \\d+, column \\d+") as info:
        parse_program(text)
    assert words in str(info.value)


# ---------------------------------------------------------------------------
# Numbers out of range, bad literals and deep nesting: parse errors, never Python's errors

_DEEP = "(" * 3000 + "1.0:f32" + ")" * 3000
_NESTED_LOOPS = "".join(f"for i{n} in 0..1 {{\n" for n in range(150)) + "}\n" * 150


@pytest.mark.parametrize(
    "text, line, column, words",
    [
        (_KERNEL + "  %b[0] = 1:bool\n}\n", 2, 11, "1 is not a bool constant"),
        (_KERNEL + "  %b[0] = 1.5:i32\n}\n", 2, 11, "1.5 is not a i32 constant"),
        (_KERNEL + "  %b[0] = 1" + "0" * 400 + ":f32\n}\n", 2, 11, "too large for a float"),
        (_KERNEL + "  %b[1" + "0" * 5000 + "] = 1.0:f32\n}\n", 2, 6, "is too long"),
        (_KERNEL + f"  %b[0] = {_DEEP}\n}}\n", 2, 11 + MAX_NESTING,
         f"nested more than {MAX_NESTING} levels deep"),
        (_KERNEL + _NESTED_LOOPS + "}\n", 102, 1, "loops nested deeper than 100"),
        ("kernel k(in %a: f32[1" + "0" * 5000 + "]) {\n}\n", 1, 21, "is too long"),
    ],
)
def test_numbers_and_nesting_out_of_range_are_parse_errors(
    text: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(TcompParseError) as info:
        parse_kernel(text)
    message = str(info.value)
    assert message.startswith(f"line {line}, column {column}:"), message[:200]
    assert words in message


def test_buffer_types_out_of_int64_are_parse_errors() -> None:
    text = "program @f(%p: f32[99999999999999999999,8]) -> (%p) {\n}\n"
    with pytest.raises(TcompParseError) as info:
        parse_program(text)
    message = str(info.value)
    assert message.startswith("line 1, column 16: invalid shape [99999999999999999999,8]")
    assert "outside 0..9223372036854775807 (int64)" in message


def test_a_parser_crash_is_still_a_parse_error(monkeypatch) -> None:
    from tcomp.ir.kernel import parser

    def broken(self):
        raise KeyError("oops")

    monkeypatch.setattr(parser._Parser, "statement", broken)
    with pytest.raises(TcompParseError, match="line 2, column 1: internal error: KeyError"):
        parse_kernel(_KERNEL + "  %b[0] = 1.0:f32\n}\n")


def test_a_deep_fused_chain_prints_and_parses_back():
    """The lowering fuses a chain of hundreds of ops into one expression: its text, as
    the printer writes it (and the CUDA compile check reads it back), must parse."""
    import numpy as np

    import tcomp

    def chain(x):
        for _ in range(300):
            x = tcomp.exp(x) * 0.5
        return x.sum()

    program = tcomp.jit(chain, backend="llvm").lower(np.ones(3, np.float32)).kernel_program()
    text = print_program(program)
    assert text.count("exp(") >= 300
    assert programs_equal(parse_program(text), program)
