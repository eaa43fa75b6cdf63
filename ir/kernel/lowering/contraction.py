"""Scheduling contractions (matmul-like loop nests) as blocked kernels.

Which kernels are contractions is an analysis over kernel IR
(:func:`tcomp.ir.kernel.analysis.contraction.match_contraction`, whose module
docstring shows the loop nest it matches). :func:`schedule_contractions` is
the pass that records the blocking as data in each matched kernel's
:class:`Schedule` (nothing else changes)::

    before:  schedule {parallel=i0, vector={i1: 16}}            // f32 256x784 @ 784x512
    after:   schedule {parallel=i0, vector={i1: 16}, unroll={i0: 12, i1: 32},
                       tile={i0: 36, r0: 196}}                   // 512-bit vectors
    after:   schedule {parallel=i0, vector={i1: 8}, unroll={i0: 6, i1: 16},
                       tile={i0: 36, r0: 196}}                   // 256-bit (AVX2)

The blocking depends on the width of the target's vector registers
(``vector_bits``: 512 by default; the llvm backend passes its host's).

``unroll[m] x unroll[n]`` is the register tile (MR rows by NR lanes, NR a
multiple of ``vector[n]``), ``tile[m]`` the rows packed per block (MC) and
``tile[r]`` the contracted block (KC, at most 256 floats, split evenly).
Backends that know how to render a packed, register-blocked micro-kernel
find such kernels with
:func:`~tcomp.ir.kernel.analysis.contraction.blocked_contraction` (see
``backends/llvm/contraction.py``) and read these; the others ignore them
and run the loop nest as written.
"""

from __future__ import annotations

import dataclasses

from tcomp.ir.kernel.analysis.contraction import (  # noqa: F401 (MIN_WORK re-exported)
    MIN_WORK,
    Contraction,
    worth_blocking,
)
from tcomp.ir.kernel.kernel import Kernel, Program, Schedule

# The register blocking per SIMD width (bits of one vector register), measured on
# 2-core machines: MR rows x NR_VECTORS vectors of accumulators fill about three
# quarters of the register file (AVX-512: 12 x 2 of 32 zmm; AVX2: 6 x 2 of 16 ymm,
# the classic 6x16 single-precision kernel; SSE: 4 x 2 of 16 xmm).
VECTOR_BITS = (128, 256, 512)
DEFAULT_VECTOR_BITS = 512
ROWS_PER_TILE = {128: 4, 256: 6, 512: 12}  # MR
NR_VECTORS = 2
# Share of zero rows in the row tiles above which a smaller tile is used, per vector width.
# AVX-512: an 8-row tile computes 5-6% slower per row than a 12-row one (128x1024 @
# 1024x1024 and 256x512 @ 512x512 forced to 8 rows), so saving over a tenth of the rows
# pays: 3x3 convs of 32, 40 and 64 channels (36, 48, 72 rows computed) ran 1.09-1.18x
# faster in 8-row tiles. Other widths keep a fifth (not measured there).
MAX_PADDED_ROWS = {128: 0.2, 256: 0.2, 512: 0.1}
# MC = MC_TILES * MR rows packed per block, KC deep contracted blocks
MC_TILES = 8
MIN_BLOCKS = 8
KC = {"float32": 256, "float64": 128}
ELEMENT_BITS = {"float32": 32, "float64": 64}


def vector_lanes(dtype: str, vector_bits: int = DEFAULT_VECTOR_BITS) -> int:
    """Elements of ``dtype`` (an accumulator type) in one vector register."""
    return vector_bits // ELEMENT_BITS[dtype]


def tile_rows(rows: int, vector_bits: int) -> int:
    """MR for ``rows`` rows: :data:`ROWS_PER_TILE`, or two thirds of it when that pads
    more than :data:`MAX_PADDED_ROWS` of the rows computed and the smaller tile pads less
    (16 output channels with AVX-512's 12-row tile computed 24 rows, 8 of them zeros;
    two 8-row tiles compute 16)."""
    mr = ROWS_PER_TILE[vector_bits]
    smaller = mr * 2 // 3
    padded = -(-rows // mr) * mr
    if ((padded - rows) / padded > MAX_PADDED_ROWS[vector_bits]
            and -(-rows // smaller) * smaller < padded):
        return smaller
    return mr


def contraction_schedule(
    kernel: Kernel, match: Contraction, vector_bits: int = DEFAULT_VECTOR_BITS
) -> Schedule:
    """The blocked schedule of a matched contraction for ``vector_bits``-wide registers:
    register tile MR x NR (NR two vectors), MC rows packed per block, KC-deep blocks."""
    m, n, k = match.m_loop.var.name, match.n_loop.var.name, match.k_loop.var.name
    lanes = vector_lanes(match.acc.dtype, vector_bits)
    mr = tile_rows(match.m_loop.extent, vector_bits)
    # one vector of lanes when n fits in it (a 10-wide output would waste 22 of 32 lanes)
    nr = lanes if match.n_loop.extent <= lanes else NR_VECTORS * lanes
    blocks = -(-match.k_loop.extent // KC[match.acc.dtype])
    kc = -(-match.k_loop.extent // blocks)  # equal blocks: 784 -> 4 x 196, not 3 x 256 + 16
    # MC: at most MC_TILES register tiles, yet at least MIN_BLOCKS blocks of rows when m
    # allows (threads take blocks in turn: 256 rows in 3 blocks would idle one of 2 threads)
    rows = -(-match.m_loop.extent // MIN_BLOCKS)
    mc = max(2 * mr, min(MC_TILES * mr, -(-rows // mr) * mr))
    schedule = kernel.schedule
    return dataclasses.replace(
        schedule,
        vector={**schedule.vector, n: lanes},
        unroll={**schedule.unroll, m: mr, n: nr},
        tile={**schedule.tile, m: mc, k: kc},
    )


def schedule_contractions(program: Program, vector_bits: int = DEFAULT_VECTOR_BITS) -> Program:
    """The pass: gives every large enough contraction kernel its blocked schedule for
    ``vector_bits``-wide registers (one of :data:`VECTOR_BITS`)."""
    for kernel in program.kernels:
        match = worth_blocking(kernel)
        if match is not None:
            kernel.schedule = contraction_schedule(kernel, match, vector_bits)
    return program
