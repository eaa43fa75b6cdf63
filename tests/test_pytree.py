"""Pytrees: flatten/unflatten round trips, ``tree_map`` over several trees, and structure errors."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tcomp
from tcomp.errors import TcompArgumentError, TcompError

Point = namedtuple("Point", ["x", "y"])

leaves = st.one_of(
    st.integers(-5, 5),
    st.floats(-1, 1, allow_nan=False),
    st.booleans(),
    st.builds(lambda n: np.arange(n, dtype=np.float32), st.integers(0, 3)),
)
keys = st.text("abcxyz", min_size=1, max_size=3)
trees = st.recursive(
    st.one_of(leaves, st.none()),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(keys, children, max_size=3),
        st.tuples(children, children).map(lambda pair: Point(*pair)),
    ),
    max_leaves=8,
)


def _same(a, b) -> bool:
    """Structural equality that compares numpy leaves by value and containers by type."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


def _count_leaves(tree) -> int:
    if tree is None:
        return 0
    if isinstance(tree, dict):
        return sum(_count_leaves(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_count_leaves(v) for v in tree)
    return 1


@given(tree=trees)
def test_flatten_unflatten_round_trip(tree):
    flat, treedef = tcomp.tree_flatten(tree)
    assert len(flat) == _count_leaves(tree) == treedef.num_leaves
    assert _same(tcomp.tree_unflatten(treedef, flat), tree)
    # The structure alone is hashable and stable: flattening again gives an equal one.
    assert tcomp.tree_flatten(tree)[1] == treedef
    assert hash(tcomp.tree_flatten(tree)[1]) == hash(treedef)
    assert isinstance(str(treedef), str)


@given(tree=trees)
def test_tree_map_over_two_trees(tree):
    flat, treedef = tcomp.tree_flatten(tree)
    other = tcomp.tree_unflatten(treedef, list(range(len(flat))))
    mapped = tcomp.tree_map(lambda leaf, index: (index, leaf), tree, other)
    # Each leaf became a pair; the pairs, in order, are (position, original leaf).
    expected = tcomp.tree_unflatten(treedef, [(i, leaf) for i, leaf in enumerate(flat)])
    assert _same(mapped, expected)


def test_dicts_flatten_in_sorted_key_order():
    flat, treedef = tcomp.tree_flatten({"b": 2, "a": 1, "c": {"z": 4, "y": 3}})
    assert flat == [1, 2, 3, 4]
    assert str(treedef) == "{'a': *, 'b': *, 'c': {'y': *, 'z': *}}"
    assert tcomp.tree_flatten({"a": 1, "b": 2})[1] == tcomp.tree_flatten({"b": 0, "a": 0})[1]


def test_none_is_an_empty_subtree_and_namedtuples_keep_their_class():
    flat, treedef = tcomp.tree_flatten([None, Point(1, None), (2,)])
    assert flat == [1, 2]
    rebuilt = tcomp.tree_unflatten(treedef, ["a", "b"])
    assert rebuilt == [None, Point("a", None), ("b",)] and type(rebuilt[1]) is Point


def test_tree_map_with_three_trees_of_arrays():
    a = {"w": np.ones(2), "b": [np.zeros(1)]}
    b = {"w": np.full(2, 2.0), "b": [np.ones(1)]}
    c = {"w": np.full(2, 3.0), "b": [np.full(1, 5.0)]}
    out = tcomp.tree_map(lambda x, y, z: x + y * z, a, b, c)
    np.testing.assert_array_equal(out["w"], [7.0, 7.0])
    np.testing.assert_array_equal(out["b"][0], [5.0])


@pytest.mark.parametrize(
    "first, second",
    [
        ([1, 2], (1, 2)),
        ({"a": 1}, {"b": 1}),
        ([1, 2], [1, 2, 3]),
        ([1, [2]], [1, 2]),
        ([1, None], [1, 2]),
        (Point(1, 2), (1, 2)),
    ],
)
def test_tree_map_structure_mismatch_is_an_error(first, second):
    with pytest.raises(TcompArgumentError, match="tree structures differ") as info:
        tcomp.tree_map(lambda x, y: x, first, second)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TcompError)


def test_unflatten_with_the_wrong_number_of_leaves():
    _, treedef = tcomp.tree_flatten([1, (2, 3)])
    with pytest.raises(TcompArgumentError, match="too few leaves"):
        tcomp.tree_unflatten(treedef, [1, 2])
    with pytest.raises(TcompArgumentError, match="too many leaves"):
        tcomp.tree_unflatten(treedef, [1, 2, 3, 4])


def test_tree_map_on_traced_values(backend):
    @tcomp.jit(backend=backend)
    def step(params, grads):
        return tcomp.tree_map(lambda p, g: p - 0.5 * g, params, grads)

    params = {"w": np.ones((2, 2), np.float32), "b": [np.zeros(2, np.float32), None]}
    grads = {"w": np.full((2, 2), 2.0, np.float32), "b": [np.ones(2, np.float32), None]}
    out = step(params, grads)
    assert out["b"][1] is None
    np.testing.assert_array_equal(np.asarray(out["w"]), np.zeros((2, 2)))
    np.testing.assert_array_equal(np.asarray(out["b"][0]), np.full(2, -0.5))
