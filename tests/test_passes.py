"""The graph-IR passes: golden before/after text for each, and semantics preserved on random IR.

Goldens compare text printed with ``locations=False``. ``simplify`` rebuilds
the function (values are renumbered) and leaves dead nodes for ``dce``;
``cse`` and ``dce`` keep value ids.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from ir_strategies import functions_with_inputs, random_functions

import tcomp
from tcomp.backends.reference.executor import evaluate
from tcomp.ir.errors import TcompArgumentError, TcompVerifyError
from tcomp.ir.graph import Function, Value, attrs_key, replace_uses
from tcomp.ir.passes import DEFAULT_PIPELINE, PASSES, cse, dce, run_pipeline, simplify
from tcomp.ir.passes.simplify import uniform_value
from tcomp.ir.text import parse_function, print_function
from tcomp.ir.verifier import verify

# x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1, neg(neg(x)), stop_gradient go;
# x * 0 and 0 - x stay; the scalar constants fold into [1,1] constants.
ARITH_BEFORE = """\
func @f(%0: f32[8,9]) -> (f32[8,9], f32[8,9]) {
  %1: f32[] = constant() {value=dense<f32[] 0.0>}
  %2: f32[1,1] = reshape(%1) {shape=(1, 1)}
  %3: f32[8,9] = broadcast_to(%2) {shape=(8, 9)}
  %4: f32[8,9] = add(%0, %3)
  %5: f32[8,9] = add(%3, %4)
  %6: f32[8,9] = sub(%5, %3)
  %7: f32[] = constant() {value=dense<f32[] 1.0>}
  %8: f32[1,1] = reshape(%7) {shape=(1, 1)}
  %9: f32[8,9] = broadcast_to(%8) {shape=(8, 9)}
  %10: f32[8,9] = mul(%6, %9)
  %11: f32[8,9] = mul(%9, %10)
  %12: f32[8,9] = div(%11, %9)
  %13: f32[8,9] = neg(%12)
  %14: f32[8,9] = neg(%13)
  %15: f32[8,9] = stop_gradient(%14)
  %16: f32[8,9] = mul(%15, %3)
  %17: f32[8,9] = sub(%3, %15)
  return %15, %16
}
"""

ARITH_AFTER = """\
func @f(%0: f32[8,9]) -> (f32[8,9], f32[8,9]) {
  %1: f32[] = constant() {value=dense<f32[] 0.0>}
  %2: f32[1,1] = constant() {value=dense<f32[1,1] [0.0]>}
  %3: f32[8,9] = broadcast_to(%2) {shape=(8, 9)}
  %4: f32[] = constant() {value=dense<f32[] 1.0>}
  %5: f32[1,1] = constant() {value=dense<f32[1,1] [1.0]>}
  %6: f32[8,9] = broadcast_to(%5) {shape=(8, 9)}
  %7: f32[8,9] = neg(%0)
  %8: f32[8,9] = mul(%0, %3)
  %9: f32[8,9] = sub(%3, %0)
  return %0, %8
}
"""

# reshape chains, identity and composed transposes, identity broadcast_to, convert,
# slice, rev, pad, reduce and concatenate, rev(rev(x)), broadcast_to(broadcast_to(x)),
# select(p, x, x).
LAYOUT_BEFORE = """\
func @g(%0: f32[2,3,4], %1: f32[1,1]) -> (f32[2,3,4], f32[4,2,3], f32[12,2], f32[5,3], f32[2,3,2]) {
  %2: f32[2,3,4] = reshape(%0) {shape=(2, 3, 4)}
  %3: f32[6,4] = reshape(%2) {shape=(6, 4)}
  %4: f32[24] = reshape(%3) {shape=(24,)}
  %5: f32[2,3,4] = reshape(%4) {shape=(2, 3, 4)}
  %6: f32[2,3,4] = transpose(%5) {perm=(0, 1, 2)}
  %7: f32[3,4,2] = transpose(%6) {perm=(1, 2, 0)}
  %8: f32[4,2,3] = transpose(%7) {perm=(1, 2, 0)}
  %9: f32[3,2,4] = transpose(%0) {perm=(1, 0, 2)}
  %10: f32[2,3,4] = transpose(%9) {perm=(1, 0, 2)}
  %11: f32[2,3,4] = broadcast_to(%10) {shape=(2, 3, 4)}
  %12: f32[2,3,4] = convert(%11) {dtype="float32"}
  %13: f32[2,3,4] = slice(%12) {start=(0, 0, 0), stop=(2, 3, 4), step=(1, 1, 1)}
  %14: f32[2,3,4] = rev(%13) {axes=()}
  %15: f32[2,3,4] = pad(%14) {low=(0, 0, 0), high=(0, 0, 0), interior=(0, 0, 0), value=0.0}
  %16: f32[2,3,4] = reduce_sum(%15) {axes=()}
  %17: f32[2,3,4] = concatenate(%16) {axis=0}
  %18: f32[2,3,4] = rev(%17) {axes=(0, 2)}
  %19: f32[2,3,4] = rev(%18) {axes=(2, 0)}
  %20: f32[12,2] = reshape(%19) {shape=(12, 2)}
  %21: f32[1,3] = broadcast_to(%1) {shape=(1, 3)}
  %22: f32[5,3] = broadcast_to(%21) {shape=(5, 3)}
  %23: bool[2,3,4] = gt(%19, %0)
  %24: f32[2,3,4] = select(%23, %19, %19)
  %25: f32[2,3,2] = slice(%24) {start=(0, 0, 0), stop=(2, 3, 4), step=(1, 1, 2)}
  return %24, %8, %20, %22, %25
}
"""

LAYOUT_AFTER = """\
func @g(%0: f32[2,3,4], %1: f32[1,1]) -> (f32[2,3,4], f32[4,2,3], f32[12,2], f32[5,3], f32[2,3,2]) {
  %2: f32[6,4] = reshape(%0) {shape=(6, 4)}
  %3: f32[24] = reshape(%0) {shape=(24,)}
  %4: f32[3,4,2] = transpose(%0) {perm=(1, 2, 0)}
  %5: f32[4,2,3] = transpose(%0) {perm=(2, 0, 1)}
  %6: f32[3,2,4] = transpose(%0) {perm=(1, 0, 2)}
  %7: f32[2,3,4] = rev(%0) {axes=(0, 2)}
  %8: f32[12,2] = reshape(%0) {shape=(12, 2)}
  %9: f32[1,3] = broadcast_to(%1) {shape=(1, 3)}
  %10: f32[5,3] = broadcast_to(%1) {shape=(5, 3)}
  %11: bool[2,3,4] = gt(%0, %0)
  %12: f32[2,3,2] = slice(%0) {start=(0, 0, 0), stop=(2, 3, 4), step=(1, 1, 2)}
  return %0, %5, %8, %10, %12
}
"""

# Small results fold; the 100-element broadcast and nodes reading iota stay;
# select with an all-true constant predicate picks its first branch.
FOLD_BEFORE = """\
func @k(%0: f32[2]) -> (f32[2], f32[100], f32[2], f32[2]) {
  %1: f32[2] = constant() {value=dense<f32[2] [1.0, 2.0]>}
  %2: f32[2] = exp(%1)
  %3: f32[2] = add(%1, %2)
  %4: f32[2] = mul(%0, %3)
  %5: f32[] = constant() {value=dense<f32[] 3.0>}
  %6: f32[1] = reshape(%5) {shape=(1,)}
  %7: f32[100] = broadcast_to(%6) {shape=(100,)}
  %8: f32[100] = iota() {shape=(100,), axis=0, dtype="float32"}
  %9: f32[100] = add(%7, %8)
  %10: f32[2] = iota() {shape=(2,), axis=0, dtype="float32"}
  %11: f32[2] = mul(%10, %1)
  %12: bool[2] = constant() {value=dense<bool[2] [true, true]>}
  %13: f32[2] = select(%12, %0, %4)
  return %4, %9, %11, %13
}
"""

FOLD_AFTER = """\
func @k(%0: f32[2]) -> (f32[2], f32[100], f32[2], f32[2]) {
  %1: f32[2] = constant() {value=dense<f32[2] [1.0, 2.0]>}
  %2: f32[2] = constant() {value=dense<f32[2] [2.718282, 7.3890557]>}
  %3: f32[2] = constant() {value=dense<f32[2] [3.718282, 9.389055]>}
  %4: f32[2] = mul(%0, %3)
  %5: f32[] = constant() {value=dense<f32[] 3.0>}
  %6: f32[1] = constant() {value=dense<f32[1] [3.0]>}
  %7: f32[100] = broadcast_to(%6) {shape=(100,)}
  %8: f32[100] = iota() {shape=(100,), axis=0, dtype="float32"}
  %9: f32[100] = add(%7, %8)
  %10: f32[2] = iota() {shape=(2,), axis=0, dtype="float32"}
  %11: f32[2] = mul(%10, %1)
  %12: bool[2] = constant() {value=dense<bool[2] [true, true]>}
  return %4, %9, %11, %0
}
"""

# exp(%0) twice, then add(%3, %1) becomes add(%2, %1) and merges too; equal
# constants merge but 0.0 and -0.0 differ; add(%1, %2) is not add(%2, %1).
CSE_BEFORE = """\
func @c(%0: f32[3], %1: f32[3]) -> (f32[3], f32[3], f32[3]) {
  %2: f32[3] = exp(%0)
  %3: f32[3] = exp(%0)
  %4: f32[3] = add(%2, %1)
  %5: f32[3] = add(%3, %1)
  %6: f32[3] = add(%1, %2)
  %7: f32[3] = constant() {value=dense<f32[3] [2.0, 0.0, 2.0]>}
  %8: f32[3] = constant() {value=dense<f32[3] [2.0, 0.0, 2.0]>}
  %9: f32[3] = constant() {value=dense<f32[3] [2.0, -0.0, 2.0]>}
  %10: f32[3] = mul(%5, %8)
  %11: f32[3] = mul(%4, %7)
  %12: f32[3] = mul(%4, %9)
  %13: f32[3] = sub(%11, %10)
  %14: f32[3] = neg(%13)
  %15: f32[3] = rev(%14) {axes=(0,)}
  return %13, %6, %12
}
"""

CSE_AFTER = """\
func @c(%0: f32[3], %1: f32[3]) -> (f32[3], f32[3], f32[3]) {
  %2: f32[3] = exp(%0)
  %4: f32[3] = add(%2, %1)
  %6: f32[3] = add(%1, %2)
  %7: f32[3] = constant() {value=dense<f32[3] [2.0, 0.0, 2.0]>}
  %9: f32[3] = constant() {value=dense<f32[3] [2.0, -0.0, 2.0]>}
  %10: f32[3] = mul(%4, %7)
  %12: f32[3] = mul(%4, %9)
  %13: f32[3] = sub(%10, %10)
  %14: f32[3] = neg(%13)
  %15: f32[3] = rev(%14) {axes=(0,)}
  return %13, %6, %12
}
"""

DCE_BEFORE = CSE_BEFORE  # only %14 and %15 are dead (duplicates are cse's business)

DCE_AFTER = """\
func @c(%0: f32[3], %1: f32[3]) -> (f32[3], f32[3], f32[3]) {
  %2: f32[3] = exp(%0)
  %3: f32[3] = exp(%0)
  %4: f32[3] = add(%2, %1)
  %5: f32[3] = add(%3, %1)
  %6: f32[3] = add(%1, %2)
  %7: f32[3] = constant() {value=dense<f32[3] [2.0, 0.0, 2.0]>}
  %8: f32[3] = constant() {value=dense<f32[3] [2.0, 0.0, 2.0]>}
  %9: f32[3] = constant() {value=dense<f32[3] [2.0, -0.0, 2.0]>}
  %10: f32[3] = mul(%5, %8)
  %11: f32[3] = mul(%4, %7)
  %12: f32[3] = mul(%4, %9)
  %13: f32[3] = sub(%11, %10)
  return %13, %6, %12
}
"""

PIPELINE_AFTER = """\
func @f(%0: f32[8,9]) -> (f32[8,9], f32[8,9]) {
  %2: f32[1,1] = constant() {value=dense<f32[1,1] [0.0]>}
  %3: f32[8,9] = broadcast_to(%2) {shape=(8, 9)}
  %8: f32[8,9] = mul(%0, %3)
  return %0, %8
}
"""


def _text(fn: Function) -> str:
    return print_function(fn, locations=False)


@pytest.mark.parametrize(
    "pass_fn, before, after",
    [
        pytest.param(simplify, ARITH_BEFORE, ARITH_AFTER, id="simplify-arithmetic"),
        pytest.param(simplify, LAYOUT_BEFORE, LAYOUT_AFTER, id="simplify-layout"),
        pytest.param(simplify, FOLD_BEFORE, FOLD_AFTER, id="simplify-folding"),
        pytest.param(cse, CSE_BEFORE, CSE_AFTER, id="cse"),
        pytest.param(dce, DCE_BEFORE, DCE_AFTER, id="dce"),
        pytest.param(run_pipeline, ARITH_BEFORE, PIPELINE_AFTER, id="default-pipeline"),
    ],
)
def test_golden(pass_fn, before: str, after: str) -> None:
    fn = parse_function(before)
    result = pass_fn(fn)
    assert _text(result) == after
    verify(result)
    assert _text(fn) == before  # the input is untouched


def test_passes_return_their_input_when_nothing_changes() -> None:
    fn = parse_function(PIPELINE_AFTER)
    assert cse(fn) is fn
    assert dce(fn) is fn
    done = run_pipeline(parse_function(ARITH_BEFORE))
    assert simplify(done) is done


def test_results_do_not_share_nodes_with_the_input() -> None:
    for pass_fn, text in [(simplify, ARITH_BEFORE), (cse, CSE_BEFORE), (dce, CSE_BEFORE)]:
        fn = parse_function(text)
        result = pass_fn(fn)
        assert result is not fn
        assert not {id(n) for n in result.nodes} & {id(n) for n in fn.nodes}
        # rewriting the result in place leaves the input alone
        stranger = Value(result.params[0].type, 1000)
        replace_uses(result.nodes, result.outputs, {result.params[0]: stranger})
        assert _text(fn) == text


def test_replace_uses_follows_chains_and_refuses_cycles() -> None:
    fn = parse_function(ARITH_BEFORE)
    a, b = fn.params[0], Value(fn.params[0].type, 1000)
    c = Value(fn.params[0].type, 1001)
    replace_uses(fn.nodes, fn.outputs, {a: b, b: c})
    assert not any(v is a or v is b for node in fn.nodes for v in node.inputs)
    with pytest.raises(TcompVerifyError, match="cycle"):
        replace_uses(fn.nodes, fn.outputs, {c: b, b: c})


def test_uniform_value_looks_through_reshape_and_broadcast() -> None:
    fn = parse_function(ARITH_BEFORE)
    producers = fn.producers()
    values = {node.output.id: node.output for node in fn.nodes}
    assert uniform_value(values[3], producers) == 0
    assert uniform_value(values[9], producers) == 1
    assert uniform_value(values[4], producers) is None  # computed, not constant
    assert uniform_value(fn.params[0], producers) is None
    mixed = parse_function(CSE_BEFORE)
    mixed_values = {node.output.id: node.output for node in mixed.nodes}
    assert uniform_value(mixed_values[7], mixed.producers()) is None  # [2, 0, 2]


def test_unknown_pass_name_lists_known_ones() -> None:
    fn = parse_function(PIPELINE_AFTER)
    with pytest.raises(TcompArgumentError, match="unknown pass 'fuse'.*simplify, cse, dce"):
        run_pipeline(fn, ("simplify", "fuse"))
    assert run_pipeline(parse_function(ARITH_BEFORE), "simplify, cse,dce") == fn


def test_verify_each_names_the_pass_that_broke_the_ir(monkeypatch) -> None:
    def broken(fn: Function) -> Function:
        nodes = list(reversed(fn.nodes))  # uses before definitions
        return Function(fn.name, fn.params, nodes, fn.outputs, fn.metadata)

    monkeypatch.setitem(PASSES, "broken", broken)
    fn = parse_function(CSE_BEFORE)
    run_pipeline(fn, ("cse", "broken"), verify_each=False)  # no verification: no error
    with pytest.raises(TcompVerifyError, match="after pass 'broken'"):
        run_pipeline(fn, ("cse", "broken"), verify_each=True)
    # ir reads no environment: the default is no verification, whatever it says
    monkeypatch.setenv("TCOMP_VERIFY_PASSES", "1")
    run_pipeline(fn, ("cse", "broken"))


def test_jit_verifies_passes_as_tcomp_verify_passes_says(monkeypatch):
    """``TCOMP_VERIFY_PASSES`` is read at the API edge (``CompileOptions``) when jit
    traces a new signature, and passed to ``run_pipeline``."""

    def broken(fn: Function) -> Function:
        return Function(fn.name, fn.params, list(reversed(fn.nodes)), fn.outputs, fn.metadata)

    monkeypatch.setitem(PASSES, "dce", broken)
    x = np.ones(3, np.float32)
    monkeypatch.setenv("TCOMP_VERIFY_PASSES", "0")
    lowered = tcomp.jit(lambda a: tcomp.exp(a) * 2.0 + 1.0, backend="reference").lower(x)
    monkeypatch.setenv("TCOMP_VERIFY_PASSES", "1")  # read when traced, not when the passes run
    lowered.function("optimized")
    lowered = tcomp.jit(lambda a: tcomp.exp(a) * 2.0 + 1.0, backend="reference").lower(x)
    with pytest.raises(TcompVerifyError, match="after pass 'dce'"):
        lowered.function("optimized")  # the passes run when the optimised stage is needed


def test_pipeline_defaults() -> None:
    assert DEFAULT_PIPELINE == ("simplify", "cse", "dce")
    assert set(DEFAULT_PIPELINE) <= set(PASSES)


# ---------------------------------------------------------------------------
# Properties on random functions


def _assert_close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize(
    "names", [("simplify",), ("cse",), ("dce",), DEFAULT_PIPELINE, ("cse", "dce", "simplify")]
)
@given(case=functions_with_inputs())
def test_passes_preserve_results(names: tuple[str, ...], case) -> None:
    fn, inputs = case
    before = print_function(fn)
    result = run_pipeline(fn, names, verify_each=True)
    assert print_function(fn) == before
    with np.errstate(all="ignore"):
        _assert_close(evaluate(result, inputs), evaluate(fn, inputs))


@given(random_functions())
def test_pass_postconditions(fn: Function) -> None:
    once = simplify(fn)
    assert simplify(once) is once  # a fixed point
    deduped = cse(fn)
    keys = [(n.op, n.inputs, attrs_key(n.attrs)) for n in deduped.nodes]
    assert len(keys) == len(set(keys))
    live = dce(fn)
    used = {v for n in live.nodes for v in n.inputs} | set(live.outputs)
    assert all(n.output in used for n in live.nodes)
    assert len(run_pipeline(fn).nodes) <= len(fn.nodes)
