"""The lazy graph behind the shim's Tensor, and its evaluation with tcomp.

A tensor is either a *leaf* (a numpy array) or one output of a :class:`Call` (a tcomp
function with its arguments, which may hold tensors anywhere in lists, tuples, dicts and
slices). Nothing runs when a method is called: :func:`evaluate` builds one function of
the leaves, compiles it with ``tcomp.jit`` on the chosen backend and runs it;
:func:`abstract` traces the same function to read shapes and dtypes. A
:class:`GradCall` differentiates a scalar tensor's graph with ``tcomp.grad`` with
respect to chosen tensors, inside the same traced function.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

import tcomp

#: The backend every evaluation uses; the runner sets it (``--backend``).
BACKEND = {"name": os.environ.get("TCOMP_BACKEND", "llvm")}


class Call:
    """A recorded tcomp call: ``fn(*args, **kwargs)``; ``name`` is for messages."""

    def __init__(self, name: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.name = name
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def run(self, ev: Evaluator) -> Any:
        args = map_tensors(self.args, ev.value)
        kwargs = map_tensors(self.kwargs, ev.value)
        return self.fn(*args, **kwargs)

    def inputs(self) -> list[Any]:
        found: list[Any] = []
        map_tensors((self.args, self.kwargs), lambda t: found.append(t) or t)
        return found


class GradCall(Call):
    """The gradients of the scalar tensor ``target`` with respect to ``wrt`` (a tuple)."""

    def __init__(self, target: Any, wrt: tuple) -> None:
        super().__init__("gradient", _unused, (), {})
        self.target = target
        self.wrt = wrt

    def run(self, ev: Evaluator) -> Any:
        primals = [ev.value(t) for t in self.wrt]

        def scalar(*xs: Any) -> Any:
            substitutes = dict(ev.substitutes)
            substitutes.update({id(t): x for t, x in zip(self.wrt, xs)})
            return Evaluator(ev.leaf_values, substitutes).value(self.target)

        return tcomp.grad(scalar, argnums=tuple(range(len(primals))))(*primals)

    def inputs(self) -> list[Any]:
        return [self.target, *self.wrt]


def _unused(*_: Any, **__: Any) -> Any:
    raise AssertionError("GradCall runs itself")


def is_tensor(x: Any) -> bool:
    return getattr(x, "_is_shim_tensor", False)


def map_tensors(tree: Any, fn: Callable[[Any], Any]) -> Any:
    """``tree`` with ``fn`` applied to each tensor in it (lists, tuples, dicts, slices)."""
    if is_tensor(tree):
        return fn(tree)
    if isinstance(tree, list):
        return [map_tensors(x, fn) for x in tree]
    if isinstance(tree, tuple):
        return tuple(map_tensors(x, fn) for x in tree)
    if isinstance(tree, dict):
        return {k: map_tensors(v, fn) for k, v in tree.items()}
    if isinstance(tree, slice):
        return slice(*(map_tensors(p, fn) for p in (tree.start, tree.stop, tree.step)))
    return tree


def leaves_of(tensors: list[Any]) -> list[Any]:
    """The leaf tensors reachable from ``tensors``, each once, in a stable order."""
    seen: set[int] = set()
    leaves: list[Any] = []
    stack = list(reversed(tensors))
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._call is None:
            leaves.append(t)
        else:
            stack.extend(reversed(t._call.inputs()))
    return leaves


class Evaluator:
    """Values of tensors given the values of the leaves (tracers inside a jit)."""

    def __init__(
        self, leaf_values: dict[int, Any], substitutes: dict[int, Any] | None = None
    ) -> None:
        self.leaf_values = leaf_values
        self.substitutes = substitutes or {}
        self.results: dict[int, Any] = {}

    def value(self, t: Any) -> Any:
        if id(t) in self.substitutes:
            return self.substitutes[id(t)]
        if t._call is None:
            return self.leaf_values[id(t)]
        call = t._call
        if id(call) not in self.results:
            self.results[id(call)] = call.run(self)
        result = self.results[id(call)]
        return result if t._index is None else result[t._index]


def _program(tensors: list[Any]) -> tuple[Callable[..., Any], list[Any]]:
    leaves = leaves_of(tensors)

    def program(*values: Any) -> Any:
        ev = Evaluator({id(leaf): v for leaf, v in zip(leaves, values)})
        return tuple(ev.value(t) for t in tensors)

    return program, leaves


def evaluate(tensors: list[Any]) -> list[np.ndarray]:
    """The values of ``tensors`` as numpy arrays: one ``tcomp.jit`` program of their
    graph, run on :data:`BACKEND`."""
    program, leaves = _program(tensors)
    outputs = tcomp.jit(program, backend=BACKEND["name"])(*[leaf._value for leaf in leaves])
    return [np.asarray(o) for o in outputs]


def abstract(tensor: Any) -> tuple[tuple[int, ...], str]:
    """``(shape, tcomp dtype)`` of ``tensor``, from tracing its graph (nothing runs)."""
    program, leaves = _program([tensor])
    lowered = tcomp.jit(program, backend=BACKEND["name"]).lower(*[leaf._value for leaf in leaves])
    (out,) = lowered.function("traced").outputs
    return tuple(out.type.shape), out.type.dtype
