"""The primitive registry: one definition site per primitive.

A :class:`Primitive` bundles everything tcomp knows about one op:

- ``infer``: the shape/dtype rule, ``(input types, attrs) -> output type``;
  it raises :class:`TcompShapeError` / :class:`TcompTypeError` naming the op;
- ``reference``: the numpy implementation, the specification every backend
  is checked against (run it through :meth:`Primitive.evaluate`, which
  gives bfloat16 its meaning: inputs widened to float32, the result rounded
  to the output dtype, to bfloat16 by :mod:`tcomp.ir.bfloat16`);
- ``vjp``: the reverse-mode gradient rule, ``(emitter, node, cotangent) ->
  one cotangent (or None for "no contribution") per input``, written with
  the :class:`tcomp.ir.builder.Emitter` so that gradients are graph IR;
- ``attrs``: the attribute schema, each attribute's name and
  :class:`~tcomp.ir.primitives.attrs.AttrKind` (``{"axes": AttrKind.AXES}``).
  :meth:`Primitive.check_call` checks a node's attributes against it before
  the shape rule runs, so rules see only values of the declared kinds.

Files in this package define primitives by calling :func:`register`. A
primitive's kernel-IR lowering is not part of it: the compiled backends look
it up by name in the lowering table (:mod:`tcomp.ir.kernel.lowering.table`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from tcomp.ir.bfloat16 import convert_array
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.primitives.attrs import AttrKind, AttrSchema, check_attrs
from tcomp.ir.types import TensorType, numpy_dtype

if TYPE_CHECKING:
    from tcomp.ir.builder import Emitter
    from tcomp.ir.graph import Node, Value

_BFLOAT16 = numpy_dtype("bfloat16")

InferRule = Callable[[Sequence[TensorType], Mapping[str, Any]], TensorType]
ReferenceRule = Callable[[Sequence[np.ndarray], Mapping[str, Any]], np.ndarray]
VjpRule = Callable[["Emitter", "Node", "Value"], Sequence["Value | None"]]


@dataclass
class Primitive:
    """Everything about one primitive op (see the module docstring)."""

    name: str
    infer: InferRule
    reference: ReferenceRule
    vjp: VjpRule | None
    attrs: AttrSchema = field(default_factory=dict)
    num_inputs: int | None = None  # None: variadic
    # Control-flow ops (nodes with regions, several outputs): see control_flow.py.
    # infer_regions(input types, attrs, regions) -> output types;
    # reference_regions(inputs, attrs, regions, run) -> outputs, run(fn, arrays) evaluating
    # a region; vjp_regions(builder, node, cotangents) -> one cotangent (or None) per input.
    infer_regions: Callable[..., list[TensorType]] | None = None
    reference_regions: Callable[..., list[np.ndarray]] | None = None
    vjp_regions: Callable[..., Sequence["Value | None"]] | None = None
    # vjp_forward(builder, node, inputs) -> (outputs, residual): the forward copy of a
    # differentiated control-flow node, saving what its vjp_regions reads (as residual).
    vjp_forward: Callable[..., tuple[list["Value"], Any]] | None = None
    # without_outputs(node, live) -> node: the node without the outputs not in ``live``
    # that it can drop (dce; scan: its stacked ys), or the node itself.
    without_outputs: Callable[..., Any] | None = None
    # A collective (collectives.py): its reference talks to the other processes, so
    # graph passes never fold it into a constant at compile time.
    communicates: bool = False

    def __post_init__(self) -> None:
        if not self.attrs:
            self.attrs = {}  # () for "no attributes" reads as the empty schema
        declared = isinstance(self.attrs, Mapping) and all(
            isinstance(kind, AttrKind) for kind in self.attrs.values()
        )
        if not declared:
            raise TypeError(
                f"primitive {self.name!r}: attrs must map each name to an AttrKind, "
                f"got {self.attrs!r}"
            )

    @property
    def attr_names(self) -> tuple[str, ...]:
        """The names of the attributes, in declaration order."""
        return tuple(self.attrs)

    def check_call(self, input_types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
        """Checks arity, attribute names and kinds, then applies the shape/dtype rule."""
        if self.num_inputs is not None and len(input_types) != self.num_inputs:
            raise TcompTypeError(
                f"{self.name}: expects {self.num_inputs} inputs, got {len(input_types)}"
            )
        unknown = set(attrs) - set(self.attr_names)
        missing = set(self.attr_names) - set(attrs)
        if unknown or missing:
            raise TcompTypeError(
                f"{self.name}: attributes must be {sorted(self.attr_names)}, got {sorted(attrs)}"
            )
        check_attrs(self.name, self.attrs, input_types, attrs)
        return self.infer(input_types, attrs)

    def check_regions(
        self, input_types: Sequence[TensorType], attrs: Mapping[str, Any], regions: Sequence[Any]
    ) -> list[TensorType]:
        """The output types of a control-flow node (attribute kinds checked first)."""
        if self.infer_regions is None:
            raise TcompTypeError(f"{self.name}: takes no regions, got {len(regions)}")
        unknown = set(attrs) - set(self.attr_names)
        missing = set(self.attr_names) - set(attrs)
        if unknown or missing:
            raise TcompTypeError(
                f"{self.name}: attributes must be {sorted(self.attr_names)}, got {sorted(attrs)}"
            )
        check_attrs(self.name, self.attrs, input_types, attrs)
        return list(self.infer_regions(input_types, attrs, regions))

    def evaluate(
        self, inputs: Sequence[np.ndarray], attrs: Mapping[str, Any], out_dtype: str
    ) -> np.ndarray:
        """The reference result as an array of ``out_dtype``: what every executor of
        graph or kernel IR calls. bfloat16 inputs are widened to float32 first, so a
        bfloat16 op is computed in float32 and rounded once to the output dtype (a sum
        or matmul accumulates in float32), as the compiled backends do; ml_dtypes' own
        bfloat16 loops would round at every step of a sum. The rounding to bfloat16 is
        tcomp's (:func:`tcomp.ir.bfloat16.to_bfloat16`), not ml_dtypes'."""
        widened = [
            array.astype(np.float32) if array.dtype == _BFLOAT16 else array for array in inputs
        ]
        result = self.reference(widened, attrs)
        return convert_array(result, out_dtype)


PRIMITIVES: dict[str, Primitive] = {}


def register(primitive: Primitive) -> Primitive:
    """Adds a primitive to the registry (each name once)."""
    if primitive.name in PRIMITIVES:
        raise ValueError(f"primitive {primitive.name!r} registered twice")
    PRIMITIVES[primitive.name] = primitive
    return primitive


def get_primitive(name: str) -> Primitive:
    """The registered primitive called ``name``."""
    try:
        return PRIMITIVES[name]
    except KeyError:
        raise TcompTypeError(f"unknown primitive {name!r}") from None


def shape_error(op: str, message: str, *types: TensorType) -> TcompShapeError:
    """A shape error that names the op and the input types."""
    shown = ", ".join(str(t) for t in types)
    return TcompShapeError(f"{op}: {message} (inputs {shown})" if types else f"{op}: {message}")


def type_error(op: str, message: str, *types: TensorType) -> TcompTypeError:
    """A dtype error that names the op and the input types."""
    shown = ", ".join(str(t) for t in types)
    return TcompTypeError(f"{op}: {message} (inputs {shown})" if types else f"{op}: {message}")
