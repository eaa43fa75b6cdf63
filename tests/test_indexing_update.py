"""``x.at[index].set/add/multiply/min/max(v)`` and ``.get()`` (frontend/indexing_update.py)
against their definition written here: visit the elements of ``x[index]`` in order and
apply each update to its position of ``x`` (so ``set`` keeps the last of repeated
positions, the others combine them all, as ``np.add.at``), with the index known when
tracing or traced, on every backend; then gradients and errors."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from frontend_helpers import check, fixture_settings, random_array, run, to_array
from gradcheck import assert_gradient_matches_sampled_differences
from hypothesis import given, settings
from hypothesis import strategies as st

import tcomp
from tcomp.errors import TcompError

MODES = ["set", "add", "multiply", "min", "max"]
COMBINE = {
    "set": lambda old, new: new,
    "add": lambda old, new: old + new,
    "multiply": lambda old, new: old * new,
    "min": lambda old, new: min(old, new),
    "max": lambda old, new: max(old, new),
}


def definition(x: np.ndarray, index, values, mode: str) -> np.ndarray:
    positions = np.arange(x.size).reshape(x.shape)[index]
    updates = np.broadcast_to(np.asarray(values).astype(x.dtype), positions.shape)
    out = x.copy().reshape(-1)
    for p, u in zip(positions.reshape(-1), updates.reshape(-1)):
        new = COMBINE[mode](out[p], u)
        out[p] = (bool(new) if x.dtype == bool else new)
    return out.reshape(x.shape)


@st.composite
def update_cases(draw):
    """``(shape, index)``: basic indices, or one or two integer arrays with repeats."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    kind = draw(st.sampled_from(["basic", "array", "arrays", "mask"]))
    if kind == "basic":
        return shape, draw(hnp.basic_indices(shape, allow_newaxis=True))
    if kind == "mask":
        return shape, draw(hnp.arrays(bool, shape[:1]))
    count = draw(st.integers(0, 6))
    first = np.array(draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=count,
                                   max_size=count)), np.int32)
    if kind == "array" or len(shape) == 1:
        return shape, first
    second = np.array(draw(st.lists(st.integers(0, shape[1] - 1), min_size=count,
                                    max_size=count)), np.int32)
    return shape, (slice(None), first, second) if len(shape) == 3 and draw(
        st.booleans()) else (first, second)


def examples(backend: str) -> settings:
    return settings(fixture_settings, max_examples={"reference": 20, "llvm": 5}.get(backend, 3))


@pytest.mark.parametrize("mode", MODES)
def test_updates_match_the_definition(backend, mode):
    @examples(backend)
    @given(case=update_cases(), dtype=st.sampled_from(["float32", "int32", "bool"]),
           traced=st.booleans(), seed=st.integers(0, 2**16))
    def body(case, dtype, traced, seed):
        shape, index = case
        rng = np.random.default_rng(seed)
        x = random_array(rng, shape, dtype)
        target = np.shape(np.zeros(shape)[index])
        values = random_array(rng, target[rng.integers(0, len(target) + 1):], dtype)
        want = definition(x, index, values, mode)
        arrays = isinstance(index, np.ndarray) or (
            isinstance(index, tuple) and any(isinstance(i, np.ndarray) for i in index))
        if traced and arrays and not (isinstance(index, np.ndarray) and index.dtype == bool):
            parts = index if isinstance(index, tuple) else (index,)
            slots = [i for i, p in enumerate(parts) if isinstance(p, np.ndarray)]

            def fn(a, v, *ix):
                full = list(parts)
                for i, value in zip(slots, ix):
                    full[i] = value
                return getattr(a.at[tuple(full)], mode)(v)

            got = run(fn, [x, values, *[parts[i] for i in slots]], "jit", backend)
        else:
            got = run(lambda a, v: getattr(a.at[index], mode)(v), [x, values], "jit", backend)
        check(got, want, dtype, backend, rtol=1e-5, atol=1e-5)

    body()


def test_traced_repeated_positions_on_every_backend(backend):
    """The sort-and-scan path: a traced index naming positions 0 and 2 three times each."""
    x = np.array([[5.0, -1.0], [2.0, 0.5], [-3.0, 4.0]], np.float32)
    i = np.array([2, 0, 2, 1, 0, 2, -3], np.int32)
    v = np.arange(14, dtype=np.float32).reshape(7, 2) - 6.5
    got = run(lambda a, b, ix: {m: getattr(a.at[ix], m)(b) for m in MODES}, [x, v, i], "jit",
              backend)
    for mode in MODES:
        check(got[mode], definition(x, i, v, mode), "float32", backend)


def test_eager_updates_and_get():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    xa = to_array(x, "llvm")
    np.testing.assert_array_equal(np.asarray(xa.at[1, ::2].set(-1.0)),
                                  definition(x, (1, slice(None, None, 2)), -1.0, "set"))
    np.testing.assert_array_equal(np.asarray(xa.at[[0, 0, 2]].add(1.0)),
                                  definition(x, [0, 0, 2], 1.0, "add"))
    np.testing.assert_array_equal(np.asarray(xa.at[:, [1, 3]].get()), x[:, [1, 3]])
    assert np.asarray(xa).tolist() == x.tolist(), "the original is unchanged"


def test_set_gradient_skips_overwritten_elements_and_losing_updates(backend):
    x = np.arange(5, dtype=np.float64)
    idx = np.array([1, 3, 1])
    v = np.array([10.0, 20.0, 30.0])

    def loss(a, b):
        return tcomp.sum(a.at[idx].set(b) * np.arange(1.0, 6.0))

    gx, gv = tcomp.jit(tcomp.grad(loss, argnums=(0, 1)), backend=backend)(x, v)
    check(gx, [1.0, 0.0, 3.0, 0.0, 5.0], np.float64, backend)
    check(gv, [0.0, 4.0, 2.0], np.float64, backend)  # the first update to 1 lost to the last


@pytest.mark.parametrize("mode", ["add", "multiply", "max", "set"])
@pytest.mark.parametrize("traced", [False, True])
def test_gradients_match_finite_differences(mode, traced):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3))
    v = rng.standard_normal((5, 3))
    i = np.array([2, 0, 2, 3, 2], np.int32)
    w = rng.standard_normal((4, 3))

    def objective(a, b, ix):
        return tcomp.sum(getattr(a.at[ix if traced else i], mode)(b) * w)

    f = tcomp.jit(objective, backend="reference")
    gx, gv = tcomp.jit(tcomp.grad(objective, argnums=(0, 1)), backend="reference")(x, v, i)
    assert_gradient_matches_sampled_differences(
        lambda t: float(np.asarray(f(t, v, i))), x, np.asarray(gx), rng, 12, err_msg=mode)
    assert_gradient_matches_sampled_differences(
        lambda t: float(np.asarray(f(x, t, i))), v, np.asarray(gv), rng, 15, err_msg=mode)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda a: a.at[[0, 5]].set(1.0), "at\\[\\]: index"),
        (lambda a: a.at[0].set(np.ones(3)), r"at\[\]\.set: values of shape \(3,\)"),
        (lambda a: a.at[:, 0].add(np.ones((2, 3))), r"at\[\]\.add: values of shape \(2, 3\)"),
    ],
)
def test_errors_name_the_update_and_the_line(call, words):
    x = np.zeros((3, 4), np.float32)
    for mode in ("eager", "jit"):
        with pytest.raises(TcompError, match=words) as info:
            call(to_array(x, "reference")) if mode == "eager" else tcomp.jit(
                call, backend="reference")(x)
        assert "test_indexing_update.py:" in str(info.value)
