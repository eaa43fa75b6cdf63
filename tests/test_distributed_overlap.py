"""Collectives inside jit overlapping the kernel groups (issue 18): the split plan's
batches, cuts, waits and dependencies, its text, and ``TCOMP_MPI_OVERLAP``.

One process (``size()`` 1: every request completes when started, through the same code
path): the plan of small graph-IR functions and of the data-parallel MLP step, and the
values with overlap on and off. Across processes (``mpiexec -n 2``):
tests/mpi_scripts/jit_overlap.py (the same training, bit for bit, with and without
overlap; the MPI calls each makes) and jit_rank_failure.py (a stalled or killed rank
still ends an overlapped step with the timeout error).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from mpi_helpers import SCRIPTS, check_ok, launch, needs_mpi, process_alive
from test_distributed_jit import data_parallel_step, mlp_data

import tcomp
import tcomp.distributed as dist
from tcomp.frontend.distributed_split import HostWait, KernelGroup, plan_split
from tcomp.frontend.distributed_traced import describe_collective
from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.types import TensorType

sys.path.insert(0, str(SCRIPTS))
from mlp_model import single_process_run  # noqa: E402

BACKENDS = ["reference", "llvm"]
F64 = "float64"
STEPS = 10
RANKS = 2


def parts_of(plan):
    """The plan as (kind, index) pairs: groups, host steps (starts) and waits."""
    return [
        ("wait", p.step.index)
        if isinstance(p, HostWait)
        else ("group" if isinstance(p, KernelGroup) else "host", p.index)
        for p in plan.parts
    ]


def test_the_split_runs_each_collective_as_early_as_its_input_allows():
    @tcomp.jit(backend="llvm")
    def f(a, b):
        early = dist.all_reduce(a * 2.0)  # needs only a: host step 0
        late = dist.all_reduce(tcomp.exp(early) + b)  # after it: host step 1
        independent = dist.all_reduce(b - 1.0)  # reads only b: host step 0 too
        return late, independent, a  # a parameter returned as it is

    a, b = np.arange(3.0), np.ones(3)
    function = f.lower(a, b).function("optimized")
    blocking = plan_split(function, overlap=False)
    assert parts_of(blocking) == [
        ("group", 0),
        ("host", 0),
        ("wait", 0),
        ("group", 1),
        ("host", 1),
        ("wait", 1),
    ]
    assert len(blocking.parts[1].nodes) == 2
    overlapped = plan_split(function, first_start_bytes=0, start_bytes=0)
    # each collective in its own step, as soon as its input is computed; the wait on
    # `early` comes just before the group that reads it, `independent`'s at the end
    assert parts_of(overlapped) == [
        ("group", 0),
        ("host", 0),
        ("group", 1),
        ("host", 1),
        ("wait", 0),
        ("group", 2),
        ("host", 2),
        ("wait", 1),
        ("wait", 2),
    ]
    steps = overlapped.steps
    assert [[n.op for n in s.nodes] for s in steps] == [["all_reduce_sum"]] * 3
    assert [s.needed_by for s in steps] == [[2], [], []]
    assert [s.wait_before for s in steps] == [2, None, None]
    late, independent, same = f(a, b)
    np.testing.assert_allclose(np.asarray(late), np.exp(a * 2.0) + b, rtol=1e-15)
    np.testing.assert_array_equal(np.asarray(independent), b - 1.0)
    np.testing.assert_array_equal(np.asarray(same), a)


def chain_function():
    """Three layers' worth of work with an all-reduce after each, written in graph IR:
    g1 -> all_reduce -> h (reads it) ; g2, g3 independent of the all-reduces."""
    b = FunctionBuilder("chain")
    x = b.add_param(TensorType((64, 64), F64))
    g1 = b.emit("tanh", [x], {})
    g2 = b.emit("exp", [g1], {})
    g3 = b.emit("mul", [g2, x], {})
    r1, r2, r3 = (b.emit("all_reduce_sum", [g], {"ranks": 1}) for g in (g1, g2, g3))
    h = b.emit("add", [r1, g3], {})
    return b.finish([h, r2, r3])


def test_a_level_is_cut_where_its_collectives_become_ready_and_each_waits_for_its_reader():
    fn = chain_function()
    plan = plan_split(fn, first_start_bytes=0, start_bytes=0)  # each its own batch
    assert parts_of(plan) == [
        ("group", 0),
        ("host", 0),  # tanh; start all_reduce(g1)
        ("group", 1),
        ("host", 1),  # exp runs while it travels; start all_reduce(g2)
        ("group", 2),
        ("host", 2),  # mul
        ("wait", 0),
        ("group", 3),  # the add reads all_reduce(g1): waited on only here
        ("wait", 1),
        ("wait", 2),
    ]
    assert [g.function.nodes[0].op for g in plan.groups] == ["tanh", "exp", "mul", "add"]
    assert [s.needed_by for s in plan.steps] == [[3], [], []]
    # 32 KiB per value: a batch of 64 KiB or more takes g1 and g2, the next one g3
    batched = plan_split(fn, first_start_bytes=64 * 1024, start_bytes=64 * 1024)
    assert [len(s.nodes) for s in batched.steps] == [2, 1]
    assert parts_of(batched) == [
        ("group", 0),
        ("host", 0),
        ("group", 1),
        ("host", 1),
        ("wait", 0),
        ("group", 2),
        ("wait", 1),
    ]
    assert [g.node_count for g in batched.groups] == [2, 1, 1]  # tanh exp | mul | add
    assert [s.nbytes for s in batched.steps] == [2 * 64 * 64 * 8, 64 * 64 * 8]
    # by default (a first batch of 1 MiB) the three start together after the level
    assert parts_of(plan_split(fn)) == [("group", 0), ("host", 0), ("wait", 0), ("group", 1)]


def test_a_large_collective_runs_the_rest_of_its_level_meanwhile_a_small_one_does_not():
    b = FunctionBuilder("rest")
    x = b.add_param(TensorType((512, 512), F64))  # 2 MiB
    reduced = b.emit("all_reduce_sum", [b.emit("tanh", [x], {})], {"ranks": 1})
    fn = b.finish([b.emit("add", [reduced, b.emit("exp", [x], {})], {})])
    plan = plan_split(fn)  # 2 MiB >= FIRST_START_BYTES: worth a kernel group boundary
    assert parts_of(plan) == [("group", 0), ("host", 0), ("group", 1), ("wait", 0), ("group", 2)]
    assert [[n.op for n in g.function.nodes] for g in plan.groups] == [["tanh"], ["exp"], ["add"]]
    assert plan.steps[0].needed_by == [2] and plan.steps[0].wait_before == 2
    # below the first batch's size the level stays one kernel group
    small = plan_split(fn, first_start_bytes=4 << 20)
    assert parts_of(small) == [("group", 0), ("host", 0), ("wait", 0), ("group", 1)]
    assert [g.node_count for g in small.groups] == [2, 1]


def test_the_plan_is_the_same_every_time_and_blocking_keeps_one_group_per_level():
    fn = chain_function()
    first, again = plan_split(fn, first_start_bytes=0), plan_split(fn, first_start_bytes=0)
    assert [describe_collective(n) for n in first.collectives] == [
        describe_collective(n) for n in again.collectives
    ]
    assert parts_of(first) == parts_of(again)
    blocking = plan_split(fn, overlap=False)
    assert parts_of(blocking) == [("group", 0), ("host", 0), ("wait", 0), ("group", 1)]
    assert blocking.overlap is False and len(blocking.groups[0].function.nodes) == 3


@pytest.mark.parametrize("first_start_bytes", [0, 300, None])
def test_at_one_rank_overlap_on_and_off_give_the_same_values_bit_for_bit(
    monkeypatch, first_start_bytes
):
    # size 1 runs the same code path when forced to split (else nothing is split):
    # each request is complete when started
    from tcomp.frontend import distributed_split, distributed_split_exec

    monkeypatch.setattr(distributed_split_exec, "SPLIT_AT_ONE_RANK", True)

    params, x, y = mlp_data()
    results = {}
    for overlap in ("1", "0"):
        monkeypatch.setenv("TCOMP_MPI_OVERLAP", overlap)
        if first_start_bytes is not None:
            monkeypatch.setattr(distributed_split, "FIRST_START_BYTES", first_start_bytes)
            monkeypatch.setattr(distributed_split, "START_BYTES", first_start_bytes)
        step = data_parallel_step("llvm")
        loss, grads = step(params, x, y)
        results[overlap] = [np.asarray(loss)] + [np.asarray(grads[k]) for k in sorted(grads)]
        info = step.lower(params, x, y).compile_info()
        assert info["overlap"] is (overlap == "1")
        if overlap == "1" and first_start_bytes == 0:  # cotangent, loss, 2 gradients
            assert info["host_steps"] == 4
    for on, off in zip(results["1"], results["0"]):
        np.testing.assert_array_equal(on, off)


# ---------------------------------------------------------------------------------
# across processes: the collectives overlapping the kernel groups, and without


@pytest.fixture(scope="module")
def overlap_dir(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("overlap2")
    check_ok(
        launch("jit_overlap.py", str(out_dir), str(STEPS), *BACKENDS, ranks=RANKS, timeout=180)
    )
    return out_dir


@pytest.fixture(scope="module")
def overlap_runs(overlap_dir):
    out_dir = overlap_dir
    return {
        (backend, setting): [
            np.load(out_dir / f"overlap_{backend}_{setting}.rank{r}.npz", allow_pickle=True)
            for r in range(RANKS)
        ]
        for backend in BACKENDS
        for setting in ("1", "0")
    }


@needs_mpi
@pytest.mark.parametrize("backend", BACKENDS)
def test_overlap_on_and_off_train_to_the_same_values_bit_for_bit(overlap_runs, backend):
    expected = single_process_run(backend, "float64", STEPS)
    for rank in range(RANKS):
        on, off = overlap_runs[backend, "1"][rank], overlap_runs[backend, "0"][rank]
        keys = [k for k in on.files if k not in ("calls", "kernels")]
        assert {"losses", "grad_w1", "param_w2"} <= set(keys)
        for key in keys:
            np.testing.assert_array_equal(on[key], off[key], err_msg=f"rank {rank}: {key}")
            np.testing.assert_array_equal(on[key], overlap_runs[backend, "1"][0][key])
        np.testing.assert_allclose(on["losses"], expected["losses"], rtol=1e-12, atol=1e-14)
        for name, value in expected["params"].items():
            np.testing.assert_allclose(on[f"param_{name}"], value, rtol=1e-12, atol=1e-14)


def host_steps_in(kernels_text: str) -> int:
    return int(kernels_text.split(" kernel groups and ")[1].split(" host steps")[0])


@needs_mpi
def test_with_overlap_each_gradient_starts_alone_and_is_waited_on_late(overlap_runs):
    for on, off in zip(overlap_runs["llvm", "1"], overlap_runs["llvm", "0"]):
        text, blocking = str(on["kernels"]), str(off["kernels"])
        # the cotangent, the loss, and the 4 gradients each start on their own
        assert host_steps_in(text) == 6 and host_steps_in(blocking) == 2
        assert dict(on["calls"].tolist()) == {"Iallreduce": 6 * STEPS, "Iallgather": 1}
        assert dict(off["calls"].tolist()) == {"Iallreduce": 2 * STEPS, "Iallgather": 1}
        heads = [line.split(":")[0] for line in text.splitlines() if line.startswith("// ----")]
        starts = [i for i, h in enumerate(heads) if h.startswith("// ---- host step")]
        waits = [i for i, h in enumerate(heads) if h.startswith("// ---- wait for")]
        assert len(starts) == len(waits) == 6
        # some kernel group runs between a start and its wait: something overlaps
        overlapped = [
            s
            for s in starts
            if any(
                h.startswith("// ---- kernel group") for h in heads[s + 1 : waits[starts.index(s)]]
            )
        ]
        assert overlapped, heads
        assert "overlap off (TCOMP_MPI_OVERLAP=0)" in blocking


@needs_mpi
def test_ranks_that_overlap_differently_fail_alike_before_any_collective(overlap_dir):
    for rank in range(RANKS):
        data = np.load(overlap_dir / f"overlap_llvm_mismatch.rank{rank}.npz")
        message = str(data["error"])
        assert message.startswith("TcompDistributedError: tcomp.distributed: the ranks disagree")
        # each rank's lines that differ: the setting, and the host step of collective 1
        rank0, rank1 = message.split("rank 0:")[1].split("rank 1:")
        assert "overlap: on" in rank0 and "collective 1: host step 1: all_reduce_sum" in rank0
        assert "overlap: off (TCOMP_MPI_OVERLAP=0)" in rank1
        assert "collective 1: host step 0: all_reduce_sum" in rank1
        assert "jit_overlap.py" in message  # the user's line
        np.testing.assert_array_equal(data["after"], [2.0, 2.0])  # MPI still usable


@needs_mpi
def test_a_stalled_rank_ends_an_overlapped_step_with_the_timeout_error(tmp_path):
    start = time.monotonic()
    result = launch(
        "jit_rank_failure.py", str(tmp_path), "stall", env={"TCOMP_MPI_TIMEOUT": "2"}, timeout=60
    )
    assert result.returncode != 0
    report = tmp_path / "jit_stall.txt"
    assert report.exists(), f"no timeout error on rank 0:\n{result.stdout}\n{result.stderr}"
    seconds, message = report.read_text().split("\n", 1)
    assert 2.0 <= float(seconds) < 10.0
    assert "(inside jit)" in message
    assert "on rank 0 of 2 did not complete within 2 s (TCOMP_MPI_TIMEOUT)" in message
    assert "another rank died, hangs, or runs a different program" in message
    assert time.monotonic() - start < 60  # MPI_Abort at rank 0's exit ended rank 1's sleep


@needs_mpi
def test_a_killed_rank_does_not_leave_an_overlapped_step_hanging(tmp_path):
    # as test_distributed_mpi's killed-rank test: tcomp's timeout or MPICH ends rank 0
    start = time.monotonic()
    result = launch(
        "jit_rank_failure.py",
        str(tmp_path),
        "kill",
        launcher_options=("-disable-auto-cleanup",),
        env={"TCOMP_MPI_TIMEOUT": "2"},
        timeout=60,
    )
    assert result.returncode != 0
    pid = int((tmp_path / "jit_kill.txt.pid").read_text())
    while process_alive(pid) and time.monotonic() - start < 60:
        time.sleep(0.1)
    assert not process_alive(pid), "rank 0 still runs a minute after rank 1 was killed"
    report = tmp_path / "jit_kill.txt"
    if report.exists():
        seconds, message = report.read_text().split("\n", 1)
        assert 2.0 <= float(seconds) < 10.0
        assert "did not complete within 2 s (TCOMP_MPI_TIMEOUT)" in message
