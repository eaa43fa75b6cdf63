"""Optimisers as pure functions over pytrees (in the style of optax).

An optimiser is a :class:`GradientTransformation`, a pair of functions::

    opt = tcomp.optim.adam(1e-3)
    state = opt.init(params)                              # a pytree of arrays
    updates, state = opt.update(grads, state, params)     # pure: no hidden state
    params = tcomp.optim.apply_updates(params, updates)

They work eagerly and inside ``jit``: written in a jitted train step, the
update becomes part of that program (the backend fuses it with the gradient
computation) and the step count it keeps is an int32 array of the state, so
every step runs the same compiled program. A learning rate is a number or a
schedule, a function of that count (:mod:`tcomp.optim.schedules`).
"""

from tcomp.optim.base import (
    EmptyState,
    GradientTransformation,
    Schedule,
    ScheduleState,
    apply_updates,
    chain,
    identity,
    scale,
    scale_by_learning_rate,
)
from tcomp.optim.optimizers import adagrad, adam, adamw, rmsprop, sgd
from tcomp.optim.schedules import (
    constant_schedule,
    cosine_decay_schedule,
    exponential_decay,
    join_schedules,
    linear_schedule,
    warmup_cosine_decay_schedule,
)
from tcomp.optim.transforms import (
    ScaleByAdamState,
    ScaleByRmsState,
    ScaleByRssState,
    TraceState,
    add_decayed_weights,
    clip_by_global_norm,
    global_norm,
    scale_by_adam,
    scale_by_rms,
    scale_by_rss,
    trace,
)

__all__ = [
    "EmptyState",
    "GradientTransformation",
    "Schedule",
    "ScheduleState",
    "ScaleByAdamState",
    "ScaleByRmsState",
    "ScaleByRssState",
    "TraceState",
    "adagrad",
    "adam",
    "adamw",
    "add_decayed_weights",
    "apply_updates",
    "chain",
    "clip_by_global_norm",
    "constant_schedule",
    "cosine_decay_schedule",
    "exponential_decay",
    "global_norm",
    "identity",
    "join_schedules",
    "linear_schedule",
    "rmsprop",
    "scale",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_rss",
    "sgd",
    "trace",
    "warmup_cosine_decay_schedule",
]
