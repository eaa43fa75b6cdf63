"""Half-precision contractions on tensor cores: ``mma.sync`` tiles of 16 x 8 x 16.

A contraction (see :mod:`tcomp.backends.cfamily.contraction`) whose two
operands are both float16 or both bfloat16 in memory and whose accumulator is
float32 runs on the tensor cores of NVIDIA GPUs from sm_80 on, when the
dialect's ``tensor_cores`` says so (:func:`tensor_core_contraction`):

- a work-group of 128 work-items (four warps, 2 x 2) computes a 64 x 64 tile
  of the output; each warp a 32 x 32 part of it as 2 x 4 ``m16n8k16`` matrix
  products, 32 float32 accumulators per work-item;
- per step of 32 along the contracted axis the group stages a 64 x 32 tile of
  each operand in local memory as raw 16-bit values (zero past the edges, so
  any size works), A as ``As[m][k]`` and B as ``Bs[n][k]``: the contracted
  axis is contiguous, so every fragment register (two neighbouring k values)
  is one 32-bit local load; rows are padded by 8 halves, so the eight rows a
  warp reads at once fall in different banks;
- each ``m16n8k16`` product takes its fragments in the layout the PTX ISA
  defines for ``mma.m16n8k16`` with 16-bit inputs (lane ``l``: ``g = l / 4``,
  ``t = l % 4``): A registers ``{A[g][2t..2t+1]}``, ``{A[g+8][2t..]}``,
  ``{A[g][2t+8..]}``, ``{A[g+8][2t+8..]}``; B registers ``{B[2t..2t+1][g]}``,
  ``{B[2t+8..][g]}``; accumulators ``C[g][2t]``, ``C[g][2t+1]``,
  ``C[g+8][2t]``, ``C[g+8][2t+1]``;
- the kernel's own epilogue (bias, activation, the final rounding to the
  output dtype) runs on each accumulator, as in the float32 tiled kernel.

``tensor_cores="mma"`` (CUDA) issues the ``mma.sync.aligned.m16n8k16.row.col``
PTX instruction. ``tensor_cores="emulated"`` computes the same product in
plain C from the same fragments, exchanged through local memory: every index
above runs on any OpenCL device, so the tests check this kernel on a CPU
(PoCL) and only the instruction itself is left to the GPU run. The products
accumulate in float32 in the tensor cores' own order: results match the
reference to float32 rounding of each 16-long partial sum, not bit for bit.
"""

from __future__ import annotations

from typing import Any, Callable

from tcomp.backends.cfamily.contraction import (
    BlockWriter,
    batch_size,
    batch_variables,
    staging_loop,
    tiled_candidate,
)
from tcomp.ir.kernel.analysis import Contraction
from tcomp.ir.kernel.expr import HALF_TYPES
from tcomp.ir.kernel.kernel import Kernel

WARP = 32
WARPS_M, WARPS_N = 2, 2
GROUP_SIZE = WARP * WARPS_M * WARPS_N
WARP_M, WARP_N = 32, 32  # the part of the tile one warp computes
MMA_M, MMA_N, MMA_K = 16, 8, 16
TILES_M, TILES_N = WARP_M // MMA_M, WARP_N // MMA_N  # mma products per warp and k step
BM, BN = WARPS_M * WARP_M, WARPS_N * WARP_N
BK = 32
SPAD = 8  # halves of padding per staged row

PTX_TYPES = {"float16": "f16", "bfloat16": "bf16"}
MODES = ("none", "mma", "emulated")


def tensor_core_contraction(kernel: Kernel, mode: str) -> Contraction | None:
    """The contraction of ``kernel`` when it runs on tensor cores: ``mode`` is not
    ``none``, it is a :func:`~tcomp.backends.cfamily.contraction.tiled_candidate`, both
    operands are one 16-bit float dtype and the accumulator is float32."""
    if mode == "none":
        return None
    match = tiled_candidate(kernel)
    if match is None or match.acc.dtype != "float32":
        return None
    if match.a.dtype not in HALF_TYPES or match.b.dtype != match.a.dtype:
        return None
    return match


def tensor_core_launch(match: Contraction) -> tuple[int, int | None]:
    """(global size, local size) of the tensor-core kernel of ``match``."""
    m, n, _ = match.sizes
    return -(-m // BM) * -(-n // BN) * batch_size(match) * GROUP_SIZE, GROUP_SIZE


def _fragment_loads(word: Callable[[str, str, str], str]) -> list[str]:
    """Loads of the A and B fragments of one k16 step (``ks``) from the staged tiles;
    ``word(tile, row, column)`` is the C expression of the 32-bit word at that place."""
    return [
        f"unsigned int fa[{TILES_M}][4], fb[{TILES_N}][2];",
        "#pragma unroll",
        f"for (int mi = 0; mi < {TILES_M}; ++mi) {{",
        f"  const int r = wm + mi * {MMA_M} + g;",
        "  const int c = ks + 2 * t;",
        f"  fa[mi][0] = {word('As', 'r', 'c')};",
        f"  fa[mi][1] = {word('As', 'r + 8', 'c')};",
        f"  fa[mi][2] = {word('As', 'r', 'c + 8')};",
        f"  fa[mi][3] = {word('As', 'r + 8', 'c + 8')};",
        "}",
        "#pragma unroll",
        f"for (int ni = 0; ni < {TILES_N}; ++ni) {{",
        f"  const int r = wn + ni * {MMA_N} + g;",
        "  const int c = ks + 2 * t;",
        f"  fb[ni][0] = {word('Bs', 'r', 'c')};",
        f"  fb[ni][1] = {word('Bs', 'r', 'c + 8')};",
        "}",
    ]


def _mma_instruction(dtype: str) -> list[str]:
    """The PTX ``mma.sync`` of every (mi, ni) product of one k16 step."""
    kind = PTX_TYPES[dtype]
    return [
        "#pragma unroll",
        f"for (int mi = 0; mi < {TILES_M}; ++mi)",
        "  #pragma unroll",
        f"  for (int ni = 0; ni < {TILES_N}; ++ni)",
        f'    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.{kind}.{kind}.f32 "',
        '                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"',
        '                 : "+f"(tc_acc[mi][ni][0]), "+f"(tc_acc[mi][ni][1]),',
        '                   "+f"(tc_acc[mi][ni][2]), "+f"(tc_acc[mi][ni][3])',
        '                 : "r"(fa[mi][0]), "r"(fa[mi][1]), "r"(fa[mi][2]), "r"(fa[mi][3]),',
        '                   "r"(fb[ni][0]), "r"(fb[ni][1]));',
    ]


def _mma_emulated(barrier: str, to_float: Callable[[str], str]) -> list[str]:
    """The same products in plain C: each work-item publishes its fragments to local
    memory, then computes its own accumulators from the fragments of its warp's lanes
    (the PTX layout read backwards: A[row][k] is in lane (row % 8) * 4 + (k % 8) / 2,
    register (row >= 8) + 2 (k >= 8), half k % 2; B[k][col] in lane col * 4 +
    (k % 8) / 2, register (k >= 8), half k % 2)."""
    return [
        "#pragma unroll",
        f"for (int q = 0; q < {TILES_M * 4}; ++q) FA[warp][lane][q] = fa[q / 4][q % 4];",
        "#pragma unroll",
        f"for (int q = 0; q < {TILES_N * 2}; ++q) FB[warp][lane][q] = fb[q / 2][q % 2];",
        barrier,
        f"for (int mi = 0; mi < {TILES_M}; ++mi)",
        f"  for (int ni = 0; ni < {TILES_N}; ++ni)",
        "    for (int q = 0; q < 4; ++q) {",
        "      const int row = g + (q >= 2 ? 8 : 0);",
        "      const int col = 2 * t + (q & 1);",
        "      float sum = tc_acc[mi][ni][q];",
        f"      for (int k = 0; k < {MMA_K}; ++k) {{",
        "        const unsigned int aw = FA[warp][(row % 8) * 4 + (k % 8) / 2]"
        "[mi * 4 + (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0)];",
        "        const unsigned int bw = FB[warp][col * 4 + (k % 8) / 2][ni * 2 + (k >= 8 ? 1 : 0)];",
        f"        const float av = {to_float('(aw >> (16 * (k % 2))) & 0xffffu')};",
        f"        const float bv = {to_float('(bw >> (16 * (k % 2))) & 0xffffu')};",
        "        sum = sum + av * bv;",
        "      }",
        "      tc_acc[mi][ni][q] = sum;",
        "    }",
        barrier,
    ]


def tensor_core_body(
    kernel: Kernel,
    match: Contraction,
    mode: str,
    dialect_name: str,
    index_type: str,
    half_type: str,
    barrier: str,
    local_space: str,
    group_id: str,
    local_id: str,
    to_float: Callable[[str], str],
    write_block: BlockWriter,
) -> list[str]:
    """The C lines of the tensor-core kernel's body (inside the braces, one level
    indented). ``to_float(bits)`` converts a 16-bit value of the operands' dtype to float
    (for ``emulated``); ``write_block`` renders kernel-IR statements (the lets and the
    epilogue), as for :func:`tcomp.backends.cfamily.contraction.contraction_body`."""
    m, n, k = match.sizes
    m_var, n_var, k_var = match.m_loop.var.name, match.n_loop.var.name, match.k_loop.var.name
    tiles_n, tiles_m = -(-n // BN), -(-m // BM)
    t = index_type
    word_pointer = "(__local const uint*)" if dialect_name == "opencl" else "(const unsigned int*)"

    def word(tile: str, row: str, column: str) -> str:
        return f"*{word_pointer}&{tile}[{row}][{column}]"

    lines = [
        f"{local_space} {half_type} As[{BM}][{BK + SPAD}] __attribute__((aligned(16)));",
        f"{local_space} {half_type} Bs[{BN}][{BK + SPAD}] __attribute__((aligned(16)));",
    ]
    if mode == "emulated":
        lines += [
            f"{local_space} unsigned int FA[{WARPS_M * WARPS_N}][{WARP}][{TILES_M * 4}];",
            f"{local_space} unsigned int FB[{WARPS_M * WARPS_N}][{WARP}][{TILES_N * 2}];",
        ]
    lines += [
        f"const {t} group = {group_id};",
        f"const int lid = (int){local_id};",
        f"const int warp = lid / {WARP};",
        f"const int lane = lid % {WARP};",
        "const int g = lane / 4;",
        "const int t = lane % 4;",
        f"const int wm = (warp / {WARPS_N}) * {WARP_M};",
        f"const int wn = (warp % {WARPS_N}) * {WARP_N};",
        f"const {t} m0 = ((group / {tiles_n}) % {tiles_m}) * {BM};",
        f"const {t} n0 = (group % {tiles_n}) * {BN};",
    ]
    batch_variables(kernel, match, tiles_m * tiles_n, t, write_block, lines)
    lines += [
        f"float tc_acc[{TILES_M}][{TILES_N}][4];",
        f"for (int mi = 0; mi < {TILES_M}; ++mi)",
        f"  for (int ni = 0; ni < {TILES_N}; ++ni)",
        "    for (int q = 0; q < 4; ++q) tc_acc[mi][ni][q] = 0.0f;",
        f"for ({t} k0 = 0; k0 < {k}; k0 += {BK}) {{",
    ]
    # raw 16-bit values, the contracted axis contiguous: As[m][k], Bs[n][k]
    staged: dict[str, Any] = {"depth": BK, "group_size": GROUP_SIZE, "k_major": False}
    stage_a = staging_loop("As", match.a.buffer, match.a, m_var, m, k_var, k, BM, "m0", "", t,
                           **staged)
    stage_b = staging_loop("Bs", match.b.buffer, match.b, n_var, n, k_var, k, BN, "n0", "", t,
                           **staged)
    lines += ["  " + line for line in stage_a + stage_b]
    step = _fragment_loads(word)
    if mode == "mma":
        step += _mma_instruction(match.a.dtype)
    else:
        step += _mma_emulated(barrier, to_float)
    lines += [
        f"  {barrier}",
        f"  for (int ks = 0; ks < {BK}; ks += {MMA_K}) {{",
        *("    " + line for line in step),
        "  }",
        f"  {barrier}",
        "}",
        f"for (int mi = 0; mi < {TILES_M}; ++mi) {{",
        f"  for (int ni = 0; ni < {TILES_N}; ++ni) {{",
        "    for (int q = 0; q < 4; ++q) {",
        f"      const {t} {m_var} = m0 + wm + mi * {MMA_M} + g + (q >= 2 ? 8 : 0);",
        f"      const {t} {n_var} = n0 + wn + ni * {MMA_N} + 2 * t + (q & 1);",
        f"      if ({m_var} < {m} && {n_var} < {n}) {{",
    ]
    write_block(match.m_prefix + match.n_before, 4, lines)
    lines.append(f"        float {match.acc.name} = tc_acc[mi][ni][q];")
    write_block(match.n_after, 4, lines)
    lines += ["      }", "    }", "  }", "}"]
    return lines
