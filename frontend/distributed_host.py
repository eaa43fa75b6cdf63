"""Host data for collectives: pytrees of tcomp Arrays, numpy arrays and scalars as numpy
arrays, and back again on the backend each leaf came from.

The host collectives run between jitted calls. Inside ``jit`` the collectives become
graph-IR ops before they get here (:mod:`tcomp.frontend.distributed_traced`); what is
host-only (``data_parallel``, ``check_parameters``) refuses a traced value here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tcomp
from tcomp.frontend.array import Array
from tcomp.frontend.location import user_location
from tcomp.frontend.pytree import TreeDef, tree_flatten
from tcomp.frontend.trace import Tracer
from tcomp.frontend.values import BFLOAT16, host_array
from tcomp.ir.errors import TcompArgumentError, TcompTracerError, TcompTypeError, with_location
from tcomp.ir.types import TensorType, canonical_dtype

OPS = ("sum", "mean", "max", "min")


def host_leaves(tree: Any, op: str) -> tuple[list[Any], TreeDef, list[np.ndarray]]:
    """``tree``'s leaves, its structure, and each leaf as a numpy array (a read-only view
    of an llvm Array's memory where possible)."""
    leaves, treedef = tree_flatten(tree)
    hosts = []
    for index, leaf in enumerate(leaves):
        if isinstance(leaf, Tracer):
            raise TcompTracerError(
                with_location(
                    f"tcomp.distributed.{op} was called inside jit, on a traced value "
                    f"({np.dtype(leaf.dtype).name}{list(leaf.shape)}): it runs on the host "
                    "only. Call it on the jitted function's outputs instead, between "
                    "jitted calls (inside jit, all_reduce, all_gather, broadcast and "
                    "reduce_scatter work on traced values)",
                    user_location(),
                )
            )
        if isinstance(leaf, Array):
            hosts.append(np.asarray(leaf))
        elif isinstance(leaf, np.ndarray):
            hosts.append(leaf)
        else:
            hosts.append(host_array(leaf, f"tcomp.distributed.{op}: leaf {index}"))
    return leaves, treedef, hosts


def restore(model: Any, host: np.ndarray) -> Any:
    """``host`` as the same kind of value as ``model``: a tcomp Array on ``model``'s
    backend, else a numpy array."""
    if isinstance(model, Array):
        backend = model._backend
        aval = TensorType(tuple(host.shape), canonical_dtype(host.dtype))
        return Array(backend.from_host(host), backend, aval, model.committed)
    return host


def check_op(op: str, collective: str, allowed: tuple[str, ...] = OPS) -> None:
    if op not in allowed:
        raise TcompArgumentError(
            f"tcomp.distributed.{collective}: unknown op {op!r}; expected one of "
            + ", ".join(repr(o) for o in allowed)
        )


def work_dtype(dtype: np.dtype, op: str, collective: str, shape: tuple[int, ...]) -> np.dtype:
    """The dtype MPI reduces ``dtype`` in: float16/bfloat16 in float32 (MPI has no 16-bit
    floats; the result is rounded back), bool as uint8 for max/min."""
    dtype = np.dtype(dtype)
    kind = dtype.kind
    if kind == "b":
        if op in ("max", "min"):
            return np.dtype(np.uint8)
        raise TcompTypeError(
            f"tcomp.distributed.{collective}: op {op!r} on a bool array {list(shape)}; "
            "bool arrays take op 'max' (any rank) or 'min' (every rank)"
        )
    if op == "mean" and kind != "f" and dtype != BFLOAT16:
        raise TcompTypeError(
            f"tcomp.distributed.{collective}: op 'mean' on an {dtype} array {list(shape)}; "
            "the mean needs a floating-point dtype (use op 'sum' and divide)"
        )
    if dtype.itemsize == 2 and (kind == "f" or dtype == BFLOAT16):
        return np.dtype(np.float32)
    return dtype


def describe(
    collective: str, hosts: list[np.ndarray], treedef: TreeDef, **settings: Any
) -> list[str]:
    """The lines :func:`~tcomp.frontend.distributed_agreement.agree` compares: tcomp's
    version, the collective and its settings, the tree and each leaf's dtype and shape."""
    options = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    lines = [
        f"tcomp version: {tcomp.__version__}",
        f"collective: {collective}({options})",
        f"tree: {treedef}",
    ]
    lines += [f"{path}: {leaf_type(h)}" for path, h in zip(leaf_paths(treedef), hosts)]
    return lines


def leaf_paths(treedef: TreeDef, prefix: str = "") -> list[str]:
    """Each leaf's place in the tree, in flattening order: ``['w1']``, ``[0][2]``, or
    ``value`` for a tree that is one leaf."""
    if treedef.kind == "leaf":
        return [prefix or "value"]
    paths = []
    for index, child in enumerate(treedef.children):
        if treedef.kind == "dict":
            step = f"[{treedef.keys[index]!r}]"
        elif treedef.kind == "namedtuple":
            step = f".{treedef.node_type._fields[index]}"
        else:
            step = f"[{index}]"
        paths += leaf_paths(child, prefix + step)
    return paths


def leaf_type(host: np.ndarray) -> str:
    """``float32[8, 2]``."""
    return f"{host.dtype.name}[{', '.join(str(d) for d in host.shape)}]"
