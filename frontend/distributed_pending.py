"""Collectives started but not yet waited on: the non-blocking core of :mod:`tcomp.distributed`.

Each ``start_*`` function posts its MPI calls non-blocking (``Iallreduce``,
``Iallgather``, ``Ibcast``, ``Ireduce_scatter_block``, ``Ireduce``) on this rank's numpy
arrays and returns a :class:`Pending` at once; :meth:`Pending.wait` waits for the
requests with the ``TCOMP_MPI_TIMEOUT`` deadline of
:func:`~tcomp.frontend.distributed_comm.wait_all` (the same clear error when a rank
died or hangs) and returns the results. In between the caller may compute: a split
program (:mod:`tcomp.frontend.distributed_split_exec`) runs the kernel groups that do
not read the result, so the communication overlaps them. The host collectives of
:mod:`tcomp.frontend.distributed_collectives` start and wait at once. No agreement
check here: callers check that the ranks run the same collectives first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from tcomp.frontend.distributed_buckets import Bucket, pack, plan_buckets, unpack
from tcomp.frontend.distributed_comm import communicator, mpi, progress, wait_all
from tcomp.frontend.distributed_host import work_dtype


@dataclass
class Pending:
    """MPI ``requests`` in flight for the collective ``what`` (a phrase for the timeout
    error), the ``buffers`` they read and write (kept alive until they complete), and
    ``finish``, which turns the completed buffers into the results."""

    requests: list[Any]
    buffers: list[Any]
    what: str
    finish: Callable[[], list[np.ndarray]]
    done: bool = field(default=False)

    def wait(self) -> list[np.ndarray]:
        """Waits (up to the timeout) and returns the results, one array per input."""
        wait_all(self.requests, self.what, keep_alive=self.buffers)
        self.done = True
        return self.finish()

    def progress(self) -> None:
        """Lets MPI advance the requests without waiting (MPI libraries without a
        progress thread move a collective along only inside MPI calls)."""
        if not self.done:
            progress(self.requests)


def _mpi_op(op: str) -> Any:
    MPI = mpi()
    return {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]


def start_reduce(hosts: Sequence[np.ndarray], op: str, bucket_bytes: int, what: str) -> Pending:
    """The all-reduce of numpy arrays by ``op``, bucketed: one ``Iallreduce`` per bucket
    of about ``bucket_bytes``; ``"mean"`` divides by the number of ranks when done."""
    hosts = list(hosts)
    types = [(h.shape, work_dtype(h.dtype, op, what, h.shape)) for h in hosts]
    buckets = plan_buckets(types, bucket_bytes)
    buffers = [pack(bucket, hosts) for bucket in buckets]
    comm = communicator()
    mpi_op = _mpi_op(op)
    requests = [comm.Iallreduce(mpi().IN_PLACE, buffer, op=mpi_op) for buffer in buffers]

    def finish() -> list[np.ndarray]:
        if op == "mean":
            count = comm.Get_size()
            for buffer in buffers:
                buffer /= count
        out: list = [None] * len(hosts)
        for bucket, buffer in zip(buckets, buffers):
            _unpack_views(bucket, buffer, hosts, out)
        return out

    total = sum(b.nbytes for b in buckets)
    return Pending(requests, buffers, f"{what} ({len(buckets)} buckets, {total} bytes)", finish)


def _unpack_views(
    bucket: Bucket, buffer: np.ndarray, hosts: Sequence[np.ndarray], out: list
) -> None:
    """The bucket's arrays out of ``buffer`` (made for this call alone) into ``out``:
    views of it where the dtype is the bucket's (no copy), converted copies otherwise
    (float16 reduced in float32)."""
    for index, offset in zip(bucket.members, bucket.offsets):
        host = hosts[index]
        piece = buffer[offset : offset + host.size].reshape(host.shape)
        out[index] = piece if piece.dtype == host.dtype else piece.astype(host.dtype)


def start_gather(hosts: Sequence[np.ndarray], axis: int) -> Pending:
    """The all-gather of numpy arrays along ``axis`` (0-d arrays: stacked): one
    ``Iallgather`` each."""
    hosts = list(hosts)
    comm = communicator()
    count = comm.Get_size()
    sends = [np.ascontiguousarray(h).reshape(-1).view(np.uint8) for h in hosts]
    receives = [np.empty((count, s.size), np.uint8) for s in sends]
    requests = [comm.Iallgather(s, r) for s, r in zip(sends, receives)]

    def finish() -> list[np.ndarray]:
        results = []
        for h, received in zip(hosts, receives):
            parts = received.view(h.dtype).reshape((count, *h.shape))
            results.append(parts if h.ndim == 0 else np.concatenate(list(parts), axis=axis))
        return results

    return Pending(requests, sends + receives, f"all_gather ({len(hosts)} arrays)", finish)


def start_broadcast(
    hosts: Sequence[np.ndarray], root: int, bucket_bytes: int, what: str
) -> Pending:
    """``root``'s numpy arrays on every rank: the bytes in buckets, one ``Ibcast`` each."""
    hosts = list(hosts)
    comm = communicator()
    raw = [np.ascontiguousarray(h).reshape(-1).view(np.uint8) for h in hosts]
    byte = np.dtype(np.uint8)
    buckets = plan_buckets([(r.shape, byte) for r in raw], bucket_bytes)
    buffers = [pack(bucket, raw) for bucket in buckets]
    requests = [comm.Ibcast(buffer, root=root) for buffer in buffers]

    def finish() -> list[np.ndarray]:
        out: list = [None] * len(hosts)
        for bucket, buffer in zip(buckets, buffers):
            unpack(bucket, buffer, [r.shape for r in raw], [byte] * len(raw), out)
        return [o.view(h.dtype).reshape(h.shape) for o, h in zip(out, hosts)]

    phrase = f"{what} ({len(buckets)} buckets from rank {root})"
    return Pending(requests, buffers, phrase, finish)


def start_reduce_scatter(hosts: Sequence[np.ndarray], op: str, axis: int, what: str) -> Pending:
    """The reduce-scatter of numpy arrays along ``axis``: one ``Ireduce_scatter_block``
    each (each rank keeps its block of the reduced array)."""
    hosts = list(hosts)
    comm = communicator()
    count = comm.Get_size()
    mpi_op = _mpi_op(op)
    sends = [
        np.ascontiguousarray(np.moveaxis(h, axis, 0), work_dtype(h.dtype, op, what, h.shape))
        for h in hosts
    ]
    receives = [np.empty((s.shape[0] // count, *s.shape[1:]), s.dtype) for s in sends]
    requests = [comm.Ireduce_scatter_block(s, r, op=mpi_op) for s, r in zip(sends, receives)]

    def finish() -> list[np.ndarray]:
        if op == "mean":
            for r in receives:
                r /= count
        return [np.moveaxis(r, 0, axis).astype(h.dtype) for r, h in zip(receives, hosts)]

    return Pending(requests, sends + receives, f"{what} ({len(hosts)} arrays)", finish)


def start_reduce_to_root(hosts: Sequence[np.ndarray], root: int, what: str) -> Pending:
    """The sum of every rank's numpy arrays on ``root``, zeros on the other ranks (the
    gradient of a broadcast): one ``Ireduce`` each."""
    hosts = list(hosts)
    comm = communicator()
    sends = [np.ascontiguousarray(h, work_dtype(h.dtype, "sum", what, h.shape)) for h in hosts]
    receives = [np.zeros_like(s) for s in sends]
    requests = [comm.Ireduce(s, r, op=mpi().SUM, root=root) for s, r in zip(sends, receives)]

    def finish() -> list[np.ndarray]:
        kept = receives if comm.Get_rank() == root else [np.zeros_like(s) for s in sends]
        return [r.astype(h.dtype) for r, h in zip(kept, hosts)]

    phrase = f"{what} ({len(hosts)} arrays to rank {root})"
    return Pending(requests, sends + receives, phrase, finish)
