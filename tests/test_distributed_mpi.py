"""tcomp.distributed across processes: scripts of tests/mpi_scripts launched with
``mpiexec -n 2`` (one test with 4), compared with the single-process run here and with
numpy definitions of the collectives. Skipped when mpi4py or mpiexec is missing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from mpi_helpers import SCRIPTS, check_ok, find_mpiexec, launch, needs_mpi, process_alive

from tcomp.backends.registry import available_backends

sys.path.insert(0, str(SCRIPTS))
from collectives import inputs  # noqa: E402
from mlp_model import single_process_run  # noqa: E402

pytestmark = needs_mpi

STEPS = 100  # issue 18: parameters after 100 steps equal the single-process run
# backend:dtype:bucket_bytes:accumulation_steps. With bucket_bytes 300 the float64 MLP's
# (loss, grads) leaves, in flattening order loss 8 B, b1 64, b2 24, w1 256, w2 192 bytes,
# make 3 buckets ([loss b1 b2] [w1] [w2]); in float32 (half each, 272 B in all) 1.
CONFIGS = {
    "llvm:float64:300:1": 3,
    "llvm:float32:300:1": 1,
    "reference:float64:300:1": 3,
    "llvm:float64:100000000:2": 1,  # two micro-batches per rank, still one all-reduce
}
if "opencl" in available_backends():
    CONFIGS["opencl:float32:300:1"] = 1


def tolerances(dtype: str) -> dict[str, float]:
    # the data-parallel sum adds in another order than the single-process mean
    return {"rtol": 1e-12, "atol": 1e-14} if dtype == "float64" else {"rtol": 2e-5, "atol": 2e-6}


def load_ranks(out_dir, name: str, ranks: int) -> list:
    return [np.load(out_dir / f"{name}.rank{r}.npz", allow_pickle=True) for r in range(ranks)]


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("dp2")
    check_ok(launch("train_mlp.py", str(out_dir), str(STEPS), *CONFIGS, timeout=120))
    return out_dir


def check_run(ranks_data: list, backend: str, dtype: str) -> None:
    expected = single_process_run(backend, dtype, STEPS)
    first = ranks_data[0]
    for other in ranks_data[1:]:  # every rank ends with the same values, bit for bit
        for key in first.files:
            if key != "calls":
                np.testing.assert_array_equal(other[key], first[key], err_msg=key)
    np.testing.assert_allclose(first["losses"], expected["losses"], **tolerances(dtype))
    for name, value in expected["grads"].items():
        np.testing.assert_allclose(first[f"grad_{name}"], value, **tolerances(dtype), err_msg=name)
    for name, value in expected["params"].items():
        np.testing.assert_allclose(first[f"param_{name}"], value, **tolerances(dtype), err_msg=name)
        assert first[f"param_{name}"].dtype == np.dtype(dtype)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_two_ranks_train_as_one_process_on_the_whole_batch(two_rank_runs, config):
    backend, dtype, _, _ = config.split(":")
    check_run(load_ranks(two_rank_runs, config.replace(":", "_"), 2), backend, dtype)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_one_all_reduce_per_bucket_per_step(two_rank_runs, config):
    for data in load_ranks(two_rank_runs, config.replace(":", "_"), 2):
        calls = dict(data["calls"].tolist())
        assert int(data["buckets"]) == CONFIGS[config]
        assert calls["Iallreduce"] == STEPS * CONFIGS[config], calls
        # per step: the fingerprint and (debug=True) the parameter checksums
        assert calls["Iallgather"] == 2 * STEPS, calls
        assert set(calls) == {"Iallreduce", "Iallgather"}, calls


def test_four_ranks_train_as_one_process(tmp_path):
    check_ok(launch("train_mlp.py", str(tmp_path), str(STEPS), "llvm:float64:300:1", ranks=4, timeout=120))
    check_run(load_ranks(tmp_path, "llvm_float64_300_1", 4), "llvm", "float64")


def test_without_mpiexec_a_script_runs_as_one_rank(tmp_path):
    # the same script, plain python: size() is 1 (two micro-batches of accumulation)
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "train_mlp.py"), str(tmp_path), str(STEPS), "llvm:float64:300:2"],
        capture_output=True, text=True, timeout=60, cwd=SCRIPTS,
    )
    assert result.returncode == 0, result.stderr
    check_run(load_ranks(tmp_path, "llvm_float64_300_2", 1), "llvm", "float64")


def test_collectives_match_their_numpy_definitions(tmp_path):
    check_ok(launch("collectives.py", str(tmp_path)))
    ranks = 2
    x = [inputs(r) for r in range(ranks)]
    stacked = {k: np.stack([xi[k] for xi in x]) for k in x[0]}
    expect = {}
    for k in ("f64", "f32", "i32"):
        expect[f"all_reduce_sum_{k}"] = stacked[k].sum(0).astype(x[0][k].dtype)
        expect[f"all_reduce_max_{k}"] = stacked[k].max(0)
        expect[f"all_reduce_min_{k}"] = stacked[k].min(0)
    for k in ("f64", "f32", "f16"):
        expect[f"all_reduce_mean_{k}"] = (stacked[k].astype(np.float64).mean(0)).astype(x[0][k].dtype)
    expect["all_reduce_max_flag"] = stacked["flag"].any(0)
    expect["all_reduce_min_flag"] = stacked["flag"].all(0)
    expect["array_sum"] = stacked["f64"].sum(0)
    expect["all_gather_axis1"] = np.concatenate([xi["f64"] for xi in x], axis=1)
    expect["all_gather_scalar"] = np.array([xi["scalar"] for xi in x])
    root = ranks - 1
    expect["broadcast_a"] = x[root]["f64"]
    expect["broadcast_bf16"] = (x[root]["f32"] * 3).astype("bfloat16").astype(np.float32)
    expect["broadcast_i32"] = x[root]["i32"]
    rows = [np.arange(ranks * 6, dtype=np.float32).reshape(ranks * 2, 3) * (r + 1) for r in range(ranks)]
    total, peak = sum(rows), np.max(np.stack(rows), axis=0).astype(np.int32)
    for r, data in enumerate(load_ranks(tmp_path, "collectives", ranks)):
        for key, value in expect.items():
            np.testing.assert_array_equal(data[key], value, err_msg=f"rank {r}: {key}")
            assert data[key].dtype == value.dtype, key
        np.testing.assert_array_equal(data["reduce_scatter_sum"], total[2 * r : 2 * r + 2])
        np.testing.assert_array_equal(data["reduce_scatter_max"], peak[2 * r : 2 * r + 2])
        assert str(data["array_backend"]) == "reference"
        assert str(data["broadcast_bf16_dtype"]) == "bfloat16"
        assert str(data["error_root"]).startswith("TcompArgumentError: tcomp.distributed.broadcast: root 2")
        assert "leaf of shape [5] cannot be split into 2 equal blocks" in str(data["error_scatter_shape"])
        assert str(data["error_mean_int"]).startswith("TcompTypeError: tcomp.distributed.all_reduce: op 'mean'")
        assert "unknown op 'prod'" in str(data["error_op"])
        np.testing.assert_array_equal(data["after_errors"], [2.0])


def test_ranks_that_disagree_fail_alike_naming_the_ranks_and_the_difference(tmp_path):
    check_ok(launch("mismatch.py", str(tmp_path)))
    for data in load_ranks(tmp_path, "mismatch", 2):
        shape, version, params = (str(data[k]) for k in ("shape", "version", "params"))
        assert "the ranks disagree on data_parallel(loss_fn)" in shape
        assert "rank 0:      argument 1: float64[16, 4]" in shape
        assert "rank 1:      argument 1: float64[12, 4]" in shape
        assert "rank 0:      tcomp version: 0.1.0" in version
        assert "rank 1:      tcomp version: 9.9.9" in version
        assert "argument" not in version  # only the lines that differ
        assert "rank 1 holds values different from rank 0" in params
        assert "rank 1: ['w2']" in params
        assert "mismatch.py" in shape  # the user's line
        assert str(data["divide"]).startswith(
            "TcompShapeError: data_parallel(loss_fn): batch argument 1 of shape [15, 4] has "
            "15 rows (axis 0), which does not split into 2 equal blocks"
        )
        assert "the function must return (loss, grads)" in str(data["contract"])
        assert str(data["in_step"]) == "no error"


def test_a_stalled_rank_makes_the_other_fail_with_the_timeout_error(tmp_path):
    # rank 1 sleeps through the third step: only tcomp's timeout can end rank 0's wait
    start = time.monotonic()
    result = launch("stalled_rank.py", str(tmp_path), env={"TCOMP_MPI_TIMEOUT": "2"}, timeout=60)
    assert result.returncode != 0
    report = tmp_path / "stalled_rank.txt"
    assert report.exists(), f"no timeout error on rank 0:\n{result.stdout}\n{result.stderr}"
    seconds, message = report.read_text().split("\n", 1)
    assert 2.0 <= float(seconds) < 10.0
    assert "on rank 0 of 2 did not complete within 2 s (TCOMP_MPI_TIMEOUT)" in message
    assert "another rank died, hangs, or runs a different program" in message
    assert time.monotonic() - start < 60  # MPI_Abort at rank 0's exit ended rank 1's sleep


def test_a_killed_rank_does_not_leave_the_other_hanging(tmp_path):
    # -disable-auto-cleanup: the launcher leaves the survivor running (as a lost node
    # would). Either tcomp's timeout ends rank 0 with its error (checked as above), or
    # MPICH notices the dead peer inside the collective and ends rank 0 itself: which one
    # comes first is a race in MPICH. What must not happen is a rank 0 still waiting.
    start = time.monotonic()
    result = launch(
        "dead_rank.py", str(tmp_path), launcher_options=("-disable-auto-cleanup",),
        env={"TCOMP_MPI_TIMEOUT": "2"}, timeout=60,
    )
    assert result.returncode != 0
    pid = int((tmp_path / "dead_rank.txt.pid").read_text())
    while process_alive(pid) and time.monotonic() - start < 60:  # MPI_Abort at exit ends it
        time.sleep(0.1)
    assert not process_alive(pid), "rank 0 still runs a minute after rank 1 was killed"
    report = tmp_path / "dead_rank.txt"
    if report.exists():
        seconds, message = report.read_text().split("\n", 1)
        assert 2.0 <= float(seconds) < 10.0
        assert "did not complete within 2 s (TCOMP_MPI_TIMEOUT)" in message



def test_demo_data_parallel_prints_the_same_losses_on_every_rank():
    command = [find_mpiexec(), "-n", "2", sys.executable, "-m", "tcomp", "demo", "--data-parallel", "--steps", "20", "--backend", "llvm"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=90, env=dict(os.environ, TCOMP_NUM_THREADS="1")
    )
    assert result.returncode == 0, result.stderr
    # each rank's lines, found by their tags: mpiexec forwards the two ranks' output as
    # it comes, and one rank's line may land in the middle of the other's
    by_rank: dict[int, list[str]] = {0: [], 1: []}
    for rank, text in re.findall(r"\[rank (\d)/2\] (.*?)(?=\[rank \d/2\]|\n|$)", result.stdout):
        by_rank[int(rank)].append(text.strip())
    losses = [line for line in by_rank[0] if line.startswith("step ")]
    assert losses == [line for line in by_rank[1] if line.startswith("step ")] and len(losses) == 1
    assert "150 per rank" in by_rank[0][0]
    assert by_rank[0][-1].endswith("parameters identical on all 2 ranks")
