"""The pytree structure that ``tcomp.save`` writes into a safetensors file's metadata.

The structure is JSON with one object per node (format ``1``)::

    {"kind": "dict", "keys": [["str", "w"], ["int", 3]], "children": [...]}
    {"kind": "list" | "tuple", "children": [...]}
    {"kind": "namedtuple", "name": "State", "fields": ["count", "mu"], "children": [...]}
    {"kind": "none"}
    {"kind": "leaf", "tensor": "params.w"}                  (an array)
    {"kind": "leaf", "tensor": "step", "python": "int"}     (a Python scalar)

:func:`decode_tree` reads it back from a file that may come from anywhere, so it
accepts only exactly this shape: every other key, kind, type or name is a
:class:`TcompArgumentError`, and nothing but dicts, lists, tuples, None, and
namedtuple classes made by ``collections.namedtuple`` from checked identifiers
is ever built.
"""

from __future__ import annotations

import collections
import json
import keyword
from typing import Any, Callable

from tcomp.frontend.pytree import TreeDef
from tcomp.ir.errors import TcompArgumentError, TcompTypeError

FORMAT = "1"
MAX_DEPTH = 100
PYTHON_SCALARS = ("bool", "int", "float")
_NODE_KEYS = {
    "leaf": ({"kind", "tensor"}, {"python"}),
    "none": ({"kind"}, set()),
    "list": ({"kind", "children"}, set()),
    "tuple": ({"kind", "children"}, set()),
    "dict": ({"kind", "keys", "children"}, set()),
    "namedtuple": ({"kind", "name", "fields", "children"}, set()),
}


def encode_tree(treedef: TreeDef, leaf_nodes: list[dict[str, str]]) -> str:
    """``treedef`` as format-1 JSON, its leaves (in flattening order) given as leaf nodes."""
    leaves = iter(leaf_nodes)

    def encode(node: TreeDef, where: str) -> dict[str, Any]:
        if node.kind == "leaf":
            return next(leaves)
        if node.kind == "none":
            return {"kind": "none"}
        children = [encode(child, where) for child in node.children]
        if node.kind == "dict":
            return {
                "kind": "dict",
                "keys": [_encode_key(k, where) for k in node.keys],
                "children": children,
            }
        if node.kind == "namedtuple":
            cls = node.node_type
            return {
                "kind": "namedtuple",
                "name": cls.__name__,
                "fields": list(cls._fields),
                "children": children,
            }
        return {"kind": node.kind, "children": children}

    return json.dumps(encode(treedef, "the tree"), separators=(",", ":"))


def _encode_key(key: Any, where: str) -> list[Any]:
    if isinstance(key, str):
        return ["str", key]
    if isinstance(key, int) and not isinstance(key, bool):
        return ["int", key]
    raise TcompTypeError(
        f"tcomp.save: a dict key {key!r} ({type(key).__name__}) in {where}: only str and int "
        "keys can be saved"
    )


def decode_tree(text: str, make_leaf: Callable[[str, str | None], Any]) -> Any:
    """The tree that format-1 JSON ``text`` describes, each leaf made by ``make_leaf(tensor
    name, python scalar kind or None)``; a :class:`TcompArgumentError` for anything else."""
    try:
        root = json.loads(text)
    except RecursionError:
        raise _bad(f"the structure is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        raise _bad(f"the structure is not JSON ({error})") from None
    return _decode(root, make_leaf, 0)


def _decode(node: Any, make_leaf: Callable[[str, str | None], Any], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _bad(f"the structure is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict) or node.get("kind") not in _NODE_KEYS:
        raise _bad(
            f"a node must be an object with a kind of {', '.join(_NODE_KEYS)}, got {_short(node)}"
        )
    kind = node["kind"]
    required, optional = _NODE_KEYS[kind]
    keys = set(node)
    if not required <= keys or keys - required - optional:
        raise _bad(f"a {kind} node must have the keys {sorted(required)}, got {sorted(keys)}")
    if kind == "none":
        return None
    if kind == "leaf":
        tensor, python = node["tensor"], node.get("python")
        if not isinstance(tensor, str):
            raise _bad(f"a leaf's tensor must be a name, got {_short(tensor)}")
        if python is not None and python not in PYTHON_SCALARS:
            raise _bad(
                f"a leaf's python kind must be one of {', '.join(PYTHON_SCALARS)}, got {_short(python)}"
            )
        return make_leaf(tensor, python)
    children = node["children"]
    if not isinstance(children, list):
        raise _bad(f"a {kind} node's children must be a list, got {_short(children)}")
    values = [_decode(child, make_leaf, depth + 1) for child in children]
    if kind == "list":
        return values
    if kind == "tuple":
        return tuple(values)
    if kind == "dict":
        return dict(zip(_decode_keys(node["keys"], len(values)), values))
    return _namedtuple(node["name"], node["fields"], len(values))(*values)


def _decode_keys(keys: Any, count: int) -> list[Any]:
    if not isinstance(keys, list) or len(keys) != count:
        raise _bad(f"a dict node needs one key per child ({count}), got {_short(keys)}")
    decoded = []
    for key in keys:
        ok = (
            isinstance(key, list)
            and len(key) == 2
            and (
                (key[0] == "str" and isinstance(key[1], str))
                or (key[0] == "int" and isinstance(key[1], int) and not isinstance(key[1], bool))
            )
        )
        if not ok:
            raise _bad(f'a dict key must be ["str", text] or ["int", number], got {_short(key)}')
        decoded.append(key[1])
    if len(set(decoded)) != len(decoded):
        raise _bad(f"a dict node repeats a key: {_short(decoded)}")
    return decoded


def _namedtuple(name: Any, fields: Any, count: int) -> type:
    """A namedtuple class with the stored name and fields (identifiers, checked)."""

    def identifier(text: Any) -> bool:
        return isinstance(text, str) and text.isidentifier() and not keyword.iskeyword(text)

    if not identifier(name):
        raise _bad(f"a namedtuple's name must be a Python identifier, got {_short(name)}")
    if (
        not isinstance(fields, list)
        or len(fields) != count
        or not all(identifier(f) and not f.startswith("_") for f in fields)
        or len(set(fields)) != len(fields)
    ):
        raise _bad(
            f"namedtuple {name}: its fields must be {count} distinct identifiers not starting "
            f"with '_', got {_short(fields)}"
        )
    return collections.namedtuple(name, fields)


def same_structure(a: TreeDef, b: TreeDef) -> bool:
    """Whether two structures match, namedtuples by name and fields (a loaded namedtuple
    class is a new class with the saved one's name and fields)."""
    if a.kind != b.kind or a.keys != b.keys or len(a.children) != len(b.children):
        return False
    if a.kind == "namedtuple" and (
        a.node_type.__name__ != b.node_type.__name__ or a.node_type._fields != b.node_type._fields
    ):
        return False
    return all(same_structure(x, y) for x, y in zip(a.children, b.children))


def _bad(detail: str) -> TcompArgumentError:
    return TcompArgumentError(f"the tcomp metadata is malformed: {detail}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
