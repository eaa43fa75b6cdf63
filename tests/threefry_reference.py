"""An independent Threefry-2x32-20 for tests: Python ints, one block at a time.

Written from the Random123 specification (Salmon et al., SC 2011, and Random123's
``threefry.h``) rather than from ``ir/threefry.py``, so the primitive's
numpy reference is checked against a second implementation, and both against the
published known-answer vectors ``KAT``.
"""

from __future__ import annotations

import numpy as np

MASK = 0xFFFFFFFF
ROT_2x32 = [13, 15, 26, 6, 17, 29, 16, 24]  # R_32x2_0_0 ... R_32x2_7_0
SKEIN_KS_PARITY32 = 0x1BD11BDA

# Random123's kat_vectors for threefry2x32_20: ((key0, key1), (ctr0, ctr1), (out0, out1))
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & MASK


def threefry_block(key: tuple[int, int], counter: tuple[int, int], rounds: int = 20):
    """``(out0, out1)`` for one key and counter (uint32 Python ints)."""
    ks = [key[0] & MASK, key[1] & MASK, 0]
    ks[2] = SKEIN_KS_PARITY32 ^ ks[0] ^ ks[1]
    x = [(counter[0] + ks[0]) & MASK, (counter[1] + ks[1]) & MASK]
    for r in range(rounds):
        x[0] = (x[0] + x[1]) & MASK
        x[1] = _rotl(x[1], ROT_2x32[r % 8]) ^ x[0]
        if r % 4 == 3:  # key injection after every fourth round
            s = r // 4 + 1
            x[0] = (x[0] + ks[s % 3]) & MASK
            x[1] = (x[1] + ks[(s + 1) % 3] + s) & MASK
    return x[0], x[1]


def threefry_arrays(k0, k1, x0, x1, word: int) -> np.ndarray:
    """Word ``word`` of every block, elementwise over int32 arrays, as int32."""
    k0, k1, x0, x1 = (
        np.asarray(v).astype(np.int64) & MASK for v in np.broadcast_arrays(k0, k1, x0, x1)
    )
    out = np.empty(k0.shape, dtype=np.uint32)
    for index in np.ndindex(k0.shape):
        block = threefry_block((int(k0[index]), int(k1[index])), (int(x0[index]), int(x1[index])))
        out[index] = block[word]
    return out.view(np.int32)


def as_int32(word: int) -> int:
    """The int32 value of a uint32 bit pattern."""
    return word - (1 << 32) if word >= 1 << 31 else word
