"""Building graph-IR functions.

:class:`FunctionBuilder` appends type-checked nodes to a function under
construction. :class:`Emitter` is the small op-by-name helper that gradient
rules and passes write IR with::

    b = Emitter(builder, location)
    g = b.mul(ct, b.cos(x))                 # any primitive by name
    s = b.reduce_sum(g, axes=(0,))          # attributes as keywords
    one = b.full(1.0, x.type)               # scalar constant broadcast to a type
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tcomp.ir.bfloat16 import convert_array
from tcomp.ir.errors import TcompError, with_location
from tcomp.ir.graph import Function, Location, Node, Value, attr_key
from tcomp.ir.primitives import get_primitive
from tcomp.ir.types import TensorType, canonical_dtype


def normalize_attr(value: Any) -> Any:
    """Turns lists into tuples and numpy scalars into Python scalars, so attributes are plain data."""
    if isinstance(value, np.ndarray):
        frozen = np.array(value, copy=True)
        frozen.setflags(write=False)
        return frozen
    if isinstance(value, (list, tuple)):
        return tuple(normalize_attr(v) for v in value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# The result of each primitive's check (attribute kinds, then its shape rule) by
# (op, input types, exact attribute keys): a rule is a pure function of those, and
# tracing a model, differentiating it and rewriting it in the graph passes checks
# the same few hundred signatures thousands of times. Failures are not kept (the
# next call raises again, with its own location); nodes with array attributes of
# more than a few elements (large constants) are checked every time, as their key
# would cost a copy of the data.
_CHECKED: dict[tuple, TensorType] = {}
_CHECKED_LIMIT = 65536
_KEYED_ARRAY_SIZE = 16


def _rule_key(op: str, input_types: tuple[TensorType, ...], attrs: Mapping[str, Any]) -> tuple | None:
    """The memo key of one check, or None when an attribute is a large array."""
    if any(isinstance(value, np.ndarray) and value.size > _KEYED_ARRAY_SIZE
           for value in attrs.values()):
        return None
    return (op, input_types, tuple((name, attr_key(value)) for name, value in attrs.items()))


class FunctionBuilder:
    """Appends nodes to a function under construction; every node is type-checked on the way in."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.params: list[Value] = []
        self.nodes: list[Node] = []
        self._ids = itertools.count()

    def new_value(self, type: TensorType) -> Value:
        return Value(type, next(self._ids))

    def add_param(self, type: TensorType) -> Value:
        value = self.new_value(type)
        self.params.append(value)
        return value

    def emit(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: Mapping[str, Any] | None = None,
        location: Location | None = None,
    ) -> Value:
        """Appends ``op(*inputs) {attrs}`` and returns its output value.

        Shape and dtype errors from the primitive's rule get the location
        appended, so the user sees which line of theirs was at fault.
        """
        attrs = {k: normalize_attr(v) for k, v in (attrs or {}).items()}
        input_types = tuple(v.type for v in inputs)
        key = _rule_key(op, input_types, attrs)
        out_type = _CHECKED.get(key) if key is not None else None
        if out_type is None:
            try:
                out_type = get_primitive(op).check_call(input_types, attrs)
            except TcompError as error:
                if location is not None and "\n  at " not in str(error):
                    raise type(error)(with_location(str(error), location)) from None
                raise
            if key is not None:
                if len(_CHECKED) >= _CHECKED_LIMIT:
                    _CHECKED.clear()
                _CHECKED[key] = out_type
        output = self.new_value(out_type)
        self.nodes.append(Node(op, tuple(inputs), attrs, output, location))
        return output

    def emit_regions(
        self,
        op: str,
        inputs: Sequence[Value],
        attrs: Mapping[str, Any],
        regions: Sequence[Function],
        location: Location | None = None,
    ) -> list[Value]:
        """Appends a control-flow node (``op`` holds ``regions``) and returns its outputs.

        Its rule (``Primitive.infer_regions``) checks the regions against the
        inputs; an error gets the location, as in :meth:`emit`.
        """
        attrs = {k: normalize_attr(v) for k, v in attrs.items()}
        try:
            out_types = get_primitive(op).check_regions(
                tuple(v.type for v in inputs), attrs, tuple(regions)
            )
        except TcompError as error:
            if location is not None and "\n  at " not in str(error):
                raise type(error)(with_location(str(error), location)) from None
            raise
        if not out_types:
            raise TcompError(f"internal error: {op} defines no values")
        outputs = [self.new_value(t) for t in out_types]
        self.nodes.append(
            Node(op, tuple(inputs), attrs, outputs[0], location, tuple(outputs[1:]), tuple(regions))
        )
        return outputs

    def finish(self, outputs: Sequence[Value], metadata: dict[str, Any] | None = None) -> Function:
        return Function(self.name, list(self.params), list(self.nodes), list(outputs), dict(metadata or {}))


def copy_node(
    builder: FunctionBuilder,
    node: Node,
    inputs: Sequence[Value],
    location: Location | None | bool = True,
) -> list[Value]:
    """Emits a copy of ``node`` on ``inputs`` into ``builder``; returns the new values of
    ``node.outputs`` (one for plain nodes). ``location=True`` keeps the node's own."""
    where = node.location if location is True else location
    if node.regions:
        return builder.emit_regions(node.op, inputs, node.attrs, node.regions, where)  # type: ignore[arg-type]
    return [builder.emit(node.op, inputs, node.attrs, where)]  # type: ignore[arg-type]


def inline_into(builder: FunctionBuilder, function: Function, inputs: Sequence[Value]) -> list[Value]:
    """Emits ``function``'s nodes into ``builder`` with its parameters bound to
    ``inputs``; returns the values of its outputs."""
    env: dict[Value, Value] = dict(zip(function.params, inputs))
    for node in function.nodes:
        outputs = copy_node(builder, node, [env[v] for v in node.inputs])
        env.update(zip(node.outputs, outputs))
    return [env[v] for v in function.outputs]


class Emitter:
    """Writes primitives by name into a builder, all with one source location.

    ``emitter.add(x, y)`` emits ``add``; keyword arguments become attributes.
    """

    def __init__(self, builder: FunctionBuilder, location: Location | None = None) -> None:
        self.builder = builder
        self.location = location

    def emit(self, op: str, *inputs: Value, **attrs: Any) -> Value:
        return self.builder.emit(op, inputs, attrs, self.location)

    def __getattr__(self, op: str) -> Callable[..., Value]:
        get_primitive(op)  # unknown names fail here, not at call time

        def emit_op(*inputs: Value, **attrs: Any) -> Value:
            return self.builder.emit(op, inputs, attrs, self.location)

        return emit_op

    # Helpers that combine primitives -------------------------------------------------

    def constant(self, array: np.ndarray) -> Value:
        return self.emit("constant", value=np.asarray(array))

    def full(self, fill: float | int | bool, type: TensorType) -> Value:
        """``fill`` broadcast to ``type``: a scalar constant and a broadcast (no big constant)."""
        scalar = self.constant(convert_array(fill, type.dtype))
        if type.ndim == 0:
            return scalar
        ones_shape = (1,) * type.ndim
        return self.broadcast_to(self.reshape(scalar, shape=ones_shape), shape=type.shape)

    def zeros(self, type: TensorType) -> Value:
        return self.full(0, type)

    def scale(self, value: Value, factor: float) -> Value:
        """``value * factor`` with the factor in the value's dtype."""
        return self.mul(value, self.full(factor, value.type))

    def convert_to(self, value: Value, dtype: str) -> Value:
        dtype = canonical_dtype(dtype)
        return value if value.dtype == dtype else self.convert(value, dtype=dtype)

    def reshape_to(self, value: Value, shape: Sequence[int]) -> Value:
        shape = tuple(shape)
        return value if value.shape == shape else self.reshape(value, shape=shape)

    def broadcast_value(self, value: Value, shape: Sequence[int]) -> Value:
        """numpy broadcasting of ``value`` to ``shape``: leading 1-axes, then broadcast_to."""
        shape = tuple(shape)
        if value.shape == shape:
            return value
        padded = (1,) * (len(shape) - value.type.ndim) + value.shape
        return self.broadcast_to(self.reshape_to(value, padded), shape=shape)

    def sum_to_shape(self, value: Value, shape: Sequence[int]) -> Value:
        """Sums away the axes that numpy broadcasting added or stretched to reach ``value``'s shape.

        The adjoint of :meth:`broadcast_value`.
        """
        shape = tuple(shape)
        if value.shape == shape:
            return value
        lead = value.type.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, d in enumerate(shape) if d == 1 and value.shape[lead + i] != 1
        )
        summed = self.reduce_sum(value, axes=axes) if axes else value
        return self.reshape_to(summed, shape)
