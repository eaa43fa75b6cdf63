"""Padding that copies the array's own values: numpy's ``edge``, ``reflect``,
``symmetric`` and ``wrap`` modes, for ``tcomp.pad`` and ``tcomp.nn.pad``.

Each padded axis is one ``take`` (a gather) of the source positions that
``np.pad`` itself gives for ``arange(n)``, so the values are numpy's by
construction and the gradient is ``take``'s: a scatter-add of the cotangent
back onto the positions each padded element copied.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tcomp.frontend.dispatch import shape_of, user_error
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError

NUMPY_MODES = ("edge", "reflect", "symmetric", "wrap")


def pad_widths(pad_width: Any, ndim: int) -> np.ndarray:
    """numpy's ``pad_width`` forms (an int, one ``(low, high)`` pair, or a pair per axis)
    as an ``(ndim, 2)`` int array; any other form is the user's error, named in pad's
    terms rather than numpy's broadcasting message."""
    try:
        requested = np.asarray(pad_width, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise user_error(
            TcompTypeError,
            f"pad: pad_width must be an int, a (low, high) pair or a pair per axis, "
            f"got {pad_width!r}",
        ) from None
    if not ndim:
        return np.zeros((0, 2), np.int64)
    try:
        return np.broadcast_to(requested, (ndim, 2))
    except ValueError:
        raise user_error(
            TcompArgumentError,
            f"pad: pad_width {pad_width!r} does not fit an array of rank {ndim}: give an "
            f"int, one (low, high) pair, or {ndim} pairs",
        ) from None


def source_positions(size: int, low: int, high: int, mode: str) -> np.ndarray:
    """For each position of a padded axis, the position of the original it copies."""
    return np.pad(np.arange(size, dtype=np.int32), (low, high), mode=mode)


def pad_copying(x: Any, widths: Sequence[tuple[int, int]], mode: str, op: str = "pad"):
    """``x`` padded by ``widths`` (a ``(low, high)`` pair per axis) in numpy ``mode``."""
    from tcomp.frontend.ops import take

    if mode not in NUMPY_MODES:
        raise user_error(
            TcompTypeError,
            f"{op}: mode {mode!r} is not supported; use 'constant', "
            + ", ".join(repr(m) for m in NUMPY_MODES),
        )
    for axis, (low, high) in enumerate(widths):
        if not (low or high):
            continue
        size = shape_of(x)[axis]
        if size == 0:
            raise user_error(
                TcompShapeError, f"{op}: cannot pad the empty axis {axis} in mode {mode!r}"
            )
        x = take(x, source_positions(size, int(low), int(high), mode), axis=axis)
    return x
