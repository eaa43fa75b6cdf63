"""float64 arguments at the jit boundary: the x64 switch and the float64 warning.

A model initialised in float64 (numpy's default for ``rng.normal`` and friends) runs
entirely in float64 under ``jit``, often several times slower than float32, without a
word. Two things help:

- ``tcomp.config.enable_x64 = False`` (or ``TCOMP_ENABLE_X64=0``; see
  :mod:`tcomp.frontend.config`) converts every float64 argument of a jitted function
  (numpy arrays and scalars, ``tcomp.Array``) to float32 before the signature is built,
  so the program is traced and compiled for float32, as JAX's x64-off mode does. The
  default keeps float64.
- With the default (the switch not set in code, the variable unset), the first new
  signature in the process with a float64 array argument of :data:`WARN_AT_ELEMENTS`
  elements or more (it looks like weights) warns once with
  :class:`~tcomp.errors.TcompFloat64Warning`, naming the argument and both ways out.
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any, Sequence

import numpy as np

from tcomp.frontend.array import Array
from tcomp.frontend.config import config
from tcomp.frontend.dispatch import cast
from tcomp.ir.errors import TcompFloat64Warning
from tcomp.ir.user_frames import user_stacklevel

WARN_AT_ELEMENTS = 1024  # a float64 argument this big looks like weights, not a scalar
_warned = False  # the warning is given once per process
_lock = threading.Lock()


def narrow_float64(leaves: list[Any]) -> list[Any]:
    """``leaves`` with every float64 array as float32 when ``tcomp.config.enable_x64`` is
    False; ``leaves`` itself otherwise (the configuration is read only when a leaf is
    float64, so the common call pays one dtype test per leaf)."""
    if not any(_is_float64(leaf) for leaf in leaves) or config.enable_x64:
        return leaves
    return [_as_float32(leaf) if _is_float64(leaf) else leaf for leaf in leaves]


def warn_float64_arguments(
    fn_name: str, leaves: Sequence[tuple[tuple[int, ...], str, bool]], paths: Sequence[str]
) -> None:
    """Warns once per process (module docstring) when a new signature's ``leaves``
    (shape, dtype, weak) hold a float64 array of :data:`WARN_AT_ELEMENTS` or more."""
    global _warned
    if _warned:
        return
    big = [
        (path, shape)
        for path, (shape, dtype, _) in zip(paths, leaves)
        if dtype == "float64" and math.prod(shape) >= WARN_AT_ELEMENTS
    ]
    if not big or config.x64_chosen():
        return
    with _lock:
        if _warned:
            return
        _warned = True
    path, shape = big[0]
    more = f" (and {len(big) - 1} more such arguments)" if len(big) > 1 else ""
    warnings.warn(
        f"{fn_name}: argument {path} is a float64 array of {math.prod(shape)} elements "
        f"{list(shape)}{more}, so the program computes in float64, often several times "
        "slower than float32. Pass float32 data (x.astype(np.float32)), or set "
        "tcomp.config.enable_x64 = False (or TCOMP_ENABLE_X64=0) to convert float64 "
        "arguments of jitted functions to float32; tcomp.config.enable_x64 = True (or "
        "TCOMP_ENABLE_X64=1) keeps float64 without this warning, which is given once per "
        "process.",
        TcompFloat64Warning,
        stacklevel=user_stacklevel(),
    )


def _is_float64(leaf: Any) -> bool:
    if isinstance(leaf, Array):
        return leaf.aval.dtype == "float64"
    return isinstance(leaf, np.ndarray) and leaf.dtype == np.float64


def _as_float32(leaf: Any) -> Any:
    """A float64 numpy array as a float32 copy; a float64 Array converted on its backend."""
    if isinstance(leaf, Array):
        return cast(leaf, "float32")
    return leaf.astype(np.float32)
