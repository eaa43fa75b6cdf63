"""torch's promotion of an integer operand meeting a float one, applied by the shim.

tcomp promotes as numpy 2 does: an int32 array with a float32 array (or a Python float)
gives float64. torch and tinygrad give the float operand's dtype (float32 for a Python
float, their default float). The suite compares dtypes, so without this step a test of
``maximum``, ``fmod`` or ``%`` on mixed operands would measure the promotion rule, not
the op. The shim therefore casts the integer (or bool) operand to the float dtype
torch would give, with ``tcomp.astype``, before calling the tcomp function; every other
pairing is passed on untouched and promoted by tcomp's own rule.
"""

from __future__ import annotations

from typing import Any

#: tcomp functions whose mixed int/float operands the shim casts first (arithmetic;
#: comparisons, bitwise and logical ops are left to tcomp's rule).
ARITHMETIC = frozenset(
    {
        "add",
        "subtract",
        "multiply",
        "divide",
        "floor_divide",
        "trunc_divide",
        "remainder",
        "power",
        "maximum",
        "minimum",
        "fmod",
        "copysign",
        "logaddexp",
    }
)


def _dtype(operand: Any) -> Any:
    return getattr(operand, "dtype", None) if hasattr(operand, "_record") else None


def _integral(operand: Any) -> bool:
    dtype = _dtype(operand)
    return dtype is not None and (dtype.is_int or dtype.name == "bool")


def _float_dtype(operand: Any) -> Any:
    """The float dtype torch gives this operand in a mixed pairing, or None."""
    dtype = _dtype(operand)
    if dtype is not None:
        return dtype if dtype.is_float else None
    if isinstance(operand, float):
        from bench.op_suite.dtypes import dtypes

        return dtypes.default_float
    return None


def torch_mixed(name: str, left: Any, right: Any) -> tuple[Any, Any]:
    """``(left, right)`` with an integer tensor cast to the float dtype of the other
    operand where ``name`` is arithmetic and torch would promote to that float."""
    if name not in ARITHMETIC:
        return left, right
    if _integral(left) and (target := _float_dtype(right)) is not None:
        return left.cast(target), right
    if _integral(right) and (target := _float_dtype(left)) is not None:
        return left, right.cast(target)
    return left, right
