"""``tcomp.jit(..., check_finite=True)``: the checked variant of a program, and its scan.

The checked variant is the optimised graph with more outputs: every float value
that the fusion plan gives a buffer (:func:`~tcomp.ir.kernel.lowering.fusion.plan_fusion`:
the values kernels write) becomes an output of its own, so nothing a kernel writes
shares arena memory or is lost when the call returns, and the kernels themselves
are the ones the unchecked program runs. The unchecked program is untouched: the
check is a separate :class:`~tcomp.frontend.program.CompiledProgram` (the option is
part of its :class:`~tcomp.backends.options.CompileOptions`) with its own graph, so
its own compile-cache entries.

After each call :func:`check_call` looks at those values in program order (node
order of the optimised graph, a topological order): the first that holds a NaN or
an infinity is the first kernel output to go wrong, and every buffer its kernel
read is either an argument or an earlier value, which was finite. Only then, on
the error path, :mod:`tcomp.frontend.finite_report` replays that kernel's graph
ops one by one with the numpy reference rules on the same inputs, to name the op
(and its ``file:line``, forward or backward pass) and to say which argument
already held a NaN, if one did. The user's function is not run again.

Example (``y = log(x - 2)`` fused with ``sum`` in one kernel)::

    func @f(%0: f32[3]) -> (f32[]) {            func @f(%0: f32[3]) -> (f32[], f32[3]) {
      %1 = constant 2; %2 = sub(%0, %1)     ->    ... the same nodes ...
      %3 = log(%2); %4 = reduce_sum(%3)           return %4, %3     // if %3 had a buffer
      return %4                                 }
    }

Here only ``%4`` is a root, so the check scans ``%4`` and the replay of its
kernel's ops names ``log``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from tcomp.ir.graph import Function, Value
from tcomp.ir.types import is_float


@dataclass(frozen=True)
class FiniteCheck:
    """What the checked program scans: ``values`` (float values kernels write, in node
    order) at output positions ``positions``; outputs from ``first_extra`` on are the
    check's own, stripped before the caller sees the results."""

    values: tuple[Value, ...]
    positions: tuple[int, ...]
    first_extra: int


def checked_function(function: Function) -> tuple[Function, FiniteCheck]:
    """``function`` (optimised graph IR) with every float root as an output, and the plan
    of the scan (see the module docstring). The nodes are shared, not copied."""
    from tcomp.ir.kernel.lowering.fusion import plan_fusion  # only checked programs need it

    producers = function.producers()
    position: dict[Value, int] = {}
    for index, value in enumerate(function.outputs):
        position.setdefault(value, index)
    extra: list[Value] = []
    checked: list[Value] = []
    for value in plan_fusion(function).roots:
        node = producers.get(value)
        if node is None or node.op == "constant" or not is_float(value.dtype):
            continue
        if value not in position:
            position[value] = len(function.outputs) + len(extra)
            extra.append(value)
        checked.append(value)
    checked_fn = dataclasses.replace(function, outputs=[*function.outputs, *extra])
    plan = FiniteCheck(
        tuple(checked), tuple(position[v] for v in checked), len(function.outputs)
    )
    return checked_fn, plan


def host_value(buffer: Any, backend: Any) -> np.ndarray:
    """A call's output as a host array (no copy when it already is one)."""
    if isinstance(buffer, np.ndarray):
        return buffer
    return np.asarray(backend.to_host(buffer))


def all_finite(array: np.ndarray) -> bool:
    """True when ``array`` holds no NaN and no infinity."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _all_finite(array)


def _all_finite(array: np.ndarray) -> bool:
    """:func:`all_finite` without its ``errstate`` (the caller's, once per call). float32
    and float64 take a fast path: ``x . x`` is finite when every element is (its
    overflow falls back to the exact test)."""
    if array.dtype in _DOT_DTYPES and array.flags.c_contiguous:
        flat = array.reshape(-1)
        if math.isfinite(np.dot(flat, flat)):
            return True
    elif array.dtype.itemsize < 4:  # float16, bfloat16: numpy's ufuncs through float32
        array = array.astype(np.float32)
    return bool(np.isfinite(array).all())


_DOT_DTYPES = frozenset({np.dtype(np.float32), np.dtype(np.float64)})


def check_call(
    program: Any, buffers: Sequence[Any], outputs: Sequence[Any]
) -> list[Any]:
    """The outputs of a checked call without the check's own; raises
    :class:`~tcomp.ir.errors.TcompFloatingPointError` when a kernel wrote a NaN or an
    infinity (``buffers``: the call's inputs, for the replay)."""
    check: FiniteCheck = program.finite_check
    backend = program.backend
    hosts: dict[Value, np.ndarray] = {}
    found = None
    with np.errstate(over="ignore", invalid="ignore"):
        for value, index in zip(check.values, check.positions):
            host = outputs[index]
            if not isinstance(host, np.ndarray):
                host = host_value(host, backend)
            hosts[value] = host
            if not _all_finite(host):
                found = value
                break
    if found is not None:
        from tcomp.frontend.finite_report import raise_non_finite

        params = [host_value(buffer, backend) for buffer in buffers]
        raise_non_finite(program, found, hosts, params)
    return list(outputs[: check.first_extra])
