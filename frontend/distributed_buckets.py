"""Buckets: many arrays packed into a few contiguous buffers, one MPI call per buffer.

:func:`plan_buckets` groups arrays by the dtype they are reduced in and, in their
order, fills each bucket until the next array would take it past ``bucket_bytes`` (an
array larger than that gets a bucket of its own; arrays are never split). A model's
hundred gradient tensors become a handful of all-reduces, each big enough to run at the
link's bandwidth rather than at its latency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tcomp.ir.errors import TcompArgumentError

DEFAULT_BUCKET_BYTES = 25 * 2**20  # 25 MiB, PyTorch DDP's default bucket size


@dataclass(frozen=True)
class Bucket:
    """One contiguous buffer: ``dtype`` and, per array in it, its index in the list
    given to :func:`plan_buckets` and its element offset in the buffer."""

    dtype: np.dtype
    members: tuple[int, ...]
    offsets: tuple[int, ...]
    size: int  # elements

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


def plan_buckets(
    arrays: Sequence[tuple[tuple[int, ...], np.dtype]], bucket_bytes: int
) -> list[Bucket]:
    """Buckets for arrays given as ``(shape, dtype)``: grouped by dtype (in the order
    each dtype first appears), consecutive within a dtype, at most ``bucket_bytes`` each
    unless one array alone is larger."""
    check_bucket_bytes(bucket_bytes)
    by_dtype: dict[np.dtype, list[int]] = {}
    for index, (_, dtype) in enumerate(arrays):
        by_dtype.setdefault(np.dtype(dtype), []).append(index)
    buckets = []
    for dtype, indices in by_dtype.items():
        members: list[int] = []
        offsets: list[int] = []
        filled = 0
        for index in indices:
            count = int(np.prod(arrays[index][0], dtype=np.int64))
            if members and (filled + count) * dtype.itemsize > bucket_bytes:
                buckets.append(Bucket(dtype, tuple(members), tuple(offsets), filled))
                members, offsets, filled = [], [], 0
            members.append(index)
            offsets.append(filled)
            filled += count
        if members:
            buckets.append(Bucket(dtype, tuple(members), tuple(offsets), filled))
    return buckets


def check_bucket_bytes(bucket_bytes: int) -> None:
    if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, (int, np.integer)) or bucket_bytes < 1:
        raise TcompArgumentError(
            f"bucket_bytes must be a positive integer number of bytes, got {bucket_bytes!r}"
        )


def pack(bucket: Bucket, arrays: Sequence[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """The bucket's arrays copied (and converted to its dtype) into one flat buffer."""
    buffer = np.empty(bucket.size, bucket.dtype) if out is None else out
    for index, offset in zip(bucket.members, bucket.offsets):
        flat = np.ravel(arrays[index])
        buffer[offset : offset + flat.size] = flat
    return buffer


def add_into(bucket: Bucket, arrays: Sequence[np.ndarray], buffer: np.ndarray) -> None:
    """Adds the bucket's arrays to ``buffer`` (gradient accumulation)."""
    for index, offset in zip(bucket.members, bucket.offsets):
        flat = np.ravel(arrays[index])
        buffer[offset : offset + flat.size] += flat


def unpack(
    bucket: Bucket,
    buffer: np.ndarray,
    shapes: Sequence[tuple[int, ...]],
    dtypes: Sequence[np.dtype],
    out: list,
) -> None:
    """Writes the bucket's arrays, out of ``buffer``, into ``out`` at their indices, each
    with its shape and dtype (a copy: the arrays do not share the buffer)."""
    for index, offset in zip(bucket.members, bucket.offsets):
        count = int(np.prod(shapes[index], dtype=np.int64))
        piece = buffer[offset : offset + count].reshape(shapes[index])
        out[index] = piece.astype(dtypes[index], copy=True)
