"""``tcomp.random.permutation`` and ``choice`` (frontend/random_permutation.py).

Checked against their definitions: a permutation holds every item once and is the
same on every backend for the same key; its order is uniform (chi-square of the 24
orders of 4 items over 4800 folded-in keys, below the 99.9% point); the number of
sorting rounds follows ``ceil(3 ln n / ln(2**32 - 1))`` (worked by hand at the
boundary); ``choice`` draws each item with the frequency its weight asks for, never
repeats without replacement, never draws a zero weight; the gradient of a shuffled
array goes back to each moved element. Bad arguments give errors naming the function.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tcomp
from tcomp.frontend.random_permutation import shuffle_rounds

KEY = tcomp.random.key(7)
CHI2_999 = {23: 49.73, 3: 16.27}  # chi-square 99.9% points by degrees of freedom


@settings(max_examples=8, deadline=None)
@given(n=st.integers(0, 600), seed=st.integers(0, 2**31 - 1))
def test_a_permutation_holds_every_item_once(n, seed):
    got = np.asarray(tcomp.random.permutation(tcomp.random.key(seed), n))
    assert got.dtype == np.int32 and got.shape == (n,)
    np.testing.assert_array_equal(np.sort(got), np.arange(n))


def test_a_two_round_permutation_holds_every_item_once():
    assert shuffle_rounds(1700) == 2
    got = np.asarray(tcomp.jit(lambda k: tcomp.random.permutation(k, 1700))(KEY))
    np.testing.assert_array_equal(np.sort(got), np.arange(1700))


def test_the_same_key_gives_the_same_order_on_every_backend(backend):
    fn = tcomp.jit(lambda k: tcomp.random.permutation(k, 300), backend=backend)
    want = np.asarray(
        tcomp.jit(lambda k: tcomp.random.permutation(k, 300), backend="reference")(KEY)
    )
    np.testing.assert_array_equal(np.asarray(fn(KEY)), want)
    assert not np.array_equal(want, np.arange(300))


def test_the_order_of_four_items_is_uniform():
    draw = tcomp.jit(lambda k, i: tcomp.random.permutation(tcomp.random.fold_in(k, i), 4))
    orders = {p: 0 for p in itertools.permutations(range(4))}
    trials = 4800
    for i in range(trials):
        orders[tuple(int(v) for v in np.asarray(draw(KEY, np.int32(i))))] += 1
    expected = trials / 24
    chi2 = sum((count - expected) ** 2 / expected for count in orders.values())
    assert chi2 < CHI2_999[23], orders


def test_the_number_of_sorting_rounds():
    # 3 ln(1625) / ln(2**32 - 1) = 0.99998..., 3 ln(1626) / ln(2**32 - 1) = 1.00005...
    assert [shuffle_rounds(n) for n in (0, 1, 2, 1625, 1626, 10**6)] == [0, 0, 1, 1, 2, 2]


def test_permuting_an_array_moves_whole_slices_along_the_axis(backend):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    got = np.asarray(
        tcomp.jit(lambda k, v: tcomp.random.permutation(k, v, axis=2), backend=backend)(KEY, x)
    )
    order = np.asarray(tcomp.random.permutation(KEY, 4))
    np.testing.assert_array_equal(got, x[:, :, order])


def test_the_gradient_of_a_shuffle_goes_back_to_each_moved_element():
    x = np.arange(5, dtype=np.float32)
    w = np.array([1.0, 10.0, 100.0, 1000.0, 10000.0], np.float32)
    grad = tcomp.grad(lambda v: tcomp.sum(tcomp.random.permutation(KEY, v) * w))(x)
    order = np.asarray(tcomp.random.permutation(KEY, 5))
    expected = np.zeros(5, np.float32)
    expected[order] = w
    np.testing.assert_array_equal(np.asarray(grad), expected)


def test_choice_with_replacement_follows_the_weights():
    p = np.array([0.1, 0.0, 0.6, 0.3], np.float32)
    n = 10**5
    counts = np.bincount(np.asarray(tcomp.random.choice(KEY, 4, (n,), p=p * 5)), minlength=4)
    assert counts[1] == 0
    nonzero = p > 0
    chi2 = float(np.sum((counts[nonzero] - n * p[nonzero]) ** 2 / (n * p[nonzero])))
    assert chi2 < 13.82  # 2 degrees of freedom, 99.9% point


def test_choice_uniform_with_replacement_covers_the_range():
    draws = np.asarray(tcomp.random.choice(KEY, 6, (6000,)))
    counts = np.bincount(draws, minlength=6)
    assert counts.size == 6 and np.all(np.abs(counts - 1000) < 5 * np.sqrt(1000 * 5 / 6))


@pytest.mark.parametrize("weighted", [False, True])
def test_choice_without_replacement_never_repeats(weighted):
    p = np.array([1, 2, 3, 0, 4, 5, 6, 7], np.float32) if weighted else None
    for i in range(20):
        key = tcomp.random.fold_in(KEY, i)
        got = np.asarray(tcomp.random.choice(key, 8, (7,), replace=False, p=p))
        assert len(set(got.tolist())) == 7
        if weighted:
            assert 3 not in got.tolist()


def test_weighted_choice_without_replacement_draws_first_in_proportion():
    p = np.array([0.5, 0.25, 0.25], np.float32)
    draw = tcomp.jit(
        lambda k, i: tcomp.random.choice(tcomp.random.fold_in(k, i), 3, (2,), replace=False, p=p)
    )
    firsts = np.zeros(3)
    trials = 3000
    for i in range(trials):
        firsts[int(np.asarray(draw(KEY, np.int32(i)))[0])] += 1
    chi2 = float(np.sum((firsts - trials * p) ** 2 / (trials * p)))
    assert chi2 < 13.82, firsts


def test_choice_gathers_slices_of_an_array():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    got = np.asarray(tcomp.random.choice(KEY, x, (2, 2), replace=False))
    index = np.asarray(tcomp.random.choice(KEY, 4, (2, 2), replace=False))
    np.testing.assert_array_equal(got, x[index])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: tcomp.random.choice(KEY, 3, (4,), replace=False), "without replacement from 3"),
        (lambda: tcomp.random.choice(KEY, 3, (2,), p=np.ones(4, np.float32)), r"shape \(3,\)"),
        (lambda: tcomp.random.permutation(KEY, -1), "must be >= 0"),
        (lambda: tcomp.random.permutation(KEY, np.float32(3.0)), "0-d array"),
    ],
)
def test_bad_arguments_name_the_function(call, message):
    with pytest.raises(tcomp.errors.TcompError, match=message):
        call()
