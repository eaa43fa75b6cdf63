"""The outside-op-suite shim (bench/op_suite): its lazy Tensor evaluated and
differentiated with tcomp against numpy, its argument translations, and the runner's
classifier on made-up outcomes. Needs neither torch nor the outside suite."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench.op_suite import graph
from bench.op_suite.classify import classify
from bench.op_suite.dtypes import dtypes, to_dtype
from bench.op_suite.errors import Unsupported
from bench.op_suite.lookup import fn
from bench.op_suite.methods_nn import _conv_padding
from bench.op_suite.tensor import Tensor
from tcomp.ir.errors import TcompShapeError


@pytest.fixture(autouse=True)
def _reference_backend():
    saved = graph.BACKEND["name"]
    graph.BACKEND["name"] = "reference"
    yield
    graph.BACKEND["name"] = saved


def _data(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(np.float32)


def test_methods_evaluate_to_numpy_results():
    a, b = _data(3, 4), _data(3, 4, seed=1)
    x, y = Tensor(a), Tensor(b)
    out = ((x * y + 2) / (y.abs() + 1)).exp().sum(axis=1, keepdim=True)
    expected = np.exp((a * b + 2) / (np.abs(b) + 1)).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)
    assert out.shape == (3, 1) and out.dtype == dtypes.float32


def test_shape_and_dtype_come_from_tracing_without_running():
    x = Tensor(_data(2, 3, 4))
    y = x.permute(2, 0, 1).reshape(4, -1) > 0
    assert y.shape == (4, 6)
    assert y.dtype == dtypes.bool
    assert y._cached is None  # nothing evaluated yet


def test_gradient_matches_the_analytic_derivative():
    a = _data(5)
    x = Tensor(a)
    (g,) = (x * x + x.sin()).sum().gradient(x)
    np.testing.assert_allclose(g.numpy(), 2 * a + np.cos(a), rtol=1e-5)


def test_gradient_of_two_inputs_through_matmul():
    a, b = _data(3, 4), _data(4, 2, seed=2)
    x, w = Tensor(a), Tensor(b)
    gx, gw = (x @ w).relu().sum().gradient(x, w)
    mask = (a @ b > 0).astype(np.float32)
    np.testing.assert_allclose(gx.numpy(), mask @ b.T, rtol=1e-5)
    np.testing.assert_allclose(gw.numpy(), a.T @ mask, rtol=1e-5)


def test_backward_sets_grad_on_sources():
    a = _data(4)
    x = Tensor(a)
    (x * x).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), 2 * a, rtol=1e-6)


def test_torch_style_splits_become_numpy_split_points():
    x = Tensor(np.arange(10, dtype=np.int32))
    parts = x.split([1, 4, 5])
    assert [p.numpy().tolist() for p in parts] == [[0], [1, 2, 3, 4], [5, 6, 7, 8, 9]]
    chunks = x.chunk(3)  # torch: chunks of ceil(10 / 3) = 4
    assert [c.shape for c in chunks] == [(4,), (4,), (2,)]


def test_pad_pairs_and_torch_flat_padding_agree():
    a = _data(2, 3)
    pairs = Tensor(a).pad(((1, 0), (0, 2)), value=7.0).numpy()
    flat = Tensor(a).pad((0, 2, 1, 0), value=7.0).numpy()  # last axis first
    expected = np.pad(a, ((1, 0), (0, 2)), constant_values=7.0)
    np.testing.assert_array_equal(pairs, expected)
    np.testing.assert_array_equal(flat, expected)


def test_conv_padding_in_fpad_order_becomes_pairs_per_axis():
    assert _conv_padding((1, 2, 3, 4), 2) == ((3, 4), (1, 2))
    assert _conv_padding([1, 1], 2) == (1, 1)
    assert _conv_padding(2, 2) == 2


def test_zero_d_reduction_along_axis_zero_is_the_whole_tensor():
    x = Tensor(np.float32(3.5))
    assert x.sum(0).numpy() == np.float32(3.5)
    assert x.max(-1).shape == ()


def test_setitem_records_a_functional_update():
    a = np.zeros((3, 3), np.float32)
    x = Tensor(a)
    x[1] = 5.0
    expected = a.copy()
    expected[1] = 5.0
    np.testing.assert_array_equal(x.numpy(), expected)


def test_missing_function_and_dtype_are_unsupported():
    with pytest.raises(Unsupported, match="tcomp.no_such_function_anywhere"):
        fn("no_such_function_anywhere")
    with pytest.raises(Unsupported, match="dtype uint64"):
        Tensor([1, 2], dtype=dtypes.uint64)
    with pytest.raises(Unsupported, match="nonzero without a static size"):
        Tensor(_data(4)).nonzero()


def test_tcomp_errors_surface_when_the_method_is_called():
    x = Tensor(_data(2, 3))
    with pytest.raises(TcompShapeError):
        x.reshape(4, 4)


def test_dtype_names_map_both_ways():
    assert to_dtype("int32") is dtypes.int32
    assert to_dtype(np.dtype("float32")) is dtypes.float32
    assert dtypes.int.max == 2**31 - 1
    with pytest.raises(AttributeError):
        to_dtype("")


# --- the classifier, on made-up outcomes --------------------------------------------

SUITE = "/somewhere/test_ops.py"
ROOTS = ("/repo/frontend/", "/repo/ir/")
SHIM = os.path.join(os.path.dirname(os.path.abspath(graph.__file__)), "tensor.py")


def _classify(exc, frames, **kw):
    return classify(exc, frames, SUITE, tcomp_roots=ROOTS, **kw)


def test_classify_pass_and_skip():
    assert _classify(None, []).kind == "pass"
    assert _classify(None, [], skipped="slow").kind == "skip"


def test_classify_unsupported_even_when_wrapped():
    inner = Unsupported("tcomp.lerp")
    outer = RuntimeError("while testing")
    outer.__context__ = inner
    outcome = _classify(outer, [(SUITE, 10, "test_lerp")])
    assert (outcome.kind, outcome.reason) == ("unsupported", "tcomp.lerp")


def test_classify_refused_notes_the_expected_error():
    outcome = _classify(
        TcompShapeError("flip: repeated axis"), [(SUITE, 5, "t")], expected_error="RuntimeError"
    )
    assert outcome.kind == "refused"
    assert "expects RuntimeError" in outcome.reason


def test_classify_wrong_value_is_a_fail():
    wrapped = Exception("forward pass failed shape (3,)")
    wrapped.__context__ = AssertionError("Not equal to tolerance")
    assert _classify(wrapped, [(SUITE, 50, "compare")]).kind == "fail"
    assert _classify(AssertionError("RuntimeError not raised"), [(SUITE, 9, "t")]).kind == "fail"
    tolerance = Exception(
        "forward pass failed shape (3,): \nNot equal\n\nMismatched elements: 1 / 3"
    )
    tolerance.__context__ = AssertionError()
    assert "Mismatched elements: 1 / 3" in _classify(tolerance, [(SUITE, 50, "compare")]).reason


def test_classify_crash_is_an_exception_raised_in_tcomp():
    frames = [
        (SUITE, 1, "test_x"),
        (SHIM, 2, "method"),
        ("/repo/frontend/ops.py", 3, "reshape"),
        ("/usr/lib/python3/numpy/core.py", 4, "asarray"),
    ]
    outcome = _classify(KeyError("float80"), frames)
    assert outcome.kind == "crash"
    assert outcome.where.startswith("/repo/frontend/ops.py:3")


def test_classify_shim_or_suite_exception_is_an_error_not_a_crash():
    frames = [(SUITE, 1, "test_x"), (SHIM, 2, "method")]
    outcome = _classify(TypeError("bad keyword"), frames)
    assert outcome.kind == "error" and outcome.reason.startswith("[shim]")
    assert _classify(NameError("x"), [(SUITE, 1, "t")]).reason.startswith("[suite]")
