"""Keys and raw random bits of ``tcomp.random``: ``key``, ``split``, ``fold_in``, ``bits``.

Everything is the ``threefry2x32`` primitive (Threefry-2x32-20,
``ir/primitives/random_bits.py``) applied to counters; the stream definitions are
in :mod:`tcomp.random`. A key is an int32 array of shape ``(2,)``: the bit patterns
of two uint32 words ``(k0, k1)``. Functions here take keys, Python ints and traced
values alike, inside ``jit`` and eagerly.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from tcomp.frontend.array import Array
from tcomp.frontend.bitwise_ops import bitwise_xor
from tcomp.frontend.dispatch import (
    bind,
    broadcast,
    broadcast_shapes,
    dtype_of,
    materialize,
    operand,
    shape_of,
    user_error,
)
from tcomp.frontend.trace import Tracer
from tcomp.ir.errors import TcompShapeError, TcompTypeError

MAX_ELEMENTS = 2**31 - 1  # counters come from an int32 iota
_UINT32 = 2**32


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int32_bits(value: int) -> np.int32:
    """The int32 bit pattern of ``value`` modulo 2**32."""
    return np.array(int(value) % _UINT32, dtype=np.uint32).view(np.int32)[()]


def _word_operand(value: Any, fn: str):
    """An int32 operand: Python ints in ``[-2**31, 2**32)`` become their 32-bit pattern,
    numpy uint32 data is read as int32 bit patterns; anything else must be int32."""
    if _is_int(value):
        if not -(2**31) <= int(value) < _UINT32:
            raise user_error(
                TcompTypeError, f"{fn}: {value} is not a 32-bit word (use -2**31 ... 2**32 - 1)"
            )
        return materialize(np.asarray(_int32_bits(value)))
    if isinstance(value, np.ndarray) and value.dtype == np.uint32:
        return materialize(value.view(np.int32))
    x = operand(value, fn)
    if dtype_of(x) != "int32":
        raise user_error(
            TcompTypeError,
            f"{fn}: key and counter words must be int32 (uint32 bit patterns), got {dtype_of(x)}",
        )
    return materialize(x)


def threefry2x32(k0: Any, k1: Any, x0: Any, x1: Any) -> tuple[Any, Any]:
    """Both output words of Threefry-2x32-20 for key ``(k0, k1)`` and counter ``(x0, x1)``.

    The four arguments broadcast together; each is int32 data (the bit patterns of
    uint32 words) or a Python int in ``[-2**31, 2**32)``. Returns ``(word0, word1)`` as
    int32 arrays of the broadcast shape. Known answer: key ``(0, 0)`` and counter
    ``(0, 0)`` give ``(0x6b200159, 0x99ba4efe)`` (as int32: ``1797259609, -1715843330``).
    """
    words = [_word_operand(v, "threefry2x32") for v in (k0, k1, x0, x1)]
    shape = broadcast_shapes("threefry2x32", *(shape_of(w) for w in words))
    inputs = [broadcast(w, shape) for w in words]
    return bind("threefry2x32", inputs, word=0), bind("threefry2x32", inputs, word=1)


# ---------------------------------------------------------------------------
# Keys


def key_words(key: Any, fn: str) -> tuple[Any, Any]:
    """``(k0, k1)``: the two words of ``key`` as 0-d int32 values, after checking that
    ``key`` is an int32 array of shape ``(2,)`` (uint32 numpy data is taken as bits)."""
    if isinstance(key, np.ndarray) and key.dtype == np.uint32:
        key = key.view(np.int32)
    if _is_int(key) or isinstance(key, (float, bool)):
        raise user_error(
            TcompTypeError,
            f"{fn}: key must be an int32 array of shape (2,), got the number {key!r}; "
            f"make one with tcomp.random.key({key!r})",
        )
    k = materialize(operand(key, fn))
    if dtype_of(k) != "int32" or shape_of(k) != (2,):
        raise user_error(
            TcompTypeError,
            f"{fn}: key must be an int32 array of shape (2,) (from tcomp.random.key, split or "
            f"fold_in), got {dtype_of(k)}{list(shape_of(k))}",
        )
    words = [
        bind("reshape", [bind("slice", [k], start=(i,), stop=(i + 1,), step=(1,))], shape=())
        for i in (0, 1)
    ]
    return words[0], words[1]


def _stack_words(word0: Any, word1: Any) -> Any:
    """``[..., 2]``: the two words side by side along a new last axis."""
    shape = shape_of(word0)
    column = shape + (1,)
    return bind(
        "concatenate",
        [bind("reshape", [w], shape=column) for w in (word0, word1)],
        axis=len(shape),
    )


def key(seed: Any) -> Any:
    """A key (int32 ``[2]``) from an integer seed.

    A Python int in ``[-2**63, 2**64)`` is read as 64 bits (two's complement for a
    negative one): ``key(s) = [s >> 32, s & 0xFFFFFFFF]`` as uint32 bit patterns, so
    seeds below 2**32 give ``[0, s]``. A traced or array int32 scalar is a 32-bit value:
    ``[0, s]`` (its bit pattern; no sign extension). These are JAX's
    ``jax.random.key_data(jax.random.key(seed))`` for the same seed (with 64-bit ints
    enabled, for Python ints beyond int32).
    """
    if _is_int(seed):
        if not -(2**63) <= int(seed) < 2**64:
            raise user_error(
                TcompTypeError, f"key: seed {seed} does not fit 64 bits (-2**63 ... 2**64 - 1)"
            )
        bits = int(seed) % 2**64
        return materialize(np.array([bits >> 32, bits & 0xFFFFFFFF], np.uint32).view(np.int32))
    if isinstance(seed, (float, bool, np.floating, np.bool_)):
        raise user_error(TcompTypeError, f"key: seed must be an integer, got {seed!r}")
    s = operand(seed, "key")
    if dtype_of(s) != "int32" or shape_of(s) != ():
        raise user_error(
            TcompTypeError,
            f"key: seed must be a Python int or an int32 scalar, got {dtype_of(s)}"
            f"{list(shape_of(s))}",
        )
    return _stack_words(materialize(np.zeros((), np.int32)), materialize(s))


def split(key: Any, num: int = 2) -> Any:
    """``num`` new keys (int32 ``[num, 2]``) from ``key``: key ``i`` is both words of
    Threefry(key, counter ``(0, i)``). Different keys give independent streams."""
    if not _is_int(num) or num < 0:
        raise user_error(TcompShapeError, f"split: num must be an int >= 0, got {num!r}")
    k0, k1 = key_words(key, "split")
    word0, word1 = _threefry_at(k0, k1, _counters((int(num),), "split"))
    return _stack_words(word0, word1)


def fold_in(key: Any, data: Any) -> Any:
    """A new key from ``key`` and the 32-bit ``data``: both words of Threefry(key,
    counter ``(0, data)``), so ``fold_in(key, i) == split(key, n)[i]`` for ``i < n``.

    ``data`` is a Python int in ``[-2**31, 2**32)`` (read modulo 2**32) or an int32
    scalar (a step number inside ``jit``, say).
    """
    k0, k1 = key_words(key, "fold_in")
    if _is_int(data):
        counter = _word_operand(data, "fold_in")
    else:
        counter = materialize(operand(data, "fold_in"))
        if dtype_of(counter) != "int32" or shape_of(counter) != ():
            raise user_error(
                TcompTypeError,
                f"fold_in: data must be a Python int or an int32 scalar, got "
                f"{dtype_of(counter)}{list(shape_of(counter))}",
            )
    word0, word1 = _threefry_at(k0, k1, counter)
    return _stack_words(word0, word1)


# ---------------------------------------------------------------------------
# Bits


def normalize_shape(shape: Any, fn: str) -> tuple[int, ...]:
    """``shape`` as a tuple of ints >= 0 (an int is a 1-d shape)."""
    if _is_int(shape):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(_is_int(d) and d >= 0 for d in shape):
        hint = (
            " (a traced value: shapes must be known when tracing)"
            if isinstance(shape, (Tracer, Array))
            else ""
        )
        raise user_error(
            TcompShapeError, f"{fn}: shape must be a tuple of ints >= 0, got {shape!r}{hint}"
        )
    return tuple(int(d) for d in shape)


def _counters(shape: tuple[int, ...], fn: str) -> Any:
    """The flat index of every element of ``shape`` (int32, row-major)."""
    size = math.prod(shape)
    if size > MAX_ELEMENTS:
        raise user_error(
            TcompShapeError,
            f"{fn}: shape {shape} has {size} elements; tcomp.random draws at most 2**31 - 1 "
            "per call (split the key and draw in parts)",
        )
    if size == 0:
        return materialize(np.zeros(shape, np.int32))
    flat = bind("iota", [], shape=(size,), axis=0, dtype="int32")
    return bind("reshape", [flat], shape=shape)


def _threefry_at(k0: Any, k1: Any, counter: Any) -> tuple[Any, Any]:
    """Both words of Threefry(key ``(k0, k1)``, counter ``(0, counter)``), elementwise."""
    shape = shape_of(counter)
    zero = materialize(np.zeros((), np.int32))
    inputs = [broadcast(w, shape) for w in (k0, k1, zero)] + [counter]
    return bind("threefry2x32", inputs, word=0), bind("threefry2x32", inputs, word=1)


def block_words(key: Any, shape: Sequence[int], fn: str) -> tuple[Any, Any]:
    """``(word0, word1)`` of Threefry(key, counter ``(0, i)``) for every flat index ``i``
    of ``shape``: the block each sampler draws element ``i`` from."""
    k0, k1 = key_words(key, fn)
    return _threefry_at(k0, k1, _counters(tuple(shape), fn))


def bits(key: Any, shape: Any = ()) -> Any:
    """Random int32 bits of ``shape``: element ``i`` (flat, row-major) is
    ``word0 ^ word1`` of Threefry(key, counter ``(0, i)``), read as int32 (JAX's 32-bit
    ``jax.random.bits`` for the same key, as uint32)."""
    word0, word1 = block_words(key, normalize_shape(shape, "bits"), "bits")
    return bitwise_xor(word0, word1)


__all__ = ["bits", "block_words", "fold_in", "key", "key_words", "split", "threefry2x32"]
