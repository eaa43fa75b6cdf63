"""``ir/kernel/rewrite.py``: one node rebuilt from new children, and substitution over a
whole expression (exact or re-simplified), checked by evaluating with the kernel
interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from tcomp.backends.reference.kernel_interpreter import evaluate_expr
from tcomp.ir.kernel.call import Call
from tcomp.ir.kernel.expr import (
    INDEX,
    Binary,
    Cast,
    Const,
    Load,
    Reduce,
    Select,
    Unary,
    Var,
    free_vars,
    walk,
)
from tcomp.ir.kernel.rewrite import map_expr, substitute, with_children, with_children_simplified

I = Var("i0", INDEX, 16)
R = Var("r0", INDEX, 8)
K = Const(4, INDEX)


def _sample() -> Binary:
    """``select(i0 < 4, exp(float(p[i0 * 4 + 1])), -p[i0]) + threefry-ish call`` (every
    kind of node)."""
    index = Binary("add", Binary("mul", I, K, INDEX), Const(1, INDEX), INDEX)
    loaded = Load("p", index, "float32")
    chosen = Select(
        Binary("lt", I, K, "bool"),
        Unary("exp", loaded, "float32"),
        Unary("neg", Load("p", I, "float32"), "float32"),
        "float32",
    )
    words = Call("threefry2x32_0", tuple(Cast(I, "int32") for _ in range(4)), "int32")
    return Binary("add", chosen, Cast(words, "float32"), "float32")


def test_with_children_of_the_same_children_gives_an_equal_node():
    reduce = Reduce("add", (R,), Load("p", R, "float32"), "float32")
    nodes = list(walk(_sample())) + [reduce]
    assert {type(node).__name__ for node in nodes} >= {
        "Binary",
        "Unary",
        "Select",
        "Cast",
        "Load",
        "Call",
        "Const",
        "Var",
        "Reduce",
    }
    for node in nodes:
        assert with_children(node, node.children()) == node
        assert with_children_simplified(node, node.children()) == node


def test_with_children_refuses_what_is_no_expression():
    with pytest.raises(TypeError, match="cannot rebuild"):
        with_children(object(), [])  # type: ignore[arg-type]


def _value(expr, env):
    memory = {"p": np.arange(100, dtype=np.float32) / 7}
    return evaluate_expr(expr, env, memory)


@pytest.mark.parametrize("rebuild", (with_children, with_children_simplified))
def test_substituting_a_variable_is_evaluating_at_its_replacement(rebuild):
    """e[i0 := r0 + 3] at r0 = v equals e at i0 = v + 3."""
    expr = _sample()
    by = Binary("add", R, Const(3, INDEX), INDEX)
    result = substitute(expr, {I: by}, rebuild)
    assert I not in free_vars(result) and R in free_vars(result)
    for v in range(0, 8):
        got, want = _value(result, {"r0": v}), _value(expr, {"i0": v + 3})
        assert got == want or (np.isnan(got) and np.isnan(want)), v


def test_the_simplified_rebuild_folds_index_arithmetic_and_the_exact_one_does_not():
    expr = Binary("mul", Binary("add", I, Const(2, INDEX), INDEX), K, INDEX)  # (i0 + 2) * 4
    at_zero = {I: Const(0, INDEX)}
    assert substitute(expr, at_zero, with_children_simplified) == Const(8, INDEX)
    exact = substitute(expr, at_zero)
    assert isinstance(exact, Binary) and _value(exact, {}) == 8


def test_a_replacement_is_not_looked_into():
    grown = Binary("add", I, Const(1, INDEX), INDEX)
    result = map_expr(Binary("mul", I, I, INDEX), lambda node: grown if node == I else None)
    assert result == Binary("mul", grown, grown, INDEX)


def test_shared_subexpressions_are_mapped_once():
    calls = []
    shared = Unary("exp", Load("p", I, "float32"), "float32")
    expr = Binary("add", shared, Binary("mul", shared, shared, "float32"), "float32")

    def replace(node):
        calls.append(node)
        return None

    assert map_expr(expr, replace) == expr
    assert calls.count(shared) == 1
