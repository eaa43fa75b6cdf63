"""Index arithmetic in kernel IR simplifies without changing values: the constructors of
``tcomp.ir.kernel.expr`` fold ``(f*q + r) // (f*d)`` to ``q // d`` and merge
``(x // d) * d*k + (x % d) * k`` back into ``x * k``, so that a reshape of a reshape
(the weight gradient of ``x[B, T, C] @ w``) reads an affine index a contraction can block.
Every rewrite is checked against Python's floor semantics over all values of its loop
variables."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from tcomp.ir.kernel.analysis import affine_terms
from tcomp.ir.kernel.expr import (
    INDEX,
    Binary,
    Const,
    Expr,
    Var,
    add,
    const_index,
    flat_index,
    floordiv,
    mod,
    mul,
    unflatten_index,
)


def evaluate(expr: Expr, env: dict[str, int]) -> int:
    """The value of an index expression with floor division and remainder (numpy's)."""
    if isinstance(expr, Const):
        return int(expr.value)
    if isinstance(expr, Var):
        return env[expr.name]
    assert isinstance(expr, Binary), expr
    a, b = evaluate(expr.a, env), evaluate(expr.b, env)
    return {
        "add": a + b, "sub": a - b, "mul": a * b, "floordiv": a // b if b else 0,
        "mod": a % b if b else 0, "min": min(a, b), "max": max(a, b),
    }[expr.op]


def environments(variables: list[Var]):
    for values in itertools.product(*(range(v.extent) for v in variables)):
        yield {v.name: value for v, value in zip(variables, values)}


def test_a_reshape_of_a_reshape_is_affine_again():
    r0, i0 = Var("r0", INDEX, 768), Var("i0", INDEX, 128)
    flat = add(mul(r0, const_index(128)), i0)  # element (r0, i0) of a [768, 128] view
    index = flat_index(unflatten_index(flat, (12, 64, 128)), (12, 64, 128))
    assert affine_terms(index) == ({"r0": 128, "i0": 1}, 0)
    assert floordiv(flat, const_index(8192)) == floordiv(r0, const_index(64))


def test_a_remainder_by_a_multiple_keeps_the_small_part():
    q, r = Var("q", INDEX, 50), Var("r", INDEX, 4)
    expr = mod(add(mul(q, const_index(4)), r), const_index(12))
    assert all(evaluate(expr, env) == (4 * env["q"] + env["r"]) % 12
               for env in environments([q, r]))
    assert "floordiv" not in repr(expr)


def test_multiples_of_the_divisor_come_out_of_a_division_whatever_the_rest():
    """A transposed copy of a reshaped operand (an RNN's stacked states read for a weight
    gradient) reads ``i1*2048 + (((i1*2048 + r0) // 32) % 64) * 32 + (i1*2048 + r0) % 32``:
    the multiples of 32 leave the division although ``r0`` runs past 32, and what is left
    merges back into ``i1*2048 + r0``, an affine read that vectorises."""
    i1, r0 = Var("i1", INDEX, 128), Var("r0", INDEX, 2048)
    flat = add(mul(i1, const_index(2048)), r0)
    chunk = mod(floordiv(flat, const_index(32)), const_index(64))
    index = add(mul(i1, const_index(2048)), mul(chunk, const_index(32)))
    index = add(index, mod(flat, const_index(32)))
    assert affine_terms(index) == ({"i1": 2048, "r0": 1}, 0)
    assert chunk == floordiv(r0, const_index(32))
    j = Var("j", INDEX, 10)
    shifted = add(mul(j, const_index(6)), const_index(-7))  # a negative constant: floor
    for env in environments([j]):
        assert evaluate(floordiv(shifted, const_index(3)), env) == (6 * env["j"] - 7) // 3
        assert evaluate(mod(shifted, const_index(3)), env) == (6 * env["j"] - 7) % 3


@st.composite
def index_expressions(draw):
    """A sum of loop variables times coefficients plus a constant, an unflatten/flatten
    round trip of it, and the variables."""
    count = draw(st.integers(1, 3))
    variables = [Var(f"v{n}", INDEX, draw(st.integers(1, 6))) for n in range(count)]
    coefficients = [draw(st.integers(-8, 24)) for _ in variables]
    constant = draw(st.integers(-5, 40))
    expr: Expr = const_index(constant)
    for variable, coefficient in zip(variables, coefficients):
        expr = add(expr, mul(variable, const_index(coefficient)))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=3)))
    return expr, variables, shape


@given(index_expressions(), st.integers(1, 40))
def test_floor_division_and_remainder_keep_their_values(case, divisor):
    expr, variables, _ = case
    quotient = floordiv(expr, const_index(divisor))
    remainder = mod(expr, const_index(divisor))
    for env in environments(variables):
        value = evaluate(expr, env)
        assert evaluate(quotient, env) == value // divisor
        assert evaluate(remainder, env) == value % divisor


@given(index_expressions())
def test_unflatten_then_flatten_keeps_the_value(case):
    expr, variables, shape = case
    parts = unflatten_index(expr, shape)
    again = flat_index(parts, shape)
    size = 1
    for extent in shape:
        size *= extent
    for env in environments(variables):
        value = evaluate(expr, env)
        # unflatten wraps the outermost index into its extent: the offset modulo the size
        assert evaluate(again, env) == value % size
        strides = [size // extent for extent in itertools.accumulate(shape, lambda a, b: a * b)]
        expected = [(value // stride) % extent for stride, extent in zip(strides, shape)]
        assert [evaluate(p, env) for p in parts] == expected


def test_three_digits_of_a_flat_index_merge_back_into_it():
    # a conv weight gradient's store: the flat (c, kh, kw) column split into its digits
    f1 = Var("f1", INDEX, 4608)
    digits = [mul(floordiv(f1, const_index(9)), const_index(9)),
              mul(mod(floordiv(f1, const_index(3)), const_index(3)), const_index(3)),
              mod(f1, const_index(3))]
    assert add(add(digits[0], digits[1]), digits[2]) == f1
    assert add(digits[2], add(digits[1], digits[0])) == f1  # in any order


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4), st.integers(-30, 30))
def test_middle_digit_and_remainder_merge_for_any_integer(a, b, k, offset):
    # ((x // a) % b) * (a*k) + (x % a) * k == (x % (a*b)) * k, floor semantics, x < 0 too
    x = Var("x", INDEX, 40)
    shifted = add(x, const_index(offset))
    middle = mul(mod(floordiv(shifted, const_index(a)), const_index(b)), const_index(a * k))
    merged = add(middle, mul(mod(shifted, const_index(a)), const_index(k)))
    for value in range(40):
        assert evaluate(merged, {"x": value}) == ((value + offset) % (a * b)) * k
