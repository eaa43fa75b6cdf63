"""Host effects of a traced function: what ``tcomp.debug.print``/``callback`` record.

Inside a trace an effect cannot run (the values are not known yet), so it is
recorded: an :class:`Effect` (the format string or host function, the pytree of its
arguments with the traced leaves taken out) and the tracers of its traced leaves.
Traces that can hand values back to the host *collect* effects
(:func:`collect_effects`): the trace of a jitted function, whose effects' values
become hidden extra outputs after the function's own (:func:`finish_effects`, an
:class:`EffectPlan` kept by the program), and the sub-trace that ``grad``/``vjp``
differentiate, whose effects are passed on to the enclosing trace as outputs of the
sub-function that get no cotangent (:func:`forward_effects`): the forward values are
printed, once, and no gradient flows through them.

After each call, :func:`run_effects` copies those outputs to the host and runs the
effects in the order the trace met them (program order), once per call.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from tcomp.frontend.pytree import TreeDef, tree_unflatten
from tcomp.ir.errors import TcompTracerError, with_location
from tcomp.ir.graph import Location


@dataclass(frozen=True)
class Effect:
    """One ``debug.print`` (``template`` set) or ``debug.callback`` (``callback`` set):
    ``tree`` is the pytree of ``(args, kwargs)``; ``statics`` the leaves that are not
    traced (index, value); the other ``traced`` leaves come back from the call."""

    template: str | None
    callback: Callable[..., Any] | None
    tree: TreeDef
    statics: tuple[tuple[int, Any], ...]
    traced: int
    location: Location | None

    def run(self, values: Sequence[np.ndarray]) -> None:
        """Runs the effect on its traced leaves' values (host arrays, in leaf order)."""
        fill = dict(self.statics)
        shown = _shown if self.template is not None else np.asarray
        dynamic = iter(values)
        leaves = [fill[i] if i in fill else shown(next(dynamic)) for i in range(self.tree.num_leaves)]
        args, kwargs = tree_unflatten(self.tree, leaves)
        if self.template is not None:
            print(self.template.format(*args, **kwargs), flush=True)
        elif self.callback is not None:
            self.callback(*args, **kwargs)


@dataclass(frozen=True)
class EffectPlan:
    """The effects of one program, in order, and where their values start among its
    outputs (the function's own outputs come first)."""

    effects: tuple[Effect, ...]
    first_output: int

    @property
    def outputs(self) -> int:
        return sum(effect.traced for effect in self.effects)


# trace -> the effects recorded in it so far, with the tracers of their traced leaves
_COLLECTING: "weakref.WeakKeyDictionary[Any, list[tuple[Effect, list[Any]]]]" = (
    weakref.WeakKeyDictionary()
)


def collect_effects(trace: Any) -> None:
    """Lets effects be recorded in ``trace`` (its owner takes them back at its end)."""
    _COLLECTING[trace] = []


def record_effect(trace: Any, effect: Effect, tracers: list[Any]) -> None:
    """Records ``effect`` in ``trace``; raises when ``trace`` cannot return values."""
    collected = _COLLECTING.get(trace)
    if collected is None:
        what = "tcomp.debug.print" if effect.template is not None else "tcomp.debug.callback"
        raise TcompTracerError(with_location(
            f"{what} inside {trace.name}: this traced region cannot hand values back to the "
            "host (only the body of a jitted function, and of grad, value_and_grad and vjp "
            "inside it, can); print its results outside it",
            effect.location,
        ))
    collected.append((effect, tracers))


def take_effects(trace: Any) -> list[tuple[Effect, list[Any]]]:
    """The effects recorded in ``trace`` (it collects no more)."""
    return _COLLECTING.pop(trace, [])


def finish_effects(trace: Any, outputs: int) -> tuple[EffectPlan | None, list[Any]]:
    """At the end of a jitted function's trace with ``outputs`` outputs: its effects'
    plan (None without effects) and the tracers to append to its outputs."""
    collected = take_effects(trace)
    if not collected:
        return None, []
    tracers = [tracer for _, traced in collected for tracer in traced]
    return EffectPlan(tuple(effect for effect, _ in collected), outputs), tracers


def forward_effects(
    trace: Any, effects: Sequence[Effect], values: Sequence[Any]
) -> None:
    """Records a sub-function's ``effects`` in the enclosing ``trace``, their traced
    leaves now ``values`` (that trace's tracers of the sub-function's extra outputs)."""
    at = 0
    for effect in effects:
        record_effect(trace, effect, list(values[at:at + effect.traced]))
        at += effect.traced


def run_effects(plan: EffectPlan, outputs: Sequence[Any], backend: Any) -> None:
    """Runs a call's effects on its ``outputs`` (copied to the host), in program order."""
    at = plan.first_output
    for effect in plan.effects:
        buffers = outputs[at:at + effect.traced]
        at += effect.traced
        effect.run([_host(buffer, backend) for buffer in buffers])


def _host(buffer: Any, backend: Any) -> np.ndarray:
    if isinstance(buffer, np.ndarray):
        return buffer
    return np.asarray(backend.to_host(buffer))


def _shown(array: np.ndarray) -> "Shown":
    return Shown(np.asarray(array))


class Shown:
    """A value as ``debug.print`` formats it: ``{x}`` is ``str(x)`` (numpy's text, so a
    float32 shows as ``0.29131263``), and a format spec applies to each element
    (``{x:.3f}``: ``0.291`` or ``[0.291 0.537]``); attributes and items (``{x.shape}``,
    ``{x[0]}``) are the array's."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        value = self.value
        if not spec:
            return str(value[()] if value.ndim == 0 else value)
        if value.ndim == 0:
            return format(value.item(), spec)
        return np.array2string(value, formatter={"all": lambda e: format(e.item(), spec)})

    def __str__(self) -> str:
        return self.__format__("")

    def __repr__(self) -> str:
        return repr(self.value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.value, name)

    def __getitem__(self, key: Any) -> "Shown":
        return Shown(np.asarray(self.value[key]))
