"""The checks every ``tcomp.nn`` function gets, shared by test_nn_{activations,losses,norms,
layers}.py: a :class:`Case` (one call with its arguments, drawn by hypothesis) run

1. inside ``tcomp.jit(..., backend=backend)`` and eagerly, in float32 and float64,
   against the numpy reference of the same name in ``nn_reference`` (PyTorch's
   formulas written plainly), outputs that are tuples (``batch_norm``) compared
   element by element;
2. for gradients (float64): ``tcomp.grad`` of ``sum(f(x) * c)`` (summed over the
   outputs) inside ``jit``, against central differences of the jitted forward pass,
   coordinate by coordinate (a sample when an input is large) and along a random
   direction.

A test file defines ``CASES`` (label -> strategy of a Case; the label is the nn
function's name, or ``name:variant``) and calls :func:`run_forward` /
:func:`run_gradient` from its parametrised tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import nn_reference as ref
import numpy as np
import pytest
from gradcheck import assert_gradient_matches_sampled_differences
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tcomp
from tcomp import nn

# The backend fixture is parametrised per test, so hypothesis may reuse it across examples.
fixture_ok = settings(
    suppress_health_check=list(settings.default.suppress_health_check)
    + [HealthCheck.function_scoped_fixture]
)

TOLERANCES = {"float32": dict(rtol=2e-4, atol=5e-5), "float64": dict(rtol=1e-9, atol=1e-11)}
FD_EPS = 1e-6
MAX_COORDINATES = 16  # per input; larger inputs are checked on a sample and a direction


@dataclass
class Case:
    """``getattr(nn, name)(*args, **kwargs)``; ``args[i]`` may be None (an omitted input).

    Float arrays are cast to the test's dtype; ``wrt`` are the ones differentiated.
    ``reference`` names the ``nn_reference`` function when it is not ``name``.
    """

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    wrt: tuple[int, ...] = (0,)
    reference_name: str | None = None

    def __post_init__(self) -> None:
        # numpy scalars (0-d draws) are arrays here, like the 0-d arrays they came from
        self.args = tuple(np.asarray(a) if isinstance(a, np.generic) else a for a in self.args)

    def __repr__(self) -> str:
        shown = ", ".join(
            "None"
            if a is None
            else f"{a.dtype}{list(a.shape)}"
            if isinstance(a, np.ndarray)
            else repr(a)
            for a in self.args
        )
        return f"nn.{self.name}({shown}, **{self.kwargs})"

    def present(self) -> list[int]:
        return [i for i, a in enumerate(self.args) if isinstance(a, np.ndarray)]

    def nn_function(self) -> Callable[..., Any]:
        """``f(*arrays)``: the nn call with the other arguments filled back in."""
        present = self.present()

        def f(*values: Any) -> Any:
            full = list(self.args)
            for i, v in zip(present, values):
                full[i] = v
            return getattr(nn, self.name)(*full, **self.kwargs)

        f.__name__ = self.name
        return f

    def reference(self, args: tuple[Any, ...]) -> tuple[np.ndarray, ...]:
        out = getattr(ref, self.reference_name or self.name)(*args, **self.kwargs)
        return tuple(np.asarray(o) for o in out) if isinstance(out, tuple) else (np.asarray(out),)

    def cast(self, dtype: str) -> tuple[Any, ...]:
        return tuple(
            a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in self.args
        )


def seeds():
    return st.integers(0, 2**32 - 1).map(np.random.default_rng)


def shapes(min_dims: int, max_dims: int, max_side: int = 4):
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def away_from(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    kinks: tuple[float, ...] = (0.0,),
    gap: float = 0.05,
    scale: float = 3.0,
) -> np.ndarray:
    """Values in ``[-scale, scale]`` at least ``gap`` from each kink (smooth points only)."""
    x = rng.uniform(-scale, scale, size=shape)
    for kink in kinks:
        close = np.abs(x - kink) < gap
        x = np.where(close, kink + np.where(x >= kink, gap, -gap) * 2, x)
    return x


def _outputs(result: Any) -> tuple[Any, ...]:
    return tuple(result) if isinstance(result, tuple) else (result,)


def check_result(result: Any, case: Case, args: tuple[Any, ...], dtype: str) -> None:
    results, expected = _outputs(result), case.reference(args)
    assert len(results) == len(expected), (
        f"{case}: {len(results)} outputs, reference {len(expected)}"
    )
    for got, want in zip(results, expected):
        assert isinstance(got, tcomp.Array), f"{case}: got {type(got).__name__}, not tcomp.Array"
        assert got.dtype == np.dtype(dtype), f"{case}: result dtype {got.dtype}, inputs {dtype}"
        assert got.shape == want.shape, f"{case}: shape {got.shape}, reference {want.shape}"
        np.testing.assert_allclose(np.asarray(got), want, err_msg=repr(case), **TOLERANCES[dtype])


def run_forward(case: Case, dtype: str, backend: str | None) -> None:
    """``case`` in ``jit`` on ``backend``, or eagerly when ``backend`` is None."""
    args = case.cast(dtype)
    if backend is None:
        result = getattr(nn, case.name)(*args, **case.kwargs)
    else:
        f = tcomp.jit(case.nn_function(), backend=backend)
        result = f(*[args[i] for i in case.present()])
        assert all(r.backend == backend for r in _outputs(result))
    check_result(result, case, args, dtype)


def run_gradient(case: Case, backend: str, rng: np.random.Generator) -> None:
    """tcomp.grad inside jit against central differences of the jitted forward (float64)."""
    f = case.nn_function()
    present = case.present()
    values = [case.args[i] for i in present]
    wrt = tuple(k for k, i in enumerate(present) if i in case.wrt)
    cotangents = tuple(rng.standard_normal(o.shape) for o in case.reference(case.args))

    def objective(cots, *xs):
        return sum(tcomp.sum(o * c) for o, c in zip(_outputs(f(*xs)), cots))

    forward = tcomp.jit(objective, backend=backend)
    gradient = tcomp.jit(
        lambda cots, *xs: tcomp.grad(lambda *ys: objective(cots, *ys), argnums=wrt)(*xs),
        backend=backend,
    )
    grads = gradient(cotangents, *values)
    assert len(grads) == len(wrt)

    def value_at(k: int, x: np.ndarray) -> float:
        trial = list(values)
        trial[k] = x
        return float(np.asarray(forward(cotangents, *trial)))

    for k, g in zip(wrt, grads):
        x, g = values[k], np.asarray(g)
        assert g.shape == x.shape and g.dtype == np.float64, (
            f"{case}: gradient {k} is {g.dtype}{g.shape}"
        )
        assert_gradient_matches_sampled_differences(
            lambda trial: value_at(k, trial),
            x,
            g,
            rng,
            MAX_COORDINATES,
            err_msg=f"{case}: gradient of argument {present[k]} disagrees with finite differences",
            atol=1e-6,
            eps=FD_EPS,
        )


def function_names(cases: dict[str, Any]) -> set[str]:
    """The nn functions a CASES table covers (labels are ``name`` or ``name:variant``)."""
    return {label.split(":")[0] for label in cases}


def covered_by_test_modules() -> set[str]:
    """The nn functions that the tests/test_nn_*.py modules cover: the names of their
    ``CASES`` tables and their ``OTHERWISE_TESTED`` sets."""
    import importlib
    from pathlib import Path

    covered: set[str] = set()
    for path in sorted(Path(__file__).parent.glob("test_nn_*.py")):
        module = importlib.import_module(path.stem)
        covered |= function_names(getattr(module, "CASES", {}))
        covered |= set(getattr(module, "OTHERWISE_TESTED", ()))
    return covered


def case_tests(cases: dict[str, Any]):
    """The three tests every ``tests/test_nn_*.py`` runs over its ``CASES``: the forward
    pass inside ``jit`` on each backend and eagerly, and the float64 gradient against
    finite differences on each backend. A module binds them at its top level::

        test_forward_jit, test_forward_eager, test_gradient = case_tests(CASES)
    """
    labels = sorted(cases)

    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    @pytest.mark.parametrize("label", labels)
    @fixture_ok
    @given(data=st.data())
    def test_forward_jit(backend, label, dtype, data):
        run_forward(data.draw(cases[label], label="case"), dtype, backend)

    @pytest.mark.parametrize("dtype", ["float32", "float64"])
    @pytest.mark.parametrize("label", labels)
    @given(data=st.data())
    def test_forward_eager(label, dtype, data):
        run_forward(data.draw(cases[label], label="case"), dtype, None)

    @pytest.mark.parametrize("label", labels)
    @fixture_ok
    @given(data=st.data())
    def test_gradient(backend, label, data):
        run_gradient(data.draw(cases[label], label="case"), backend,
                     data.draw(seeds(), label="rng"))

    return test_forward_jit, test_forward_eager, test_gradient


def error_test(errors: dict[str, tuple[type, str, Callable[[], Any]]], test_file: str):
    """The test of a ``tests/test_nn_*.py``'s ``ERRORS`` (label -> expected error class,
    message pattern, call): each call raises that ``TcompError`` eagerly and inside
    ``jit``, naming ``test_file``'s line (the user's line). Bind it at the top level::

        test_errors = error_test(ERRORS, "test_nn_losses.py")
    """

    @pytest.mark.parametrize("mode", ["eager", "jit"])
    @pytest.mark.parametrize("label", sorted(errors))
    def test_errors(label, mode):
        expected, words, call = errors[label]
        run = call if mode == "eager" else (lambda: tcomp.jit(call, backend="reference")())
        with pytest.raises(expected, match=words) as info:
            run()
        assert isinstance(info.value, tcomp.TcompError)
        assert f"{test_file}:" in str(info.value), f"{label}: no user line in {info.value}"

    return test_errors
