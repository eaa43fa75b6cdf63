"""The builder's memo of primitive checks (``ir/builder.py`` ``_CHECKED``).

Tracing and the graph passes check the same (op, input types, attributes)
thousands of times, so the result of a check is kept. The memo must never
change an answer: values that compare equal in Python but differ in kind
(``True`` and ``1``, ``0.0`` and ``-0.0``) are different keys, and a check
that failed fails again, each time with its own location.
"""

from __future__ import annotations

import numpy as np
import pytest

from tcomp.ir import builder
from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.graph import Location
from tcomp.ir.types import TensorType


def _builder_with_param(shape=(2, 3)):
    b = FunctionBuilder("f")
    return b, b.add_param(TensorType(shape, "float32"))


def test_a_bool_is_not_taken_for_the_int_it_equals():
    b, x = _builder_with_param()
    assert b.emit("reduce_sum", [x], {"axes": (1,)}).type == TensorType((2,), "float32")
    with pytest.raises(TcompTypeError, match="axes"):
        b.emit("reduce_sum", [x], {"axes": (True,)})


def test_a_failed_check_fails_again_with_each_location():
    b, x = _builder_with_param()
    for line in (3, 7):
        with pytest.raises(TcompShapeError, match=f"model.py:{line}"):
            b.emit("reshape", [x], {"shape": (4,)}, Location("model.py", line))


def test_a_kept_check_gives_the_same_type_and_small_constants_are_keyed_exactly():
    b, x = _builder_with_param()
    first = b.emit("exp", [x]).type
    assert b.emit("exp", [x]).type == first
    key = builder._rule_key
    positive = key("constant", (), {"value": np.array(0.0, np.float32)})
    negative = key("constant", (), {"value": np.array(-0.0, np.float32)})
    assert positive != negative
    assert key("constant", (), {"value": np.zeros(1000, np.float32)}) is None  # not kept
