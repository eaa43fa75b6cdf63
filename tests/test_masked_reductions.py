"""``where=`` (and ``initial=``) of ``sum``, ``mean``, ``max``, ``min``: numpy's meaning.

Checked against numpy's reductions with the same arguments on every backend (jit),
eagerly and as ``Array`` methods; gradients against their definition (a masked mean's
gradient is ``mask / count``); a padded sequence reduced over its valid length (what
shape buckets need) equals the unpadded reduction; bad masks are refused by name.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tcomp

REDUCTIONS = {
    "sum": {},
    "mean": {},
    "max": {"initial": -50.0},
    "min": {"initial": 50.0},
}


@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    name=st.sampled_from(sorted(REDUCTIONS)),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
    keepdims=st.booleans(),
)
def test_matches_numpy_with_a_mask(data, name, shape, keepdims):
    x = data.draw(hnp.arrays(np.float32, shape, elements=st.floats(-20, 20, width=32)))
    mask = data.draw(hnp.arrays(np.bool_, shape))
    axis = data.draw(st.sampled_from([None, *range(len(shape))]))
    kwargs = REDUCTIONS[name]
    with warnings.catch_warnings():  # numpy warns on a mean of nothing; tcomp's is NaN too
        warnings.simplefilter("ignore", RuntimeWarning)
        want = getattr(np, name)(x, axis=axis, keepdims=keepdims, where=mask, **kwargs)
    fn = tcomp.jit(
        lambda v, m: getattr(tcomp, name)(v, axis=axis, keepdims=keepdims, where=m, **kwargs)
    )
    got = np.asarray(fn(x, mask))
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4, equal_nan=True)


def test_every_backend_gives_numpys_values(backend):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7
    mask = (x.astype(np.int32) % 3) != 0
    fn = tcomp.jit(
        lambda v, m: (
            tcomp.sum(v, axis=2, where=m),
            tcomp.mean(v, axis=(0, 2), where=m),
            tcomp.max(v, axis=1, initial=-1.0, where=m),
            tcomp.min(v, where=m, initial=0.5),
        ),
        backend=backend,
    )
    got = [np.asarray(r) for r in fn(x, mask)]
    want = [
        np.sum(x, axis=2, where=mask),
        np.mean(x, axis=(0, 2), where=mask),
        np.max(x, axis=1, initial=-1.0, where=mask),
        np.min(x, where=mask, initial=0.5),
    ]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_a_mask_broadcasts_and_methods_take_it():
    x = tcomp.reshape(np.arange(12, dtype=np.float32), (3, 4))  # an Array
    column_mask = np.array([True, False, True, True])
    np.testing.assert_allclose(
        np.asarray(x.sum(axis=1, where=column_mask)),
        np.sum(np.asarray(x), axis=1, where=column_mask),
    )
    np.testing.assert_allclose(
        np.asarray(x.max(initial=0.0, where=column_mask)),
        np.max(np.asarray(x), initial=0.0, where=column_mask),
    )


def test_the_gradient_of_a_masked_mean_is_mask_over_count():
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    mask = np.array([[1, 0, 1, 1], [0, 0, 0, 1], [1, 1, 1, 1]], bool)
    grad = np.asarray(tcomp.grad(lambda v: tcomp.sum(tcomp.mean(v, axis=1, where=mask)))(x))
    np.testing.assert_allclose(grad, mask / mask.sum(axis=1, keepdims=True), rtol=1e-6)


def test_a_padded_sequence_reduces_over_its_valid_length():
    tokens = np.random.default_rng(0).standard_normal((2, 7)).astype(np.float32)

    @tcomp.jit
    def masked_mean(x, length):
        valid = tcomp.arange(x.shape[1]) < length
        return tcomp.mean(x, axis=1, where=tcomp.reshape(valid, (1, -1)))

    padded = np.concatenate([tokens, np.full((2, 9), 1e6, np.float32)], axis=1)
    np.testing.assert_allclose(
        np.asarray(masked_mean(padded, np.int32(7))), tokens.mean(axis=1), rtol=1e-6
    )


def test_initial_alone_and_over_an_empty_axis():
    x = np.array([[1.0, 5.0], [2.0, -3.0]], np.float32)
    np.testing.assert_array_equal(
        np.asarray(tcomp.max(x, axis=0, initial=3.0)), np.max(x, axis=0, initial=3.0)
    )
    empty = np.zeros((0, 3), np.float32)
    np.testing.assert_array_equal(
        np.asarray(tcomp.min(empty, axis=0, initial=7.0, keepdims=True)),
        np.min(empty, axis=0, initial=7.0, keepdims=True),
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: tcomp.max(x, where=x > 0), "max: where= needs initial="),
        (lambda x: tcomp.sum(x, where=np.ones(3, np.float32)), "sum: where must be a bool array"),
        (
            lambda x: tcomp.mean(x, where=np.ones((2, 1, 4), bool)),
            r"does not broadcast to x's shape",
        ),
    ],
)
def test_bad_masks_are_refused_by_name(call, message):
    with pytest.raises(tcomp.errors.TcompError, match=message):
        call(np.ones((3, 4), np.float32))
