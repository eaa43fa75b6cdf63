"""Learning-rate schedules against optax's documented formulas, written in numpy here,
eagerly (a Python int step) and traced (an int32 step inside jit, one trace for all)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tcomp
from tcomp import optim
from tcomp.errors import TcompArgumentError

STEPS = list(range(0, 25))


def np_linear(step, init, end, steps, begin=0):
    done = min(max(step - begin, 0), steps)
    return (init - end) * (1 - done / steps) + end


def np_cosine(step, init, steps, alpha=0.0):
    done = min(step, steps)
    cosine = 0.5 * (1 + math.cos(math.pi * done / steps))
    return init * ((1 - alpha) * cosine + alpha)


def np_exponential(step, init, steps, rate, begin=0, staircase=False, end=None):
    done = step - begin
    if done <= 0:
        return init
    exponent = done // steps if staircase else done / steps
    value = init * rate**exponent
    if end is not None:
        value = max(value, end) if rate < 1 else min(value, end)
    return value


def np_warmup_cosine(step, init, peak, warmup, decay, end):
    if step < warmup:
        return np_linear(step, init, peak, warmup)
    return np_cosine(step - warmup, peak, decay - warmup, end / peak)


CASES = {
    "constant": (optim.constant_schedule(0.3), lambda s: 0.3),
    "linear": (optim.linear_schedule(1.0, 0.1, 10), lambda s: np_linear(s, 1.0, 0.1, 10)),
    "linear_warmup_late": (
        optim.linear_schedule(0.0, 0.5, 8, transition_begin=5),
        lambda s: np_linear(s, 0.0, 0.5, 8, 5),
    ),
    "cosine": (optim.cosine_decay_schedule(0.1, 20), lambda s: np_cosine(s, 0.1, 20)),
    "cosine_alpha": (
        optim.cosine_decay_schedule(0.1, 12, alpha=0.2),
        lambda s: np_cosine(s, 0.1, 12, 0.2),
    ),
    "exponential": (
        optim.exponential_decay(1.0, 5, 0.5),
        lambda s: np_exponential(s, 1.0, 5, 0.5),
    ),
    "exponential_staircase_end": (
        optim.exponential_decay(1.0, 4, 0.5, transition_begin=3, staircase=True, end_value=0.2),
        lambda s: np_exponential(s, 1.0, 4, 0.5, 3, True, 0.2),
    ),
    "exponential_growth_capped": (
        optim.exponential_decay(0.1, 3, 2.0, end_value=1.0),
        lambda s: np_exponential(s, 0.1, 3, 2.0, end=1.0),
    ),
    "warmup_cosine": (
        optim.warmup_cosine_decay_schedule(0.0, 1.0, 5, 20, end_value=0.1),
        lambda s: np_warmup_cosine(s, 0.0, 1.0, 5, 20, 0.1),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_schedule_values_eagerly(name: str) -> None:
    schedule, reference = CASES[name]
    got = [float(schedule(step)) for step in STEPS]
    np.testing.assert_allclose(got, [reference(s) for s in STEPS], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "backend", [b for b in ("reference", "llvm") if b in tcomp.available_backends()]
)
@pytest.mark.parametrize(
    "name", ["linear_warmup_late", "exponential_staircase_end", "warmup_cosine"]
)
def test_schedule_values_traced_once(name: str, backend: str) -> None:
    schedule, reference = CASES[name]
    jitted = tcomp.jit(lambda count: tcomp.astype(schedule(count), "float32"), backend=backend)
    got = [float(jitted(np.int32(step))) for step in STEPS]
    np.testing.assert_allclose(got, [reference(s) for s in STEPS], rtol=1e-5, atol=1e-7)
    assert jitted.trace_count == 1


def test_join_schedules_counts_each_piece_from_its_boundary() -> None:
    joined = optim.join_schedules(
        [optim.constant_schedule(1.0), optim.linear_schedule(1.0, 0.0, 4)], boundaries=[3]
    )
    got = [float(joined(step)) for step in range(9)]
    assert got == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0])


def test_schedule_arguments_are_checked() -> None:
    with pytest.raises(TcompArgumentError, match="transition_steps must be an int >= 1"):
        optim.linear_schedule(1.0, 0.0, 0)
    with pytest.raises(TcompArgumentError, match="decay_rate"):
        optim.exponential_decay(1.0, 10, 0.0)
    with pytest.raises(TcompArgumentError, match="boundaries"):
        optim.join_schedules([optim.constant_schedule(1.0)], [3])
    with pytest.raises(TcompArgumentError, match="decay_steps"):
        optim.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=10)
