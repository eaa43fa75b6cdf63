"""Structured control flow: ``scan`` (and ``switch``, ``while``), ops that hold regions.

A control-flow node holds *regions*: closed graph-IR functions (everything a
region reads is one of its parameters, which the node binds to its inputs) and
defines one value per result (``Node.outputs``).

``scan`` runs its one region, the body, ``length`` times::

    %c, %ys = scan(%init..., %xs..., %consts...) {length=T, num_carry=C, num_xs=X, reverse=false}
    body(carry..., x..., consts...) -> (new carry..., y...)

Inputs: ``C`` initial carries, ``X`` stacked sequences (leading axis ``T``), then
the values the body closes over (``consts``, the same at every step). Step ``t``
(``T-1-t`` counting down with ``reverse=true``) calls the body on the carries, the
``t``-th slice of each sequence and the consts; its new carries feed the next step
and its ``y``s are stacked (at index ``t``) into the results. Results: the final
carries, then the stacked ``y``s ``[T, *y.shape]``. This is ``jax.lax.scan``.

The rule checks that the body takes exactly those types and returns carries of the
carries' types: a body that changes a carry's shape or dtype is a
:class:`TcompTypeError` naming both types. The reference is a Python loop over
:func:`~tcomp.backends.reference.executor.evaluate` of the body (passed in as
``run``); the gradient is :mod:`tcomp.ir.primitives.control_flow_vjp`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.graph import Function
from tcomp.ir.primitives.attrs import AttrKind
from tcomp.ir.primitives.base import Primitive, register
from tcomp.ir.types import TensorType

SCAN = "scan"
# Every op that holds regions; the per-primitive test tables (references, rules,
# lowerings) leave them to tests/test_control_flow_*.py.
CONTROL_FLOW_OPS = frozenset({"scan", "switch", "while"})
Run = Callable[[Any, Sequence[np.ndarray]], list[np.ndarray]]


def _no_plain_call(name: str):
    def infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        raise TcompTypeError(f"{name}: a control-flow op needs its region(s)")

    return infer


def _no_plain_reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    raise TcompTypeError("internal error: a control-flow op is evaluated with its regions")


def _shown(types: Sequence[TensorType]) -> str:
    return "(" + ", ".join(str(t) for t in types) + ")"


def scan_parts(num_inputs: int, attrs: Mapping[str, Any]) -> tuple[int, int, int]:
    """(carries, sequences, consts) of a scan node with ``num_inputs`` inputs."""
    carries, xs = attrs["num_carry"], attrs["num_xs"]
    return carries, xs, num_inputs - carries - xs


def _infer_scan(
    types: Sequence[TensorType], attrs: Mapping[str, Any], regions: Sequence[Any]
) -> list[TensorType]:
    if len(regions) != 1:
        raise TcompTypeError(f"scan: takes one region (the body), got {len(regions)}")
    if not isinstance(attrs["reverse"], bool):
        raise TcompTypeError(f"scan: reverse must be true or false, got {attrs['reverse']!r}")
    (body,) = regions
    length = attrs["length"]
    carries, xs, consts = scan_parts(len(types), attrs)
    if consts < 0:
        raise TcompTypeError(
            f"scan: num_carry={carries} and num_xs={xs} need {carries + xs} inputs, got {len(types)}"
        )
    for t in types[carries : carries + xs]:
        if t.ndim == 0 or t.shape[0] != length:
            raise TcompShapeError(
                f"scan: each sequence needs a leading axis of length {length}, got {t}"
            )
    slices = [TensorType(t.shape[1:], t.dtype) for t in types[carries : carries + xs]]
    expected = list(types[:carries]) + slices + list(types[carries + xs :])
    if list(body.param_types) != expected:
        raise TcompTypeError(
            f"scan: the body takes {_shown(body.param_types)}, but (carry, x slices, consts) "
            f"are {_shown(expected)}"
        )
    out = body.output_types
    if len(out) < carries:
        raise TcompTypeError(
            f"scan: the body returns {len(out)} values, fewer than its {carries} carries"
        )
    for index, (before, after) in enumerate(zip(types[:carries], out[:carries])):
        if before != after:
            raise TcompTypeError(
                f"scan: the body changes carry {index} from {before} to {after}; a carry "
                "keeps its shape and dtype from step to step"
            )
    stacked = [TensorType((length, *t.shape), t.dtype) for t in out[carries:]]
    return list(types[:carries]) + stacked


def _reference_scan(
    inputs: Sequence[np.ndarray], attrs: Mapping[str, Any], regions: Sequence[Any], run: Run
) -> list[np.ndarray]:
    (body,) = regions
    length = attrs["length"]
    carries, xs, _ = scan_parts(len(inputs), attrs)
    carry = list(inputs[:carries])
    sequences = inputs[carries : carries + xs]
    consts = list(inputs[carries + xs :])
    out_types = body.output_types[carries:]
    ys = [np.empty((length, *t.shape), dtype=_numpy(t)) for t in out_types]
    steps = range(length - 1, -1, -1) if attrs["reverse"] else range(length)
    for t in steps:
        results = run(body, carry + [s[t] for s in sequences] + consts)
        carry = list(results[:carries])
        for stacked, y in zip(ys, results[carries:]):
            stacked[t] = y
    return carry + ys


def _numpy(t: TensorType) -> np.dtype:
    from tcomp.ir.types import numpy_dtype

    return numpy_dtype(t.dtype)


def _scan_vjp(builder: Any, node: Any, cotangents: Sequence[Any], saved: Any) -> Sequence[Any]:
    from tcomp.ir.primitives.control_flow_vjp import scan_vjp

    return scan_vjp(builder, node, cotangents, saved)


def _scan_forward(builder: Any, node: Any, inputs: Sequence[Any]) -> tuple[list[Any], Any]:
    from tcomp.ir.primitives.control_flow_vjp import scan_forward

    return scan_forward(builder, node, inputs)


def _scan_without_unused_ys(node: Any, live: set[Any]) -> Any:
    """The scan ``node`` without its stacked results that are not in ``live``; its body
    returns only the rest (dce then drops what only they needed)."""
    (body,) = node.regions
    carries = node.attrs["num_carry"]
    keep = [i for i, value in enumerate(node.outputs) if i < carries or value in live]
    if len(keep) == len(node.outputs):
        return node
    trimmed = Function(body.name, list(body.params), list(body.nodes),
                       [body.outputs[i] for i in keep], dict(body.metadata))
    outputs = [node.outputs[i] for i in keep]
    return dataclasses.replace(node, attrs=dict(node.attrs), output=outputs[0],
                               extra_outputs=tuple(outputs[1:]), regions=(trimmed,))


register(Primitive(
    SCAN, _no_plain_call(SCAN), _no_plain_reference, None,
    attrs={"length": AttrKind.INDEX, "num_carry": AttrKind.INDEX, "num_xs": AttrKind.INDEX,
           "reverse": AttrKind.SCALAR},
    infer_regions=_infer_scan, reference_regions=_reference_scan, vjp_regions=_scan_vjp,
    vjp_forward=_scan_forward, without_outputs=_scan_without_unused_ys,
))


# ---------------------------------------------------------------------------
# switch (and cond): see control_flow_switch.py for its gradient and lowering

SWITCH = "switch"


def _infer_switch(
    types: Sequence[TensorType], attrs: Mapping[str, Any], regions: Sequence[Function]
) -> list[TensorType]:
    if not types or types[0] != TensorType((), "int32"):
        raise TcompTypeError(f"switch: the index must be an i32[] scalar, got "
                             f"{types[0] if types else 'nothing'}")
    if not regions:
        raise TcompTypeError("switch: needs at least one branch")
    operands = list(types[1:])
    first = regions[0].output_types
    for number, branch in enumerate(regions):
        if list(branch.param_types) != operands:
            raise TcompTypeError(f"switch: branch {number} takes {_shown(branch.param_types)}, "
                                 f"but the operands are {_shown(operands)}")
        if branch.output_types != first:
            raise TcompTypeError(
                f"switch: branch {number} returns {_shown(branch.output_types)} but branch 0 "
                f"returns {_shown(first)}; every branch must return the same types")
    if not first:
        raise TcompTypeError("switch: the branches return nothing")
    return list(first)


def _reference_switch(
    inputs: Sequence[np.ndarray], attrs: Mapping[str, Any], regions: Sequence[Function], run: Any
) -> list[np.ndarray]:
    index = int(np.clip(int(inputs[0]), 0, len(regions) - 1))
    return run(regions[index], list(inputs[1:]))


def _switch_vjp(builder: Any, node: Any, cotangents: Sequence[Any], saved: Any) -> Sequence[Any]:
    from tcomp.ir.primitives.control_flow_switch import switch_vjp

    return switch_vjp(builder, node, cotangents, saved)


register(Primitive(
    SWITCH, _no_plain_call(SWITCH), _no_plain_reference, None,
    infer_regions=_infer_switch, reference_regions=_reference_switch, vjp_regions=_switch_vjp,
))


# ---------------------------------------------------------------------------
# while: forward only (its trip count is known only at run time)

WHILE = "while"


def _infer_while(
    types: Sequence[TensorType], attrs: Mapping[str, Any], regions: Sequence[Function]
) -> list[TensorType]:
    if len(regions) != 2:
        raise TcompTypeError(f"while: takes two regions (cond, body), got {len(regions)}")
    cond, body = regions
    carries, cond_consts = attrs["num_carry"], attrs["num_cond_consts"]
    carry = list(types[:carries])
    if carries + cond_consts > len(types):
        raise TcompTypeError(f"while: num_carry={carries} and num_cond_consts={cond_consts} "
                             f"need more than {len(types)} inputs")
    if list(cond.param_types) != carry + list(types[carries:carries + cond_consts]):
        raise TcompTypeError(f"while: cond takes {_shown(cond.param_types)}, not the carry "
                             f"{_shown(carry)} and its consts")
    if cond.output_types != [TensorType((), "bool")]:
        raise TcompTypeError(f"while: cond must return one bool scalar, got "
                             f"{_shown(cond.output_types)}")
    if list(body.param_types) != carry + list(types[carries + cond_consts:]):
        raise TcompTypeError(f"while: body takes {_shown(body.param_types)}, not the carry "
                             f"{_shown(carry)} and its consts")
    for index, (before, after) in enumerate(zip(carry, body.output_types)):
        if before != after:
            raise TcompTypeError(
                f"while: the body changes carry {index} from {before} to {after}; a carry "
                "keeps its shape and dtype from step to step")
    if len(body.output_types) != carries:
        raise TcompTypeError(f"while: the body returns {len(body.output_types)} values for "
                             f"{carries} carries")
    return carry


def _reference_while(
    inputs: Sequence[np.ndarray], attrs: Mapping[str, Any], regions: Sequence[Function], run: Run
) -> list[np.ndarray]:
    cond, body = regions
    carries, cond_consts = attrs["num_carry"], attrs["num_cond_consts"]
    carry = list(inputs[:carries])
    cond_inputs = list(inputs[carries:carries + cond_consts])
    body_inputs = list(inputs[carries + cond_consts:])
    while bool(run(cond, carry + cond_inputs)[0]):
        carry = list(run(body, carry + body_inputs))
    return carry


register(Primitive(
    WHILE, _no_plain_call(WHILE), _no_plain_reference, None,
    attrs={"num_carry": AttrKind.INDEX, "num_cond_consts": AttrKind.INDEX},
    infer_regions=_infer_while, reference_regions=_reference_while,
))
