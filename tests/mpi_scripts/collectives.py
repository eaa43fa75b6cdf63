"""The collectives on every rank, run by ``mpiexec -n N``: each rank's inputs are
:func:`inputs` of its rank; every rank writes ``OUT_DIR/collectives.rank<r>.npz`` with
the results and the messages of the errors it was expected to raise."""

from __future__ import annotations

import os
import sys

import ml_dtypes
import numpy as np

import tcomp
import tcomp.distributed as dist
from tcomp.errors import TcompError


def inputs(rank: int) -> dict[str, np.ndarray]:
    """Rank ``rank``'s arrays (the test computes the expected results from these)."""
    return {
        "f64": np.arange(6, dtype=np.float64).reshape(2, 3) * (rank + 1) - rank,
        "f32": np.array([0.5, -1.0, 2.0, rank], np.float32),
        "i32": np.array([rank, 3 - 2 * rank, 7], np.int32),
        "f16": np.array([0.25 * rank, 1.0], np.float16),
        "flag": np.array([rank == 0, True, False]),
        "scalar": np.float64(rank + 0.5),
    }


def main(out_dir: str) -> None:
    rank, size = dist.rank(), dist.size()
    x = inputs(rank)
    floats = {k: x[k] for k in ("f64", "f32", "f16")}
    numbers = {k: x[k] for k in ("f64", "f32", "i32")}
    out: dict[str, object] = {}
    for op in ("sum", "max", "min"):
        for k, v in dist.all_reduce(numbers, op, bucket_bytes=16).items():
            out[f"all_reduce_{op}_{k}"] = v
    for k, v in dist.all_reduce(floats, "mean").items():
        out[f"all_reduce_mean_{k}"] = v
    out["all_reduce_max_flag"] = dist.all_reduce(x["flag"], "max")
    out["all_reduce_min_flag"] = dist.all_reduce(x["flag"], "min")
    on_reference = tcomp.jit(lambda a: a * 1.0, backend="reference")(x["f64"])
    reduced = dist.all_reduce(on_reference, "sum")
    out["array_backend"] = np.array(reduced.backend)
    out["array_sum"] = np.asarray(reduced)
    out["all_gather_axis1"] = dist.all_gather(x["f64"], axis=1)
    out["all_gather_scalar"] = dist.all_gather(x["scalar"])
    bf16 = (x["f32"] * 3).astype(ml_dtypes.bfloat16)
    sent = dist.broadcast({"a": x["f64"], "bf16": bf16, "i32": x["i32"]}, root=size - 1)
    out["broadcast_a"] = sent["a"]
    out["broadcast_bf16"] = sent["bf16"].astype(np.float32)
    out["broadcast_bf16_dtype"] = np.array(str(sent["bf16"].dtype))
    out["broadcast_i32"] = sent["i32"]
    rows = np.arange(size * 2 * 3, dtype=np.float32).reshape(size * 2, 3) * (rank + 1)
    out["reduce_scatter_sum"] = dist.reduce_scatter(rows, "sum")
    out["reduce_scatter_max"] = dist.reduce_scatter(rows.astype(np.int32), "max")
    for name, call in [
        ("root", lambda: dist.broadcast(x["f64"], root=size)),
        ("scatter_shape", lambda: dist.reduce_scatter(np.ones(2 * size + 1, np.float32))),
        ("mean_int", lambda: dist.all_reduce(x["i32"], "mean")),
        ("op", lambda: dist.all_reduce(x["f64"], "prod")),
    ]:
        try:
            call()
            out[f"error_{name}"] = np.array("no error")
        except TcompError as error:
            out[f"error_{name}"] = np.array(f"{type(error).__name__}: {error}")
    # still in step after the refused calls
    out["after_errors"] = dist.all_reduce(np.array([1.0]), "sum")
    np.savez(os.path.join(out_dir, f"collectives.rank{rank}.npz"), **out)


if __name__ == "__main__":
    main(sys.argv[1])
