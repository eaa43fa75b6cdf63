"""The shim's ``Tensor``: a lazy wrapper that records tcomp calls.

Each method records the tcomp function it maps to (:mod:`bench.op_suite.lookup`) as a
:class:`~bench.op_suite.graph.Call`; the call is traced alone at once for its result's
shape and dtype (:mod:`bench.op_suite.abstract`). ``numpy()``/``realize()`` evaluate the
graph with tcomp on the chosen backend; ``gradient(*inputs)`` differentiates it with
``tcomp.grad``. The methods themselves live in ``methods_*.py`` mixins.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

import numpy as np

import tcomp
from bench.op_suite import abstract, graph
from bench.op_suite.dtypes import DType, dtypes, from_tcomp, to_dtype
from bench.op_suite.errors import Unsupported
from bench.op_suite.methods_create import CreationMethods
from bench.op_suite.methods_elementwise import ElementwiseMethods
from bench.op_suite.methods_nn import NNMethods
from bench.op_suite.methods_reduce import ReduceMethods
from bench.op_suite.methods_shape import ShapeMethods


def _host_array(data: Any, dtype: DType | None) -> np.ndarray:
    """``data`` (a scalar, nested lists, a numpy array) as a numpy array of tinygrad's
    dtype: ``dtype``, else the array's own, else bool/int32/float32 for Python values."""
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        array = np.asarray(data)
        if dtype is None:
            dtype = to_dtype(array.dtype)
    else:
        if dtype is None:
            dtype = dtypes.from_py(_flat(data))
        array = np.asarray(data)
    dtype.tcomp_name  # noqa: B018 -- Unsupported for a dtype tcomp lacks
    if dtype.is_int and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"cannot make an {dtype.name} tensor of non-finite floats")
    return np.array(array, dtype=dtype.np, order="C")


def _flat(data: Any) -> list[Any]:
    if isinstance(data, (list, tuple)):
        return [v for item in data for v in _flat(item)]
    return [data]


class Tensor(ElementwiseMethods, ReduceMethods, ShapeMethods, NNMethods, CreationMethods):
    """tinygrad's Tensor, as tcomp calls recorded lazily (see the module docstring)."""

    _is_shim_tensor = True
    __hash__ = object.__hash__

    def __init__(
        self, data: Any, device: Any = None, dtype: Any = None, requires_grad: Any = None
    ) -> None:
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None
        self._cached: np.ndarray | None = None
        self._index: int | None = None
        if isinstance(data, Tensor):
            self._call, self._value, self._index, self._aval = (
                data._call,
                data._value,
                data._index,
                data._aval,
            )
            if dtype is not None:
                self._become(data.cast(dtype))
            return
        if isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) for v in _flat(data)):
            raise Unsupported("a tensor from a list of tensors", "the shim takes host data only")
        self._call = None
        self._value = _host_array(data, None if dtype is None else to_dtype(dtype))
        self._aval = (tuple(self._value.shape), self._value.dtype.name)

    # --- recording -------------------------------------------------------------

    @classmethod
    def _from_call(cls, call: graph.Call) -> Any:
        single, avals = abstract.result_avals(call)
        if single:
            return cls._node(call, None, avals[0])
        return tuple(cls._node(call, i, aval) for i, aval in enumerate(avals))

    @classmethod
    def _node(cls, call: graph.Call, index: int | None, aval: abstract.Aval) -> Tensor:
        t = cls.__new__(cls)
        t.requires_grad, t.grad, t._cached = None, None, None
        t._call, t._value, t._index, t._aval = call, None, index, aval
        return t

    @classmethod
    def _record(cls, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Records ``fn(*args, **kwargs)`` (tensors anywhere in the arguments) and
        returns its result tensor(s)."""
        return cls._from_call(graph.Call(name, fn, args, kwargs))

    def _become(self, other: Tensor) -> None:
        self._call, self._value, self._index, self._aval = (
            other._call,
            other._value,
            other._index,
            other._aval,
        )
        self._cached = None

    # --- what a tensor is -------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._aval[0]

    @property
    def dtype(self) -> DType:
        return from_tcomp(self._aval[1])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def device(self) -> str:
        return "TCOMP"

    def numel(self) -> int:
        return int(np.prod(self.shape))

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<Tensor shape={self.shape} dtype={self.dtype} (tcomp shim)>"

    # --- evaluation -------------------------------------------------------------

    def realize(self, *others: Tensor) -> Tensor:
        pending = [t for t in (self, *others) if t._cached is None]
        for t, value in zip(pending, graph.evaluate(pending)):
            t._cached = value
        return self

    def numpy(self) -> np.ndarray:
        self.realize()
        assert self._cached is not None
        return self._cached.copy()

    def item(self) -> Any:
        return self.numpy().item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def data(self) -> Any:
        return self.numpy()

    def __bool__(self) -> bool:
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        return int(self.item())

    # --- gradients --------------------------------------------------------------

    def gradient(self, *targets: Tensor, gradient: Any = None) -> list[Tensor]:
        """The gradients of this scalar with respect to ``targets`` (``tcomp.grad``)."""
        if gradient is not None:
            raise Unsupported("gradient with a given cotangent", "the shim differentiates scalars")
        if self.shape != ():
            raise RuntimeError(f"gradient needs a scalar, this tensor has shape {self.shape}")
        call = graph.GradCall(self, tuple(targets))
        return [Tensor._node(call, i, t._aval) for i, t in enumerate(targets)]

    def backward(self) -> Tensor:
        """Sets ``.grad`` on every source tensor of this scalar's graph (a leaf or a
        creation call) that is floating point and not marked ``requires_grad=False``."""
        sources = [t for t in _sources(self) if t.requires_grad is not False and t.dtype.is_float]
        for t, g in zip(sources, self.gradient(*sources)):
            t.grad = g
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def detach(self) -> Tensor:
        return self._record("stop_gradient", tcomp.stop_gradient, self)

    # --- indexing ---------------------------------------------------------------

    def __getitem__(self, index: Any) -> Tensor:
        return self._record("getitem", operator.getitem, self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        old = Tensor(self)
        self._become(self._record("at[].set", _at_set, old, index, value))

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    # --- devices and no-ops ----------------------------------------------------

    def to(self, device: Any) -> Tensor:
        return self

    def to_(self, device: Any) -> Tensor:
        return self

    def contiguous(self) -> Tensor:
        return self

    def clone(self) -> Tensor:
        return Tensor(self)

    def assign(self, other: Any) -> Tensor:
        other = other if isinstance(other, Tensor) else Tensor(other, dtype=self.dtype)
        self._become(other)
        return self


def _at_set(x: Any, index: Any, value: Any) -> Any:
    return x.at[index].set(value)


def _sources(root: Tensor) -> list[Tensor]:
    """Tensors of ``root``'s graph that are leaves or calls with no tensor input."""
    found: list[Tensor] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        inputs = [] if t._call is None else t._call.inputs()
        if not inputs:
            found.append(t)
        stack.extend(inputs)
    return found
