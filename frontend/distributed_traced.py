"""Collectives inside ``jit``: :mod:`tcomp.distributed`'s functions on traced values.

Called while a function is traced, ``all_reduce``, ``all_gather``, ``broadcast`` and
``reduce_scatter`` add one graph-IR node per leaf (:mod:`tcomp.ir.primitives.collectives`:
``all_reduce_sum`` ..., with ``ranks`` = :func:`~tcomp.frontend.distributed_comm.size`
at trace time) instead of running on the host; outside a trace they keep their host
behaviour. The nodes differentiate like any op (``grad`` of ``all_reduce(x, "sum")`` is
``all_reduce`` of the cotangent; see the primitives' module for each rule).

How they run: the reference backend evaluates them with the primitives' references,
which call :class:`MpiRunner` (installed on import); the compiled backends run the
program split at its collectives (:mod:`tcomp.frontend.distributed_split`), and the
host steps between kernel groups call :func:`start_host_step`, which packs the
``all_reduce`` nodes of one step into buckets (one ``Iallreduce`` per bucket) and
returns a :class:`PendingStep` to wait on later.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

import tcomp
from tcomp.frontend.dispatch import bind, materialize, normalize_axis, operand, user_error
from tcomp.frontend.distributed_agreement import agree
from tcomp.frontend.distributed_buckets import DEFAULT_BUCKET_BYTES
from tcomp.frontend.distributed_comm import abandon, communicator, size
from tcomp.frontend.distributed_pending import (
    Pending,
    start_broadcast,
    start_gather,
    start_reduce,
    start_reduce_scatter,
    start_reduce_to_root,
)
from tcomp.frontend.pytree import tree_flatten, tree_unflatten
from tcomp.ir.errors import TcompArgumentError
from tcomp.ir.graph import Node, attrs_key
from tcomp.ir.primitives.collectives import REDUCE_SCATTER_OPS, set_runner


def all_reduce(x: Any, op: str) -> Any:
    """One ``all_reduce_<op>`` node per leaf of ``x`` (op already checked)."""
    ranks = size()
    return _each_leaf(x, lambda leaf: bind(f"all_reduce_{op}", [leaf], ranks=ranks))


def all_gather(x: Any, axis: int) -> Any:
    """One ``all_gather`` node per leaf; a 0-d leaf gives a vector of ``size()`` values."""
    ranks = size()

    def gather(leaf: Any) -> Any:
        if not leaf.shape:
            return bind("all_gather", [bind("reshape", [leaf], shape=(1,))], axis=0, ranks=ranks)
        at = normalize_axis("tcomp.distributed.all_gather", axis, len(leaf.shape))
        return bind("all_gather", [leaf], axis=at, ranks=ranks)

    return _each_leaf(x, gather)


def broadcast(x: Any, root: int) -> Any:
    """One ``broadcast_from`` node per leaf."""
    ranks = size()
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < ranks:
        raise user_error(
            TcompArgumentError,
            f"tcomp.distributed.broadcast: root {root!r} is not a rank; the ranks are 0 to {ranks - 1}",
        )
    return _each_leaf(x, lambda leaf: bind("broadcast_from", [leaf], root=int(root), ranks=ranks))


def reduce_scatter(x: Any, op: str, axis: int) -> Any:
    """One ``reduce_scatter_<op>`` node per leaf (ops ``"sum"`` and ``"mean"``)."""
    if op not in REDUCE_SCATTER_OPS:
        raise user_error(
            TcompArgumentError,
            f"tcomp.distributed.reduce_scatter inside jit takes op 'sum' or 'mean', got {op!r} "
            "(call it outside jit for 'max' and 'min')",
        )
    ranks = size()

    def scatter(leaf: Any) -> Any:
        at = normalize_axis("tcomp.distributed.reduce_scatter", axis, len(leaf.shape))
        return bind(f"reduce_scatter_{op}", [leaf], axis=at, ranks=ranks)

    return _each_leaf(x, scatter)


def _each_leaf(x: Any, fn: Any) -> Any:
    leaves, treedef = tree_flatten(x)
    outputs = [fn(materialize(operand(leaf, "tcomp.distributed"))) for leaf in leaves]
    return tree_unflatten(treedef, outputs)


# ---------------------------------------------------------------------------
# running the nodes


def host_collective(
    op: str, attrs: Mapping[str, Any], hosts: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """Collective ``op`` (a primitive's name) with ``attrs`` on each of ``hosts``, this
    rank's numpy arrays, without the agreement check."""
    return start_host_collective(op, attrs, hosts).wait()


def start_host_collective(
    op: str, attrs: Mapping[str, Any], hosts: Sequence[np.ndarray]
) -> Pending:
    """:func:`host_collective` started non-blocking: wait on what it returns."""
    what = f"{op} (inside jit)"
    hosts = list(hosts)
    if op.startswith("all_reduce_"):
        return start_reduce(hosts, op[len("all_reduce_") :], DEFAULT_BUCKET_BYTES, what)
    if op.startswith("reduce_scatter_"):
        return start_reduce_scatter(hosts, op[len("reduce_scatter_") :], attrs["axis"], what)
    if op == "all_gather":
        return start_gather(hosts, attrs["axis"])
    if op == "broadcast_from":
        return start_broadcast(hosts, attrs["root"], DEFAULT_BUCKET_BYTES, what)
    if op == "reduce_to_root":
        return start_reduce_to_root(hosts, attrs["root"], what)
    raise TcompArgumentError(f"internal error: {op} is not a collective")


class PendingStep:
    """A host step's collectives in flight (:func:`start_host_step`): :meth:`wait` gives
    their results in the order of the step's nodes."""

    def __init__(self, count: int, parts: list[tuple[list[int], Pending]]) -> None:
        self.count = count
        self.parts = parts

    def progress(self) -> None:
        """Lets MPI advance the step's requests without waiting."""
        for _, pending in self.parts:
            pending.progress()

    def wait(self) -> list[np.ndarray]:
        """Waits (each part up to ``TCOMP_MPI_TIMEOUT``) and returns the results."""
        results: list[Any] = [None] * self.count
        try:
            for members, pending in self.parts:
                for index, output in zip(members, pending.wait()):
                    results[index] = output
        except BaseException:
            self.abandon()  # the parts after a failed one may still be in flight
            raise
        return results

    def abandon(self) -> None:
        """Gives up on the requests not yet waited for (after an error elsewhere): their
        buffers stay alive and the process calls ``MPI_Abort`` at exit."""
        for _, pending in self.parts:
            if not pending.done:
                abandon(pending.requests, pending.buffers)


def start_host_step(nodes: Sequence[Node], hosts: Sequence[np.ndarray]) -> PendingStep:
    """Starts the collective ``nodes`` (one host array each, in order), non-blocking:
    nodes of one op and attributes run together, so one step's ``all_reduce`` nodes of
    one op share buckets (one ``Iallreduce`` per bucket of about ``DEFAULT_BUCKET_BYTES``).
    Every rank starts them in the same order: by (op, attributes) in the order each first
    appears among the nodes."""
    groups: dict[tuple, list[int]] = {}
    for index, node in enumerate(nodes):
        groups.setdefault((node.op, attrs_key(node.attrs)), []).append(index)
    parts = []
    for members in groups.values():
        node = nodes[members[0]]
        pending = start_host_collective(node.op, node.attrs, [hosts[i] for i in members])
        parts.append((members, pending))
    return PendingStep(len(nodes), parts)


def run_host_step(nodes: Sequence[Node], hosts: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The results of the collective ``nodes``: :func:`start_host_step`, then wait."""
    return start_host_step(nodes, hosts).wait()


def describe_collective(node: Node) -> str:
    """``all_reduce_mean {ranks=2} float64[3]``: what every rank must agree on."""
    settings = ", ".join(f"{k}={v}" for k, v in sorted(node.attrs.items()))
    value = node.inputs[0]
    return f"{node.op} {{{settings}}} {value.dtype}{list(value.shape)}"


class MpiRunner:
    """The collectives' references over MPI (what the reference backend runs): each call
    first checks that every rank runs the same collective on the same shapes."""

    def size(self) -> int:
        return int(communicator().Get_size())

    def run(self, op: str, x: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items()))
        agree(
            op,
            [
                f"tcomp version: {tcomp.__version__}",
                f"collective: {op} {{{settings}}} {x.dtype.name}{list(x.shape)}",
            ],
        )
        return host_collective(op, attrs, [x])[0]


set_runner(MpiRunner())
