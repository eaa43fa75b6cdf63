"""The graph-IR verifier: checks the invariants every pass must keep.

:func:`verify` raises :class:`TcompVerifyError` when

- a parameter appears twice or two values share an id;
- a node reads a value that is defined later, or nowhere in the function;
- a node defines a value that is already defined;
- a value's type is not a valid :class:`TensorType` (dimensions are ints,
  not bools or floats, and the element count fits int64);
- a node's op is not a registered primitive;
- an attribute is not plain data (see ``tcomp.ir.text``), or not of the
  kind the primitive declares (``Primitive.attrs``, see
  ``tcomp.ir.primitives.attrs``: ``slice {start=(0.5,)}`` is rejected, a
  float is not an int, ``true`` is not an axis, axes lie within the rank);
- a node's input types break the primitive's rule, or its output type is
  not the one the rule gives;
- a function output is not defined;
- a control-flow node's region does not verify on its own (regions are
  closed functions: they read only their parameters), or its rule
  (``Primitive.infer_regions``: a scan's body takes (carry, x slices,
  consts) and returns carries of the same types) rejects it, or the rule's
  output types are not the node's.

The message names the op, the pass that broke the IR (when given) and
prints the IR around the faulty line, marked ``>>``::

    verify failed after pass 'cse': add (node 2): input 1 (%9) is used but not defined in the function
         func @f(%0: f32[3]) -> (f32[3]) {
           %1: f32[3] = neg(%0)
           %2: f32[3] = exp(%1)
      >>   %3: f32[3] = add(%2, %9)
           %4: f32[3] = tanh(%3)
           return %4
         }
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import numpy as np

from tcomp.ir.errors import TcompError, TcompVerifyError
from tcomp.ir.graph import Function, Node, Value
from tcomp.ir.primitives import Primitive, get_primitive
from tcomp.ir.text import format_attr, format_header, format_node, format_return
from tcomp.ir.types import TensorType, shape_problem

CONTEXT_LINES = 3  # lines of IR shown before and after the faulty one


class _Fault(Exception):
    """Internal: one broken invariant, at ``line`` of the printed function."""

    def __init__(self, line: int, what: str, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.what = what
        self.message = message


def verify(fn: Function, pass_name: str | None = None) -> None:
    """Raises :class:`TcompVerifyError` when ``fn`` breaks an IR invariant (see the module docstring).

    ``pass_name`` names the pass that produced ``fn``, for the message.
    """
    try:
        _check(fn)
    except _Fault as fault:
        after = f" after pass {pass_name!r}" if pass_name else ""
        context = _context(fn, fault.line)
        raise TcompVerifyError(
            f"verify failed{after}: {fault.what}: {fault.message}\n{context}"
        ) from None


def _check(fn: Function) -> None:
    defined: set[Value] = set()
    ids: dict[int, Value] = {}

    def define(value: Any, line: int, what: str) -> None:
        if not isinstance(value, Value):
            raise _Fault(line, what, f"defines {value!r}, which is not a Value")
        problem = _type_problem(value.type)
        if problem:
            raise _Fault(line, what, f"value %{value.id} has an invalid type: {problem}")
        if value in defined:
            raise _Fault(line, what, f"value %{value.id} is defined twice")
        if value.id in ids:
            raise _Fault(line, what, f"two different values share the id %{value.id}")
        defined.add(value)
        ids[value.id] = value

    for index, param in enumerate(fn.params):
        define(param, 0, f"parameter {index}")

    later = {node.output for node in fn.nodes}
    for index, node in enumerate(fn.nodes):
        line = index + 1
        what = f"{node.op} (node {index})"
        try:
            primitive = get_primitive(node.op)
        except TcompError:
            raise _Fault(line, what, f"unknown op {node.op!r}") from None
        for position, value in enumerate(node.inputs):
            if value in defined:
                continue
            name = f"%{value.id}" if isinstance(value, Value) else repr(value)
            where = "before its definition" if value in later else "but not defined in the function"
            raise _Fault(line, what, f"input {position} ({name}) is used {where}")
        for key, attr in node.attrs.items():
            problem = _attr_problem(attr)
            if problem:
                raise _Fault(line, what, f"attribute {key!r}: {problem}")
        if node.regions or node.extra_outputs:
            _check_regions(primitive, node, line, what)
            for value in node.outputs:
                define(value, line, what)
            continue
        expected = _apply_rule(primitive, node, line, what)
        define(node.output, line, what)
        if node.output.type != expected:
            raise _Fault(
                line, what, f"output is declared {node.output.type} but the rule gives {expected}"
            )

    for index, value in enumerate(fn.outputs):
        if value not in defined:
            name = f"%{value.id}" if isinstance(value, Value) else repr(value)
            raise _Fault(len(fn.nodes) + 1, f"output {index}", f"{name} is not defined")


def _check_regions(primitive: Primitive, node: Node, line: int, what: str) -> None:
    """A control-flow node: each region verifies on its own (regions are closed
    functions), then the rule gives exactly the node's output types."""
    for number, region in enumerate(node.regions):
        if not isinstance(region, Function):
            raise _Fault(line, what, f"region {number} is {region!r}, not a Function")
        try:
            _check(region)
        except _Fault as fault:
            raise _Fault(line, what, f"region {number} (@{region.name}): {fault.what}: "
                         f"{fault.message}") from None
    try:
        expected = primitive.check_regions([v.type for v in node.inputs], node.attrs,
                                           node.regions)
    except TcompError as error:
        raise _Fault(line, what, str(error)) from None
    except Exception as error:  # the last line of defence: a rule that crashed
        message = f"internal error: the rule of {node.op} raised {type(error).__name__}: {error}"
        raise _Fault(line, what, message) from None
    declared = [v.type for v in node.outputs]
    if declared != expected:
        shown = ", ".join(map(str, declared))
        raise _Fault(line, what, f"outputs are declared ({shown}) but the rule gives "
                     f"({', '.join(map(str, expected))})")


def _apply_rule(primitive: Primitive, node: Node, line: int, what: str) -> TensorType:
    """The output type the primitive's rule gives for ``node`` (attribute kinds checked first).

    A rule that fails with anything but a tcomp error is a bug in the rule; it is
    still reported as a fault at this node (as an internal error), never let through.
    """
    try:
        return primitive.check_call([v.type for v in node.inputs], node.attrs)
    except TcompError as error:
        raise _Fault(line, what, str(error)) from None
    except Exception as error:  # the last line of defence: a rule that crashed
        message = f"internal error: the rule of {node.op} raised {type(error).__name__}: {error}"
        raise _Fault(line, what, message) from None


def _type_problem(value_type: Any) -> str | None:
    """Why ``value_type`` is not a valid tensor type, or None when it is."""
    if not isinstance(value_type, TensorType):
        return f"{value_type!r} is not a TensorType"
    return shape_problem(value_type.shape)


def _attr_problem(value: Any) -> str | None:
    """Why ``value`` is not a plain attribute value, or None when it is."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return None
    if isinstance(value, np.ndarray):
        try:
            format_attr(value)
        except (TypeError, TcompError) as error:
            return str(error)
        return None
    if isinstance(value, tuple):
        for item in value:
            problem = _attr_problem(item)
            if problem:
                return problem
        return None
    return f"{value!r} of type {type(value).__name__} is not plain data (int, float, bool, str, None, tuple, array)"


def _safe(render: Callable[[], str], fallback: Callable[[], str]) -> str:
    try:
        return render()
    except Exception:  # broken IR must still print
        return fallback()


def _node_fallback(node: Node) -> str:
    return f"  {node!r}"


def _context(fn: Function, faulty: int) -> str:
    """The printed IR around line ``faulty`` (0 = header), that line marked ``>>``."""
    lines = [_safe(lambda: format_header(fn), lambda: f"func @{fn.name}(...) {{")]
    for node in fn.nodes:
        lines.append(_safe(partial(format_node, node), partial(_node_fallback, node)))
    lines.append(_safe(lambda: format_return(fn), lambda: f"  return {fn.outputs!r}"))
    lines.append("}")
    first = max(0, faulty - CONTEXT_LINES)
    last = min(len(lines), faulty + CONTEXT_LINES + 1)
    shown = [("  >> " if i == faulty else "     ") + lines[i] for i in range(first, last)]
    if first > 0:
        shown.insert(0, "     ...")
    if last < len(lines):
        shown.append("     ...")
    return "\n".join(shown)
