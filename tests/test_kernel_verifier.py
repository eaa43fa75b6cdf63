"""The kernel-IR verifier: valid programs pass, each broken invariant fails by name."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from kernel_strategies import (
    drop_a_let,
    index_out_of_range,
    random_programs,
    store_to_a_wrong_buffer,
)

from tcomp.ir.errors import TcompVerifyError
from tcomp.ir.kernel.expr import INDEX, Binary, Cast, Const, Load, Reduce, Select, Unary, Var
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
from tcomp.ir.kernel.verifier import verify_kernel, verify_program
from tcomp.ir.types import TensorType

F32 = "float32"
I0 = Var("i0", INDEX, 4)
ACC = Var("acc", F32)


def _program(*body, args=None, schedule=None, buffers=None, outputs=("y",)) -> Program:
    """``y[i0] = x[i0] + 1`` over 4 elements, with ``body`` in place of the loop's body."""
    if not body:
        body = (
            Let(ACC, Binary("add", Load("x", I0, F32), Const(1.0, F32), F32)),
            Store("y", I0, ACC),
        )
    args = args or (KernelArg("x", F32, 4, "in"), KernelArg("y", F32, 4, "out"))
    kernel = Kernel("k0", tuple(args), (Loop(I0, tuple(body)),), schedule or Schedule())
    all_buffers = {
        "x": ProgramBuffer("x", TensorType((4,), F32), "param"),
        "y": ProgramBuffer("y", TensorType((2, 2), F32), "output"),
        "c": ProgramBuffer("c", TensorType((4,), F32), "constant", np.zeros(4, np.float32)),
    }
    all_buffers.update(buffers or {})
    return Program("f", all_buffers, ["x"], list(outputs), [kernel])


def _fails(program: Program, *words: str, pass_name: str | None = None) -> str:
    with pytest.raises(TcompVerifyError) as info:
        verify_program(program, pass_name)
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


def test_a_valid_program_verifies() -> None:
    verify_program(_program())
    verify_program(_program(), "tile")


def test_message_names_pass_kernel_statement_and_marks_the_line() -> None:
    program = _program(Store("y", Binary("add", I0, Const(1, INDEX), INDEX), Load("x", I0, F32)))
    message = _fails(program, pass_name="tile")
    first = message.splitlines()[0]
    assert first.startswith("verify failed after pass 'tile': kernel k0, `%y[i0 + 1] = %x[i0]`:")
    assert "store index i0 + 1 lies in 1..4, outside %y's 4 elements" in first
    marked = [line for line in message.splitlines() if line.startswith("  >> ")]
    assert marked == ["  >>       %y[i0 + 1] = %x[i0]"]
    assert "    for i0 in 0..4 {" in message


_ONE = Const(1.0, F32)
_BAD_BODIES = [
    ((Store("y", I0, Load("y", I0, F32)),), "load from %y, an 'out' argument"),
    ((Store("x", I0, _ONE),), "store to %x, an 'in' argument"),
    ((Store("z", I0, _ONE),), "store to %z, which is not an argument"),
    ((Store("y", I0, Var("ghost", F32)),), "variable ghost is used but not bound"),
    ((Store("y", I0, Load("x", Var("i0", INDEX, 8), F32)),), "is used where Var(name='i0'"),
    ((Store("y", I0, Reduce("add", (Var("r", INDEX, 2),), _ONE, F32)),), "a Reduce remains"),
    ((Store("y", I0, Binary("add", _ONE, Const(1.0, "float64"), F32)),), "add of float32 and float64"),
    ((Store("y", I0, Binary("div", Const(1, "int32"), Const(2, "int32"), "int32")),),
     "div does not take int32"),
    ((Store("y", I0, Unary("exp", Const(1, "int32"), "int32")),), "exp does not take int32"),
    ((Store("y", I0, Binary("lt", _ONE, _ONE, F32)),), "is typed float32, its operands give bool"),
    ((Store("y", I0, Select(_ONE, _ONE, _ONE, F32)),), "select condition 1.0:f32 is float32"),
    ((Store("y", Cast(I0, "int32"), _ONE),), "store index i32(i0) is int32, not index"),
    ((Store("y", I0, Const(1, "int32")),), "%y is float32 but the value is int32"),
    ((Store("y", I0, Const(1, F32)),), "constant 1 does not fit its type float32"),
    ((Store("y", I0, Load("x", Const(-1, INDEX), F32)),), "load index -1 lies in -1..-1"),
    ((Loop(Var("j", INDEX, -1), ()),), "loop variable j must be index-typed with extent >= 0"),
    ((Loop(Var("i0", INDEX, 2), ()),), "i0 is already bound in an enclosing scope"),
    ((Assign(I0, Const(0, INDEX)),), "assigns to the loop variable i0"),
    ((Let(ACC, Const(0, INDEX)),), "local acc is float32 but the value is index"),
    ((Let(Var("for", F32), _ONE),), "variable name 'for' is not an identifier or is reserved"),
]


@pytest.mark.parametrize("body, words", _BAD_BODIES, ids=[w for _, w in _BAD_BODIES])
def test_broken_statements_fail_by_name(body: tuple, words: str) -> None:
    program = _program(*body, Store("y", I0, _ONE))
    message = _fails(program, words, "kernel k0")
    assert "  >> " in message


def test_dead_code_is_not_bounds_checked() -> None:
    dead = Loop(Var("j", INDEX, 0), (Store("y", Var("j", INDEX, 0), _ONE),))
    verify_program(_program(dead, Store("y", I0, _ONE)))


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(args=(KernelArg("x", F32, 4, "inout"), KernelArg("y", F32, 4, "out"))),
         "%x is a param and is never written, yet it is an inout argument"),
        (dict(args=(KernelArg("x", "int32", 4, "in"), KernelArg("y", F32, 4, "out"))),
         "argument %x is int32[4] but the buffer is float32[4]"),
        (dict(args=(KernelArg("x", F32, 5, "in"), KernelArg("y", F32, 4, "out"))),
         "argument %x is float32[5] but the buffer is float32[4]"),
        (dict(args=(KernelArg("q", F32, 4, "in"), KernelArg("y", F32, 4, "out"))),
         "argument %q is not a buffer of the program"),
        (dict(schedule=Schedule(parallel="i9")), "parallel=i9 is not a loop of the kernel"),
        (dict(schedule=Schedule(vector={"i0": 0})), "vector[i0] = 0, not >= 1"),
        (dict(outputs=("t",), buffers={"t": ProgramBuffer("t", TensorType((4,), F32), "temp")}),
         "output %t is a temp buffer"),
        (dict(outputs=("y", "o"),
              buffers={"o": ProgramBuffer("o", TensorType((4,), F32), "output")}),
         "no kernel stores to output %o"),
        (dict(outputs=()), "%y is not among the outputs"),
        (dict(outputs=("y", "q")), "output %q is not a buffer"),
        (dict(buffers={"t": ProgramBuffer("t", TensorType((4,), F32), "temp", offset=-8)}),
         "lie outside the 0-byte arena"),
        (dict(buffers={"c": ProgramBuffer("c", TensorType((4,), F32), "constant")}),
         "a constant buffer needs its data"),
    ],
)
def test_broken_programs_fail_by_name(change: dict, words: str) -> None:
    _fails(_program(**change), words)


def test_params_must_be_the_param_buffers() -> None:
    program = _program()
    program.params = []
    _fails(program, "param buffer %x is not a parameter")
    program.params = ["y"]
    _fails(program, "parameter %y is not a param buffer")


def test_verify_kernel_checks_a_lone_kernel() -> None:
    kernel = _program().kernels[0]
    verify_kernel(kernel)
    with pytest.raises(TcompVerifyError, match="after pass 'fuse': kernel k0"):
        verify_kernel(replace(kernel, body=(Store("x", I0, _ONE),)), "fuse")


def test_unprintable_ir_still_gets_a_message() -> None:
    program = _program(Store("y", I0, "oops"))  # type: ignore[arg-type]
    _fails(program, "'oops' is not an expression", "  >>       Store(buffer='y'")


@given(random_programs())
def test_dropping_a_used_let_fails(program: Program) -> None:
    mutated = drop_a_let(program)
    assert mutated is not None  # the last kernel stores an output through a let
    broken, name = mutated
    _fails(broken, f"variable {name} is used but not bound")


@given(random_programs())
def test_storing_to_a_wrong_buffer_fails(program: Program) -> None:
    broken = store_to_a_wrong_buffer(program)
    assert broken is not None  # the last kernel stores every output
    _fails(broken, "store to %nowhere, which is not an argument")
    param = store_to_a_wrong_buffer(program, program.params[0])
    _fails(param, f"store to %{program.params[0]}")


@given(random_programs())
def test_an_out_of_range_index_fails(program: Program) -> None:
    mutated = index_out_of_range(program)
    assert mutated is not None
    broken, buffer = mutated
    _fails(broken, f"outside %{buffer}'s")


# ---------------------------------------------------------------------------
# Integers leave int64, or are bools: what a mutated text or a careless pass could make

_HUGE = 99999999999999999999


@pytest.mark.parametrize(
    "body, words",
    [
        ((Loop(Var("j", INDEX, _HUGE), ()),), "index-typed with extent >= 0 (and within int64)"),
        ((Loop(Var("j", INDEX, True), ()),), "found index 0..True"),
        ((Store("y", I0, Load("x", Binary("add", I0, Const(_HUGE, INDEX), INDEX), F32)),),
         f"constant {_HUGE} does not fit its type index"),
        ((Store("y", I0, Cast(Const(True, "int32"), F32)),), "constant True does not fit its type int32"),
    ],
)
def test_integers_outside_int64_or_bools_fail(body: tuple, words: str) -> None:
    _fails(_program(*body, Store("y", I0, _ONE)), words, "kernel k0")


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(args=(KernelArg("x", F32, _HUGE, "in"), KernelArg("y", F32, 4, "out"))),
         f"argument %x: bad dtype 'float32' or size {_HUGE}"),
        (dict(args=(KernelArg("x", F32, True, "in"), KernelArg("y", F32, 4, "out"))),
         "bad dtype 'float32' or size True"),
        (dict(schedule=Schedule(vector={"i0": _HUGE})), f"vector[i0] = {_HUGE}, not >= 1"),
        (dict(buffers={"t": ProgramBuffer("t", TensorType((4,), F32), "temp", offset=_HUGE)}),
         f"offset {_HUGE} is not an int in 0..9223372036854775807"),
        (dict(buffers={"t": ProgramBuffer("t", TensorType((4,), F32), "temp", offset=0.5)}),
         "offset 0.5 is not an int"),
    ],
)
def test_program_integers_outside_int64_fail(change: dict, words: str) -> None:
    _fails(_program(**change), words)


def test_arena_bytes_and_buffer_shapes_outside_int64_fail() -> None:
    program = _program()
    program.arena_bytes = _HUGE
    _fails(program, f"arena_bytes is {_HUGE}")
    program = _program()
    shape = TensorType((4,), F32)
    object.__setattr__(shape, "shape", (_HUGE,))  # what the parser refuses
    program.buffers["x"].type = shape
    _fails(program, "buffer %x: invalid shape: dimension 99999999999999999999 lies outside")


def test_a_lone_kernel_with_a_size_outside_int64_fails() -> None:
    kernel = Kernel("k", (KernelArg("x", F32, 99999999999999999999, "in"),), ())
    with pytest.raises(TcompVerifyError, match="argument %x: bad dtype 'float32' or size 9999"):
        verify_kernel(kernel)
