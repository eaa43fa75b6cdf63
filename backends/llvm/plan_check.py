"""Checks a :class:`~tcomp.backends.llvm.backend.RunPlan` read back from the graph-level cache.

A run plan says what a call into compiled code allocates (the outputs, the
temp arena) and returns; a wrong one makes the machine code write outside
its buffers or returns the wrong arrays. The disk cache only hands back
entries this user's tcomp wrote (:mod:`tcomp.backends.cache`), and a plan
is checked again before it is used:

- :func:`plan_from_json` reads only what :meth:`RunPlan.to_json` writes:
  every field of its type, shapes of non-negative ints (within int64), known
  dtypes and slot kinds, one arena at most (1-D, ``uint8``), each result a
  parameter or output slot in range (frozen exactly when it is an output)
  or a constant in range, each constant's bytes exactly its shape times its
  itemsize; anything else raises ``ValueError``;
- :func:`plan_problem` compares it with the graph-IR function it is to run:
  the parameters and results must have the function's shapes and dtypes
  (which fixes every output buffer's size).

What neither can check without parsing the kernel program (several
milliseconds, more than the rest of a warm start) is the arena's size and
the unplanned temps: they are the compiled code's own business and come
from the same authenticated entry as the code's digest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcomp.ir.graph import Function
from tcomp.ir.types import DTYPE_NAMES, numpy_dtype, shape_problem

ALLOCATION_KINDS = ("output", "arena", "temp")


def plan_from_json(data: Any):
    """The :class:`RunPlan` of :meth:`RunPlan.to_json`'s output ``data``; ``ValueError``
    when ``data`` is not exactly such a plan (see the module docstring)."""
    from tcomp.backends.llvm.backend import RunPlan

    if not isinstance(data, dict):
        raise ValueError("a run plan is a JSON object")
    name = data.get("name")
    if not isinstance(name, str):
        raise ValueError("the plan's name is not a string")
    params = tuple(_param(item) for item in _list(data, "params"))
    allocations = tuple(_allocation(item) for item in _list(data, "allocations"))
    if sum(kind == "arena" for _, _, kind in allocations) > 1:
        raise ValueError("the plan has more than one arena")
    constants = tuple(_constant(item) for item in _list(data, "constants"))
    results = tuple(
        _result(item, len(params), allocations, len(constants))
        for item in _list(data, "results")
    )
    work = data.get("work", 0)
    if not _is_count(work):
        raise ValueError("the plan's work is not a non-negative int")
    return RunPlan(name, params, allocations, results, constants, work)


def plan_problem(plan: Any, function: Function) -> str | None:
    """Why ``plan`` does not run ``function`` (None when its parameters and results have
    the function's shapes and dtypes)."""
    expected = [(tuple(t.shape), t.dtype) for t in function.param_types]
    if list(plan.params) != expected:
        return f"parameters {list(plan.params)} are not the function's {expected}"
    outputs = [(tuple(t.shape), t.dtype) for t in function.output_types]
    results = [result_type(plan, result) for result in plan.results]
    if results != outputs:
        return f"results {results} are not the function's {outputs}"
    return None


def result_type(plan: Any, result: tuple[str, int, bool]) -> tuple[tuple[int, ...], str]:
    """(shape, dtype) of one of ``plan``'s results."""
    kind, index, _ = result
    if kind == "constant":
        shape, dtype, _ = plan.constants[index]
        return shape, dtype
    if index < len(plan.params):
        return plan.params[index]
    shape, dtype, _ = plan.allocations[index - len(plan.params)]
    return shape, dtype


def _list(data: dict, field: str) -> list:
    value = data.get(field)
    if not isinstance(value, list):
        raise ValueError(f"the plan's {field} is not a list")
    return value


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or shape_problem(value) is not None:
        raise ValueError(f"not a shape: {value!r}")
    return tuple(value)


def _dtype(value: Any) -> str:
    if value not in DTYPE_NAMES:
        raise ValueError(f"not a dtype: {value!r}")
    return value


def _items(value: Any, count: int) -> list:
    if not isinstance(value, list) or len(value) != count:
        raise ValueError(f"not a list of {count} items: {value!r}")
    return value


def _param(item: Any) -> tuple[tuple[int, ...], str]:
    shape, dtype = _items(item, 2)
    return _shape(shape), _dtype(dtype)


def _allocation(item: Any) -> tuple[tuple[int, ...], str, str]:
    shape, dtype, kind = _items(item, 3)
    if kind not in ALLOCATION_KINDS:
        raise ValueError(f"not an allocation kind: {kind!r}")
    if kind == "arena":
        if dtype != "uint8" or not isinstance(shape, list) or len(shape) != 1:
            raise ValueError("the arena is not one dimension of uint8")
        return _shape(shape), dtype, kind
    return _shape(shape), _dtype(dtype), kind


def _constant(item: Any) -> tuple[tuple[int, ...], str, bytes]:
    shape, dtype, text = _items(item, 3)
    shape, dtype = _shape(shape), _dtype(dtype)
    if not isinstance(text, str):
        raise ValueError("a constant's data is not hex text")
    data = bytes.fromhex(text)
    if len(data) != int(np.prod(shape, dtype=object)) * numpy_dtype(dtype).itemsize:
        raise ValueError(f"a constant of {shape} {dtype} holds {len(data)} bytes")
    return shape, dtype, data


def _result(
    item: Any, params: int, allocations: tuple[tuple[tuple[int, ...], str, str], ...], constants: int
) -> tuple[str, int, bool]:
    kind, index, freeze = _items(item, 3)
    if not _is_count(index) or not isinstance(freeze, bool):
        raise ValueError(f"not a result: {item!r}")
    if kind == "constant":
        if index >= constants or freeze:
            raise ValueError(f"constant result {index} out of range")
        return kind, index, freeze
    if kind != "slot":
        raise ValueError(f"not a result kind: {kind!r}")
    if index < params:
        if freeze:
            raise ValueError("a parameter returned as a result is never frozen")
        return kind, index, freeze
    if index - params >= len(allocations) or allocations[index - params][2] != "output":
        raise ValueError(f"result slot {index} is not a parameter or an output")
    if not freeze:
        raise ValueError("an output result is always frozen")
    return kind, index, freeze
