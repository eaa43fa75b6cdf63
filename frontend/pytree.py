"""Pytrees: nested dicts, lists, tuples and None around array leaves.

``tree_flatten(tree) -> (leaves, treedef)`` lists the leaves in a fixed
order (dict keys sorted, so two dicts with the same keys flatten alike);
``tree_unflatten(treedef, leaves)`` rebuilds the same structure. ``None`` is
an empty subtree, not a leaf. Tuples subclasses (namedtuples) keep their
class. A :class:`TreeDef` is hashable and prints readably, so it is part of
a compiled function's cache key and of the reason a retrace gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from tcomp.ir.errors import TcompArgumentError


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree without its leaves."""

    kind: str  # "leaf", "none", "tuple", "list", "dict", "namedtuple"
    children: tuple["TreeDef", ...] = ()
    keys: tuple[Any, ...] = ()  # dict keys, in flattening order
    node_type: type | None = None  # the namedtuple class
    # the hash, computed once: every jitted call hashes its arguments' structure
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_hash", hash((self.kind, self.children, self.keys, self.node_type))
        )

    def __hash__(self) -> int:
        return self._hash

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(child.num_leaves for child in self.children)

    def __str__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = [str(c) for c in self.children]
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, inner)) + "}"
        if self.kind == "list":
            return "[" + ", ".join(inner) + "]"
        if self.kind == "namedtuple":
            return f"{self.node_type.__name__}(" + ", ".join(inner) + ")"
        return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"


_LEAF = TreeDef("leaf")
_NONE = TreeDef("none")


def _sorted_keys(mapping: dict) -> list:
    try:
        return sorted(mapping)
    except TypeError:  # keys of mixed types: keep insertion order
        return list(mapping)


def tree_flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """Leaves of ``tree`` in order, and its structure."""
    leaves: list[Any] = []
    treedef = _flatten_into(tree, leaves)
    return leaves, treedef


def _flatten_into(tree: Any, leaves: list[Any]) -> TreeDef:
    if tree is None:
        return _NONE
    if isinstance(tree, dict):
        keys = _sorted_keys(tree)
        children = tuple(_flatten_into(tree[k], leaves) for k in keys)
        return TreeDef("dict", children, tuple(keys))
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        children = tuple(_flatten_into(v, leaves) for v in tree)
        return TreeDef("namedtuple", children, node_type=type(tree))
    if isinstance(tree, (tuple, list)):
        children = tuple(_flatten_into(v, leaves) for v in tree)
        return TreeDef("tuple" if isinstance(tree, tuple) else "list", children)
    leaves.append(tree)
    return _LEAF


def tree_unflatten(treedef: TreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuilds a tree of structure ``treedef`` from ``leaves``."""
    iterator = iter(leaves)
    tree = _build(treedef, iterator)
    if next(iterator, _sentinel) is not _sentinel:
        raise TcompArgumentError(f"too many leaves for tree structure {treedef}")
    return tree


_sentinel = object()


def _build(treedef: TreeDef, leaves: Any) -> Any:
    if treedef.kind == "leaf":
        leaf = next(leaves, _sentinel)
        if leaf is _sentinel:
            raise TcompArgumentError("too few leaves for the tree structure")
        return leaf
    if treedef.kind == "none":
        return None
    children = [_build(child, leaves) for child in treedef.children]
    if treedef.kind == "dict":
        return dict(zip(treedef.keys, children))
    if treedef.kind == "list":
        return children
    if treedef.kind == "namedtuple":
        return treedef.node_type(*children)
    return tuple(children)


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Applies ``fn`` to the leaves of ``tree`` (and the matching leaves of ``rest``).

    Every tree in ``rest`` must have the same structure as ``tree``.
    """
    leaves, treedef = tree_flatten(tree)
    others = []
    for other in rest:
        other_leaves, other_def = tree_flatten(other)
        if other_def != treedef:
            raise TcompArgumentError(f"tree_map: tree structures differ: {treedef} vs {other_def}")
        others.append(other_leaves)
    return tree_unflatten(treedef, [fn(*args) for args in zip(leaves, *others)])


def leaf_paths(treedef: TreeDef, prefix: str = "") -> list[str]:
    """A readable path for each leaf (``params['w1']``, ``args[0][2]``), for error messages."""
    if treedef.kind == "leaf":
        return [prefix]
    if treedef.kind == "none":
        return []
    paths: list[str] = []
    if treedef.kind == "dict":
        for key, child in zip(treedef.keys, treedef.children):
            paths += leaf_paths(child, f"{prefix}[{key!r}]")
    else:
        for index, child in enumerate(treedef.children):
            paths += leaf_paths(child, f"{prefix}[{index}]")
    return paths
