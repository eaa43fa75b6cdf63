"""``nn.interpolate`` of integer input keeps its dtype (PyTorch's uint8 results).

The linear modes round to nearest and clamp, by PyTorch's uint8 kernel (Pillow's rule):
per axis, last first, each result rounded before the next axis reads it, fixed-point
weights and a half-up rounding shift. The reference here is written from that
description on the source positions of tests/nn_reference.py (PyTorch's formulas, shared
with the float tests), on Python integers, so it neither overflows nor shares code with
tcomp. The nearest modes copy values exactly.
"""

from __future__ import annotations

import math

import nn_reference as ref
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_checks import fixture_ok, seeds

import tcomp
from tcomp import nn

INT_DTYPES = ["int8", "uint8", "int32", "uint32", "int64"]
LINEAR_RANK = {"linear": 1, "bilinear": 2, "trilinear": 3}


def fixed_point_axis(values: np.ndarray, axis: int, sources, dtype: str) -> np.ndarray:
    """One axis: each output sums its sources with weights int(w * 2**bits + 0.5), adds
    2**(bits - 1), shifts right by bits (floor) and clamps to ``dtype``'s range."""
    merged = []  # a source read twice (the clamped last pixel) is one source of weight 1
    for corners in sources:
        weights: dict[int, float] = {}
        for index, weight in corners:
            weights[index] = weights.get(index, 0.0) + weight
        merged.append(sorted(weights.items()))
    largest = max(w for corners in merged for _, w in corners)
    bits = 0
    while bits < 22 and int(0.5 + largest * 2 ** (bits + 1)) < 2**15:
        bits += 1
    info = np.iinfo(dtype)
    moved = np.moveaxis(values, axis, -1)
    out = np.empty(moved.shape[:-1] + (len(merged),), dtype=object)
    for position in np.ndindex(*moved.shape[:-1]):
        row = moved[position]
        for dst, corners in enumerate(merged):
            total = sum(int(row[i]) * int(math.floor(w * 2**bits + 0.5)) for i, w in corners)
            out[position + (dst,)] = min(max((total + 2 ** (bits - 1)) >> bits, info.min), info.max)
    return np.moveaxis(out, -1, axis)


def integer_interpolate(x: np.ndarray, sizes, scales, align_corners: bool) -> np.ndarray:
    values = x.astype(object)
    for a in reversed(range(len(sizes))):
        n_in = values.shape[2 + a]
        sources = ref._interpolate_sources(n_in, sizes[a], scales[a], "linear", align_corners)
        identity = sizes[a] == n_in and all(
            [(i, w) for i, w in corners if w] == [(dst, 1.0)] for dst, corners in enumerate(sources)
        )
        if not identity:
            values = fixed_point_axis(values, 2 + a, sources, str(x.dtype))
    return values.astype(x.dtype)


def on_device(x: np.ndarray):
    """``x`` for a jitted call: int64 host arrays would come in as int32 (tcomp's default
    integer), so those go through ``tcomp.astype(x, "int64")`` first."""
    return tcomp.astype(x, "int64") if x.dtype == np.int64 else x


@st.composite
def integer_cases(draw):
    rng = draw(seeds())
    dtype = draw(st.sampled_from(INT_DTYPES))
    mode = draw(st.sampled_from(sorted(LINEAR_RANK)))
    d = LINEAR_RANK[mode]
    spatial = tuple(draw(st.integers(1, 6 if d < 3 else 3)) for _ in range(d))
    info = np.iinfo(dtype)
    low, high = max(int(info.min), -(2**40)), min(int(info.max), 2**40)
    x = rng.integers(low, high, (1, draw(st.integers(1, 2))) + spatial, endpoint=True)
    kwargs: dict = {"mode": mode, "align_corners": draw(st.sampled_from([None, False, True]))}
    if draw(st.booleans()):
        sizes = tuple(draw(st.integers(1, 7 if d < 3 else 4)) for _ in range(d))
        kwargs["size"], scales = sizes, (None,) * d
    else:
        factor = draw(st.sampled_from([2.0, 0.5, 1.5, 3.0, 1.7]))
        sizes = tuple(max(int(math.floor(n * factor)), 1) for n in spatial)
        if min(int(math.floor(n * factor)) for n in spatial) < 1:
            factor, sizes = 2.0, tuple(2 * n for n in spatial)
        kwargs["scale_factor"], scales = factor, (factor,) * d
    return x.astype(dtype), kwargs, sizes, scales


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_linear_modes_keep_an_integer_dtype(backend, dtype):
    x = np.arange(2 * 3 * 5 * 4).reshape(2, 3, 5, 4).astype(dtype)
    got = tcomp.jit(lambda a: nn.interpolate(a, size=(3, 7), mode="bilinear"), backend=backend)(
        on_device(x)
    )
    assert got.dtype == np.dtype(dtype)
    expected = integer_interpolate(x, (3, 7), (None, None), False)
    np.testing.assert_array_equal(np.asarray(got), expected)


def test_property_against_the_fixed_point_definition(backend):
    @settings(
        fixture_ok,
        max_examples=min(settings.default.max_examples, 12 if backend == "reference" else 5),
    )
    @given(case=integer_cases())
    def body(case):
        x, kwargs, sizes, scales = case
        got = tcomp.jit(lambda a: nn.interpolate(a, **kwargs), backend=backend)(on_device(x))
        assert got.dtype == x.dtype
        expected = integer_interpolate(x, sizes, scales, bool(kwargs["align_corners"]))
        np.testing.assert_array_equal(np.asarray(got), expected)

    body()


def test_close_to_the_float_interpolation(backend):
    """Independent of the fixed-point details (uint8 images): one axis is the float result
    rounded to nearest, except within the weights' error (255 * 2 * 2**-15) of a half;
    two axes round twice, so they stay within 1 (plus that error) of the float result."""
    rng = np.random.default_rng(0)
    slack = 255 * 2 * 2.0**-15
    x = rng.integers(0, 256, (2, 3, 37)).astype(np.uint8)
    got = tcomp.jit(lambda a: nn.interpolate(a, size=23, mode="linear"), backend=backend)(x)
    exact = ref.interpolate(x.astype(np.float64), size=23, mode="linear")
    got = np.asarray(got).astype(np.float64)
    assert np.abs(got - exact).max() <= 0.5 + slack
    clear = np.abs(exact - np.floor(exact) - 0.5) > slack
    assert clear.mean() > 0.8
    np.testing.assert_array_equal(got[clear], np.floor(exact + 0.5)[clear])
    x = rng.integers(0, 256, (2, 3, 16, 16)).astype(np.uint8)
    got = tcomp.jit(lambda a: nn.interpolate(a, size=(5, 9), mode="bilinear"), backend=backend)(x)
    exact = ref.interpolate(x.astype(np.float64), size=(5, 9), mode="bilinear")
    assert np.abs(np.asarray(got).astype(np.float64) - exact).max() <= 1 + 2 * slack


def test_halves_round_up_and_values_clamp(backend):
    """A midpoint rounds toward +inf (1.5 -> 2, -1.5 -> -1); results stay in range."""
    run = tcomp.jit(
        lambda a: nn.interpolate(a, size=3, mode="linear", align_corners=True), backend=backend
    )
    got = run(np.array([[[1, 2]], [[-1, -2]]], np.int8))
    np.testing.assert_array_equal(np.asarray(got)[:, 0], [[1, 2, 2], [-1, -1, -2]])
    got = run(np.array([[[0, 255]]], np.uint8))
    np.testing.assert_array_equal(np.asarray(got), [[[0, 128, 255]]])
    big = np.array([[[np.iinfo(np.int32).max, np.iinfo(np.int32).max - 1]]], np.int32)
    assert np.asarray(run(big)).max() == np.iinfo(np.int32).max


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_modes_copy_integers_exactly(backend, mode):
    x = np.array([0, 255, 7, 128, 1], np.uint8).reshape(1, 1, 5) * np.ones((2, 1, 1), np.uint8)
    got = tcomp.jit(lambda a: nn.interpolate(a, size=8, mode=mode), backend=backend)(x)
    assert got.dtype == np.uint8
    expected = ref.interpolate(x, size=8, mode=mode)
    np.testing.assert_array_equal(np.asarray(got), expected)
    big = np.array([[[2**62 + 1, -(2**62) - 3]]], np.int64)
    got = tcomp.jit(lambda a: nn.interpolate(a, size=3, mode=mode), backend=backend)(on_device(big))
    sources = [corners[0][0] for corners in ref._interpolate_sources(2, 3, None, mode, None)]
    np.testing.assert_array_equal(np.asarray(got), big[..., sources])  # no float rounding


def test_bool_input_of_linear_modes_is_float32():
    got = nn.interpolate(np.array([[[True, False]]]), size=3, mode="linear", align_corners=True)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(got), [[[1.0, 0.5, 0.0]]])
