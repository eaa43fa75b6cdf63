"""The op-suite runner's rules beyond the plain classifier: tcomp's error standing in
for torch's exception class at a bad-input check, failures explained by a documented
convention (``differs``), and the shim's torch promotion of mixed int/float operands.
Needs neither torch nor the outside suite."""

from __future__ import annotations

import unittest

import numpy as np
import pytest

from bench.op_suite import graph, worker
from bench.op_suite.classify import classify
from bench.op_suite.conventions import CONVENTIONS, convention_for
from bench.op_suite.dtypes import dtypes
from bench.op_suite.tensor import Tensor
from tcomp.ir.errors import TcompShapeError

SUITE = "/suite/test_ops.py"


@pytest.fixture(autouse=True)
def _reference_backend():
    saved = graph.BACKEND["name"]
    graph.BACKEND["name"] = "reference"
    yield
    graph.BACKEND["name"] = saved


def _run(case: type[unittest.TestCase]) -> dict:
    worker._watch_assert_raises()
    return worker.run_one(case("test_it"), SUITE, f"{case.__name__}.test_it")


def test_tcomp_error_stands_in_for_torch_class_and_the_test_goes_on():
    reached = []

    class Case(unittest.TestCase):
        def test_it(self):
            with self.assertRaises(RuntimeError):
                raise TcompShapeError("flip: repeated axis")
            reached.append(True)

    result = _run(Case)
    assert result["kind"] == "pass" and reached == [True]
    assert "TcompShapeError for RuntimeError" in result["reason"]


def test_other_error_at_a_bad_input_check_still_ends_the_test():
    class Case(unittest.TestCase):
        def test_it(self):
            with self.assertRaises(RuntimeError):
                raise KeyError("not tcomp's refusal")

    result = _run(Case)
    assert result["kind"] == "error"


def test_tcomp_error_outside_a_check_is_a_refusal():
    class Case(unittest.TestCase):
        def test_it(self):
            raise TcompShapeError("matmul: shapes do not fit")

    assert _run(Case)["kind"] == "refused"


def test_missing_error_is_still_a_fail():
    class Case(unittest.TestCase):
        def test_it(self):
            with self.assertRaises(RuntimeError):
                pass

    assert _run(Case)["kind"] == "fail"


def test_documented_convention_turns_its_failure_into_differs_only():
    convention = CONVENTIONS[0]
    matching = AssertionError("forward pass failed shape (20,): Mismatched elements: 9 / 20")
    outcome = classify(matching, [(SUITE, 1, "t")], SUITE, test_id=convention.test)
    assert outcome.kind == "differs" and convention.why in outcome.reason
    other = AssertionError("forward pass failed shape (3,): dtype mismatch")
    assert classify(other, [(SUITE, 1, "t")], SUITE, test_id=convention.test).kind == "fail"
    assert convention_for("TestOps.test_add", str(matching)) is None


def test_int_operand_meeting_a_python_float_becomes_float32_as_in_torch():
    x = Tensor(np.array([1, 2, 3], dtype=np.int32))
    out = x.maximum(1.5)
    assert out.dtype == dtypes.float32
    np.testing.assert_array_equal(out.numpy(), np.float32([1.5, 2, 3]))
    reflected = 7.5 % x
    assert reflected.dtype == dtypes.float32
    np.testing.assert_allclose(reflected.numpy(), np.float32([0.5, 1.5, 1.5]))


def test_int_operand_meeting_a_float_tensor_takes_its_dtype():
    x = Tensor(np.array([-4, 7, 5], dtype=np.int32))
    y = Tensor(np.array([2.0, -3.0, 8.0], dtype=np.float32))
    out = x.fmod(y)
    assert out.dtype == dtypes.float32
    np.testing.assert_array_equal(out.numpy(), np.fmod(np.float32([-4, 7, 5]), y.numpy()))


def test_comparisons_and_integer_pairs_keep_tcomp_promotion():
    x = Tensor(np.array([1, 2, 3], dtype=np.int32))
    assert (x < 2.5).dtype == dtypes.bool
    assert (x + 2).dtype == dtypes.int32

