"""Ranks that disagree, run by ``mpiexec -n 2``: rank 1 passes a batch of another shape,
then claims another tcomp version, then (``debug=True``) holds other parameters; then
every rank passes a batch that does not split and a function that breaks the contract.
Every rank writes the message of each error it raised to
``OUT_DIR/mismatch.rank<r>.npz``."""

from __future__ import annotations

import os
import sys

import numpy as np
from mlp_model import init_params, make_batches, make_steps

import tcomp
import tcomp.distributed as dist
from tcomp.errors import TcompError


def main(out_dir: str) -> None:
    rank = dist.rank()
    grad_step, _ = make_steps("llvm")
    params = init_params("float64", seed=1)
    x, y = make_batches("float64")[0]
    out: dict[str, np.ndarray] = {}

    def attempt(name: str, call) -> None:
        try:
            call()
            out[name] = np.array("no error")
        except TcompError as error:
            out[name] = np.array(f"{type(error).__name__}: {error}")

    parallel = dist.data_parallel(grad_step)
    attempt("shape", lambda: parallel(params, x[:12] if rank == 1 else x, y))
    real_version = tcomp.__version__
    if rank == 1:
        tcomp.__version__ = "9.9.9"
    attempt("version", lambda: parallel(params, x, y))
    tcomp.__version__ = real_version
    changed = dict(params, w2=params["w2"] + (1e-12 if rank == 1 else 0.0))
    attempt("params", lambda: dist.data_parallel(grad_step, debug=True)(changed, x, y))
    attempt("divide", lambda: parallel(params, x[:15], y[:15]))
    attempt("contract", lambda: dist.data_parallel(lambda p, x, y: grad_step(p, x, y)[1])(params, x, y))
    attempt("in_step", lambda: parallel(params, x, y))  # the ranks are in step again
    np.savez(os.path.join(out_dir, f"mismatch.rank{rank}.npz"), **out)


if __name__ == "__main__":
    main(sys.argv[1])
