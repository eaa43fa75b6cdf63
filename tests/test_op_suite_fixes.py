"""Bugs the outside op suite (bench/op_suite) found in tcomp, each against numpy.

- A boolean mask whose length is not the indexed axis's was accepted and picked
  elements by its ``nonzero()`` positions (``x[[True, False]]`` on a 10-row array gave
  one row); numpy raises ``IndexError``.
- An axis out of range raised a plain ``ValueError``; numpy's ``AxisError`` is both a
  ``ValueError`` and an ``IndexError``, and code written for numpy catches the latter.
"""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp.errors import TcompAxisError, TcompIndexError, TcompTypeError


def _numpy_raises(fn) -> type[BaseException] | None:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 -- the type is the point
        return type(e)
    return None


@pytest.mark.parametrize(
    "index",
    [
        [True, False],
        (np.array([True] * 3),),
        (slice(None), np.array([True, False, True, True])),
        (Ellipsis, np.ones(4, dtype=bool)),
        (np.ones((10, 2), dtype=bool),),
    ],
)
def test_boolean_mask_of_the_wrong_length_is_an_index_error(backend, index):
    x = np.arange(10 * 11, dtype=np.float32).reshape(10, 11)
    assert _numpy_raises(lambda: x[index]) is IndexError
    with pytest.raises(IndexError) as raised:
        tcomp.jit(lambda a: a[index], backend=backend)(x)
    assert isinstance(raised.value, TcompIndexError)
    assert "boolean index did not match" in str(raised.value)


@pytest.mark.parametrize(
    "index",
    [
        np.arange(10) % 3 == 0,
        (slice(None), np.arange(11) > 4),
        (np.ones((10, 11), dtype=bool),),
        (Ellipsis, np.arange(11) % 2 == 1),
        (np.arange(10) < 4, slice(2, 5)),
    ],
)
def test_boolean_masks_of_the_right_length_still_select_as_numpy(backend, index):
    x = np.arange(10 * 11, dtype=np.float32).reshape(10, 11)
    got = tcomp.jit(lambda a: a[index], backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(got), x[index])


@pytest.mark.parametrize(
    "call",
    [
        lambda x: tcomp.sum(x, axis=3),
        lambda x: tcomp.squeeze(x, axis=-4),
        lambda x: tcomp.stack([x, x], axis=4),
        lambda x: tcomp.cumsum(x, axis=2),
        lambda x: tcomp.expand_dims(x, 5),
    ],
)
def test_axis_out_of_range_is_an_index_error_too(call):
    x = np.ones((2, 3), np.float32)
    with pytest.raises(IndexError) as raised:
        call(x)
    assert isinstance(raised.value, TcompAxisError)
    assert isinstance(raised.value, ValueError)
    assert "out of range" in str(raised.value)


def test_numpy_agrees_that_an_axis_error_is_an_index_error():
    x = np.ones((2, 3))
    assert issubclass(_numpy_raises(lambda: np.sum(x, axis=3)), IndexError)


@pytest.mark.parametrize(
    "index",
    [
        ((0,),),
        ((1, 0, -1), slice(None)),
        (slice(None), (2, 1, 0)),
        ((((0,),),),),
        ((1, 0), (2, 2)),
        (((1,), (0,)), (0, 3)),
        (Ellipsis, (3, 1)),
        (None, (1, 0), None),
    ],
)
def test_a_tuple_inside_the_index_is_a_sequence_index(backend, index):
    # numpy reads a tuple inside the index tuple as it reads a list; tcomp refused it
    x = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5)
    got = tcomp.jit(lambda a: a[index], backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(got), x[index])


@pytest.mark.parametrize("shape", [(None, 3), (4.0, 3), ("a",), (True, 12)])
def test_reshape_to_a_shape_that_is_not_ints_is_a_type_error(shape):
    # numpy raises TypeError; tcomp crashed with int()'s own error on None or "a" and
    # silently truncated 4.0
    x = np.ones((4, 3), np.float32)
    assert _numpy_raises(lambda: np.reshape(x, shape)) is TypeError
    with pytest.raises(TcompTypeError, match="reshape: the shape must be ints"):
        tcomp.reshape(x, shape)
    with pytest.raises(TcompTypeError):
        tcomp.jit(lambda a: a.reshape(shape), backend="reference")(x)


def test_reshape_still_takes_numpy_ints_lists_and_minus_one():
    x = np.arange(12, dtype=np.float32)
    for shape in [(np.int64(3), 4), [2, -1], 12, np.int32(12)]:
        np.testing.assert_array_equal(np.asarray(tcomp.reshape(x, shape)), np.reshape(x, shape))
