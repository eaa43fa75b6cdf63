"""``tcomp.distributed.data_parallel``: one gradient step split over the ranks by batch.

The contract of the wrapped function ``grad_fn(params, *args) -> (loss, grads)`` is
``tcomp.value_and_grad``'s (usually ``jit(value_and_grad(loss_fn))``): ``loss`` is the
*mean* over the examples of the batch (``reduce="mean"``, the default) or their sum
(``reduce="sum"``), ``grads`` a pytree of its gradients. Each rank passes the same
global batch; every leaf of the batch arguments is cut along axis 0 into
``size() * accumulation_steps`` equal blocks (a batch that does not divide raises an
error: drop or pad the remainder yourself); rank ``r`` runs ``grad_fn`` on its blocks
``r * accumulation_steps`` to ``(r + 1) * accumulation_steps - 1``, adds up the losses and
gradients on the host, and the sums of every rank are combined with one
``MPI_Iallreduce`` per bucket of about ``bucket_bytes`` (the loss rides in a bucket too).
With equal blocks the mean of the means is the mean over the whole batch, so every rank
returns the loss and gradients of the single-process run on the whole batch, up to the
order of the additions.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import tcomp
from tcomp.frontend.distributed_agreement import agree, check_identical
from tcomp.frontend.distributed_buckets import (
    DEFAULT_BUCKET_BYTES,
    Bucket,
    add_into,
    check_bucket_bytes,
    pack,
    plan_buckets,
    unpack,
)
from tcomp.frontend.distributed_collectives import reduce_buffers
from tcomp.frontend.distributed_comm import communicator
from tcomp.frontend.distributed_host import host_leaves, leaf_paths, restore, work_dtype
from tcomp.frontend.location import user_location
from tcomp.frontend.pytree import tree_flatten, tree_unflatten
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, with_location


class DataParallel:
    """A gradient function run data-parallel over the ranks; see :func:`data_parallel`.

    ``buckets`` is the bucket plan of the last step (one ``Iallreduce`` each) and
    ``steps`` the number of steps run.
    """

    def __init__(
        self,
        grad_fn: Callable[..., Any],
        bucket_bytes: int,
        debug: bool,
        accumulation_steps: int,
        reduce: str,
        batch_argnums: Sequence[int] | None,
    ) -> None:
        check_bucket_bytes(bucket_bytes)
        if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int) or accumulation_steps < 1:
            raise TcompArgumentError(
                f"data_parallel: accumulation_steps must be a positive integer, got {accumulation_steps!r}"
            )
        if reduce not in ("mean", "sum"):
            raise TcompArgumentError(f"data_parallel: reduce must be 'mean' or 'sum', got {reduce!r}")
        self.grad_fn = grad_fn
        self.bucket_bytes = bucket_bytes
        self.debug = debug
        self.accumulation_steps = accumulation_steps
        self.reduce = reduce
        self.batch_argnums = None if batch_argnums is None else tuple(batch_argnums)
        self.name = getattr(grad_fn, "__name__", type(grad_fn).__name__)
        self.buckets: list[Bucket] = []
        self.steps = 0

    def __call__(self, params: Any, *args: Any) -> tuple[Any, Any]:
        """``(loss, grads)`` of ``grad_fn`` on the whole batch, the same on every rank."""
        comm = communicator()
        count, me = comm.Get_size(), comm.Get_rank()
        what = f"data_parallel({self.name}) step {self.steps + 1}"
        batch = self._batch_argnums(len(args))
        _, params_def, params_host = host_leaves(params, "data_parallel")  # refuses tracers
        agree(what, self._describe(params, args, batch, count))
        if self.debug:  # the shapes were just compared: only the values are left
            check_identical(f"{what}: the parameters", leaf_paths(params_def), params_host)
        blocks = count * self.accumulation_steps
        for index in batch:
            self._check_divides(args[index], index, blocks)
        sums, model = None, None
        for micro in range(self.accumulation_steps):
            block = me * self.accumulation_steps + micro
            sharded = [_block(a, block, blocks) if i in batch else a for i, a in enumerate(args)]
            result = self.grad_fn(params, *sharded)
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise TcompArgumentError(
                    f"data_parallel({self.name}): the function must return (loss, grads), as "
                    f"tcomp.value_and_grad does; it returned {type(result).__name__}"
                )
            leaves, treedef, hosts = host_leaves(result, "data_parallel")
            if sums is None:
                model = (leaves, treedef, hosts)
                types = [(h.shape, work_dtype(h.dtype, "mean", what, h.shape)) for h in hosts]
                self.buckets = plan_buckets(types, self.bucket_bytes)
                sums = [pack(bucket, hosts) for bucket in self.buckets]
            else:
                for bucket, buffer in zip(self.buckets, sums):
                    add_into(bucket, hosts, buffer)
        if self.reduce == "mean" and self.accumulation_steps > 1:
            for buffer in sums:
                buffer /= self.accumulation_steps
        reduce_buffers(self.buckets, sums, self.reduce, f"{what}: gradient all-reduce")
        leaves, treedef, hosts = model
        out: list = [None] * len(hosts)
        for bucket, buffer in zip(self.buckets, sums):
            unpack(bucket, buffer, [h.shape for h in hosts], [h.dtype for h in hosts], out)
        self.steps += 1
        return tree_unflatten(treedef, [restore(m, r) for m, r in zip(leaves, out)])

    def _batch_argnums(self, count: int) -> tuple[int, ...]:
        if self.batch_argnums is None:
            return tuple(range(count))
        for index in self.batch_argnums:
            if not 0 <= index < count:
                raise TcompArgumentError(
                    f"data_parallel({self.name}): batch_argnums {self.batch_argnums} names argument "
                    f"{index} after params, but the call passed {count}"
                )
        return self.batch_argnums

    def _describe(self, params: Any, args: Sequence[Any], batch: Sequence[int], count: int) -> list[str]:
        lines = [
            f"tcomp version: {tcomp.__version__}",
            f"data_parallel({self.name}, ranks={count}, bucket_bytes={self.bucket_bytes}, "
            f"accumulation_steps={self.accumulation_steps}, reduce={self.reduce!r}, "
            f"debug={self.debug})",
        ]
        for label, tree in [("params", params)] + [(f"argument {i + 1}", a) for i, a in enumerate(args)]:
            leaves, treedef = tree_flatten(tree)
            paths = leaf_paths(treedef) if leaves else ["(empty)"]
            for path, leaf in zip(paths, leaves):
                lines.append(f"{label}{'' if path == 'value' else path}: {_leaf_type(leaf)}")
        lines.append(f"batch arguments: {[i + 1 for i in batch]}")
        return lines

    def _check_divides(self, tree: Any, index: int, blocks: int) -> None:
        leaves, treedef = tree_flatten(tree)
        for path, leaf in zip(leaf_paths(treedef), leaves):
            shape = tuple(np.shape(leaf))
            if not shape or shape[0] % blocks:
                rows = "a scalar" if not shape else f"{shape[0]} rows (axis 0)"
                message = (
                    f"data_parallel({self.name}): batch argument {index + 1}"
                    f"{'' if path == 'value' else path} of shape {list(shape)} has {rows}, "
                    f"which does not split into {blocks} equal blocks ({blocks // self.accumulation_steps} "
                    f"ranks x {self.accumulation_steps} accumulation steps); drop or pad the "
                    "remainder, or leave the argument out of batch_argnums"
                )
                raise TcompShapeError(with_location(message, user_location()))


def _leaf_type(leaf: Any) -> str:
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
        return f"{np.dtype(leaf.dtype).name}[{', '.join(str(d) for d in leaf.shape)}]"
    return type(leaf).__name__


def _block(tree: Any, block: int, blocks: int) -> Any:
    """Block ``block`` of ``blocks`` of every leaf of ``tree`` along axis 0, as numpy."""
    leaves, treedef = tree_flatten(tree)
    out = []
    for leaf in leaves:
        host = np.asarray(leaf)
        rows = host.shape[0] // blocks
        out.append(host[block * rows : (block + 1) * rows])
    return tree_unflatten(treedef, out)


def data_parallel(
    grad_fn: Callable[..., Any],
    *,
    bucket_bytes: int = DEFAULT_BUCKET_BYTES,
    debug: bool = False,
    accumulation_steps: int = 1,
    reduce: str = "mean",
    batch_argnums: Sequence[int] | None = None,
) -> DataParallel:
    """Wraps ``grad_fn(params, *args) -> (loss, grads)`` (the shape of
    ``tcomp.jit(tcomp.value_and_grad(loss_fn))``) to run data-parallel: call the result
    with the *whole* batch on every rank; it returns the loss and gradients of the whole
    batch, identical on every rank.

    - Each leaf of the batch arguments (``batch_argnums``, counted from 0 after
      ``params``; default: all of them) is split along axis 0 into
      ``size() * accumulation_steps`` equal blocks; a batch that does not divide raises
      :class:`~tcomp.errors.TcompShapeError`.
    - ``reduce="mean"``: ``loss`` is a mean over the examples, and the blocks' losses and
      gradients are averaged; ``"sum"``: a sum, and they are added.
    - ``accumulation_steps=k``: each rank runs ``grad_fn`` on ``k`` micro-batches, adds
      their results on the host, and all-reduces once.
    - The gradients (and the loss) are all-reduced with one ``MPI_Iallreduce`` per
      bucket of about ``bucket_bytes`` (default 25 MiB), not one per tensor.
    - Before its first collective each step compares a fingerprint of the call on every
      rank (tcomp version, shapes and dtypes, settings) and raises the same error on
      every rank, naming the ranks and the difference, when they disagree.
    - ``debug=True`` also compares a checksum of ``params`` across ranks at each step and
      names the ranks (and leaves) that differ.
    """
    return DataParallel(grad_fn, bucket_bytes, debug, accumulation_steps, reduce, batch_argnums)
