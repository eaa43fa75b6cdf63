"""Eager execution: a tcomp function called outside any trace runs at once.

Each primitive becomes a one-node function compiled for the backend of its
inputs (the default backend when they are numpy data); the compiled
functions are kept in a bounded cache keyed by op, attributes and input
types, so a prompt session does not recompile the same operation.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from tcomp.backends.base import Backend, Executable
from tcomp.backends.registry import get_backend
from tcomp.frontend.array import Array
from tcomp.frontend.location import user_location
from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.graph import attrs_key
from tcomp.ir.types import TensorType, canonical_dtype

_CACHE_SIZE = 512
_cache: "OrderedDict[tuple, tuple[Executable, TensorType]]" = OrderedDict()


def execute(op: str, attrs: dict[str, Any], inputs: Sequence[Array | np.ndarray]) -> Array:
    """Runs one primitive on concrete inputs and returns its result as an Array."""
    backend = _backend_of(inputs)
    types = [_type_of(x) for x in inputs]
    key = (backend.name, op, attrs_key(attrs), tuple(types))
    entry = _cache.get(key)
    if entry is None:
        builder = FunctionBuilder(f"eager_{op}")
        params = [builder.add_param(t) for t in types]
        output = builder.emit(op, params, attrs, user_location())
        entry = (backend.compile(builder.finish([output])), output.type)
        _cache[key] = entry
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    executable, out_type = entry
    buffers = [to_backend(x, backend) for x in inputs]
    committed = any(isinstance(x, Array) and x.committed for x in inputs)
    (output,) = own_results(executable(buffers), inputs, buffers, backend)
    return Array(output, backend, out_type, committed)


def from_host(array: np.ndarray) -> Array:
    """A numpy array copied to the default backend, uncommitted (see :class:`Array`)."""
    backend = get_backend(None)
    return Array(
        backend.from_host(np.asarray(array, order="C")), backend, _type_of(array), committed=False
    )


def like(result: Array, model: Any) -> Array:
    """``result`` on the backend of ``model`` when ``model`` is a committed Array
    (``zeros_like(a)`` lives where ``a`` lives); otherwise ``result`` itself."""
    if not isinstance(model, Array) or not model.committed or result._backend is model._backend:
        return result
    backend = model._backend
    return Array(backend.from_host(result._host_view()), backend, result.aval)


def to_backend(x: Array | np.ndarray, backend: Backend) -> Any:
    """A buffer of ``backend`` holding ``x`` for one call: an Array already there is
    passed as it is; a numpy array is lent as it is to a backend that reads host memory
    (``borrow``: ``llvm`` reads it in place), else copied (``from_host``)."""
    if isinstance(x, Array):
        if x._backend is backend:
            return x._buffer
        return backend.from_host(x._host_view())
    borrow = getattr(backend, "borrow", None)
    if borrow is not None:
        return borrow(x)
    return backend.from_host(np.asarray(x, order="C"))


def own_results(
    outputs: Sequence[Any], inputs: Sequence[Any], buffers: Sequence[Any], backend: Backend
) -> list[Any]:
    """``outputs`` of a call made with ``buffers`` (from :func:`to_backend` of
    ``inputs``), each safe to hold in an Array: an output that is a numpy input lent to
    the backend (a function that returns its argument) is copied, so that the caller's
    later writes to that array cannot change the Array. An output that is an input
    Array's buffer is passed on as it is (both are immutable)."""
    if getattr(backend, "borrow", None) is None:
        return list(outputs)
    lent = {id(_memory_owner(b)) for x, b in zip(inputs, buffers) if not isinstance(x, Array)}
    if not lent:
        return list(outputs)
    return [backend.from_host(out) if id(_memory_owner(out)) in lent else out for out in outputs]


def _memory_owner(array: Any) -> Any:
    """What holds ``array``'s memory: its ``base`` (numpy points a view's base at the
    array that owns the memory, or at the foreign object under it), else itself."""
    base = getattr(array, "base", None)
    return array if base is None else base


def _backend_of(inputs: Sequence[Array | np.ndarray]) -> Backend:
    """The backend of the first committed input, else of the first Array, else the default."""
    arrays = [x for x in inputs if isinstance(x, Array)]
    for x in arrays:
        if x.committed:
            return x._backend
    return arrays[0]._backend if arrays else get_backend(None)


def backend_name_of(*trees: Any) -> str | None:
    """The backend an eager call on the leaves of ``trees`` runs on, by the rule of
    :func:`_backend_of` (None: no Array among them, the default backend). Eager
    ``scan``/``cond``/``while_loop`` compile their one-node program for it, so a loop
    over a ``reference`` Array stays on ``reference``."""
    from tcomp.frontend.pytree import tree_flatten

    leaves = [leaf for tree in trees for leaf in tree_flatten(tree)[0]]
    arrays = [leaf for leaf in leaves if isinstance(leaf, Array)]
    return _backend_of(arrays).name if arrays else None


def _type_of(x: Array | np.ndarray) -> TensorType:
    if isinstance(x, Array):
        return x.aval
    return TensorType(tuple(x.shape), canonical_dtype(x.dtype))
