"""``arange``, ``full``, ``zeros``, ``ones`` with values their dtype cannot hold (issue 15).

An integer result needs every value within its dtype's range (and finite), else a
``TcompTypeError`` in the user's terms that says so and suggests int64 or a float
dtype, never a raw numpy ``OverflowError`` or a silently wrapped value. An integer
``arange`` with no dtype is int32 when its values fit, else int64 (numpy's dtype). A
float result needs finite values that do not round to infinity in its dtype (inf and
NaN asked for as such are fine), as PyTorch checks. Values that fit keep working.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from frontend_helpers import check, run

import tcomp
from tcomp.errors import TcompTypeError

INT32_MAX = 2**31 - 1


@pytest.mark.parametrize(
    "bounds",
    [
        (2**31, 2**31 + 3),  # the case: numpy's OverflowError before
        (2**31 - 2, 2**31 + 1),  # starts inside, ends outside
        (0, 2**31 + 1, 2**30),
        (-(2**31) - 1, 0, 2**30),
        (5, -(2**31) - 2**30, -(2**30)),  # 5 - 3 * 2**30 is beyond
        (2**62, 2**62 + 2**40, 2**38),  # beyond float64's exact integers
    ],
)
@pytest.mark.parametrize("mode", ["jit", "eager_numpy"])
def test_integer_arange_beyond_int32_is_int64(backend, mode, bounds):
    """With no dtype, numpy's dtype for the range: int64 (exact, on every backend)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning on the way
        check(
            run(lambda: tcomp.arange(*bounds), [], mode, backend),
            np.arange(*bounds),
            "int64",
            backend,
        )


def test_int64_arange_computes_exactly(backend):
    got = tcomp.jit(lambda: tcomp.arange(2**31, 2**31 + 5) * 3 - 2**31, backend=backend)()
    check(got, np.arange(2**31, 2**31 + 5) * 3 - 2**31, "int64", backend)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: tcomp.arange(2**31, 2**31 + 3, dtype="int32"), r"beyond int32.*int64.*float"),
        (lambda: tcomp.arange(0, 2**31 + 1, 2**30, dtype="int32"), r"beyond int32"),
        (lambda: tcomp.arange(1e10, 1e10 + 3, dtype="int32"), r"beyond int32.*int64.*float"),
        (lambda: tcomp.arange(2**63, 2**63 + 3), r"beyond int64.*float"),
        (lambda: tcomp.arange(-(2**63) - 1, 0, 2**62), r"beyond int64"),
    ],
)
def test_arange_beyond_its_dtype_is_a_clear_error(make, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning on the way either
        with pytest.raises(TcompTypeError, match=r"arange: .*" + match):
            make()


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: tcomp.full(3, 1e10, dtype="int32"),
            r"full: 10000000000.0 is beyond int32.*dtype='int64'",
        ),
        (lambda: tcomp.full(3, np.float64(-3e9), dtype="int32"), r"beyond int32"),
        (lambda: tcomp.full(3, float("nan"), dtype="int32"), r"full: nan has no int32 value"),
        (lambda: tcomp.full(3, -float("inf"), dtype="int32"), r"full: -inf has no int32 value"),
        (lambda: tcomp.full(3, 2**40), r"full: 1099511627776 is beyond int32.*float"),
        (lambda: tcomp.full(3, np.array([1.0, 5e9]), dtype="int32"), r"beyond int32"),
        (lambda: tcomp.full(3, 1e40, dtype="float32"), r"full: 1e\+?40 is beyond float32's range"),
        (lambda: tcomp.full(3, 1e5, dtype="float16"), r"beyond float16's range"),
        (lambda: tcomp.full(3, 1e39, dtype="bfloat16"), r"beyond bfloat16's range"),
        (lambda: tcomp.full(3, 10**400, dtype="float64"), r"beyond float64's range"),
        (lambda: tcomp.arange(7e4, 7e4 + 2, dtype="float16"), r"arange: .*beyond float16's range"),
        (lambda: tcomp.arange(3, dtype="bool"), r"arange: .*bool"),
    ],
)
def test_fill_values_beyond_the_dtype_are_clear_errors(make, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TcompTypeError, match=match):
            make()


def test_the_errors_name_the_users_line_inside_jit():
    with pytest.raises(TcompTypeError, match=r"beyond int32[\s\S]*test_creation_ranges.py"):
        tcomp.jit(lambda x: x + tcomp.arange(2**31, 2**31 + 3, dtype="int32"))(
            np.zeros(3, np.int32)
        )


@pytest.mark.parametrize("mode", ["jit", "eager_numpy"])
def test_values_at_the_edges_still_work(backend, mode):
    cases = [
        (
            lambda: tcomp.arange(INT32_MAX - 2, INT32_MAX + 1),
            np.arange(INT32_MAX - 2, INT32_MAX + 1),
        ),
        (lambda: tcomp.arange(-(2**31), -(2**31) + 3), np.arange(-(2**31), -(2**31) + 3)),
        (
            lambda: tcomp.arange(INT32_MAX, INT32_MAX - 3, -1),
            np.arange(INT32_MAX, INT32_MAX - 3, -1),
        ),
        (lambda: tcomp.full(2, -(2**31), dtype="int32"), np.full(2, -(2**31))),
        (lambda: tcomp.full(2, 2.9e9), np.full(2, 2.9e9)),  # a big float is a float32 fill
        (lambda: tcomp.full(2, 2**31, dtype="float32"), np.full(2, 2.0**31)),  # an int, as float
        (lambda: tcomp.full(2, 2.5, dtype="int32"), np.full(2, 2)),  # truncated, as numpy
        (lambda: tcomp.full(2, 65504.0, dtype="float16"), np.full(2, 65504.0)),
        (lambda: tcomp.full(2, float("inf"), dtype="float16"), np.full(2, np.inf)),
        (lambda: tcomp.full(2, float("nan")), np.full(2, np.nan)),
        (lambda: tcomp.full(2, 1e300, dtype="float64"), np.full(2, 1e300)),
        (lambda: tcomp.full(2, 7, dtype=bool), np.full(2, True)),
        (lambda: tcomp.zeros(2, dtype="int32"), np.zeros(2)),
    ]
    dtypes = [
        "int32",
        "int32",
        "int32",
        "int32",
        "float32",
        "float32",
        "int32",
        "float16",
        "float16",
        "float32",
        "float64",
        "bool",
        "int32",
    ]
    for (make, expected), dtype in zip(cases, dtypes):
        check(run(make, [], mode, backend), expected, dtype, backend)
