"""Shared helpers for the frontend tests: strategies, data, and running a function three ways.

A user meets the array functions in three settings, and the tests check
each against numpy:

- ``"jit"``: inside ``tcomp.jit(fn, backend=backend)`` (traced, compiled, run);
- ``"eager_numpy"``: called at a prompt on numpy arrays (default backend);
- ``"eager_array"``: called at a prompt on ``tcomp.Array`` inputs.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import warnings
from typing import Any, Callable, Iterator, Sequence

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import tcomp

MODES = ("jit", "eager_numpy", "eager_array")
OPERATOR_MODES = ("jit", "eager_array")  # operators on numpy inputs are numpy's own

FLOATS = ("float32", "float64")
ALL_FLOATS = ("float32", "float64", "float16")
ALL_DTYPES = ("float32", "float64", "float16", "int32", "bool")

# The backend fixture is a plain string, so sharing it across examples is safe.
fixture_settings = settings(
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ]
)

# ---------------------------------------------------------------------------
# Strategies


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 3):
    """Small array shapes, size-0 axes included unless ``min_side`` is 1."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcast_shape_pairs(max_dims: int = 3, min_side: int = 0, max_side: int = 3):
    """Pairs of shapes that broadcast together (size-1 and size-0 axes, different ranks)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=0, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda result: result.input_shapes)


seeds = st.integers(0, 2**32 - 1)

# ---------------------------------------------------------------------------
# Data


def random_array(
    rng: np.random.Generator,
    shape: Sequence[int],
    dtype: str,
    low: float = -3.0,
    high: float = 3.0,
    nonzero: bool = False,
) -> np.ndarray:
    """Random data of ``dtype``; ``nonzero`` keeps values at least 0.5 (ints: 1) from zero."""
    shape = tuple(shape)
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)  # an array even for shape ()
    if dtype == "int32":
        values = rng.integers(int(low), int(high) + 1, size=shape)
        if nonzero:
            values = np.where(values == 0, 1, values)
        return values.astype(np.int32)
    values = rng.uniform(low, high, size=shape)
    if nonzero:
        values = np.where(np.abs(values) < 0.5, np.copysign(0.5, values) + values, values)
    return values.astype(dtype)


_IDENTITY: dict[str, Any] = {}


def to_array(x: np.ndarray, backend: str) -> tcomp.Array:
    """``x`` as a ``tcomp.Array`` held by ``backend``."""
    if backend not in _IDENTITY:
        _IDENTITY[backend] = tcomp.jit(lambda value: value, backend=backend)
    with warnings.catch_warnings():
        # one identity for every shape the tests draw: its retraces are on purpose
        warnings.simplefilter("ignore", tcomp.errors.TcompRetraceWarning)
        result = _IDENTITY[backend](x)
    assert isinstance(result, tcomp.Array) and result.backend == backend
    return result


@contextlib.contextmanager
def default_backend(backend: str) -> Iterator[None]:
    """Makes ``backend`` the default (``TCOMP_BACKEND``) for eager calls in the block."""
    old = os.environ.get("TCOMP_BACKEND")
    os.environ["TCOMP_BACKEND"] = backend
    try:
        yield
    finally:
        if old is None:
            del os.environ["TCOMP_BACKEND"]
        else:
            os.environ["TCOMP_BACKEND"] = old


def run(fn: Callable[..., Any], args: Sequence[Any], mode: str, backend: str) -> Any:
    """``fn(*args)`` in ``mode`` (see the module docstring) on ``backend``."""
    if mode == "jit":
        return tcomp.jit(fn, backend=backend)(*args)
    if mode == "eager_array":
        args = [to_array(a, backend) if isinstance(a, (np.ndarray, np.generic)) else a for a in args]
        return fn(*args)
    assert mode == "eager_numpy", mode
    with default_backend(backend):
        return fn(*args)


def tolerance(dtype: Any) -> dict[str, float]:
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return {"rtol": 2e-2, "atol": 2e-2}
    if dtype == np.float32:
        return {"rtol": 2e-5, "atol": 2e-5}
    if dtype == np.float64:
        return {"rtol": 1e-10, "atol": 1e-12}
    return {"rtol": 0, "atol": 0}


def check(result: Any, expected: Any, dtype: Any, backend: str, **tol: float) -> None:
    """``result`` is a ``tcomp.Array`` on ``backend`` equal to ``expected`` with ``dtype``."""
    assert isinstance(result, tcomp.Array), f"expected a tcomp.Array, got {type(result).__name__}"
    assert result.backend == backend
    got = np.asarray(result)
    expected = np.asarray(expected)
    assert got.dtype == np.dtype(dtype), f"dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert result.dtype == np.dtype(dtype)
    assert got.shape == expected.shape, f"shape {got.shape}, expected {expected.shape}"
    assert result.shape == expected.shape
    with np.errstate(all="ignore"):
        expected = expected.astype(dtype)
    if np.dtype(dtype).kind in "bi":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, **{**tolerance(dtype), **tol})


def counting_calls(fn):
    """``fn`` with a list that records each time Python actually runs it."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__signature__ = inspect.signature(fn)
    return wrapper, calls
