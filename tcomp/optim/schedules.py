"""Learning-rate schedules: functions of the step count, traced like the rest of a step.

A schedule is called with the number of updates made before this one (an
int32 scalar; traced inside ``jit``, so a new step does not retrace; a Python
int works eagerly too) and returns the learning rate as a float32 scalar.
The formulas are optax's.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import tcomp
from tcomp.ir.errors import TcompArgumentError, TcompTypeError
from tcomp.optim.base import Schedule, check_number


def _steps(count: Any) -> Any:
    return tcomp.astype(count, "float32")


def _check_steps(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise TcompArgumentError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def constant_schedule(value: float) -> Schedule:
    """``value`` at every step."""
    value = check_number("constant_schedule: value", value, -math.inf)
    return lambda count: value


def linear_schedule(
    init_value: float, end_value: float, transition_steps: int, transition_begin: int = 0
) -> Schedule:
    """``init_value`` until step ``transition_begin``, then a straight line to
    ``end_value`` over ``transition_steps`` steps, then ``end_value`` (a warmup from 0
    to the peak rate: ``linear_schedule(0.0, peak, warmup_steps)``)."""
    init_value = check_number("linear_schedule: init_value", init_value, -math.inf)
    end_value = check_number("linear_schedule: end_value", end_value, -math.inf)
    transition_steps = _check_steps("linear_schedule: transition_steps", transition_steps)
    transition_begin = _check_steps("linear_schedule: transition_begin", transition_begin, 0)

    def schedule(count: Any) -> Any:
        done = tcomp.clip(_steps(count) - transition_begin, 0, transition_steps)
        return init_value + (end_value - init_value) * (done / transition_steps)

    return schedule


def cosine_decay_schedule(init_value: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """``init_value * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps)) + alpha)`` with
    ``t = min(step, decay_steps)``: from ``init_value`` down to ``alpha * init_value``."""
    init_value = check_number("cosine_decay_schedule: init_value", init_value, -math.inf)
    decay_steps = _check_steps("cosine_decay_schedule: decay_steps", decay_steps)
    alpha = check_number("cosine_decay_schedule: alpha", alpha, 0.0, 1.0, high_open=False)

    def schedule(count: Any) -> Any:
        done = tcomp.minimum(_steps(count), decay_steps)
        cosine = 0.5 * (1 + tcomp.cos(done * (math.pi / decay_steps)))
        return init_value * ((1 - alpha) * cosine + alpha)

    return schedule


def exponential_decay(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> Schedule:
    """``init_value * decay_rate ** ((step - transition_begin) / transition_steps)``
    (``staircase``: the exponent rounded down), ``init_value`` before ``transition_begin``;
    ``end_value`` bounds it (below when decaying, above when growing)."""
    init_value = check_number("exponential_decay: init_value", init_value, -math.inf)
    transition_steps = _check_steps("exponential_decay: transition_steps", transition_steps)
    decay_rate = check_number("exponential_decay: decay_rate", decay_rate, 0.0, low_open=True)
    transition_begin = _check_steps("exponential_decay: transition_begin", transition_begin, 0)
    if end_value is not None:
        end_value = check_number("exponential_decay: end_value", end_value, -math.inf)

    def schedule(count: Any) -> Any:
        done = tcomp.maximum(_steps(count) - transition_begin, 0)
        exponent = done / transition_steps
        if staircase:
            exponent = tcomp.floor_divide(done, transition_steps)
        value = init_value * decay_rate**exponent
        if end_value is not None:
            bound = tcomp.maximum if decay_rate < 1 else tcomp.minimum
            value = bound(value, end_value)
        return value

    return schedule


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """``schedules[0]`` before step ``boundaries[0]``, then ``schedules[1]`` counted from
    that boundary (called with ``step - boundaries[0]``), and so on."""
    if len(schedules) != len(boundaries) + 1:
        raise TcompArgumentError(
            f"join_schedules: {len(schedules)} schedules need {len(schedules) - 1} boundaries, "
            f"got {len(boundaries)}"
        )
    for schedule in schedules:
        if not callable(schedule):
            raise TcompTypeError(f"join_schedules: {schedule!r} is not a schedule (a function)")
    boundaries = [_check_steps("join_schedules: boundary", b, 0) for b in boundaries]
    if list(boundaries) != sorted(boundaries):
        raise TcompArgumentError(f"join_schedules: boundaries must increase, got {boundaries}")

    def schedule(count: Any) -> Any:
        value = schedules[0](count)
        for boundary, later in zip(boundaries, schedules[1:]):
            value = tcomp.where(count < boundary, value, later(count - boundary))
        return value

    return schedule


def warmup_cosine_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
) -> Schedule:
    """A linear warmup from ``init_value`` to ``peak_value`` over ``warmup_steps``, then a
    cosine decay to ``end_value`` at step ``decay_steps`` (counted from the start, as in
    optax), then ``end_value``."""
    warmup_steps = _check_steps("warmup_cosine_decay_schedule: warmup_steps", warmup_steps)
    decay_steps = _check_steps(
        "warmup_cosine_decay_schedule: decay_steps", decay_steps, warmup_steps + 1
    )
    peak_value = check_number(
        "warmup_cosine_decay_schedule: peak_value", peak_value, 0.0, low_open=True
    )
    end_value = check_number(
        "warmup_cosine_decay_schedule: end_value", end_value, 0.0, peak_value, high_open=False
    )
    return join_schedules(
        [
            linear_schedule(init_value, peak_value, warmup_steps),
            cosine_decay_schedule(peak_value, decay_steps - warmup_steps, end_value / peak_value),
        ],
        [warmup_steps],
    )
