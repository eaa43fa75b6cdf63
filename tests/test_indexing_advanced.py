"""numpy's advanced indexing on tcomp arrays (frontend/indexing_advanced.py): several
integer arrays broadcast together, ints and slices beside them, ``None`` and ``...``
separating them (the indexed axes then go first), numpy boolean masks; with the index
arrays known when tracing (numpy) or traced (jit arguments), against numpy's own
``x[index]``, and the gradient against ``np.add.at``."""

from __future__ import annotations

import numpy as np
import pytest
from frontend_helpers import check, fixture_settings, run
from hypothesis import given, settings
from hypothesis import strategies as st

import tcomp


def examples(backend: str) -> settings:
    """Fewer examples on the compiled backends, where each is a compile."""
    return settings(fixture_settings, max_examples={"reference": 25, "llvm": 8}.get(backend, 4))


@st.composite
def advanced_indices(draw):
    """``(shape, entries)``: an index with at least one integer array or numpy mask."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    common = draw(st.sampled_from([(), (2,), (3, 1), (1, 2), (2, 2)]))
    entries: list = []
    for size in shape:
        if draw(st.integers(0, 5)) == 0:
            entries.append(None)
        kind = draw(st.sampled_from(["slice", "int", "array", "array", "mask"]))
        if kind == "slice":
            entries.append(slice(draw(st.integers(0, size - 1)), None, draw(st.sampled_from([1, 2, -1]))))
        elif kind == "int":
            entries.append(draw(st.integers(-size, size - 1)))
        elif kind == "mask":
            entries.append(np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size))))
        else:
            # a shape that broadcasts to `common`: a suffix of it with some sides 1
            own = common[draw(st.integers(0, len(common))) :]
            own = tuple(1 if draw(st.booleans()) else d for d in own)
            values = draw(st.lists(st.integers(-size, size - 1), min_size=int(np.prod(own)),
                                   max_size=int(np.prod(own))))
            entries.append(np.array(values, dtype=np.int32).reshape(own))
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(entries)))
        entries = entries[:cut] + [Ellipsis] + entries[cut:]
    if not any(isinstance(e, np.ndarray) for e in entries):
        entries[-1 if entries[-1] is not Ellipsis else 0] = np.array([0, -1], np.int32)
    masks = [e for e in entries if isinstance(e, np.ndarray) and e.dtype == bool]
    try:
        np.zeros(shape)[tuple(entries)]
    except IndexError:  # masks and arrays that do not broadcast together: numpy refuses too
        entries = [e for e in entries if not any(e is m for m in masks)]
    return shape, tuple(entries)


def traced_form(entries: tuple):
    """``(fn, arrays)``: ``fn(x, *arrays)`` indexes with the int arrays as jit arguments."""
    arrays = [e for e in entries if isinstance(e, np.ndarray) and e.dtype != bool]
    slots = [i for i, e in enumerate(entries) if isinstance(e, np.ndarray) and e.dtype != bool]

    def fn(x, *values):
        full = list(entries)
        for i, v in zip(slots, values):
            full[i] = v
        return x[tuple(full)]

    return fn, arrays


@pytest.mark.parametrize("traced", [False, True])
def test_advanced_indexing_matches_numpy(backend, traced):
    @examples(backend)
    @given(case=advanced_indices(), seed=st.integers(0, 2**16))
    def body(case, seed):
        shape, entries = case
        x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
        want = x[entries]
        if traced:
            fn, arrays = traced_form(entries)
            got = run(fn, [x, *arrays], "jit", backend)
        else:
            got = run(lambda a: a[entries], [x], "jit", backend)
        check(got, want, np.float32, backend)

    body()


@pytest.mark.parametrize(
    "index",
    [
        ([0, 2, 2], [1, 0, 3]),
        (slice(None), [[0], [2]], [1, 3]),
        (0, slice(None), [1, 2]),  # separated by a slice: the indexed axis goes first
        ([1], None, [0]),
        (Ellipsis, [0, 1], [3, -1]),
        (np.array([[True, False, True, False]] * 3),),
    ],
    ids=repr,
)
def test_named_indices_eagerly_and_gradients(backend, index):
    x = np.arange(3 * 4 * 5, dtype=np.float64).reshape(3, 4, 5) / 7
    check(run(lambda a: a[index], [x], "eager_array", backend), x[index], np.float64, backend)
    weights = np.arange(np.size(x[index]), dtype=np.float64).reshape(np.shape(x[index])) + 1
    grad = tcomp.jit(tcomp.grad(lambda a: tcomp.sum(a[index] * weights)), backend=backend)(x)
    expected = np.zeros_like(x)
    np.add.at(expected, index, weights)  # repeated positions add up
    check(grad, expected, np.float64, backend)


def test_traced_indices_wrap_and_clamp_like_take():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    i, j = np.array([-1, 5], np.int32), np.array([-2, -9], np.int32)
    got = tcomp.jit(lambda a, i, j: a[i, j], backend="reference")(x, i, j)
    np.testing.assert_array_equal(np.asarray(got), [x[2, 2], x[2, 0]])
