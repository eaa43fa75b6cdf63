"""Random graphs compiled on each compiled backend agree with the reference executor.

The graphs come from ``ir_strategies`` (elementwise ops, broadcasting,
reductions over random axes, transposes, slices, reshapes...). On a failure
hypothesis shrinks the graph and the message prints it as IR, with the
kernels the backend made of it, so the smallest failing program is readable.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import backends_under_test
from hypothesis import given
from ir_strategies import functions_with_inputs

from tcomp.backends.reference.executor import evaluate
from tcomp.backends.registry import get_backend
from tcomp.ir.passes import run_pipeline
from tcomp.ir.text import print_function

COMPILED = [name for name in backends_under_test() if name != "reference"]
TOLERANCE = {"float16": 2e-2, "float32": 2e-4, "float64": 1e-9}


def _describe(fn, executable) -> str:
    kernels = ""
    program = getattr(executable, "program", None)
    if program is not None:
        from tcomp.ir.kernel.printer import print_program

        kernels = "\nkernels:\n" + print_program(program)
    return "graph:\n" + print_function(fn, locations=False) + kernels


def _compare(backend_name: str, fn, inputs) -> None:
    backend = get_backend(backend_name)
    optimized = run_pipeline(fn, verify_each=True)
    executable = backend.compile(optimized)
    got = [backend.to_host(b) for b in executable([backend.from_host(x) for x in inputs])]
    want = evaluate(fn, inputs)
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want)):
        where = f"output {index} on {backend_name}\n{_describe(optimized, executable)}"
        assert g.shape == w.shape and g.dtype == w.dtype, f"{g.dtype}{g.shape} != {w.dtype}{w.shape}: {where}"
        tolerance = TOLERANCE.get(str(w.dtype), 0.0)
        # scale by the size of the values: reassociated sums differ by rounding
        finite = np.abs(w[np.isfinite(w)]) if w.dtype.kind == "f" else np.abs(w)
        atol = tolerance * max(1.0, float(np.max(finite, initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=tolerance, atol=atol, equal_nan=True, err_msg=where)


@pytest.mark.skipif(not COMPILED, reason="no compiled backend is available here")
@pytest.mark.parametrize("backend_name", COMPILED)
@given(case=functions_with_inputs(max_steps=8))
def test_random_graphs_match_the_reference(backend_name, case):
    fn, inputs = case
    _compare(backend_name, fn, inputs)


@pytest.mark.skipif(not COMPILED, reason="no compiled backend is available here")
@pytest.mark.parametrize("backend_name", COMPILED)
@given(case=functions_with_inputs(max_steps=8, dtypes=("float64",)))
def test_random_float64_graphs_match_tightly(backend_name, case):
    fn, inputs = case
    _compare(backend_name, fn, inputs)
