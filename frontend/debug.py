"""``tcomp.debug``: print values, or run host code on them, from inside ``jit``.

``tcomp.debug.print("loss {x}", x=loss)`` formats like ``str.format`` (named and
positional fields, format specs such as ``{x:.4f}``), with the arrays' run-time
values, once per call of the jitted function, in program order, after the call's
kernels have run. ``tcomp.debug.callback(fn, *xs)`` calls ``fn`` with the values
as numpy arrays the same way; it returns None and has no gradient.

Both are host round trips: the values are extra outputs of the compiled program
(hidden from the caller), copied to the host after the call (from the device on GPU
backends); they also keep the computation that makes them alive. Inside
``grad``/``value_and_grad``/``vjp`` they print the forward values. Outside ``jit``
they run at once. See :mod:`tcomp.frontend.debug_effects` for how.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from tcomp.frontend.array import Array
from tcomp.frontend.debug_effects import Effect, record_effect
from tcomp.frontend.location import user_location
from tcomp.frontend.pytree import tree_flatten
from tcomp.frontend.trace import Tracer, current_trace
from tcomp.ir.errors import TcompArgumentError, TcompTypeError, with_location
from tcomp.ir.graph import Location

__all__ = ["callback", "print"]


def print(fmt: str, *args: Any, **kwargs: Any) -> None:
    """Prints ``fmt.format(*args, **kwargs)`` with the arguments' values.

    Inside ``jit``: once per call, after the call, with that call's values (arrays
    become numpy arrays, 0-d ones numpy scalars, so ``{x:.3f}`` works), in the order
    the function printed. Arguments may be pytrees; leaves that are not traced
    (strings, numbers) are printed as they are. Outside ``jit``: at once.
    A host round trip (see the module docstring).
    """
    if not isinstance(fmt, str):
        raise TcompTypeError(
            with_location(f"tcomp.debug.print: the format must be a str, got "
                          f"{type(fmt).__name__}", user_location())
        )
    _effect(fmt, None, args, kwargs, user_location())


def callback(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Calls ``fn(*args, **kwargs)`` on the host with the arguments' values (numpy arrays).

    Inside ``jit``: once per call, after the call, in program order with the other
    effects; ``fn``'s result is ignored and no gradient flows through it. Outside
    ``jit``: at once. A host round trip (see the module docstring).
    """
    if not callable(fn):
        raise TcompTypeError(
            with_location(f"tcomp.debug.callback: expected a function, got "
                          f"{type(fn).__name__}", user_location())
        )
    _effect(None, fn, args, kwargs, user_location())


def _effect(
    template: str | None,
    fn: Callable[..., Any] | None,
    args: tuple,
    kwargs: dict,
    location: Location | None,
) -> None:
    leaves, tree = tree_flatten((args, kwargs))
    trace = current_trace()
    if template is not None:
        _check_template(template, args, kwargs, location)
    if trace is None:  # eager: now
        values = [np.asarray(leaf) for leaf in leaves if _is_array(leaf)]
        statics = tuple((i, leaf) for i, leaf in enumerate(leaves) if not _is_array(leaf))
        Effect(template, fn, tree, statics, len(values), location).run(values)
        return
    tracers, statics = [], []
    for index, leaf in enumerate(leaves):
        if isinstance(leaf, Tracer):
            tracers.append(trace.lift(leaf))
        elif isinstance(leaf, Array):
            statics.append((index, np.asarray(leaf)))  # a constant of the trace: known now
        else:
            statics.append((index, leaf))
    effect = Effect(template, fn, tree, tuple(statics), len(tracers), location)
    record_effect(trace, effect, tracers)


def _is_array(leaf: Any) -> bool:
    return isinstance(leaf, (Array, np.ndarray))


class _Probe:
    """Stands in for every argument while a format string is checked at trace time."""

    def __format__(self, spec: str) -> str:
        return ""

    def __getattr__(self, name: str) -> "_Probe":
        return self

    def __getitem__(self, key: Any) -> "_Probe":
        return self


def _check_template(template: str, args: tuple, kwargs: dict, location: Location | None) -> None:
    """A format string naming a field that is not passed fails here, at the user's line,
    rather than after the call."""
    probe = _Probe()
    try:
        template.format(*[probe] * len(args), **{name: probe for name in kwargs})
    except (KeyError, IndexError, ValueError) as error:
        shown = f"no argument {error}" if isinstance(error, KeyError) else str(error)
        raise TcompArgumentError(
            with_location(
                f"tcomp.debug.print({template!r}): {shown} (passed: {len(args)} positional, "
                f"named {sorted(kwargs) or 'none'})",
                location,
            )
        ) from None
