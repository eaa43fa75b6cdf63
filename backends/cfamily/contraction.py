"""Contractions (matmul-like kernels) on a GPU: work-group tiles in local memory, a register
tile per work-item.

A kernel that :func:`tiled_candidate` accepts (the map-gpu pass,
:mod:`tcomp.backends.cfamily.schedule`, records ``tiled_matmul`` for it) (``C[b, i, j] = epilogue(sum_r A[b, i, r] * B[b, r, j])``, any
strides, any epilogue: bias, relu, masks, casts) is rendered as a tiled
kernel instead of its loop nest. One work-group of 256 work-items (16 x 16)
computes a ``BM x BN`` tile of the output, ``BM = 16 * TM`` and
``BN = 16 * TN``; each work-item keeps a ``TM x TN`` register tile of
accumulators. Per step of ``BK`` along the contracted axis the group stages
a ``BM x BK`` tile of A and a ``BK x BN`` tile of B in local memory
(``__local`` / ``__shared__``; zero-padded at the edges, so any size works),
waits at a barrier, and every work-item does ``TM * TN`` fused
multiply-adds per ``TM + TN`` local loads. Work-item ``(tx, ty)`` owns rows
``ty + 16 * i`` and columns ``tx + 16 * j`` of the tile, so neighbouring
work-items read neighbouring local-memory words (no bank conflicts) and
store neighbouring output elements (coalesced). The staging loop walks each
operand along its unit-stride axis, so global loads are coalesced for
row-major and transposed operands alike.

Sketch of the rendered kernel (CUDA spelling)::

    __launch_bounds__(256) __global__ void k(...) {
      __shared__ float As[8][BM + 4], Bs[8][BN + 4];   // +4: no bank conflicts on stores
      ... group -> (batch, tile row, tile column); batch loop variables ...
      float acc[TM][TN] = {0};
      for (k0 = 0; k0 < K; k0 += 8) {
        stage A and B tiles; __syncthreads();
        for (kk = 0; kk < 8; ++kk) { a[i] = As[kk][ty + 16i]; b[j] = Bs[kk][tx + 16j];
                                     acc[i][j] = fmaf(a[i], b[j], acc[i][j]); }
        __syncthreads();
      }
      for i, j: if (row < M && col < N) { the kernel's own epilogue with acc0 = acc[i][j] }
    }

The accumulation uses explicit ``fma`` (as BLAS and the llvm backend's
micro-kernel do); the sum's order differs from the serial loop, so results
match numpy's matmul to rounding, not bit for bit.

Tile sizes: ``TM = TN = 8`` (a 128 x 128 tile) for large outputs, halved
(the larger first) while the grid would have fewer than :data:`MIN_GROUPS`
work-groups or the tile is more than twice the output, so small and
skinny products (``256 x 10``) still fill the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tcomp.ir.kernel.analysis import Contraction, Operand, worth_blocking
from tcomp.ir.kernel.kernel import Kernel, Let, Loop, Stmt

THREADS_PER_SIDE = 16
GROUP_SIZE = THREADS_PER_SIDE * THREADS_PER_SIDE
BK = 8
PAD = 4
MIN_GROUPS = 264  # two work-groups per multiprocessor of a 132-SM H100
MAX_REGISTER_TILE = 8
VECTOR_RUN = 4  # consecutive tile rows (columns) per work-item: one 16-byte local load
WIDE_OPERANDS = frozenset({"float32", "float64"})  # operand dtypes the tiled kernel loads

# the renderer's statement writer: appends ``statements`` rendered at ``depth`` to ``lines``
BlockWriter = Callable[[tuple[Stmt, ...], int, list[str]], None]


@dataclass(frozen=True)
class TileShape:
    """The work-group tile: ``tm x tn`` accumulators per work-item, ``bm x bn`` per group."""

    tm: int
    tn: int

    @property
    def bm(self) -> int:
        return THREADS_PER_SIDE * self.tm

    @property
    def bn(self) -> int:
        return THREADS_PER_SIDE * self.tn


def _groups(m: int, n: int, batch: int, tile: TileShape) -> int:
    return -(-m // tile.bm) * -(-n // tile.bn) * batch


def choose_tile(m: int, n: int, batch: int, dtype: str = "float32") -> TileShape:
    """The register tile for an ``m x n`` output (``batch`` of them) accumulated in
    ``dtype``; see the module docstring (float64 starts from half the tile: its
    accumulators take two registers each)."""
    start = MAX_REGISTER_TILE if dtype != "float64" else MAX_REGISTER_TILE // 2
    tm, tn = start, start
    while tm > 1 and THREADS_PER_SIDE * tm >= 2 * m:
        tm //= 2
    while tn > 1 and THREADS_PER_SIDE * tn >= 2 * n:
        tn //= 2
    while _groups(m, n, batch, TileShape(tm, tn)) < MIN_GROUPS and (tm > 1 or tn > 1):
        if tm >= tn and tm > 1:
            tm //= 2
        else:
            tn //= 2
    return TileShape(tm, tn)


def tiled_candidate(kernel: Kernel) -> Contraction | None:
    """The contraction of ``kernel`` when a tiled GPU form (this one or tensor cores) may
    run it: big enough (:func:`~tcomp.ir.kernel.analysis.worth_blocking`, the CPU's
    threshold too) and no ``inout`` arg (the tiled forms read operands after writing
    outputs). The CPU's blocking marks in the schedule play no part."""
    if any(arg.access == "inout" for arg in kernel.args):
        return None
    return worth_blocking(kernel)


def gpu_contraction(kernel: Kernel) -> Contraction | None:
    """The contraction of ``kernel`` when it gets the tiled GPU kernel: a
    :func:`tiled_candidate` whose operands are both float32 or float64 in memory
    (float16 and bfloat16 operands take tensor cores where the dialect has them, else
    the generic path)."""
    match = tiled_candidate(kernel)
    if match is None or not {match.a.dtype, match.b.dtype} <= WIDE_OPERANDS:
        return None
    return match


def _owned(thread: str, index: str, count: int) -> str:
    """The tile row (or column) of a work-item's ``index``-th accumulator: runs of up to 4
    consecutive rows, the runs of neighbouring work-items side by side, so a work-item
    reads each run from local memory in one vector load and neighbours share banks
    without conflicts."""
    run = min(count, VECTOR_RUN)
    if run == count:
        return f"{thread} * {run} + {index}" if run > 1 else thread
    return f"({index} / {run}) * {THREADS_PER_SIDE * run} + {thread} * {run} + {index} % {run}"


def batch_size(match: Contraction) -> int:
    size = 1
    for loop in match.outer:
        size *= loop.extent
    return size


def contraction_tile(match: Contraction) -> TileShape:
    """The register tile :func:`choose_tile` gives the tiled kernel of ``match``."""
    m, n, _ = match.sizes
    return choose_tile(m, n, batch_size(match), match.acc.dtype)


def contraction_launch(match: Contraction, tile: TileShape | None = None) -> tuple[int, int | None]:
    """(global size, local size) of the tiled kernel of ``match`` with ``tile`` (by
    default :func:`contraction_tile`'s)."""
    m, n, _ = match.sizes
    tile = tile or contraction_tile(match)
    return _groups(m, n, batch_size(match), tile) * GROUP_SIZE, GROUP_SIZE


def outer_lets(kernel: Kernel, match: Contraction) -> list[tuple[Loop | None, tuple[Stmt, ...]]]:
    """The pure Lets above the m loop, by level: (None, top-level lets), then per batch loop
    (loop, the lets at the top of its body)."""
    levels: list[tuple[Loop | None, tuple[Stmt, ...]]] = [(None, tuple(kernel.body[:-1]))]
    for loop in match.outer:
        levels.append((loop, tuple(s for s in loop.body[:-1] if isinstance(s, Let))))
    return levels


def batch_variables(
    kernel: Kernel,
    match: Contraction,
    tiles: int,
    index_type: str,
    write_block: BlockWriter,
    lines: list[str],
) -> None:
    """Appends the batch loop variables, taken from the work-group number ``group`` above
    its ``tiles`` output tiles (outermost-last), each level's pure lets after its
    variable."""
    stride = tiles
    for loop, lets in outer_lets(kernel, match):
        if loop is not None:
            lines.append(f"const {index_type} {loop.var.name} = (group / {stride}) % {loop.extent};")
            stride *= loop.extent
        write_block(lets, 1, lines)


def operand_index(operand: Operand, rows: str, row_var: str, k_var: str, index_type: str) -> str:
    """``base + stride_row * rows + stride_k * gk`` as C text: ``rows`` is the C expression
    of the operand's own (m or n) index; batch variables appear by name."""
    terms = [f"({index_type}){operand.offset}"] if operand.offset else []
    for var, stride in sorted(operand.strides.items()):
        if var == row_var:
            terms.append(f"{stride} * {rows}")
        elif var == k_var:
            terms.append(f"{stride} * gk")
        else:
            terms.append(f"{stride} * {var}")
    return " + ".join(terms) if terms else "0"


def staging_loop(
    tile_name: str,
    buffer: str,
    operand: Operand,
    own_var: str,
    own_extent: int,
    k_var: str,
    k_extent: int,
    width: int,
    origin: str,
    value_type: str,
    index_type: str,
    depth: int = BK,
    group_size: int = GROUP_SIZE,
    k_major: bool = True,
) -> list[str]:
    """C lines that copy a ``depth x width`` tile of one operand into local memory, zero
    past the edges; consecutive work-items take consecutive addresses of the operand's
    unit-stride axis. The tile is ``tile[kk][e]`` (``k_major``) or ``tile[e][kk]``;
    values are cast to ``value_type`` (empty: stored as they are)."""
    k_fast = abs(operand.strides.get(k_var, 0)) == 1 and abs(operand.strides.get(own_var, 0)) != 1
    if k_fast:
        split = [f"const int kk = l % {depth};", f"const int e = l / {depth};"]
    else:
        split = [f"const int e = l % {width};", f"const int kk = l / {width};"]
    own = f"({origin} + e)"
    index = operand_index(operand, own, own_var, k_var, index_type)
    cast = f"({value_type})" if value_type else ""
    zero = f"({value_type})0" if value_type else "0"
    place = "[kk][e]" if k_major else "[e][kk]"
    return [
        f"for (int l = lid; l < {depth * width}; l += {group_size}) {{",
        *("  " + line for line in split),
        f"  const {index_type} gk = k0 + kk;",
        f"  {tile_name}{place} = ({own} < {own_extent} && gk < {k_extent})",
        f"      ? {cast}{buffer}[{index}] : {zero};",
        "}",
    ]


def contraction_body(
    kernel: Kernel,
    match: Contraction,
    index_type: str,
    acc_type: str,
    fma: str,
    barrier: str,
    local_space: str,
    group_id: str,
    local_id: str,
    write_block: BlockWriter,
    tile: TileShape | None = None,
) -> list[str]:
    """The C lines of the tiled kernel's body (inside the braces, one level indented),
    with the register ``tile`` (by default :func:`contraction_tile`'s).

    ``write_block(statements, depth, lines)`` renders kernel-IR statements (the lets and
    the epilogue) at an indentation depth into ``lines``; the accumulator variable of the
    match is declared from the register tile before the epilogue runs.
    """
    m, n, k = match.sizes
    m_var, n_var, k_var = match.m_loop.var.name, match.n_loop.var.name, match.k_loop.var.name
    tile = tile or contraction_tile(match)
    tiles_n = -(-n // tile.bn)
    tiles_m = -(-m // tile.bm)
    t = index_type
    side = THREADS_PER_SIDE
    lines = [
        f"{local_space} {acc_type} As[{BK}][{tile.bm + PAD}] __attribute__((aligned(16)));",
        f"{local_space} {acc_type} Bs[{BK}][{tile.bn + PAD}] __attribute__((aligned(16)));",
        f"const {t} group = {group_id};",
        f"const int lid = (int){local_id};",
        f"const int tx = lid % {side};",
        f"const int ty = lid / {side};",
        f"const {t} m0 = ((group / {tiles_n}) % {tiles_m}) * {tile.bm};",
        f"const {t} n0 = (group % {tiles_n}) * {tile.bn};",
    ]
    batch_variables(kernel, match, tiles_m * tiles_n, t, write_block, lines)
    lines += [
        f"{acc_type} tile_acc[{tile.tm}][{tile.tn}];",
        f"for (int i = 0; i < {tile.tm}; ++i)",
        f"  for (int j = 0; j < {tile.tn}; ++j) tile_acc[i][j] = ({acc_type})0;",
        f"for ({t} k0 = 0; k0 < {k}; k0 += {BK}) {{",
    ]
    stage_a = staging_loop("As", match.a.buffer, match.a, m_var, m, k_var, k, tile.bm, "m0", acc_type, t)
    stage_b = staging_loop("Bs", match.b.buffer, match.b, n_var, n, k_var, k, tile.bn, "n0", acc_type, t)
    lines += ["  " + line for line in stage_a + stage_b]
    lines += [
        f"  {barrier}",
        "  #pragma unroll",
        f"  for (int kk = 0; kk < {BK}; ++kk) {{",
        f"    {acc_type} a[{tile.tm}], b[{tile.tn}];",
        "    #pragma unroll",
        f"    for (int i = 0; i < {tile.tm}; ++i) a[i] = As[kk][{_owned('ty', 'i', tile.tm)}];",
        "    #pragma unroll",
        f"    for (int j = 0; j < {tile.tn}; ++j) b[j] = Bs[kk][{_owned('tx', 'j', tile.tn)}];",
        "    #pragma unroll",
        f"    for (int i = 0; i < {tile.tm}; ++i)",
        "      #pragma unroll",
        f"      for (int j = 0; j < {tile.tn}; ++j) tile_acc[i][j] = {fma}(a[i], b[j], tile_acc[i][j]);",
        "  }",
        f"  {barrier}",
        "}",
        "#pragma unroll",
        f"for (int i = 0; i < {tile.tm}; ++i) {{",
        "  #pragma unroll",
        f"  for (int j = 0; j < {tile.tn}; ++j) {{",
        f"    const {t} {m_var} = m0 + {_owned('ty', 'i', tile.tm)};",
        f"    const {t} {n_var} = n0 + {_owned('tx', 'j', tile.tn)};",
        f"    if ({m_var} < {m} && {n_var} < {n}) {{",
    ]
    write_block(match.m_prefix + match.n_before, 3, lines)
    lines.append(f"      {acc_type} {match.acc.name} = tile_acc[i][j];")
    write_block(match.n_after, 3, lines)
    lines += ["    }", "  }", "}"]
    return lines
