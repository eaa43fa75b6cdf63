"""``tcomp.distributed``: data-parallel training over MPI (install with ``pip install
'tcomp[mpi]'``; launch with ``mpiexec -n 4 python train.py``).

Every process runs the same program; MPI gives each a :func:`rank` among :func:`size`
processes. The collectives below run on the host, between jitted calls, on pytrees of
``tcomp.Array``, numpy arrays and scalars (each leaf comes back as the kind it went in:
an Array on its backend, or a numpy array)::

    import tcomp
    import tcomp.distributed as dist

    grad_step = dist.data_parallel(tcomp.jit(tcomp.value_and_grad(loss_fn)))
    params = dist.broadcast_parameters(init_params())   # every rank starts alike
    for x, y in batches:                                # the same global batch on each rank
        loss, grads = grad_step(params, x, y)           # this rank's share; grads averaged
        params = sgd_update(params, grads)              # a jitted update, same on every rank

- :func:`all_reduce` (``op`` ``"sum"``, ``"mean"``, ``"max"``, ``"min"``; leaves packed
  into buckets, one MPI call each), :func:`all_gather` (concatenated along ``axis``),
  :func:`broadcast` (from ``root``), :func:`reduce_scatter` (each rank's block along
  axis 0 of the reduced array).
- :func:`data_parallel` shards the batch by rank and averages the gradients with one
  all-reduce per bucket; :func:`broadcast_parameters` and :func:`check_parameters`
  keep the parameters identical.
- No hangs: each collective first checks that every rank calls the same thing on the
  same shapes (with the same tcomp version) and otherwise raises
  :class:`~tcomp.errors.TcompDistributedError` on every rank, naming the ranks and the
  difference. A collective that does not finish within ``TCOMP_MPI_TIMEOUT`` seconds
  (default 300) because a rank died or hangs raises
  :class:`~tcomp.errors.TcompDistributedTimeoutError`, and the process then calls
  ``MPI_Abort`` at exit so that the launcher stops the others.
- ``import tcomp`` does not start MPI: mpi4py is imported at the first call here.
- Inside ``jit`` the four collectives are graph-IR ops (one node per leaf; they
  differentiate: the gradient of an all-reduce is an all-reduce of the cotangent): the
  compiled backends run the program in kernel groups with the collectives on the host
  between them (``f.lower(...).as_text("kernels")`` shows where), the reference backend
  calls MPI from its numpy references. A data-parallel step written inside ``jit``::

      @tcomp.jit
      def step(params, x, y):  # x, y: this rank's shard of the batch
          loss, grads = tcomp.value_and_grad(
              lambda p: dist.all_reduce(local_loss(p, x, y), "mean"))(params)
          grads = dist.all_reduce(grads, "mean")  # replicated parameters: average
          return loss, sgd_update(params, grads)

  The gradient on each rank is that of the sum over ranks of every rank's output, so
  with ``loss`` the same on every rank each rank's ``grads`` is its local gradient; the
  ``all_reduce(grads, "mean")`` makes them the gradient of the global mean loss.
  ``data_parallel`` and ``check_parameters`` stay on the host (refused inside ``jit``).
"""

from __future__ import annotations

from tcomp.frontend.distributed_buckets import DEFAULT_BUCKET_BYTES
from tcomp.frontend.distributed_collectives import (
    all_gather,
    all_reduce,
    broadcast,
    broadcast_parameters,
    check_parameters,
    reduce_scatter,
)
from tcomp.frontend.distributed_comm import init, is_initialized, rank, size, timeout_s
from tcomp.frontend.distributed_data_parallel import DataParallel, data_parallel

__all__ = [
    "DEFAULT_BUCKET_BYTES",
    "DataParallel",
    "all_gather",
    "all_reduce",
    "broadcast",
    "broadcast_parameters",
    "check_parameters",
    "data_parallel",
    "init",
    "is_initialized",
    "rank",
    "reduce_scatter",
    "size",
    "timeout_s",
]
