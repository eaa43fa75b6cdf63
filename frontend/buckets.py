"""Shape buckets: one compiled program per bucket of lengths instead of one per length.

``tcomp.jit(fn, buckets={"tokens": {1: (64, 128, 256)}})`` pads argument ``tokens``
along axis 1 with zeros to the smallest bucket that holds it (a length of 65 runs as
128) before the signature is looked up, so every length of a bucket shares one trace
and one compile. The true length reaches the traced function as a traced int32:
``tcomp.valid_length(tokens, 1)`` inside ``fn`` (outside ``jit``, or on an argument
that is not bucketed, it is the static ``shape[axis]``, so the same code runs either
way). The function decides what the padding means: mask it out of attention and
reductions (``arange(T) < n``) and read results at ``n - 1`` with ``take``; outputs
keep the bucket's length. A length over the largest bucket is an error naming the
argument, the axis and the buckets; ``retrace_reasons`` says which bucket a new trace
is for.

Only top-level array arguments are bucketed (not leaves inside a pytree), each on
any number of its axes.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from tcomp.frontend.array import Array
from tcomp.ir.errors import TcompArgumentError, TcompShapeError

Buckets = dict[str, dict[int, tuple[int, ...]]]
LENGTH_MARK = ".length"  # pseudo argument "tokens.length1": the true length of axis 1


@dataclass(frozen=True)
class BucketedAxis:
    """One axis of one argument in a call: its true length and the bucket it ran as."""

    name: str
    axis: int
    length: int
    size: int

    @property
    def pseudo_name(self) -> str:
        return f"{self.name}{LENGTH_MARK}{self.axis}"

    def describe(self) -> str:
        return f"{self.name} axis {self.axis}: length {self.length} runs as bucket {self.size}"


def check_buckets(
    fn_name: str, buckets: Mapping[str, Mapping[int, Sequence[int]]] | None,
    signature: inspect.Signature | None, static_names: frozenset[str],
) -> Buckets:
    """``buckets`` validated against ``fn``'s parameters, sizes sorted (``jit`` time)."""
    if not buckets:
        return {}
    if not isinstance(buckets, Mapping):
        raise TcompArgumentError(f"jit({fn_name}): buckets must be a dict "
                                 "{argument name: {axis: (sizes...)}}")
    checked: Buckets = {}
    for name, axes in buckets.items():
        if signature is None or name not in signature.parameters:
            raise TcompArgumentError(f"jit({fn_name}): buckets names {name!r}, not a parameter")
        if name in static_names:
            raise TcompArgumentError(f"jit({fn_name}): buckets names {name!r}, a static argument")
        if not isinstance(axes, Mapping) or not axes:
            raise TcompArgumentError(
                f"jit({fn_name}): buckets[{name!r}] must be a dict {{axis: (sizes...)}}"
            )
        checked[name] = {}
        for axis, sizes in axes.items():
            sizes = tuple(sizes) if isinstance(sizes, (list, tuple)) else (sizes,)
            good = isinstance(axis, int) and not isinstance(axis, bool) and sizes and all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes
            )
            if not good:
                raise TcompArgumentError(
                    f"jit({fn_name}): buckets[{name!r}][{axis!r}] must map an int axis to "
                    f"positive int sizes, got {sizes!r}"
                )
            checked[name][axis] = tuple(sorted(set(sizes)))
    return checked


def bucket_arguments(fn_name: str, buckets: Buckets, arguments: dict[str, Any]) -> list[BucketedAxis]:
    """Pads each bucketed argument in ``arguments`` (in place) to its buckets; returns
    the axes bucketed, in a fixed order. An argument not passed (its default) is left."""
    bucketed = []
    for name, axes in buckets.items():
        if name not in arguments:
            continue
        value = arguments[name]
        shape = tuple(np.shape(value)) if not isinstance(value, Array) else value.shape
        widths = [(0, 0)] * len(shape)
        for axis, sizes in axes.items():
            if not -len(shape) <= axis < len(shape):
                raise TcompShapeError(
                    f"{fn_name}: buckets[{name!r}] names axis {axis}, but {name} has shape "
                    f"{shape}"
                )
            axis = axis % len(shape)
            length = shape[axis]
            size = next((s for s in sizes if s >= length), None)
            if size is None:
                raise TcompShapeError(
                    f"{fn_name}: argument {name} has length {length} on axis {axis}, more "
                    f"than its largest bucket {sizes[-1]} (buckets {list(sizes)})"
                )
            widths[axis] = (0, size - length)
            bucketed.append(BucketedAxis(name, axis, length, size))
        if any(after for _, after in widths):
            arguments[name] = _padded(value, widths)
    return bucketed


def _padded(value: Any, widths: list[tuple[int, int]]) -> Any:
    if isinstance(value, Array):
        from tcomp.frontend.ops import pad

        return pad(value, widths)  # on the array's own backend
    return np.pad(np.asarray(value), widths)


def length_arguments(bucketed: list[BucketedAxis]) -> list[tuple[str, np.ndarray]]:
    """The pseudo arguments that carry the true lengths into the trace (int32 scalars)."""
    return [(axis.pseudo_name, np.asarray(axis.length, np.int32)) for axis in bucketed]


def attach_lengths(trace: Any, arguments: dict[str, Any]) -> None:
    """Inside a new trace: removes the pseudo arguments from ``arguments`` and records
    each length tracer against its argument's tracer, for :func:`valid_length`."""
    for pseudo in [name for name in arguments if LENGTH_MARK in name]:
        length = arguments.pop(pseudo)
        name, _, axis = pseudo.rpartition(LENGTH_MARK)
        owner = arguments[name]
        trace.bucket_lengths.setdefault(id(owner._value), {})[int(axis)] = length


def pass_lengths(outer: Sequence[Any], inner: Sequence[Any]) -> None:
    """A sub-trace (``grad``) of values ``outer`` as parameters ``inner``: the bucket
    lengths of an outer value hold for its inner parameter too."""
    for outer_value, inner_param in zip(outer, inner):
        trace = getattr(outer_value, "_trace", None)
        lengths = getattr(trace, "bucket_lengths", {}).get(id(getattr(outer_value, "_value", None)))
        if lengths:
            inner_param._trace.bucket_lengths[id(inner_param._value)] = dict(lengths)


def valid_length(x: Any, axis: int) -> Any:
    """The true length of ``x`` along ``axis``: inside a ``jit`` with ``buckets`` for this
    argument and axis, a traced int32 scalar (the length before padding to the bucket);
    otherwise ``x.shape[axis]`` as an int. See :mod:`tcomp.frontend.buckets`."""
    shape = x.shape if hasattr(x, "shape") else np.shape(x)
    if not isinstance(axis, int) or not -len(shape) <= axis < len(shape):
        raise TcompShapeError(f"valid_length: axis {axis!r} is not an axis of shape {tuple(shape)}")
    axis %= len(shape)
    trace = getattr(x, "_trace", None)
    lengths = getattr(trace, "bucket_lengths", {}).get(id(getattr(x, "_value", None)), {})
    if axis in lengths:
        return trace.lift(lengths[axis]) if lengths[axis]._trace is not trace else lengths[axis]
    return int(shape[axis])


def describe_buckets(dynamic: Sequence[tuple[str, Any]]) -> str | None:
    """``bucketed: tokens axis 1: length 65 runs as bucket 128`` for a call's dynamic
    arguments (with their pseudo length arguments), or None when nothing is bucketed."""
    values = dict(dynamic)
    parts = []
    for pseudo, length in dynamic:
        if LENGTH_MARK not in pseudo:
            continue
        name, _, axis = pseudo.rpartition(LENGTH_MARK)
        size = np.shape(values[name])[int(axis)]
        parts.append(BucketedAxis(name, int(axis), int(length), size).describe())
    return "bucketed: " + "; ".join(parts) if parts else None
