"""The optimiser contract and the transformations everything else is built from.

An optimiser is a :class:`GradientTransformation`: a pair of pure functions
``init(params) -> state`` and ``update(grads, state, params=None) ->
(updates, new_state)``. Everything is a pytree of arrays (numpy data,
``tcomp.Array`` eagerly, traced values inside ``jit``), so an update written
inside a jitted train step becomes part of that one program, and a step
count kept in the state (an int32 scalar) changes from call to call without
a retrace.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, NamedTuple

import numpy as np

import tcomp
from tcomp.ir.errors import TcompArgumentError, TcompTypeError

Schedule = Callable[[Any], Any]
"""A learning rate that depends on the step: called with the number of updates made before
this one (an int32 scalar array, traced inside ``jit``; 0 at the first update)."""

_COUNT_MAX = np.iinfo(np.int32).max


class GradientTransformation(NamedTuple):
    """A pure optimiser: ``init(params) -> state`` and ``update(grads, state, params=None)
    -> (updates, new_state)``; add the updates to the params with :func:`apply_updates`."""

    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


class EmptyState(NamedTuple):
    """The state of a transformation that keeps none (a pytree without leaves)."""


class ScheduleState(NamedTuple):
    """The state of :func:`scale_by_learning_rate` with a schedule: updates made so far."""

    count: Any


def zero_count() -> Any:
    """A step count of 0: an int32 scalar (a constant inside ``jit``)."""
    return tcomp.zeros((), "int32")


def increment(count: Any) -> Any:
    """``count + 1``, staying at the int32 maximum instead of wrapping around."""
    return tcomp.where(count < _COUNT_MAX, count + 1, count)


def cast_like(value: Any, reference: Any) -> Any:
    """``value`` in ``reference``'s dtype (an update of a bfloat16 parameter stays bfloat16
    although the scalars it was scaled by are float32); unchanged if already so."""
    dtype = getattr(reference, "dtype", None)
    if dtype is None or np.dtype(value.dtype) == np.dtype(dtype):
        return value
    return tcomp.astype(value, dtype)


def check_number(
    name: str,
    value: Any,
    low: float,
    high: float = float("inf"),
    low_open: bool = False,
    high_open: bool = True,
) -> float:
    """``value`` as a float, or a TcompTypeError / TcompArgumentError naming ``name`` and
    the range it must lie in (``[low, high)`` by default)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TcompTypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high or value != value:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise TcompArgumentError(f"{name} must be in {left}{low}, {high}{right}, got {value!r}")
    return value


def check_learning_rate(learning_rate: Any) -> Any:
    """A learning rate is a number, a scalar array, or a schedule (a callable of the count)."""
    if callable(learning_rate):
        return learning_rate
    if isinstance(learning_rate, bool):
        raise TcompTypeError(f"learning_rate must be a number or a schedule, got {learning_rate!r}")
    if isinstance(learning_rate, numbers.Real):
        return float(learning_rate)
    if getattr(learning_rate, "shape", None) == ():
        return learning_rate
    raise TcompTypeError(
        "learning_rate must be a number, a scalar array or a schedule (a function of the step "
        f"count, such as tcomp.optim.cosine_decay_schedule(...)), got {learning_rate!r}"
    )


def apply_updates(params: Any, updates: Any) -> Any:
    """``params + updates`` leaf by leaf, each result in its parameter's dtype."""
    return tcomp.tree_map(lambda p, u: cast_like(tcomp.add(p, u), p), params, updates)


def identity() -> GradientTransformation:
    """Passes the updates through unchanged (keeps no state)."""

    def update(grads: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        return grads, state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale(factor: float) -> GradientTransformation:
    """Multiplies every update by the number ``factor``."""
    factor = check_number("scale: factor", factor, -float("inf"))

    def update(grads: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        return tcomp.tree_map(lambda g: cast_like(tcomp.multiply(g, factor), g), grads), state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_learning_rate(learning_rate: float | Schedule) -> GradientTransformation:
    """Multiplies every update by ``-learning_rate`` (a descent step); a schedule is called
    with the number of updates made before this one, kept in the state."""
    learning_rate = check_learning_rate(learning_rate)
    if not callable(learning_rate):

        def update_constant(grads: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
            step = -learning_rate
            return tcomp.tree_map(lambda g: cast_like(tcomp.multiply(g, step), g), grads), state

        return GradientTransformation(lambda params: EmptyState(), update_constant)

    def init(params: Any) -> ScheduleState:
        return ScheduleState(count=zero_count())

    def update(grads: Any, state: ScheduleState, params: Any = None) -> tuple[Any, Any]:
        step = -learning_rate(state.count)
        updates = tcomp.tree_map(lambda g: cast_like(tcomp.multiply(g, step), g), grads)
        return updates, ScheduleState(count=increment(state.count))

    return GradientTransformation(init, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Applies ``transforms`` in order, each to the updates of the one before; the state
    is a tuple with one state per transformation."""
    for index, transform in enumerate(transforms):
        if not isinstance(transform, GradientTransformation):
            raise TcompTypeError(
                f"chain: argument {index} is not an optimiser or transformation "
                f"(tcomp.optim.adam(...), clip_by_global_norm(...)), got {transform!r}"
            )

    def init(params: Any) -> tuple[Any, ...]:
        return tuple(transform.init(params) for transform in transforms)

    def update(grads: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        if not isinstance(state, tuple) or len(state) != len(transforms):
            raise TcompArgumentError(
                f"chain: the state must be the tuple of {len(transforms)} states that this "
                "chain's init made"
            )
        new_states = []
        for transform, inner in zip(transforms, state):
            grads, inner = transform.update(grads, inner, params)
            new_states.append(inner)
        return grads, tuple(new_states)

    return GradientTransformation(init, update)
