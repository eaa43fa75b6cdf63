"""Attribute kinds: the declared type of every attribute of a primitive.

A primitive declares its attributes as a mapping from name to
:class:`AttrKind` (``attrs={"start": AttrKind.INDICES, ...}`` in its
:class:`~tcomp.ir.primitives.base.Primitive`), and :func:`check_attrs` checks
a node's attributes against that declaration before the shape rule runs, so a
rule only ever sees values of the declared kind. The builder, the text parser
and the verifier all go through :meth:`Primitive.check_call`, so IR that
parses or verifies has attributes of exactly these kinds:

==========  ===========================================================
kind        value
==========  ===========================================================
INDEX       an int ``>= 0`` (at most int64's maximum)
INDICES     a tuple of such ints (slice bounds, pad widths)
SHAPE       a tuple of such ints whose product fits int64 too
AXIS        an axis of the first input: ``0 <= axis < rank``
AXES        distinct axes of the first input
PERM        a permutation of the first input's axes
DTYPE       a tcomp dtype name (``"float32"``, ...)
SCALAR      a bool, an int within int64, or a float (nan and inf too)
DENSE       a numpy array
==========  ===========================================================

"int" means a Python ``int`` that is not a ``bool``: ``True`` is not an axis,
and ``0.5`` or ``inf`` is not a dimension. A value of the wrong Python type
raises :class:`TcompTypeError`, one out of range :class:`TcompShapeError`;
both name the op, the attribute and the value. An axis needs an input to be
checked against; an op without inputs (``iota``) declares its axis as INDEX
and its rule checks the range.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import DTYPE_NAMES, MAX_ELEMENTS, TensorType, is_int, shape_problem

INT64_MIN = -(2**63)


class AttrKind(enum.Enum):
    """What one attribute of a primitive holds (see the module docstring)."""

    INDEX = "a non-negative int"
    INDICES = "a tuple of non-negative ints"
    SHAPE = "a shape (a tuple of non-negative ints)"
    AXIS = "an axis (an int)"
    AXES = "a tuple of axes (ints)"
    PERM = "a permutation (a tuple of ints)"
    DTYPE = "a dtype name"
    SCALAR = "a number or bool"
    DENSE = "a numpy array"


AttrSchema = Mapping[str, AttrKind]


class _Bad(Exception):
    """Internal: an attribute value that is not of its kind."""

    def __init__(self, error: type[Exception], problem: str) -> None:
        super().__init__(problem)
        self.error = error
        self.problem = problem


def check_attrs(
    op: str, schema: AttrSchema, input_types: Sequence[TensorType], attrs: Mapping[str, Any]
) -> None:
    """Checks each attribute of ``attrs`` named in ``schema`` against its kind.

    ``input_types`` give the rank that axes are checked against. Raises
    :class:`TcompTypeError` for a value of the wrong type and
    :class:`TcompShapeError` for one out of range, naming the op, the
    attribute and the value.
    """
    rank = input_types[0].ndim if input_types else None
    for name, kind in schema.items():
        if name not in attrs:
            continue  # Primitive.check_call reports missing attributes
        value = attrs[name]
        try:
            _CHECKS[kind](value, rank)
        except _Bad as bad:
            raise bad.error(f"{op}: attribute {name!r} = {_show(value)}: {bad.problem}") from None


def _show(value: Any) -> str:
    """A short text of an attribute value for a message, as the IR text writes it."""
    text = _ir_text(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _ir_text(value: Any) -> str:
    """``(1, 0.5)``, ``true``, ``none``: the IR text of plain data (arrays abbreviated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, np.ndarray):
        return f"array({value.dtype}{list(value.shape)})"
    if isinstance(value, (tuple, list)):
        items = [_ir_text(item) for item in value]
        open_, close = ("(", ")") if isinstance(value, tuple) else ("[", "]")
        trailing = "," if len(items) == 1 and isinstance(value, tuple) else ""
        return open_ + ", ".join(items) + trailing + close
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


# ---------------------------------------------------------------------------
# The checks of each kind: raise _Bad, or return None.


def _int(value: Any, what: str) -> int:
    if not is_int(value):
        raise _Bad(TcompTypeError, f"expected {what}, found {_typed(value)}")
    return value


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise _Bad(TcompTypeError, f"expected {what}, found {_typed(value)}")
    for position, item in enumerate(value):
        if not is_int(item):
            raise _Bad(TcompTypeError, f"expected {what}, but item {position} is {_typed(item)}")
    return tuple(value)


def _typed(value: Any) -> str:
    """``0.5 (float)``: a value and its Python type, for a message."""
    return f"{_show(value)} ({type(value).__name__})"


def _index(value: Any, rank: int | None = None) -> None:
    if not 0 <= _int(value, "a non-negative int") <= MAX_ELEMENTS:
        raise _Bad(TcompShapeError, f"{value} lies outside 0..{MAX_ELEMENTS}")


def _indices(value: Any, rank: int | None) -> None:
    for item in _ints(value, "a tuple of non-negative ints"):
        if not 0 <= item <= MAX_ELEMENTS:
            raise _Bad(TcompShapeError, f"{item} lies outside 0..{MAX_ELEMENTS}")


def _shape(value: Any, rank: int | None) -> None:
    _ints(value, "a shape (a tuple of ints)")
    problem = shape_problem(value)
    if problem:
        raise _Bad(TcompShapeError, problem)


def _in_rank(axis: int, rank: int | None) -> None:
    if rank is not None and not 0 <= axis < rank:
        raise _Bad(TcompShapeError, f"axis {axis} is out of range for rank {rank}")
    if rank is None and axis < 0:
        raise _Bad(TcompShapeError, f"axis {axis} is negative")


def _axis(value: Any, rank: int | None) -> None:
    _in_rank(_int(value, "an axis (an int)"), rank)


def _axes(value: Any, rank: int | None) -> None:
    axes = _ints(value, "a tuple of axes (ints)")
    for axis in axes:
        _in_rank(axis, rank)
    if len(set(axes)) != len(axes):
        raise _Bad(TcompShapeError, "an axis repeats")


def _perm(value: Any, rank: int | None) -> None:
    perm = _ints(value, "a permutation (a tuple of ints)")
    if rank is not None and sorted(perm) != list(range(rank)):
        raise _Bad(TcompShapeError, f"not a permutation of the {rank} axes of the input")


def _dtype(value: Any, rank: int | None) -> None:
    if not isinstance(value, str) or value not in DTYPE_NAMES:
        names = ", ".join(DTYPE_NAMES)
        raise _Bad(TcompTypeError, f"expected a dtype name ({names}), found {_typed(value)}")


def _scalar(value: Any, rank: int | None) -> None:
    if isinstance(value, (bool, float)):
        return
    if not is_int(value):
        raise _Bad(TcompTypeError, f"expected a number or bool, found {_typed(value)}")
    if not INT64_MIN <= value <= MAX_ELEMENTS:
        raise _Bad(TcompShapeError, "an int attribute must fit int64")


def _dense(value: Any, rank: int | None) -> None:
    if not isinstance(value, np.ndarray):
        raise _Bad(TcompTypeError, f"expected a numpy array, found {_typed(value)}")


_CHECKS: dict[AttrKind, Callable[[Any, int | None], None]] = {
    AttrKind.INDEX: _index,
    AttrKind.INDICES: _indices,
    AttrKind.SHAPE: _shape,
    AttrKind.AXIS: _axis,
    AttrKind.AXES: _axes,
    AttrKind.PERM: _perm,
    AttrKind.DTYPE: _dtype,
    AttrKind.SCALAR: _scalar,
    AttrKind.DENSE: _dense,
}
