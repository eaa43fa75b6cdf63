"""What a jitted step pays for its collectives (issue 18): a program traced for one rank
is compiled whole without them; a split keeps moves and constants out of the buffers
passed between kernel groups; a collective's results are not copied again on llvm.

Each fast path is checked against the general one (the forced split, the reference
backend): float64 values bit for bit where the same kernels run, else to rounding.
Across processes the existing ``mpiexec -n 2`` scripts (tests/test_distributed_jit.py,
test_distributed_overlap.py) run the split with these plans and compare with the
single-process run.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_distributed_jit import mlp_data

import tcomp
import tcomp.distributed as dist
from tcomp.frontend import distributed_split_exec
from tcomp.frontend.distributed_pending import start_reduce
from tcomp.frontend.distributed_single import single_rank
from tcomp.frontend.distributed_split import HostStep, HostWait, plan_split
from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS
from tcomp.ir.types import TensorType

F64 = "float64"


def sgd_step(backend):
    from test_distributed_jit import mlp_loss

    @tcomp.jit(backend=backend)
    def step(params, x, y):
        loss, grads = tcomp.value_and_grad(lambda p: dist.all_reduce(mlp_loss(p, x, y), "mean"))(
            params
        )
        grads = dist.all_reduce(grads, "mean")
        return loss, tcomp.tree_map(lambda p, g: p - 0.1 * g, params, grads)

    return step


def run(step, params, x, y):
    loss, new = step(params, x, y)
    return [np.asarray(loss)] + [np.asarray(new[k]) for k in sorted(new)]


def test_at_one_rank_the_step_is_compiled_whole_and_equals_the_split_bit_for_bit(monkeypatch):
    params, x, y = mlp_data()
    whole = sgd_step("llvm")
    text = whole.lower(params, x, y).as_text("kernels")
    assert "host step" not in text and "split at its collectives" not in text
    assert "host_steps" not in whole.lower(params, x, y).compile_info()
    results = run(whole, params, x, y)
    monkeypatch.setattr(distributed_split_exec, "SPLIT_AT_ONE_RANK", True)
    split = sgd_step("llvm")
    assert "host step 1" in split.lower(params, x, y).as_text("kernels")
    for a, b in zip(results, run(split, params, x, y)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(results, run(sgd_step("reference"), params, x, y)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def collective_function(ranks: int):
    b = FunctionBuilder("f")
    x = b.add_param(TensorType((4, 6), F64))
    reduced = b.emit("all_reduce_mean", [b.emit("tanh", [x], {})], {"ranks": ranks})
    gathered = b.emit("all_gather", [reduced], {"axis": 1, "ranks": ranks})
    outputs = [b.emit("exp", [gathered], {}), reduced, x]
    return b.finish(outputs)


def test_single_rank_drops_only_collectives_traced_for_one_rank():
    fn = collective_function(1)
    alone = single_rank(fn)
    assert alone is not None
    assert [n.op for n in alone.nodes] == ["tanh", "exp"]
    assert alone.params == fn.params and alone.output_types == fn.output_types
    assert alone.outputs[1] is alone.nodes[0].output  # the mean over one rank: tanh(x)
    assert alone.outputs[2] is fn.params[0]
    assert alone.nodes[1].inputs == (alone.nodes[0].output,)  # exp reads tanh(x)
    assert single_rank(collective_function(2)) is None  # traced for two ranks: split


def test_a_collective_in_a_loop_body_is_refused_at_one_rank_as_on_more():
    def f(x):
        return tcomp.fori_loop(0, 3, lambda i, c: dist.all_reduce(c) * 0.5, x)

    x = np.ones(3)
    fn = tcomp.jit(f, backend="reference").lower(x).function("optimized")
    assert single_rank(fn) is None  # left to the split, which names the line
    with pytest.raises(tcomp.errors.TcompArgumentError, match="collective inside scan"):
        tcomp.jit(f, backend="llvm")(x)


def test_a_split_fuses_moves_into_their_readers_and_makes_constants_again():
    @tcomp.jit(backend="llvm")
    def f(w, x):
        scale = tcomp.full((4, 4), 3.0)  # a constant broadcast, read on both sides
        hidden = tcomp.tanh(x @ w) * scale
        total = dist.all_reduce(hidden)
        # w.T only after the all-reduce: made there, fused into the matmul
        return (total @ w.T) * scale

    rng = np.random.default_rng(0)
    w, x = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    function = f.lower(w, x).function("optimized")
    plan = plan_split(function)
    first, second = plan.groups
    assert "transpose" not in [n.op for n in first.function.nodes]
    assert "transpose" in [n.op for n in second.function.nodes]
    (step,) = plan.steps
    # group 1 reads the all-reduce's result and w, nothing group 0 made
    assert set(second.inputs) == {step.nodes[0].output, function.params[0]}
    for group in plan.groups:  # each group makes the broadcast constant itself
        assert "broadcast_to" in [n.op for n in group.function.nodes] or any(
            n.op == "constant" and n.output.shape == (4, 4) for n in group.function.nodes
        )
    expected = (np.tanh(x @ w) * 3.0) @ w.T * 3.0
    np.testing.assert_allclose(np.asarray(f(w, x)), expected, rtol=1e-14)


def test_an_all_reduce_returns_views_of_its_bucket_not_copies():
    a, b = np.arange(6.0).reshape(2, 3), np.full(4, 2.5)
    half = np.arange(3, dtype=np.float16)
    pending = start_reduce([a, b, half], "mean", 1 << 20, "test")
    out_a, out_b, out_half = pending.wait()
    np.testing.assert_array_equal(out_a, a)  # one rank: the mean is the value
    np.testing.assert_array_equal(out_b, b)
    np.testing.assert_array_equal(out_half, half)
    assert out_half.dtype == np.float16 and out_a.shape == (2, 3)
    bucket = next(buf for buf in pending.buffers if buf.dtype == np.float64)
    assert np.shares_memory(out_a, bucket) and np.shares_memory(out_b, bucket)
    assert not np.shares_memory(out_a, out_b)


def test_every_collective_op_is_an_identity_single_rank_drops():
    # single_rank's premise, from the primitives' own references at ranks=1
    from tcomp.ir.primitives import get_primitive

    x = np.arange(12.0).reshape(3, 4)
    for op in sorted(COLLECTIVE_OPS):
        attrs = {"ranks": 1}
        if op in ("all_gather",) or op.startswith("reduce_scatter_"):
            attrs["axis"] = 1
        if op in ("broadcast_from", "reduce_to_root"):
            attrs["root"] = 0
        out = get_primitive(op).evaluate([x], attrs, F64)
        np.testing.assert_array_equal(out, x, err_msg=op)


def test_the_cotangent_of_an_all_reduced_loss_starts_first_and_the_loss_waits_till_the_end():
    params, x, y = mlp_data()
    function = sgd_step("llvm").lower(params, x, y).function("optimized")
    plan = plan_split(function)
    first = plan.parts[0]  # before any kernel group: the all-reduce of the constant 1.0
    assert isinstance(first, HostStep) and [n.op for n in first.nodes] == ["all_reduce_mean"]
    assert all(v in plan.free for v in first.nodes[0].inputs)
    loss_step = plan.parts[2]  # after the forward: the loss, read by no kernel group
    assert isinstance(loss_step, HostStep) and loss_step.needed_by == []
    assert loss_step.wait_before is None
    waits = [p.step.index for p in plan.parts if isinstance(p, HostWait)]
    # the cotangent before the backward, the gradients before the update, the loss last
    assert waits == [first.index, plan.steps[-1].index, loss_step.index]
    assert plan.steps[-1].wait_before == plan.groups[-1].index
    # blocking (TCOMP_MPI_OVERLAP=0): one host step per level, as before
    blocking = plan_split(function, overlap=False)
    assert len(blocking.steps) == 2 and len(blocking.steps[0].nodes) == 2


def test_a_collective_result_returned_from_a_split_is_its_own_read_only_buffer(monkeypatch):
    monkeypatch.setattr(distributed_split_exec, "SPLIT_AT_ONE_RANK", True)

    @tcomp.jit(backend="llvm")
    def f(x):
        return dist.all_reduce({"a": tcomp.tanh(x), "b": x * 2.0}, "mean")

    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    out = f(x)
    a, b = np.asarray(out["a"]), np.asarray(out["b"])
    first = a.copy()
    np.testing.assert_allclose(a, np.tanh(x), rtol=1e-15)
    np.testing.assert_array_equal(b, x * 2.0)
    assert not a.flags.writeable and not b.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0] = 5.0
    again = f(x)  # a new call does not write into the first call's results
    np.testing.assert_array_equal(np.asarray(out["a"]), first)
    np.testing.assert_array_equal(np.asarray(again["a"]), first)
    assert not np.shares_memory(np.asarray(again["a"]), a)
