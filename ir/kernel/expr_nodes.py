"""The node types of the kernel IR's scalar expressions (see ``expr.py``, which
re-exports them with the constructors that simplify), the scalar type names, and the
walks over a tree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, Union

from tcomp.ir.types import STORAGE_INT_DTYPES

INDEX = "index"
_INTEGERS = ("int8", "uint8", "int32", "uint32", "int64")
SCALAR_TYPES = ("float32", "float64", "float16", "bfloat16", *_INTEGERS, "bool", INDEX)
FLOAT_TYPES = frozenset({"float16", "bfloat16", "float32", "float64"})
HALF_TYPES = frozenset({"float16", "bfloat16"})  # stored in 16 bits, computed in float32
INTEGER_TYPES = frozenset({*_INTEGERS, INDEX})
STORAGE_TYPES = STORAGE_INT_DTYPES  # integer types that hold values but compute nothing

Number = Union[int, float, bool]


class Expr:
    """Base class of kernel-IR expressions; every expression has a scalar ``dtype``."""

    dtype: str
    _hash: int

    def __hash__(self) -> int:
        return self._hash

    def children(self) -> tuple["Expr", ...]:
        return ()


def _cache_hash(node: Expr, *parts: object) -> None:
    object.__setattr__(node, "_hash", hash((type(node).__name__,) + parts))


@dataclass(frozen=True, eq=True)
class Const(Expr):
    value: Number
    dtype: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # -0.0 == 0.0 and nan != nan in Python; the key keeps them apart/equal as bits do
        _cache_hash(self, _number_key(self.value), self.dtype)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Const)
            and self.dtype == other.dtype
            and _number_key(self.value) == _number_key(other.value)
        )

    __hash__ = Expr.__hash__


def _number_key(value: Number) -> object:
    if isinstance(value, float):
        return ("f", value.hex() if not math.isnan(value) else "nan")
    return ("i", int(value))


@dataclass(frozen=True, eq=True)
class Var(Expr):
    name: str
    dtype: str = INDEX
    extent: int | None = None  # loop variables: the value runs over 0 .. extent-1
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _cache_hash(self, self.name, self.dtype, self.extent)

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=True)
class Load(Expr):
    buffer: str
    index: Expr
    dtype: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _cache_hash(self, self.buffer, self.index._hash, self.dtype)

    def children(self) -> tuple[Expr, ...]:
        return (self.index,)

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=True)
class Unary(Expr):
    op: str
    x: Expr
    dtype: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _cache_hash(self, self.op, self.x._hash, self.dtype)

    def children(self) -> tuple[Expr, ...]:
        return (self.x,)

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=True)
class Binary(Expr):
    op: str
    a: Expr
    b: Expr
    dtype: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _cache_hash(self, self.op, self.a._hash, self.b._hash, self.dtype)

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=True)
class Select(Expr):
    cond: Expr
    a: Expr
    b: Expr
    dtype: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _cache_hash(self, self.cond._hash, self.a._hash, self.b._hash, self.dtype)

    def children(self) -> tuple[Expr, ...]:
        return (self.cond, self.a, self.b)

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=True)
class Cast(Expr):
    x: Expr
    dtype: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _cache_hash(self, self.x._hash, self.dtype)

    def children(self) -> tuple[Expr, ...]:
        return (self.x,)

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=True)
class Reduce(Expr):
    """``op`` over ``body`` for every value of the loop variables ``axes``.

    ``argmax`` gives (as ``int32``) the position of the first maximum along
    its single axis, NaN counting as the maximum, as numpy does.
    """

    op: str
    axes: tuple[Var, ...]
    body: Expr
    dtype: str
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _cache_hash(self, self.op, tuple(a._hash for a in self.axes), self.body._hash, self.dtype)

    def children(self) -> tuple[Expr, ...]:
        return (self.body,)

    __hash__ = Expr.__hash__


# ---------------------------------------------------------------------------
# Walking


def walk(expr: Expr) -> Iterator[Expr]:
    """Every sub-expression of ``expr`` (each distinct node once, parents first)."""
    seen: set[int] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(node.children())


def free_vars(expr: Expr) -> frozenset[Var]:
    """The variables ``expr`` reads, leaving out those a ``Reduce`` inside it binds."""
    cache: dict[int, frozenset[Var]] = {}

    def visit(node: Expr) -> frozenset[Var]:
        found = cache.get(id(node))
        if found is not None:
            return found
        if isinstance(node, Var):
            result = frozenset({node})
        elif isinstance(node, Reduce):
            result = visit(node.body) - frozenset(node.axes)
        else:
            result = frozenset().union(*(visit(child) for child in node.children()))
        cache[id(node)] = result
        return result

    return visit(expr)


# ---------------------------------------------------------------------------
# Ranges of index expressions
