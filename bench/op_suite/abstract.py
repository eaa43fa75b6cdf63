"""Shapes and dtypes of recorded calls, found by tracing each call alone.

When a method is called, its :class:`~bench.op_suite.graph.Call` is traced once on
zero-filled arrays shaped like its direct inputs (``tcomp.jit(...).lower``): tcomp's
own shape and dtype rules give the result's type, and a bad argument raises tcomp's
error where the user called the method, as tinygrad's eager checks do. Nothing is
computed on the inputs' values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tcomp
from bench.op_suite import graph
from bench.op_suite.dtypes import from_tcomp

Aval = tuple[tuple[int, ...], str]


def zeros_like_aval(aval: Aval) -> np.ndarray:
    return np.zeros(aval[0], dtype=from_tcomp(aval[1]).np)


def result_avals(call: graph.Call) -> tuple[bool, list[Aval]]:
    """``(single, avals)``: whether ``call`` returns one array (else a tuple or list of
    them) and the shape and tcomp dtype of each."""
    inputs = []
    seen: set[int] = set()
    for t in call.inputs():
        if id(t) not in seen:
            seen.add(id(t))
            inputs.append(t)
    structure: dict[str, Any] = {}

    def alone(*values: Any) -> Any:
        ev = graph.Evaluator({}, {id(t): v for t, v in zip(inputs, values)})
        result = call.run(ev)
        structure["single"] = not isinstance(result, (tuple, list))
        return result

    lowered = tcomp.jit(alone, backend=graph.BACKEND["name"]).lower(
        *[zeros_like_aval(t._aval) for t in inputs]
    )
    outputs = lowered.function("traced").outputs
    return structure["single"], [(tuple(o.type.shape), o.type.dtype) for o in outputs]
