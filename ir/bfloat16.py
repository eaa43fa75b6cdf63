"""tcomp's conversion to bfloat16, in numpy integer arithmetic on float64 bits.

The definition every backend implements: a conversion to bfloat16 rounds
once, from the exact source value, to the nearest bfloat16, ties to the
even mantissa; a NaN becomes the quiet NaN of its sign (``0x7fc0`` with the
sign bit); values beyond the largest finite bfloat16 round to infinity by
the same rule (from ``(2 - 2**-8) * 2**127``, the midpoint between the
largest finite bfloat16 and ``2**128``, on).

float32, float16, int32 and bool values are exact in float64, so one routine
on float64 bit patterns serves every source dtype. It relies on nothing of
ml_dtypes but the storage dtype (whose float64 -> bfloat16 rounding has
changed between versions: once through float32, now direct).

The algebra, on a float64 ``sign * significand * 2**(e - 1075)`` (``e`` the
biased exponent, ``significand`` with its implicit bit when ``e > 0``):
bfloat16's grid step there is ``2**(max(e, 897) - 1075 + 45)``, so the
bfloat16 magnitude bits are ``significand >> shift`` plus the exponent
offset, with ``shift = 45`` for normal results (``e >= 897``) and
``942 - max(e, 1)`` below (bfloat16 subnormals, and zero for anything
under half the smallest one); the dropped bits round the kept ones up when
above half a step, or at exactly half when the kept ones are odd, and a
carry runs on into the exponent (up to ``0x7f80``, infinity).
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from tcomp.ir.types import numpy_dtype

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)

_SIGN_64 = np.uint64(0x8000_0000_0000_0000)
_MANTISSA_64 = np.uint64((1 << 52) - 1)
_IMPLICIT_64 = np.uint64(1 << 52)
_MIN_NORMAL_EXPONENT = 897  # float64 exponent field of 2**-126, bfloat16's smallest normal
_NORMAL_SHIFT = 45  # float64 keeps 52 mantissa bits, bfloat16 7
_INFINITY = 0x7F80
_QUIET_NAN = 0x7FC0


def bfloat16_bits(values: Any) -> np.ndarray:
    """The bfloat16 bit patterns (``uint16``, same shape) of ``values`` rounded by tcomp's
    rule (see the module docstring); ``values`` may be any real numbers numpy converts
    exactly to float64."""
    with np.errstate(invalid="ignore"):  # a signalling NaN quietens: still a NaN
        wide = np.asarray(values, dtype=np.float64, order="C")
    bits = wide.view(np.uint64)
    sign = (bits & _SIGN_64) >> np.uint64(48)  # 0x8000 or 0
    exponent = (bits >> np.uint64(52)) & np.uint64(0x7FF)
    significand = np.where(exponent > 0, (bits & _MANTISSA_64) | _IMPLICIT_64, bits & _MANTISSA_64)
    magnitude = _round_significand(significand, exponent.astype(np.int64))
    magnitude = np.where(np.isnan(wide), np.uint64(_QUIET_NAN), magnitude)
    # numpy gives scalars for 0-d operands: an array of the input's shape again
    return np.asarray(sign | magnitude, dtype=np.uint16).reshape(wide.shape)


def _round_significand(significand: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """The bfloat16 magnitude bits of ``significand * 2**(max(exponent, 1) - 1075)``
    (``uint64``), rounded to nearest even, at most ``0x7f80`` (infinity)."""
    normal = exponent >= _MIN_NORMAL_EXPONENT
    # the bits dropped: 45 for normal results, more below; beyond 63 all of them
    shift = np.where(normal, _NORMAL_SHIFT, 942 - np.maximum(exponent, 1))
    shift = np.minimum(shift, 63).astype(np.uint64)
    kept = significand >> shift
    dropped = significand & ((np.uint64(1) << shift) - np.uint64(1))
    half = np.uint64(1) << (shift - np.uint64(1))
    odd = (kept & np.uint64(1)) == 1
    up = ((dropped > half) | ((dropped == half) & odd)).astype(np.uint64)
    # a normal result's exponent field: kept is 1.xxxxxxx (128 + mantissa), one binade up per e
    offset = np.where(normal, exponent - _MIN_NORMAL_EXPONENT, 0).astype(np.uint64) << np.uint64(7)
    return np.minimum(kept + offset + up, np.uint64(_INFINITY))


def to_bfloat16(values: Any) -> np.ndarray:
    """``values`` as a bfloat16 array rounded by tcomp's rule (a bfloat16 array is
    returned as it is)."""
    array = np.asarray(values)
    if array.dtype == BFLOAT16:
        return array
    return bfloat16_bits(array).view(BFLOAT16)


def bfloat16_value(value: Any) -> float:
    """The scalar ``value`` rounded to bfloat16 by tcomp's rule, as a Python float
    (which holds it exactly)."""
    return float(to_bfloat16(value).astype(np.float32))


def convert_array(values: Any, dtype: str) -> np.ndarray:
    """``values`` as an array of the tcomp dtype ``dtype``: ``np.asarray(values, dtype)``
    (no copy when it already is one), except that conversions to bfloat16 round by
    tcomp's rule rather than by ml_dtypes'."""
    if dtype == "bfloat16":
        return to_bfloat16(values)
    return np.asarray(values, dtype=numpy_dtype(dtype))
