"""The graph IR: SSA functions over statically typed tensor values.

A :class:`Function` has parameters, a list of :class:`Node` in definition
order, and outputs. Every node applies one primitive (see
``tcomp.ir.primitives``) to earlier values and defines exactly one new value.
Attributes are plain Python data (ints, floats, bools, strings, None, tuples
of those) except the ``value`` of a ``constant`` node, a numpy array.

Values are compared by identity inside a function; two functions are equal
(:meth:`Function.structurally_equal`, ``==``) when they have the same
parameters, nodes, attributes, locations and outputs up to renaming of
values. That is the equality the text round trip guarantees.

Example, as printed by ``tcomp.ir.text.print_function``::

    func @f(%0: f32[4,3], %1: f32[3]) -> (f32[4,3]) {
      %2: f32[1,3] = reshape(%1) {shape=(1, 3)}
      %3: f32[4,3] = broadcast_to(%2) {shape=(4, 3)}
      %4: f32[4,3] = add(%0, %3)
      return %4
    }
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from tcomp.ir.errors import TcompVerifyError
from tcomp.ir.types import TensorType


@dataclass(frozen=True)
class Location:
    """Where in the user's source an IR node came from."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Value:
    """An SSA value: the output of one node or a function parameter.

    ``id`` is unique within a function and is what the text form prints
    (``%7``). Values compare by identity.
    """

    __slots__ = ("type", "id")

    def __init__(self, type: TensorType, id: int) -> None:
        self.type = type
        self.id = id

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    def __repr__(self) -> str:
        return f"%{self.id}: {self.type}"


AttrValue = Any  # int | float | bool | str | None | tuple[AttrValue, ...] | np.ndarray


@dataclass(eq=False)
class Node:
    """One primitive application: ``output = op(*inputs) {attrs}``.

    Control-flow ops (``scan``, ``cond``: :mod:`tcomp.ir.primitives.control_flow`)
    also hold ``regions``, closed sub-functions (everything they read is a
    parameter, bound to the node's inputs by the op's rule), and may define more
    than one value: ``output`` is the first, ``extra_outputs`` the rest, and
    :attr:`outputs` all of them.
    """

    op: str
    inputs: tuple[Value, ...]
    attrs: dict[str, AttrValue]
    output: Value
    location: Location | None = None
    extra_outputs: tuple[Value, ...] = ()
    regions: tuple["Function", ...] = ()

    @property
    def outputs(self) -> tuple[Value, ...]:
        """Every value the node defines, ``output`` first."""
        return (self.output, *self.extra_outputs)

    def __repr__(self) -> str:
        return f"Node({self.op}, {list(self.inputs)}, {self.attrs}) -> {list(self.outputs)!r}"


def attr_key(value: AttrValue) -> Any:
    """A hashable, exactly comparing key for an attribute value.

    Arrays compare by dtype, shape and bytes, so that ``-0.0`` and ``0.0``
    or two NaN payloads are told apart exactly as the text form tells them.
    """
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, tuple):
        return tuple(attr_key(v) for v in value)
    if isinstance(value, float):
        return ("float", value.hex()) if value == value else ("float", "nan")
    return (type(value).__name__, value)


def attrs_key(attrs: Mapping[str, AttrValue]) -> tuple:
    """A hashable key for a whole attribute dictionary (order-insensitive)."""
    return tuple(sorted((name, attr_key(value)) for name, value in attrs.items()))


@dataclass(eq=False)
class Function:
    """An SSA function of the graph IR. Build one with :class:`tcomp.ir.builder.FunctionBuilder`."""

    name: str
    params: list[Value]
    nodes: list[Node]
    outputs: list[Value]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def param_types(self) -> list[TensorType]:
        return [p.type for p in self.params]

    @property
    def output_types(self) -> list[TensorType]:
        return [v.type for v in self.outputs]

    def producers(self) -> dict[Value, Node]:
        """Maps each node-defined value to its node."""
        return {value: node for node in self.nodes for value in node.outputs}

    def users(self) -> dict[Value, list[Node]]:
        """Maps each value to the nodes that read it (in order, with repeats)."""
        result: dict[Value, list[Node]] = {}
        for node in self.nodes:
            for value in node.inputs:
                result.setdefault(value, []).append(node)
        return result

    def all_values(self) -> Iterator[Value]:
        yield from self.params
        for node in self.nodes:
            yield from node.outputs

    def structurally_equal(self, other: "Function", compare_locations: bool = True) -> bool:
        """True when both functions are the same program up to renaming of values.

        ``metadata`` is descriptive (where the function came from, which passes
        ran) and does not change what the program computes, so it is not
        compared; compare ``print_function`` texts to include it.
        """
        if not isinstance(other, Function) or self.name != other.name:
            return False
        if self.param_types != other.param_types or len(self.nodes) != len(other.nodes):
            return False
        mapping: dict[Value, Value] = dict(zip(self.params, other.params))
        for mine, theirs in zip(self.nodes, other.nodes):
            if mine.op != theirs.op or len(mine.inputs) != len(theirs.inputs):
                return False
            if any(mapping.get(a) is not b for a, b in zip(mine.inputs, theirs.inputs)):
                return False
            if attrs_key(mine.attrs) != attrs_key(theirs.attrs):
                return False
            if [v.type for v in mine.outputs] != [v.type for v in theirs.outputs]:
                return False
            if compare_locations and mine.location != theirs.location:
                return False
            if len(mine.regions) != len(theirs.regions) or not all(
                a.structurally_equal(b, compare_locations)
                for a, b in zip(mine.regions, theirs.regions)
            ):
                return False
            mapping.update(zip(mine.outputs, theirs.outputs))
        if len(self.outputs) != len(other.outputs):
            return False
        return all(mapping.get(a) is b for a, b in zip(self.outputs, other.outputs))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Function) and self.structurally_equal(other)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        from tcomp.ir.text import print_function

        return print_function(self)


def replace_uses(nodes: Sequence[Node], outputs: list[Value], replacements: Mapping[Value, Value]) -> None:
    """Rewrites node inputs and function outputs through ``replacements`` (in place).

    Chains (a -> b, b -> c) are followed to their end; a cycle in the mapping
    (a -> b -> a) is a bug in the calling pass and raises ``TcompVerifyError``.
    """

    def resolve(value: Value) -> Value:
        seen: set[int] = set()
        while value in replacements:
            if id(value) in seen:
                raise TcompVerifyError(
                    f"replace_uses: the replacement mapping has a cycle through {value}"
                )
            seen.add(id(value))
            value = replacements[value]
        return value

    for node in nodes:
        node.inputs = tuple(resolve(v) for v in node.inputs)
    outputs[:] = [resolve(v) for v in outputs]
