"""The collectives of :mod:`tcomp.distributed`: on the host between jitted calls, or as
graph-IR nodes when called inside a trace (:mod:`tcomp.frontend.distributed_traced`).

Each takes a pytree of tcomp Arrays, numpy arrays or scalars and returns the same
structure, each leaf the same kind of value as it came (an Array on its backend, or a
numpy array). Each first checks that every rank calls the same collective on the same
shapes (:func:`~tcomp.frontend.distributed_agreement.agree`), then starts its MPI calls
non-blocking and waits on them with the timeout of
:func:`~tcomp.frontend.distributed_comm.wait_all`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tcomp.frontend import distributed_traced as traced
from tcomp.frontend.distributed_agreement import agree, check_identical
from tcomp.frontend.distributed_buckets import (
    DEFAULT_BUCKET_BYTES,
    Bucket,
    check_bucket_bytes,
)
from tcomp.frontend.distributed_comm import communicator, mpi, wait_all
from tcomp.frontend.distributed_host import (
    OPS,
    check_op,
    describe,
    host_leaves,
    leaf_paths,
    restore,
)
from tcomp.frontend.distributed_pending import (
    start_broadcast,
    start_gather,
    start_reduce,
    start_reduce_scatter,
    start_reduce_to_root,
)
from tcomp.frontend.pytree import tree_unflatten
from tcomp.frontend.trace import current_trace
from tcomp.ir.errors import TcompArgumentError, TcompShapeError


def all_reduce(x: Any, op: str = "sum", *, bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> Any:
    """Every rank's ``x`` combined elementwise by ``op`` (``"sum"``, ``"mean"``, ``"max"``,
    ``"min"``); every rank gets the result. ``x`` is a pytree; its leaves are packed into
    buckets of about ``bucket_bytes`` (one per dtype at least) and each bucket is one
    ``MPI_Iallreduce``. float16/bfloat16 are reduced in float32 and rounded back. Inside
    ``jit``: a graph-IR ``all_reduce_<op>`` node per leaf, where the program is split
    (see :mod:`tcomp.frontend.distributed_traced`)."""
    check_op(op, "all_reduce")
    check_bucket_bytes(bucket_bytes)
    if current_trace() is not None:
        return traced.all_reduce(x, op)
    leaves, treedef, hosts = host_leaves(x, "all_reduce")
    agree("all_reduce", describe("all_reduce", hosts, treedef, op=op, bucket_bytes=bucket_bytes))
    results = reduce_arrays(hosts, op, bucket_bytes, "all_reduce")
    return tree_unflatten(treedef, [restore(m, r) for m, r in zip(leaves, results)])


def reduce_arrays(
    hosts: Sequence[np.ndarray], op: str, bucket_bytes: int, what: str
) -> list[np.ndarray]:
    """The all-reduce of numpy arrays, bucketed, without the agreement check."""
    return start_reduce(hosts, op, bucket_bytes, what).wait()


def reduce_buffers(
    buckets: Sequence[Bucket], buffers: Sequence[np.ndarray], op: str, what: str
) -> None:
    """All-reduces each packed bucket buffer in place: one ``Iallreduce`` per bucket, all
    in flight together, then one wait; ``"mean"`` divides by the number of ranks."""
    MPI = mpi()
    comm = communicator()
    mpi_op = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]
    requests = [comm.Iallreduce(MPI.IN_PLACE, buffer, op=mpi_op) for buffer in buffers]
    total = sum(b.nbytes for b in buckets)
    wait_all(requests, f"{what} ({len(buckets)} buckets, {total} bytes)", keep_alive=buffers)
    if op == "mean":
        count = comm.Get_size()
        for buffer in buffers:
            buffer /= count


def all_gather(x: Any, axis: int = 0) -> Any:
    """Every rank's ``x`` concatenated along ``axis`` in rank order (each leaf's ``axis``
    grows ``size()`` times); every rank gets the result. A 0-d leaf gives a vector of
    ``size()`` values. Every rank must pass the same shapes. Inside ``jit``: a graph-IR
    ``all_gather`` node per leaf (see :mod:`tcomp.frontend.distributed_traced`)."""
    if current_trace() is not None:
        return traced.all_gather(x, axis)
    leaves, treedef, hosts = host_leaves(x, "all_gather")
    for h in hosts:
        if h.ndim and not -h.ndim <= axis < h.ndim:
            raise TcompShapeError(
                f"tcomp.distributed.all_gather: axis {axis} is out of range for a leaf of "
                f"shape {list(h.shape)}"
            )
    agree("all_gather", describe("all_gather", hosts, treedef, axis=axis))
    results = gather_arrays(hosts, axis)
    return tree_unflatten(treedef, [restore(m, r) for m, r in zip(leaves, results)])


def gather_arrays(hosts: Sequence[np.ndarray], axis: int) -> list[np.ndarray]:
    """The all-gather of numpy arrays along ``axis`` (0-d arrays: stacked), without the
    agreement check: one ``Iallgather`` each, all in flight together."""
    return start_gather(hosts, axis).wait()


def broadcast(x: Any, root: int = 0, *, bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> Any:
    """``root``'s ``x`` on every rank (every rank passes arrays of the same shapes and
    dtypes, which it gets back filled with ``root``'s values). Leaves are sent as bytes
    in buckets of about ``bucket_bytes``, one ``MPI_Ibcast`` each. Inside ``jit``: a
    graph-IR ``broadcast_from`` node per leaf."""
    check_bucket_bytes(bucket_bytes)
    if current_trace() is not None:
        return traced.broadcast(x, root)
    leaves, treedef, hosts = host_leaves(x, "broadcast")
    results = _broadcast_hosts(hosts, treedef, root, bucket_bytes, "broadcast")
    return tree_unflatten(treedef, [restore(m, r) for m, r in zip(leaves, results)])


def broadcast_parameters(
    params: Any, root: int = 0, *, bucket_bytes: int = DEFAULT_BUCKET_BYTES
) -> Any:
    """``root``'s parameters on every rank: call once before training so that every rank
    starts from the same values (e.g. after each rank initialised its own). Inside
    ``jit``: as :func:`broadcast`."""
    check_bucket_bytes(bucket_bytes)
    if current_trace() is not None:
        return traced.broadcast(params, root)
    leaves, treedef, hosts = host_leaves(params, "broadcast_parameters")
    results = _broadcast_hosts(hosts, treedef, root, bucket_bytes, "broadcast_parameters")
    return tree_unflatten(treedef, [restore(m, r) for m, r in zip(leaves, results)])


def _broadcast_hosts(
    hosts: list[np.ndarray], treedef: Any, root: int, bucket_bytes: int, what: str
) -> list[np.ndarray]:
    _check_root(root, communicator().Get_size(), what)
    agree(what, describe(what, hosts, treedef, root=root, bucket_bytes=bucket_bytes))
    return broadcast_arrays(hosts, root, bucket_bytes, what)


def broadcast_arrays(
    hosts: Sequence[np.ndarray], root: int, bucket_bytes: int, what: str
) -> list[np.ndarray]:
    """``root``'s numpy arrays on every rank, without the agreement check: the bytes in
    buckets, one ``Ibcast`` each."""
    return start_broadcast(hosts, root, bucket_bytes, what).wait()


def reduce_scatter(x: Any, op: str = "sum", axis: int = 0) -> Any:
    """The all-reduce of ``x`` by ``op``, of which each rank keeps only its block along
    ``axis``: rank ``r`` gets indices ``r * n / size()`` to ``(r + 1) * n / size()`` of
    the reduced array (``n``, each leaf's length along ``axis``, must divide by
    ``size()``). Inside ``jit`` (ops ``"sum"`` and ``"mean"``): a graph-IR
    ``reduce_scatter_<op>`` node per leaf."""
    check_op(op, "reduce_scatter")
    if current_trace() is not None:
        return traced.reduce_scatter(x, op, axis)
    leaves, treedef, hosts = host_leaves(x, "reduce_scatter")
    count = communicator().Get_size()
    for h in hosts:
        if h.ndim == 0 or not -h.ndim <= axis < h.ndim or h.shape[axis] % count:
            raise TcompShapeError(
                f"tcomp.distributed.reduce_scatter: a leaf of shape {list(h.shape)} cannot be "
                f"split into {count} equal blocks along axis {axis} (one per rank)"
            )
    agree("reduce_scatter", describe("reduce_scatter", hosts, treedef, op=op, axis=axis))
    results = reduce_scatter_arrays(hosts, op, axis, "reduce_scatter")
    return tree_unflatten(treedef, [restore(m, r) for m, r in zip(leaves, results)])


def reduce_scatter_arrays(
    hosts: Sequence[np.ndarray], op: str, axis: int, what: str
) -> list[np.ndarray]:
    """The reduce-scatter of numpy arrays along ``axis``, without the agreement check:
    one ``Ireduce_scatter_block`` each, all in flight together."""
    return start_reduce_scatter(hosts, op, axis, what).wait()


def reduce_to_root_arrays(hosts: Sequence[np.ndarray], root: int, what: str) -> list[np.ndarray]:
    """The sum of every rank's numpy arrays on ``root``, zeros on the other ranks (the
    gradient of a broadcast), without the agreement check: one ``Ireduce`` each."""
    return start_reduce_to_root(hosts, root, what).wait()


def check_parameters(params: Any, what: str = "check_parameters") -> None:
    """Raises :class:`~tcomp.errors.TcompDistributedError` on every rank unless every
    rank holds bit-identical ``params``; the message names the ranks and the leaves that
    differ."""
    _, treedef, hosts = host_leaves(params, "check_parameters")
    agree(what, describe("check_parameters", hosts, treedef))
    check_identical(what, leaf_paths(treedef), hosts)


def _check_root(root: int, count: int, what: str) -> None:
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < count:
        raise TcompArgumentError(
            f"tcomp.distributed.{what}: root {root!r} is not a rank; the ranks are 0 to {count - 1}"
        )


__all__ = [
    "OPS",
    "all_gather",
    "all_reduce",
    "broadcast",
    "broadcast_arrays",
    "broadcast_parameters",
    "check_parameters",
    "gather_arrays",
    "reduce_arrays",
    "reduce_buffers",
    "reduce_scatter",
    "reduce_scatter_arrays",
    "reduce_to_root_arrays",
]
