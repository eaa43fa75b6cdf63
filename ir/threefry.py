"""Threefry-2x32-20, the counter-based block function behind ``tcomp.random``.

Random123's Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers:
as easy as 1, 2, 3", SC 2011; JAX's ``threefry2x32``): a key ``(k0, k1)`` and a
counter ``(x0, x1)``, four uint32 words, give two uint32 words. In uint32 arithmetic
(``+`` wraps, ``rotl`` rotates left)::

    ks = (k0, k1, k0 ^ k1 ^ 0x1BD11BDA)
    x0 += ks[0]; x1 += ks[1]
    for block in 0..4:                                  # 5 blocks of 4 rounds
        for r in ROTATIONS[block % 2]:                  # (13, 15, 26, 6), (17, 29, 16, 24)
            x0 += x1; x1 = rotl(x1, r) ^ x0
        x0 += ks[(block + 1) % 3]                       # key injection
        x1 += ks[(block + 2) % 3] + block + 1
    word 0 is x0, word 1 is x1

Known answers (Random123's ``kat_vectors``): key (0, 0), counter (0, 0) gives
(0x6b200159, 0x99ba4efe); key (0x13198a2e, 0x03707344), counter (0x243f6a88,
0x85a308d3) gives (0xc4923a9c, 0x483df7a0).

The one statement of the algorithm: the graph primitive's numpy reference
(:mod:`tcomp.ir.primitives.random_bits`) calls :func:`threefry2x32`, and the
renderers (``backends/llvm/threefry.py``, ``backends/cfamily/threefry.py``) unroll
the rounds from these constants. Like :mod:`tcomp.ir.bfloat16`, both IR layers use it.
"""

from __future__ import annotations

import numpy as np

ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
PARITY = 0x1BD11BDA  # Threefish's key-schedule constant
BLOCKS = 5  # of 4 rounds each: 20 rounds


def threefry2x32(
    k0: np.ndarray, k1: np.ndarray, x0: np.ndarray, x1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Both output words of Threefry-2x32-20 (see the module docstring), as uint32 arrays;
    the inputs are any integer arrays (taken modulo 2**32) of broadcastable shapes."""
    k0, k1, x0, x1 = (np.asarray(v).astype(np.uint32) for v in (k0, k1, x0, x1))
    keys = (k0, k1, k0 ^ k1 ^ np.uint32(PARITY))
    with np.errstate(over="ignore"):
        x0 = x0 + keys[0]
        x1 = x1 + keys[1]
        for block in range(BLOCKS):
            for r in ROTATIONS[block % 2]:
                x0 = x0 + x1
                x1 = ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))) ^ x0
            x0 = x0 + keys[(block + 1) % 3]
            x1 = x1 + keys[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1
