"""Shape and value strategies shared by the gradient and reference checks
(tests/gradcheck.py, test_primitive_gradients.py, test_primitive_references.py):
axis lengths with the odd empty axis, shapes, seeded generators, index subsets,
reshape/slice/pad attributes, and float inputs kept off kinks and ties."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tcomp.ir.types import numpy_dtype


def sides(max_side: int = 3):
    """Axis lengths 1..max_side, and now and then 0 (an empty tensor makes every check trivial)."""
    return st.sampled_from(tuple(range(1, max_side + 1)) * 2 + (0,))


def shapes(min_dims: int = 1, max_dims: int = 3, max_side: int = 3):
    """Shapes of rank min_dims..max_dims (rank 0, which hypothesis over-draws: see fixed cases)."""
    return st.lists(sides(max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def rngs():
    return st.integers(0, 2**32 - 1).map(np.random.default_rng)


def subset_of(n: int, min_size: int = 0):
    """A sorted tuple of distinct indices in range(n)."""
    return (
        st.lists(st.booleans(), min_size=n, max_size=n)
        .map(lambda mask: tuple(i for i, keep in enumerate(mask) if keep))
        .filter(lambda chosen: len(chosen) >= min_size)
    )


@st.composite
def reshape_targets(draw, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Another shape with the same element count: permuted, merged and 1-padded axes."""
    merged: list[int] = []
    for d in draw(st.permutations(shape)) if shape else []:
        if merged and draw(st.booleans()):
            merged[-1] *= d
        else:
            merged.append(d)
    for _ in range(draw(st.integers(0, 2))):
        merged.insert(draw(st.integers(0, len(merged))), 1)
    return tuple(merged)


@st.composite
def slice_bounds(draw, shape: tuple[int, ...]):
    start, stop, step = [], [], []
    for d in shape:
        lo = draw(st.integers(0, d))
        start.append(lo)
        stop.append(d - draw(st.integers(0, d - lo)))  # often the whole rest of the axis
        step.append(draw(st.integers(1, 3)))
    return {"start": tuple(start), "stop": tuple(stop), "step": tuple(step)}


@st.composite
def pad_amounts(draw, ndim: int):
    amounts = st.lists(st.integers(0, 2), min_size=ndim, max_size=ndim).map(tuple)
    return {"low": draw(amounts), "high": draw(amounts), "interior": draw(amounts)}


def values(rng: np.random.Generator, shape, dtype: str, low: float = -3, high: float = 3):
    """Random values of a dtype (ints in [low, high], bools half true)."""
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype in ("int8", "uint8", "int32", "uint32", "int64"):
        if dtype.startswith("u"):  # unsigned: the same span, moved to start at 0
            low, high = 0, high - min(low, 0)
        return np.asarray(rng.integers(int(low), int(high) + 1, shape), dtype=numpy_dtype(dtype))
    return np.asarray(rng.uniform(low, high, shape), dtype=numpy_dtype(dtype))


def away_from_zero(rng, shape, dtype="float64", low=0.2, high=2.0):
    signs = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return np.asarray(signs * rng.uniform(low, high, shape), dtype=numpy_dtype(dtype))


def distinct(rng, shape, dtype="float64"):
    """Values without ties (gaps of at least 0.06), for max/min reductions."""
    size = int(np.prod(shape, dtype=np.int64))
    ranks = rng.permutation(size).reshape(shape)
    noise = rng.uniform(-0.02, 0.02, shape)
    return np.asarray(0.1 * (ranks - size / 2) + noise, dtype=numpy_dtype(dtype))
