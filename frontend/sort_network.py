"""The bitonic network behind ``sort``/``argsort``/``top_k`` (frontend/composite_sort.py).

It works on ``pairs``, a ``[rows, 2, m]`` array (``m`` a power of two) holding each
row's keys and then their indices ``0 .. m - 1`` in one dtype, and sorts every row by
``(key, index)`` lexicographically. Stage ``(k, j)`` of the network pairs element ``i``
with ``i ^ j``; there are ``log2(m) * (log2(m) + 1) / 2`` of them.

Two ways to run the same stages:

- :func:`unrolled_network` writes each stage out with static ``j`` (a reshape to
  ``(..., m / 2j, 2, j)`` and a flip of the pair axis). Each stage is traced, fused and
  compiled on its own, so compile time grows with ``log2(m) ** 2``; the warm code is
  plain vectorised elementwise kernels.
- :func:`looped_network` runs every stage in one :func:`tcomp.scan` over a constant
  table of the stages' ``(k, j)``. The body is traced once: the partner of ``i`` is
  ``i ^ j`` with ``j`` traced (a gather of whole blocks of ``LANES`` elements when
  ``j >= LANES``, else one of the static flips within a block) and the direction comes
  from ``i & k``. Compile time does not depend on ``m``.

:func:`bitonic_sort` picks the loop from ``LOOP_MIN_LENGTH`` on (measured with
``python -m bench.checks.sort_compile``).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.array import Array
from tcomp.frontend.bitwise_ops import (
    bitwise_and,
    bitwise_xor,
    logical_and,
    logical_not,
    logical_or,
)
from tcomp.frontend.composite_shapes import flip
from tcomp.frontend.control_flow import scan
from tcomp.frontend.creation import arange
from tcomp.frontend.dispatch import shape_of
from tcomp.frontend.math_ops import isnan
from tcomp.frontend.trace import current_trace

#: Padded row lengths ``m`` from which the stages run in one loop; shorter rows unroll
#: the network. 2: the loop everywhere, as its warm calls measured as fast as the
#: unrolled network's up to n=1024 (within 1.3x beyond) while its first call stays
#: under a second; a huge value runs the unrolled network everywhere (the measurement
#: script sets it, to compare).
LOOP_MIN_LENGTH = 2
#: The looped network's lane blocks (8 float32s: one AVX2 register) and stages per
#: loop step, measured with ``bench.checks.sort_compile``.
LANES = 8
STAGES_PER_STEP = 2


def _after(a: Any, b: Any, ia: Any, ib: Any, descending: bool, floats: bool):
    """True where the pair ``(a, ia)`` belongs after ``(b, ib)`` in the order."""
    beyond = ops.less(a, b) if descending else ops.greater(a, b)
    tied = ops.equal(a, b)
    if floats:
        na, nb = isnan(a), isnan(b)
        # ascending: NaN after every number; descending (top_k): NaN before every number
        nan_order = (
            logical_and(nb, logical_not(na)) if descending else logical_and(na, logical_not(nb))
        )
        beyond = logical_or(beyond, nan_order)
        tied = logical_or(tied, logical_and(na, nb))
    return logical_or(beyond, logical_and(tied, ops.greater(ia, ib)))


def _exchange(pairs: Any, other: Any, wants_later: Any, descending: bool, floats: bool):
    """One compare-exchange: each element of ``pairs`` becomes the later of itself and
    ``other`` (its partner) where ``wants_later``, else the earlier."""
    later = _after(pairs[:, 0:1], other[:, 0:1], pairs[:, 1:2], other[:, 1:2], descending, floats)
    return ops.where(ops.equal(later, wants_later), pairs, other)


def stage_table(m: int) -> np.ndarray:
    """The network's stages in order, as ``int32`` rows ``(k, j)``: ``k`` is the size of
    the blocks being merged (2, 4, ... m), ``j`` the distance of the partners (k/2 ... 1)."""
    stages = []
    k = 2
    while k <= m:
        j = k // 2
        while j >= 1:
            stages.append((k, j))
            j //= 2
        k *= 2
    return np.array(stages, dtype=np.int32).reshape(-1, 2)


def _partner(x: Any, j: int):
    """``x[..., i ^ j]`` along the last axis (length ``m``, a multiple of ``2j``)."""
    lead, m = shape_of(x)[:-1], shape_of(x)[-1]
    return ops.reshape(flip(ops.reshape(x, lead + (m // (2 * j), 2, j)), axis=-2), lead + (m,))


def unrolled_network(pairs: Any, descending: bool, floats: bool):
    """Every stage written out with its static ``(k, j)``: element ``i`` meets ``i ^ j``
    and keeps the later of the two when it is the upper one of an ascending block of
    ``k`` (or the lower one of a descending block), else the earlier."""
    m = shape_of(pairs)[-1]
    position = np.arange(m)
    for k, j in stage_table(m).tolist():
        wants_later = ((position & j) != 0) != ((position & k) != 0)
        pairs = _exchange(pairs, _partner(pairs, j), wants_later, descending, floats)
    return pairs


def _looped_table(m: int) -> np.ndarray:
    """:func:`stage_table` as ``[steps, STAGES_PER_STEP, 2]``, an odd tail padded with
    ``(0, 0)``: a stage that pairs each element with itself, which changes nothing."""
    table = stage_table(m)
    padding = np.zeros(((-len(table)) % STAGES_PER_STEP, 2), dtype=np.int32)
    return np.concatenate([table, padding]).reshape(-1, STAGES_PER_STEP, 2)


def _traced_partner(lanes: Any, j: Any):
    """``x[..., i ^ j]`` for ``lanes`` (``x`` as ``[rows, 2, m / V, V]``) and a traced
    power of two ``j`` (or 0): beyond the lanes a gather of whole lane blocks (block
    ``b`` meets ``b ^ (j / V)``: contiguous loads, vectorised), within them a choice
    among the ``log2(V)`` static flips, so no stage gathers single elements."""
    blocks, width = shape_of(lanes)[-2], shape_of(lanes)[-1]
    other = ops.take(lanes, bitwise_xor(arange(blocks), ops.floor_divide(j, width)), axis=-2)
    distance = width // 2
    while distance >= 1:
        other = ops.where(ops.equal(j, distance), _partner(lanes, distance), other)
        distance //= 2
    return other


def looped_network(pairs: Any, descending: bool, floats: bool):
    """The same stages as :func:`unrolled_network`, as one :func:`tcomp.scan` over
    :func:`stage_table` (``STAGES_PER_STEP`` stages a step, which halves the loop's
    copies of its carry): the body is traced and compiled once whatever ``m`` is.

    Called eagerly, the network runs as one jitted call (kept per direction and key
    kind, so the table and the carrier's setup are not run op by op) on the backend
    ``pairs`` lives on."""
    if current_trace() is None:
        backend = pairs.backend if isinstance(pairs, Array) and pairs.committed else None
        return _eager_network(descending, floats, backend)(pairs)
    rows, m = shape_of(pairs)[0], shape_of(pairs)[-1]
    width = min(LANES, m)
    lanes = ops.reshape(pairs, (rows, 2, m // width, width))

    def step(carry: Any, stages: Any) -> tuple[Any, None]:
        position = ops.reshape(arange(m), (m // width, width))
        for s in range(STAGES_PER_STEP):
            k, j = stages[s, 0], stages[s, 1]
            wants_later = ops.not_equal(
                ops.not_equal(bitwise_and(position, j), 0),
                ops.not_equal(bitwise_and(position, k), 0),
            )
            other = _traced_partner(carry, j)
            carry = _exchange(carry, other, wants_later, descending, floats)
        return carry, None

    sorted_lanes, _ = scan(step, lanes, _looped_table(m))
    return ops.reshape(sorted_lanes, (rows, 2, m))


@functools.lru_cache(maxsize=None)
def _eager_network(descending: bool, floats: bool, backend: str | None) -> Any:
    """The looped network jitted for ``backend`` (kept, so an eager sort of a shape seen
    before is not traced again)."""
    from tcomp.frontend.jit import jit  # jit builds on the ops this module uses

    def network(pairs: Any) -> Any:
        return looped_network(pairs, descending, floats)

    return jit(network, backend=backend)


def bitonic_sort(pairs: Any, descending: bool, floats: bool):
    """``pairs`` ``[rows, 2, m]`` with each row sorted by ``(key, index)`` (ascending, or
    descending keys with ascending indices among equals); NaN keys last (first when
    ``descending``). Loops over the stages from ``LOOP_MIN_LENGTH`` on."""
    if shape_of(pairs)[-1] >= LOOP_MIN_LENGTH:
        return looped_network(pairs, descending, floats)
    return unrolled_network(pairs, descending, floats)
