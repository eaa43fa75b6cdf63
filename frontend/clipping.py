"""``tcomp.clip``: numpy's clip, built on ``where`` so its gradient has PyTorch's convention.

Values are numpy's: NaN stays NaN, a NaN bound gives NaN, and ``a_min > a_max`` gives
``a_max`` everywhere. The gradient goes to ``x`` on the closed interval
``a_min <= x <= a_max`` (at a bound too: the value is inside the interval, so the
identity applies there), to ``a_min`` where ``x < a_min`` and to ``a_max`` where
``x > a_max``. ``maximum``/``minimum`` would split a tie half and half instead (their own,
documented convention), giving 0.5 at each bound.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from tcomp.frontend.dispatch import Weak, dtype_of, operand, user_error
from tcomp.frontend.ops import greater, less, not_equal, where
from tcomp.ir.errors import TcompTypeError
from tcomp.ir.types import is_float


def clip(x: Any, a_min: Any = None, a_max: Any = None):
    """Limits values to ``[a_min, a_max]`` (either may be None); see the module docstring."""
    if a_min is None and a_max is None:
        raise user_error(TcompTypeError, "clip: give a_min, a_max or both")
    result = x
    if a_min is not None:
        result = _clip_side(result, a_min, less)
    if a_max is not None:
        result = _clip_side(result, a_max, greater)
    return result


def _clip_side(value: Any, bound: Any, beyond: Callable[[Any, Any], Any]):
    """``bound`` where ``beyond(value, bound)`` holds or the bound is NaN (numpy's
    maximum/minimum propagate a NaN bound), else ``value``: selects, so the gradient
    goes wholly to one side."""
    limit = operand(bound, "clip")
    result = where(beyond(value, limit), limit, value)
    if not is_float(dtype_of(limit)):
        return result  # no NaN bound
    if isinstance(limit, Weak):
        return where(True, limit, result) if math.isnan(limit.value) else result
    if isinstance(limit, np.ndarray) and not np.isnan(limit.astype(np.float32)).any():
        return result  # host data: known now to hold no NaN
    return where(not_equal(limit, limit), limit, result)
