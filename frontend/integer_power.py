"""Integer ``x ** y`` in the frontend: numpy's promotion and numpy's check on the exponent.

``int32 ** int32`` is int32, as in numpy (and ``bool ** bool``, which numpy computes
in int8, is int32: tcomp has no int8). The ``pow`` primitive computes integer powers
exactly on every backend (``ir/primitives/elementwise.py``, ``integer_power``):

- ``y >= 0``: the exact power, wrapped to int32 on overflow as numpy's is
  (``2 ** 31`` is ``-2147483648``, ``2 ** 32`` is 0);
- ``y < 0``: the exact value ``1 / x ** -y`` truncated toward zero, as ``int(x ** y)``
  in Python: 1 for ``x == 1``, 1 or -1 for ``x == -1`` (``y`` even, odd), 0 for
  every other ``x`` (0 too, where ``1 / 0`` is infinite: as ``x // 0`` is 0 in numpy).

numpy refuses negative integer exponents ("Integers to negative integer powers are
not allowed"). tcomp refuses them too where it can see the exponent's values when it
traces (or runs eagerly): a Python int or a numpy array. A traced exponent (or a
``tcomp.Array``, whose values stay on its device) is not looked at, and a negative
element gets the value above.
"""

from __future__ import annotations

import numpy as np

from tcomp.frontend.dispatch import Operand, Weak, cast, dtype_of, user_error
from tcomp.ir.errors import TcompArgumentError


def integer_operands(base: Operand, exponent: Operand) -> tuple[Operand, Operand]:
    """``base`` and ``exponent`` of an integer power, bools as int32 (a Python bool stays
    weakly typed), after refusing an exponent known to be negative (module docstring)."""
    known = exponent.value if isinstance(exponent, Weak) else exponent
    if isinstance(known, (int, np.ndarray)) and np.any(np.asarray(known) < 0):
        if isinstance(known, int):
            shown = f"is {known}"
        else:
            shown = f"holds negative values (the least is {np.min(known)})"
        raise user_error(
            TcompArgumentError,
            "power: integers to negative integer powers are not allowed (as in numpy), and "
            f"the exponent {shown}; make the base a float (x.astype('float32') ** y) or "
            "the exponent non-negative",
        )
    return _as_int32(base), _as_int32(exponent)


def _as_int32(value: Operand) -> Operand:
    """``value`` itself, or as int32 when it is bool."""
    if dtype_of(value) != "bool":
        return value
    if isinstance(value, Weak):
        return Weak(int(value.value))
    return cast(value, "int32")
