"""Tracing: recording a Python function's array operations as graph IR.

While ``@tcomp.jit`` (or ``grad``, ``vjp``) traces a function, its array
arguments are :class:`Tracer` objects: abstract arrays with a shape and a
dtype but no values. Each operation on them appends a node to the active
:class:`Trace`. Traces nest (``grad`` inside ``jit``): the innermost is the
active one, and a tracer of an outer trace used inside an inner one is
*captured*, becoming an extra parameter of the inner function that is wired
back to the outer value when the inner function is inlined.

Values a trace meets that are not tracers become constants: numpy arrays a
function closes over, ``tcomp.Array`` results, Python scalars.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np

from tcomp.frontend.array_methods import ArrayMethods
from tcomp.frontend.location import user_location
from tcomp.ir.builder import FunctionBuilder, inline_into
from tcomp.ir.errors import TcompTracerError, with_location
from tcomp.ir.graph import Function, Value
from tcomp.ir.types import TensorType, numpy_dtype


class Tracer(ArrayMethods):
    """An abstract array inside a trace: shape and dtype known, values not.

    It supports the same operators and methods as ``tcomp.Array`` and
    numpy arrays; anything that needs the values (``if x > 0:``,
    ``float(x)``, ``np.asarray(x)``) raises :class:`TcompTracerError`
    explaining what to write instead.
    """

    __slots__ = ("_trace", "_value", "weak")

    def __init__(self, trace: "Trace", value: Value, weak: bool = False) -> None:
        self._trace = trace
        self._value = value
        self.weak = weak

    @property
    def aval(self) -> TensorType:
        return self._value.type

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return numpy_dtype(self._value.dtype)

    def __repr__(self) -> str:
        return f"Tracer({self._value.type}, trace={self._trace.name})"

    # Conversions that need concrete values --------------------------------------

    def _concrete_error(self, what: str, advice: str) -> TcompTracerError:
        message = (
            f"{what} needs the value of a traced array ({self.aval}), which is unknown while "
            f"tcomp traces the function. {advice}"
        )
        return TcompTracerError(with_location(message, user_location()))

    def __bool__(self) -> bool:
        raise self._concrete_error(
            "Python control flow (if/while/and/or on an array)",
            "Use tcomp.where(condition, a, b) to choose elementwise, or pass the value as a "
            "static argument (jit(..., static_argnums=...)) if it decides the program's shape.",
        )

    def __float__(self) -> float:
        raise self._concrete_error(
            "float()", "Keep it an array (x.astype('float32')) or return it from the function."
        )

    def __int__(self) -> int:
        raise self._concrete_error(
            "int()", "Keep it an array (x.astype('int32')) or pass it as a static argument."
        )

    def __index__(self) -> int:
        raise self._concrete_error(
            "Using an array as a Python index or size",
            "Use tcomp.take(x, indices) to index with an array, or pass sizes as static arguments.",
        )

    def __complex__(self) -> complex:
        raise self._concrete_error("complex()", "tcomp has no complex dtypes.")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise self._concrete_error(
            "Converting to a numpy array",
            "Use tcomp functions (tcomp.exp, tcomp.sum ...) inside jit, and convert the result "
            "after the jitted function returns.",
        )

    def tolist(self) -> list:
        raise self._concrete_error("tolist()", "Return the array and convert it afterwards.")

    def item(self) -> Any:
        raise self._concrete_error("item()", "Return the array and convert it afterwards.")


class Trace:
    """One function being recorded: a builder, a parent trace, and captured outer values."""

    def __init__(self, name: str, parent: "Trace | None") -> None:
        self.name = name
        self.parent = parent
        self.builder = FunctionBuilder(name)
        self.active = True
        # Outer tracers used here: id(outer value) -> (outer tracer, our parameter tracer).
        self._captures: dict[int, tuple[Tracer, Tracer]] = {}
        self._explicit_params: list[Value] = []
        # jit(buckets=...): id(argument value) -> {axis: its true length's tracer}
        self.bucket_lengths: dict[int, dict[int, Tracer]] = {}

    def new_param(self, type: TensorType, weak: bool = False) -> Tracer:
        value = self.builder.add_param(type)
        self._explicit_params.append(value)
        return Tracer(self, value, weak)

    def emit(self, op: str, inputs: Sequence[Tracer], attrs: dict[str, Any]) -> Tracer:
        """Appends a node; inputs must already belong to this trace."""
        value = self.builder.emit(op, [t._value for t in inputs], attrs, user_location())
        return Tracer(self, value)

    def lift(self, x: Any, exact: bool = False) -> Tracer:
        """This trace's tracer for ``x``: captures outer tracers, turns concrete data into
        constants (a numpy array of a tcomp dtype as it is when ``exact``: the frontend's
        own operands, whose dtype is decided, int64 included; otherwise brought to tcomp's
        dtypes as an argument is, :mod:`tcomp.frontend.values`)."""
        if isinstance(x, Tracer):
            # Checked first, so a tracer of a finished trace is caught even when it is ours.
            if not x._trace.active:
                raise TcompTracerError(
                    with_location(
                        f"a traced value ({x.aval}) from a finished trace ({x._trace.name}) was "
                        "used: a tracer escaped its function (stored in a global or a closure). "
                        "Return it from the jitted function instead.",
                        user_location(),
                    )
                )
            if x._trace is self:
                return x
            return self._capture(x)
        array = x if exact and isinstance(x, np.ndarray) else concrete_array(x)
        weak = isinstance(x, (bool, int, float))
        value = self.builder.emit("constant", [], {"value": array}, user_location())
        return Tracer(self, value, weak)

    def _capture(self, outer: Tracer) -> Tracer:
        key = id(outer._value)
        if key not in self._captures:
            if self.parent is None:
                raise TcompTracerError("internal error: a tracer from an unknown trace was used")
            via_parent = self.parent.lift(outer)
            param = Tracer(self, self.builder.add_param(outer.aval), outer.weak)
            self._captures[key] = (via_parent, param)
        return self._captures[key][1]

    @property
    def captured(self) -> list[Tracer]:
        """The parent-trace tracers wired to this trace's capture parameters, in parameter order."""
        return [outer for outer, _ in self._captures.values()]

    def finish(self, outputs: Sequence[Tracer]) -> Function:
        """The recorded function: explicit parameters first, then captures."""
        capture_params = [param._value for _, param in self._captures.values()]
        self.builder.params = self._explicit_params + capture_params
        return self.builder.finish([t._value for t in outputs])


def concrete_array(x: Any) -> np.ndarray:
    """A Python scalar, numpy array or ``tcomp.Array`` as a numpy array of a tcomp dtype."""
    from tcomp.frontend.values import host_array

    return host_array(x)


_state = threading.local()


def _stack() -> list[Trace]:
    if not hasattr(_state, "stack"):
        _state.stack = []
    return _state.stack


def current_trace() -> Trace | None:
    """The innermost active trace, or None outside any trace (eager mode)."""
    stack = _stack()
    return stack[-1] if stack else None


@contextmanager
def new_trace(name: str) -> Iterator[Trace]:
    """Opens a trace nested in the current one; it is finished when the block exits."""
    stack = _stack()
    trace = Trace(name, stack[-1] if stack else None)
    stack.append(trace)
    try:
        yield trace
    finally:
        stack.pop()
        trace.active = False


def inline(function: Function, trace: Trace, inputs: Sequence[Tracer]) -> list[Tracer]:
    """Emits ``function``'s nodes into ``trace`` with its parameters bound to ``inputs``."""
    values = inline_into(trace.builder, function, [t._value for t in inputs])
    return [Tracer(trace, value) for value in values]
