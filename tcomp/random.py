"""``tcomp.random``: counter-based random numbers, the same bits on every backend.

Keys are explicit, as in JAX: nothing here keeps state. A key is an int32 array of
shape ``(2,)`` holding the bit patterns of two uint32 words; make one with
:func:`key`, derive independent ones with :func:`split` and :func:`fold_in`, and
pass one to a sampler. The same key, shape and dtype give the same values on
``reference``, ``llvm``, ``opencl`` and ``cuda``, eagerly and inside ``jit``::

    k = tcomp.random.key(0)
    k_init, k_drop = tcomp.random.split(k)
    w = tcomp.random.normal(k_init, (784, 10)) * 0.01
    keep = tcomp.random.bernoulli(k_drop, 0.9, (32, 784))

**The generator.** Everything is Threefry-2x32 with 20 rounds (Random123; JAX's
``threefry2x32``), the ``threefry2x32`` primitive (``ir/primitives/random_bits.py``):
``T(key, (x0, x1)) = (w0, w1)``, two uint32 words from a key and a 64-bit counter.

**The streams.** Element ``i`` of a result (its flat, row-major index, counted from 0)
is made from the block ``(w0, w1) = T(key, (i >> 32, i & 0xFFFFFFFF))``, i.e. counter
``(0, i)`` (a call draws at most 2**31 - 1 elements). So element ``i``'s value
depends on the key, ``i``, the sampler and the dtype only: ``bits(k, (2, 3))`` is
``bits(k, (6,))`` reshaped, and its 6 values start ``bits(k, (10,))``.

- ``key(seed)``: ``[seed >> 32, seed & 0xFFFFFFFF]`` for a Python int (64-bit two's
  complement), ``[0, seed]`` for an int32 scalar;
- ``split(key, n)[j] = [w0, w1]`` of counter ``(0, j)``; ``fold_in(key, d) = [w0, w1]``
  of counter ``(0, d mod 2**32)`` (so ``fold_in(key, j) == split(key, n)[j]``);
- ``bits(key, shape)[i] = w0 ^ w1`` (as int32).

These four are JAX's (``jax.random.key_data`` of ``key``/``split``/``fold_in`` and the
uint32 ``jax.random.bits``, with ``jax_threefry_partitionable``, JAX's default), so
keys can be exchanged with JAX. The samplers' conversions are tcomp's own (JAX's
float32 uniform keeps 23 bits, tcomp's 24):

- ``uniform``: float32 ``u = ((w0 ^ w1) >>> 8) * 2**-24``; float16/bfloat16 that ``u``
  rounded down to the type (never 1.0); float64 the top 53 bits of
  ``w0 * 2**32 + w1`` times 2**-53; then ``u * (maxval - minval) + minval``;
- ``normal``: Box-Muller, ``sqrt(-2 log(1 - u1)) * cos(2 pi u2)``; float32 and the
  16-bit floats take ``u1``, ``u2`` from the top 24 bits of ``w0`` and of ``w1`` (one
  block per value), float64 from ``uniform(k1)``, ``uniform(k2)`` with
  ``k1, k2 = split(key)``;
- ``bernoulli``: ``uniform(key, shape) < p`` (float32 uniform);
- ``randint``: ``minval + floor(uniform(key, shape, float64) * (maxval - minval))``
  (bias below 2**-19 relative, no rejection);
- ``truncated_normal``: ``sqrt(2) * erfinv(u)``, ``u`` uniform between
  ``erf(lower / sqrt(2))`` and ``erf(upper / sqrt(2))``, clipped into the bounds.

Independence: keys from ``split``/``fold_in`` are outputs of a cryptographic-quality
block function, so their streams are independent for every practical purpose; reuse
of one key for two purposes gives the same bits twice (split it instead).

- ``permutation(key, n)``: ``arange(n)`` sorted by ``bits`` of fresh keys from
  ``split``, ``ceil(3 ln n / ln(2**32 - 1))`` times (one sort up to n = 1625), JAX's rule;
  ``choice``: ``randint`` (with replacement), the inverse CDF of ``p``, a prefix of a
  permutation, or the Gumbel-top-k of ``log p`` (without replacement): see
  :mod:`tcomp.frontend.random_permutation`.
"""

from __future__ import annotations

from tcomp.frontend.random_keys import bits, fold_in, key, split, threefry2x32
from tcomp.frontend.random_permutation import choice, permutation
from tcomp.frontend.random_sampling import bernoulli, normal, randint, truncated_normal, uniform

__all__ = [
    "bernoulli",
    "bits",
    "choice",
    "fold_in",
    "key",
    "normal",
    "permutation",
    "randint",
    "split",
    "threefry2x32",
    "truncated_normal",
    "uniform",
]
