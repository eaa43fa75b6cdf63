"""The samplers of ``tcomp.random``: uniform, normal, bernoulli, randint, truncated_normal.

Each turns the Threefry block of element ``i`` (:func:`tcomp.frontend.random_keys.block_words`:
``(word0, word1)`` of counter ``(0, i)``) into one value; the exact definitions are in
:mod:`tcomp.random`. All are compositions of public tcomp ops, so they run eagerly and
inside ``jit`` on every backend with the same bits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.bitwise_ops import bitwise_and, bitwise_xor, left_shift, right_shift
from tcomp.frontend.dispatch import (
    broadcast_shapes,
    dtype_of,
    materialize,
    operand,
    shape_of,
    user_error,
)
from tcomp.frontend.math_ops import erf, floor
from tcomp.frontend.random_erfinv import erfinv
from tcomp.frontend.random_keys import block_words, normalize_shape, split
from tcomp.ir.bfloat16 import convert_array
from tcomp.ir.errors import TcompTypeError
from tcomp.ir.types import canonical_dtype, is_float, numpy_dtype

FLOATS = ("float16", "bfloat16", "float32", "float64")
# significant bits of the 16-bit floats: a uniform is rounded down to them
_PRECISION = {"float16": 11, "bfloat16": 8}
_TOP24 = 0xFFFFFF


def _float_dtype(dtype: Any, fn: str) -> str:
    name = canonical_dtype(dtype)
    if name not in FLOATS:
        raise user_error(TcompTypeError, f"{fn}: dtype must be a float dtype, got {name}")
    return name


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _top24(word: Any) -> Any:
    """The top 24 bits of a uint32 word as an int32 in ``[0, 2**24)``."""
    return bitwise_and(right_shift(word, 8), _TOP24)


def _round_down(m: Any, bits: int) -> Any:
    """``m`` (int32, ``0 <= m < 2**24``) with all but its ``bits`` leading significant
    bits cleared: ``m * 2**-24`` rounded down to a float of ``bits`` significant bits.
    The count of bits to clear is the number of thresholds ``2**t`` (``bits <= t < 24``)
    that ``m`` reaches."""
    clear = ops.astype(m >= 2**bits, "int32")
    for t in range(bits + 1, 24):
        clear = clear + ops.astype(m >= 2**t, "int32")
    return bitwise_and(m, left_shift(-1, clear))


def unit_float32(word: Any) -> Any:
    """``top24(word) * 2**-24``: float32 in ``[0, 1)``, every value a multiple of 2**-24."""
    return ops.astype(_top24(word), "float32") * 2.0**-24


def unit_float64(word0: Any, word1: Any) -> Any:
    """The top 53 bits of the 64-bit word ``word0 * 2**32 + word1`` times 2**-53: float64
    in ``[0, 1)`` (exact: every step is an integer below 2**53 or a power of two)."""
    high = ops.astype(word0, "float64")
    high = ops.where(high < 0.0, high + 2.0**32, high)  # word0 as uint32
    low = ops.astype(bitwise_and(right_shift(word1, 11), 0x1FFFFF), "float64")
    return (high * 2.0**21 + low) * 2.0**-53


def _unit(key: Any, shape: tuple[int, ...], dtype: str, fn: str) -> Any:
    """Uniform values in ``[0, 1)`` of ``dtype`` (see :mod:`tcomp.random`)."""
    word0, word1 = block_words(key, shape, fn)
    if dtype == "float64":
        return unit_float64(word0, word1)
    m = _top24(bitwise_xor(word0, word1))
    if dtype in _PRECISION:
        m = _round_down(m, _PRECISION[dtype])  # exact in the 16-bit type, and still < 1
    u = ops.astype(m, "float32") * 2.0**-24
    return u if dtype == "float32" else ops.astype(u, dtype)


def _next_below(value: float, dtype: str) -> float:
    """The largest ``dtype`` value strictly below the finite ``value``."""
    nearest = np.asarray(convert_array(np.float64(value), dtype)).reshape(1)
    if float(nearest[0]) < value:
        return float(nearest[0])
    width = numpy_dtype(dtype).itemsize
    bits = nearest.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[width]).copy()
    if float(nearest[0]) > 0:
        bits -= 1  # one ulp toward zero
    elif float(nearest[0]) < 0:
        bits += 1  # one ulp away from zero
    else:
        bits[0] = (1 << (8 * width - 1)) | 1  # the negative value of least magnitude
    return float(bits.view(nearest.dtype)[0])


def uniform(
    key: Any,
    shape: Any = (),
    dtype: Any = "float32",
    minval: Any = 0.0,
    maxval: Any = 1.0,
) -> Any:
    """Uniform floats in ``[minval, maxval)`` of ``shape`` and ``dtype``.

    The value in ``[0, 1)`` of element ``i`` is, with ``(w0, w1)`` its Threefry block:
    float32 ``((w0 ^ w1) >>> 8) * 2**-24`` (24 bits; each multiple of 2**-24 equally
    likely); float16 and bfloat16 that float32 value rounded down to 11 or 8
    significant bits (exact in the type, so never 1.0); float64 the top 53 bits of
    ``w0 * 2**32 + w1`` times 2**-53. Then ``u * (maxval - minval) + minval`` in
    ``dtype``. Python-number bounds must be finite with ``minval < maxval``, and the
    result is clamped below ``maxval`` (a rounding up is moved to the float below it);
    array bounds broadcast, unchecked and unclamped (rounding may give ``maxval``).
    """
    dtype = _float_dtype(dtype, "uniform")
    shape = normalize_shape(shape, "uniform")
    if _is_number(minval) and _is_number(maxval):
        if not (math.isfinite(minval) and math.isfinite(maxval) and minval < maxval):
            raise user_error(
                TcompTypeError,
                f"uniform: needs finite minval < maxval, got minval={minval}, maxval={maxval}",
            )
        u = _unit(key, shape, dtype, "uniform")
        if minval == 0 and maxval == 1:
            return u
        scaled = u * (float(maxval) - float(minval)) + float(minval)
        return ops.minimum(scaled, _next_below(float(maxval), dtype))
    lo, hi = (ops.astype(materialize(operand(v, "uniform")), dtype) for v in (minval, maxval))
    shape = broadcast_shapes("uniform", shape, shape_of(lo), shape_of(hi))
    return _unit(key, shape, dtype, "uniform") * (hi - lo) + lo


def normal(key: Any, shape: Any = (), dtype: Any = "float32") -> Any:
    """Standard normal floats of ``shape`` and ``dtype`` (Box-Muller, one value per element).

    ``z = sqrt(-2 log(1 - u1)) * cos(2 pi u2)``, ``1 - u1`` in ``(0, 1]`` so the log is
    finite. float32 (and float16/bfloat16, computed in float32 and rounded to nearest):
    ``u1 = (w0 >>> 8) * 2**-24`` and ``u2 = (w1 >>> 8) * 2**-24`` from element ``i``'s
    block, so ``|z| <= sqrt(48 log 2) = 5.77``. float64: ``u1`` and ``u2`` are
    ``uniform(k1, shape, float64)`` and ``uniform(k2, shape, float64)`` for
    ``k1, k2 = split(key)`` (53 bits each; ``|z| <= 8.6``).
    """
    dtype = _float_dtype(dtype, "normal")
    shape = normalize_shape(shape, "normal")
    if dtype == "float64":
        keys = split(key, 2)
        u1, u2 = (_unit(keys[i], shape, "float64", "normal") for i in (0, 1))
    else:
        word0, word1 = block_words(key, shape, "normal")
        u1, u2 = unit_float32(word0), unit_float32(word1)
    z = ops.sqrt(-2.0 * ops.log(1.0 - u1)) * ops.cos((2.0 * math.pi) * u2)
    return z if dtype_of(z) == dtype else ops.astype(z, dtype)


def bernoulli(key: Any, p: Any = 0.5, shape: Any = None) -> Any:
    """Booleans that are true with probability ``p``: ``uniform(key, shape) < p``.

    ``p`` is a Python number or a float array (broadcast to ``shape``; ``shape`` None is
    ``p``'s shape). The uniform is float32 (float64 for a float64 ``p``), so a Python
    ``p`` is rounded to float32 first: the frequency is ``ceil(p32 * 2**24) / 2**24``.
    ``p <= 0`` gives all false, ``p >= 1`` all true.
    """
    if _is_number(p):
        shape = () if shape is None else normalize_shape(shape, "bernoulli")
        return _unit(key, shape, "float32", "bernoulli") < float(p)
    prob = materialize(operand(p, "bernoulli"))
    if not is_float(dtype_of(prob)):
        raise user_error(TcompTypeError, f"bernoulli: p must be float, got {dtype_of(prob)}")
    target = shape_of(prob) if shape is None else normalize_shape(shape, "bernoulli")
    target = broadcast_shapes("bernoulli", target, shape_of(prob))
    unit_dtype = "float64" if dtype_of(prob) == "float64" else "float32"
    return _unit(key, target, unit_dtype, "bernoulli") < prob


def randint(key: Any, shape: Any, minval: Any, maxval: Any, dtype: Any = "int32") -> Any:
    """Integers in ``[minval, maxval)`` (int32), each value about equally likely.

    ``floor(u * span)`` with ``u = uniform(key, shape, float64)`` (53 bits) and
    ``span = maxval - minval``, plus ``minval``. Bias: each value's probability is
    within a relative ``4 * span * 2**-53`` of ``1 / span`` (below 2**-19 for any int32
    range), with no rejection loop. Python-int bounds need
    ``-2**31 <= minval < maxval <= 2**31``; int32 array bounds broadcast, and give
    ``minval`` where ``maxval <= minval``.
    """
    if canonical_dtype(dtype) != "int32":
        raise user_error(
            TcompTypeError,
            f"randint: dtype must be int32 (tcomp's only integer type), got {dtype}",
        )
    shape = normalize_shape(shape, "randint")
    if _is_number(minval) and _is_number(maxval):
        bounds_ok = all(isinstance(v, (int, np.integer)) for v in (minval, maxval))
        if not bounds_ok or not -(2**31) <= int(minval) < int(maxval) <= 2**31:
            raise user_error(
                TcompTypeError,
                f"randint: needs ints -2**31 <= minval < maxval <= 2**31, got minval={minval!r}, "
                f"maxval={maxval!r}",
            )
        span = float(int(maxval) - int(minval))
        offset = ops.minimum(floor(_unit(key, shape, "float64", "randint") * span), span - 1.0)
        return ops.astype(offset + float(minval), "int32")
    lo, hi = (materialize(operand(v, "randint")) for v in (minval, maxval))
    if dtype_of(lo) != "int32" or dtype_of(hi) != "int32":
        raise user_error(
            TcompTypeError,
            f"randint: minval and maxval must be ints or int32 arrays, got {dtype_of(lo)} and "
            f"{dtype_of(hi)}",
        )
    shape = broadcast_shapes("randint", shape, shape_of(lo), shape_of(hi))
    lo, hi = ops.astype(lo, "float64"), ops.astype(hi, "float64")
    span = hi - lo
    offset = ops.minimum(floor(_unit(key, shape, "float64", "randint") * span), span - 1.0)
    return ops.astype(ops.where(span > 0.0, offset + lo, lo), "int32")


def _next_above(value: float, dtype: str) -> float:
    return -_next_below(-value, dtype)


def truncated_normal(
    key: Any, lower: Any, upper: Any, shape: Any = None, dtype: Any = "float32"
) -> Any:
    """Standard normal values restricted to ``[lower, upper]`` (inverse-CDF sampling).

    ``z = sqrt(2) * erfinv(u)`` with ``u`` uniform in ``[erf(lower / sqrt(2)),
    erf(upper / sqrt(2)))`` (``uniform``'s bits), computed in float32 (float64 for
    float64), with the inverse error function of Giles (see
    ``frontend/random_erfinv.py``), then clipped into the bounds: the open interval
    ``(lower, upper)`` (one float inward) for Python-number bounds, the closed one for
    array bounds. ``u`` is kept an ulp or two inside ``(-1, 1)``, so an infinite bound
    gives finite values (the tail is cut near 5.3 in float32, 8.3 in float64, as
    ``normal``'s is). As with JAX's, the float precision of
    ``erf`` near +-1 limits bounds far in one tail (``lower > 5`` in float32, say).
    ``shape`` None is the bounds' broadcast shape.
    """
    dtype = _float_dtype(dtype, "truncated_normal")
    work = "float64" if dtype == "float64" else "float32"
    numbers = _is_number(lower) and _is_number(upper)
    if numbers and not float(lower) < float(upper):
        raise user_error(
            TcompTypeError,
            f"truncated_normal: needs lower < upper, got lower={lower}, upper={upper}",
        )
    lo, hi = (ops.astype(materialize(operand(v, "truncated_normal")), work) for v in (lower, upper))
    bounds = broadcast_shapes("truncated_normal", shape_of(lo), shape_of(hi))
    if shape is None:
        shape = bounds
    else:
        shape = broadcast_shapes(
            "truncated_normal", normalize_shape(shape, "truncated_normal"), bounds
        )
    a, b = erf(lo * math.sqrt(0.5)), erf(hi * math.sqrt(0.5))
    u = _unit(key, shape, work, "truncated_normal") * (b - a) + a
    # strictly inside (-1, 1) even for an infinite bound: erfinv stays finite
    eps = 2.0**-52 if work == "float64" else 2.0**-23
    u = ops.clip(u, a + ops.abs(a) * eps, b - ops.abs(b) * eps)
    z = math.sqrt(2.0) * erfinv(u)
    if numbers:
        z = ops.clip(z, _next_above(float(lower), work), _next_below(float(upper), work))
    else:
        z = ops.clip(z, lo, hi)
    return z if work == dtype else ops.astype(z, dtype)
