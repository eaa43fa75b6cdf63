"""tcomp.distributed collectives inside jit, as graph-IR ops (issue 18).

One process (``size()`` 1, every collective the identity): shape rules (with ``ranks``
set by hand), text form, verifier, the gradient rules' structure, values and gradients
on reference and llvm, the split at collectives and where ``as_text("kernels")`` shows
it. Across processes: tests/mpi_scripts/jit_collectives.py launched with ``mpiexec -n 2``
(the last tests here), compared with numpy definitions and the single-process run.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from mpi_helpers import SCRIPTS, check_ok, launch, needs_mpi

import tcomp
import tcomp.distributed as dist
from tcomp.errors import TcompArgumentError, TcompDistributedError, TcompShapeError, TcompTypeError
from tcomp.ir.autodiff import vjp_function
from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.errors import TcompVerifyError
from tcomp.ir.graph import Node
from tcomp.ir.passes import DEFAULT_PIPELINE, run_pipeline
from tcomp.ir.primitives import PRIMITIVES
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS
from tcomp.ir.text import parse_function, print_function
from tcomp.ir.types import TensorType
from tcomp.ir.verifier import verify

sys.path.insert(0, str(SCRIPTS))
from jit_collectives import collective_inputs, weights  # noqa: E402
from mlp_model import single_process_run  # noqa: E402

BACKENDS = ["reference", "llvm"]
F64 = "float64"


def one_node(op: str, shape, dtype: str = F64, **attrs):
    b = FunctionBuilder(op)
    x = b.add_param(TensorType(tuple(shape), dtype))
    return b.finish([b.emit(op, [x], attrs)])


# ---------------------------------------------------------------------------------
# shape rules, text, verifier


@pytest.mark.parametrize(
    "op, attrs, shape, expected",
    [
        ("all_reduce_sum", {"ranks": 4}, (2, 3), (2, 3)),
        ("all_reduce_max", {"ranks": 4}, (), ()),
        ("all_gather", {"axis": 1, "ranks": 4}, (2, 3), (2, 12)),
        ("reduce_scatter_sum", {"axis": 0, "ranks": 2}, (6, 3), (3, 3)),
        ("reduce_scatter_mean", {"axis": 1, "ranks": 3}, (2, 6), (2, 2)),
        ("broadcast_from", {"root": 3, "ranks": 4}, (5,), (5,)),
        ("reduce_to_root", {"root": 0, "ranks": 2}, (5,), (5,)),
    ],
)
def test_shape_rules(op, attrs, shape, expected):
    fn = one_node(op, shape, **attrs)
    assert fn.outputs[0].shape == expected and fn.outputs[0].dtype == F64


@pytest.mark.parametrize(
    "op, attrs, shape, dtype, error, match",
    [
        (
            "reduce_scatter_sum",
            {"axis": 0, "ranks": 2},
            (5, 3),
            F64,
            TcompShapeError,
            r"reduce_scatter_sum: axis 0 of length 5 cannot be split into 2 equal blocks \(one per "
            r"rank\) \(inputs f64\[5,3\]\)",
        ),
        (
            "broadcast_from",
            {"root": 2, "ranks": 2},
            (3,),
            F64,
            TcompShapeError,
            "root 2 is not a rank: the ranks are 0 to 1",
        ),
        ("all_reduce_sum", {"ranks": 0}, (3,), F64, TcompShapeError, "ranks must be at least 1"),
        (
            "all_reduce_mean",
            {"ranks": 2},
            (3,),
            "int32",
            TcompTypeError,
            "the mean needs a floating-point",
        ),
        ("all_reduce_sum", {"ranks": 2}, (3,), "bool", TcompTypeError, "a sum of bools"),
        (
            "all_gather",
            {"axis": 0, "ranks": 2},
            (),
            F64,
            TcompShapeError,
            "out of range for rank 0",
        ),
        ("all_gather", {"axis": True, "ranks": 2}, (3,), F64, TcompTypeError, "expected an axis"),
    ],
)
def test_bad_calls_name_the_op_and_the_problem(op, attrs, shape, dtype, error, match):
    with pytest.raises(error, match=match):
        one_node(op, shape, dtype, **attrs)


def test_every_collective_prints_parses_and_verifies():
    b = FunctionBuilder("f")
    x = b.add_param(TensorType((4, 2), F64))
    outputs = [
        b.emit("all_gather", [x], {"axis": 1, "ranks": 2}),
        b.emit("reduce_scatter_sum", [x], {"axis": 0, "ranks": 2}),
        b.emit("reduce_scatter_mean", [x], {"axis": 0, "ranks": 2}),
        b.emit("broadcast_from", [x], {"root": 1, "ranks": 2}),
        b.emit("reduce_to_root", [x], {"root": 0, "ranks": 2}),
    ] + [b.emit(f"all_reduce_{op}", [x], {"ranks": 2}) for op in ("sum", "mean", "max", "min")]
    fn = b.finish(outputs)
    assert {n.op for n in fn.nodes} == COLLECTIVE_OPS
    text = print_function(fn)
    assert "all_gather(%0) {axis=1, ranks=2}" in text
    parsed = parse_function(text)
    assert parsed == fn and print_function(parsed) == text
    verify(parsed)


def test_the_verifier_rejects_a_collective_whose_type_breaks_its_rule():
    fn = one_node("all_gather", (3,), axis=0, ranks=2)
    fn.nodes[0].output.type = TensorType((3,), F64)  # a gather across 2 ranks makes 6
    with pytest.raises(TcompVerifyError, match="all_gather"):
        verify(fn)


def test_collectives_are_never_folded_at_compile_time():
    b = FunctionBuilder("f")
    one = b.emit("constant", [], {"value": np.array(1.0)})
    fn = b.finish([b.emit("all_reduce_sum", [one], {"ranks": 2})])
    optimized = run_pipeline(fn, DEFAULT_PIPELINE, verify_each=True)
    # folding would call MPI while compiling (and ranks may compile at different times)
    assert [n.op for n in optimized.nodes] == ["constant", "all_reduce_sum"]


# ---------------------------------------------------------------------------------
# gradient rules: each is the transposed collective


@pytest.mark.parametrize(
    "op, attrs, shape, backward_ops",
    [
        ("all_reduce_sum", {"ranks": 2}, (4,), ["all_reduce_sum"]),
        ("all_reduce_mean", {"ranks": 2}, (4,), ["all_reduce_mean"]),
        ("all_gather", {"axis": 0, "ranks": 2}, (4,), ["reduce_scatter_sum"]),
        ("reduce_scatter_sum", {"axis": 0, "ranks": 2}, (4,), ["all_gather"]),
        ("reduce_scatter_mean", {"axis": 0, "ranks": 2}, (4,), ["all_gather"]),
        ("broadcast_from", {"root": 1, "ranks": 2}, (4,), ["reduce_to_root"]),
        ("reduce_to_root", {"root": 1, "ranks": 2}, (4,), ["broadcast_from"]),
        ("all_reduce_max", {"ranks": 2}, (4,), ["all_reduce_sum", "all_reduce_sum"]),
    ],
)
def test_each_gradient_is_the_transposed_collective(op, attrs, shape, backward_ops):
    fn = one_node(op, shape, **attrs)
    grad = vjp_function(fn, wrt=[0], cotangent_outputs=[0])
    verify(grad)
    backward = [n for n in grad.nodes[1:] if n.op in COLLECTIVE_OPS]
    assert [n.op for n in backward] == backward_ops
    assert all(n.attrs["ranks"] == attrs["ranks"] for n in backward)
    if "root" in attrs:
        assert backward[0].attrs["root"] == attrs["root"]
    if "axis" in attrs:
        assert backward[0].attrs["axis"] == attrs["axis"]
    # and at one rank the transposes are the identity (the mean's gather divides by 1)
    x, ct = np.arange(4.0), np.array([1.0, -2.0, 0.5, 3.0])
    one = {**attrs, "ranks": 1, **({"root": 0} if "root" in attrs else {})}
    outputs = tcomp_evaluate(vjp_function(one_node(op, shape, **one), [0], [0]), [x, ct])
    np.testing.assert_array_equal(outputs[1], ct)


def tcomp_evaluate(fn, inputs):
    from tcomp.backends.reference.executor import evaluate

    return evaluate(fn, inputs)


# ---------------------------------------------------------------------------------
# inside jit, one process


def mlp_loss(params, x, y):
    hidden = tcomp.tanh(x @ params["w1"])
    return tcomp.mean((hidden @ params["w2"] - y) ** 2)


def mlp_data():
    rng = np.random.default_rng(3)
    params = {"w1": rng.normal(size=(4, 5)), "w2": rng.normal(size=(5, 2))}
    return params, rng.normal(size=(6, 4)), rng.normal(size=(6, 2))


def data_parallel_step(backend):
    @tcomp.jit(backend=backend)
    def step(params, x, y):
        loss, grads = tcomp.value_and_grad(lambda p: dist.all_reduce(mlp_loss(p, x, y), "mean"))(
            params
        )
        return loss, dist.all_reduce(grads, "mean")

    return step


@pytest.fixture(params=[False, True], ids=["whole", "split"])
def split_at_one_rank(request, monkeypatch):
    """Both ways a one-rank program runs on llvm: compiled whole without its collectives
    (the default) and split at them as on more ranks."""
    from tcomp.frontend import distributed_split_exec

    monkeypatch.setattr(distributed_split_exec, "SPLIT_AT_ONE_RANK", request.param)
    return request.param


@pytest.mark.parametrize("backend", BACKENDS)
def test_at_one_rank_a_data_parallel_step_is_the_plain_gradient(backend, split_at_one_rank):
    params, x, y = mlp_data()
    loss, grads = data_parallel_step(backend)(params, x, y)
    plain_loss, plain_grads = tcomp.jit(tcomp.value_and_grad(mlp_loss), backend=backend)(
        params, x, y
    )
    np.testing.assert_allclose(np.asarray(loss), np.asarray(plain_loss), rtol=1e-14)
    for name in params:
        np.testing.assert_allclose(
            np.asarray(grads[name]), np.asarray(plain_grads[name]), rtol=1e-13
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_at_one_rank_every_collective_is_the_identity(backend, split_at_one_rank):
    inputs = collective_inputs(0)

    @tcomp.jit(backend=backend)
    def collectives(x, s):
        return {
            "sum": dist.all_reduce(x, "sum"),
            "min": dist.all_reduce(x, "min"),
            "gather": dist.all_gather(x, axis=1),
            "gather_scalar": dist.all_gather(s),
            "broadcast": dist.broadcast({"a": x}, root=0)["a"],
            "scatter": dist.reduce_scatter(x, "mean", axis=1),
            "grad_max": tcomp.grad(lambda v: tcomp.sum(dist.all_reduce(v, "max") * v))(x),
        }

    out = collectives(inputs["x"], inputs["s"])
    x = inputs["x"]
    for key in ("sum", "min", "gather", "broadcast", "scatter"):
        np.testing.assert_array_equal(np.asarray(out[key]), x, err_msg=key)
    np.testing.assert_array_equal(np.asarray(out["gather_scalar"]), [inputs["s"]])
    np.testing.assert_allclose(np.asarray(out["grad_max"]), 2 * x, rtol=1e-15)


def test_the_kernels_stage_shows_where_each_collective_starts_and_is_waited_on(monkeypatch):
    from tcomp.frontend import distributed_split_exec

    monkeypatch.setattr(distributed_split_exec, "SPLIT_AT_ONE_RANK", True)
    params, x, y = mlp_data()
    step = data_parallel_step("llvm")
    text = step.lower(params, x, y).as_text("kernels")
    assert text.startswith(
        "// step: split at its collectives into 2 kernel groups and 3 host steps (MPI), run "
        "in this order; overlap on"
    )
    order = [line.split(":")[0] for line in text.splitlines() if line.startswith("// ----")]
    assert order == [
        "// ---- host step 0",  # the loss's cotangent (a constant): before any kernel
        "// ---- kernel group 0",  # the forward up to the local loss
        "// ---- host step 1",  # starts the loss's all-reduce
        "// ---- wait for host step 0 (1 collectives)",  # the backward needs only the cotangent
        "// ---- kernel group 1",  # the backward
        "// ---- host step 2",  # the gradients
        "// ---- wait for host step 1 (1 collectives)",  # the loss: an output only
        "// ---- wait for host step 2 (2 collectives)",
    ]
    assert (
        "host step 0: start 1 collectives, 8 bytes (MPI on the host, non-blocking); "
        "needed by kernel groups: 1; waited on before kernel group 1" in text
    )
    assert "needed by kernel groups: none; waited on at the end" in text  # the outputs
    assert text.count("= all_reduce_mean(") == 2 + len(params)  # loss, its cotangent, grads
    assert "kernel k0(" in text  # each group's kernel IR
    info = step.lower(params, x, y).compile_info()
    assert info["host_steps"] == 3 and info["kernel_groups"] == 2 and info["overlap"] is True


def test_a_collective_inside_a_loop_body_is_refused_on_llvm_with_the_line():
    def f(x):
        return tcomp.fori_loop(0, 3, lambda i, c: dist.all_reduce(c) * 0.5, x)

    x = np.ones(3)
    np.testing.assert_array_equal(np.asarray(tcomp.jit(f, backend="reference")(x)), x / 8)
    with pytest.raises(TcompArgumentError, match="collective inside scan") as error:
        tcomp.jit(f, backend="llvm")(x)
    assert "use backend='reference'" in str(error.value)
    assert "test_distributed_jit.py" in str(error.value)


def test_errors_inside_jit_name_the_op_and_the_users_line():
    with pytest.raises(
        TcompArgumentError, match="reduce_scatter inside jit takes op 'sum' or 'mean'"
    ) as e:
        tcomp.jit(lambda v: dist.reduce_scatter(v, "max"), backend="reference")(np.ones(2))
    assert "test_distributed_jit.py" in str(e.value)
    with pytest.raises(TcompArgumentError, match="root 1 is not a rank; the ranks are 0 to 0"):
        tcomp.jit(lambda v: dist.broadcast(v, root=1), backend="reference")(np.ones(2))
    with pytest.raises(
        TcompTypeError, match=r"all_reduce_mean: the mean needs .* \(inputs i32\[2\]\)"
    ) as e:
        tcomp.jit(lambda v: dist.all_reduce(v, "mean"), backend="reference")(np.ones(2, np.int32))
    assert "test_distributed_jit.py" in str(e.value)


def test_a_program_traced_for_more_ranks_refuses_to_run_on_fewer():
    fn = one_node("all_reduce_sum", (2,), ranks=2)
    with pytest.raises(TcompDistributedError, match="traced for 2 ranks but runs on 1"):
        tcomp_evaluate(fn, [np.ones(2)])


def test_every_collective_is_a_registered_primitive_marked_communicating():
    assert COLLECTIVE_OPS <= set(PRIMITIVES)
    assert {name for name, p in PRIMITIVES.items() if p.communicates} == COLLECTIVE_OPS
    assert all(isinstance(n, Node) for n in one_node("all_reduce_sum", (1,), ranks=1).nodes)


# ---------------------------------------------------------------------------------
# across processes: mpiexec -n 2

STEPS = 10
RANKS = 2


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("jit2")
    check_ok(
        launch("jit_collectives.py", str(out_dir), str(STEPS), *BACKENDS, ranks=RANKS, timeout=180)
    )
    return {
        backend: [
            np.load(out_dir / f"jit_{backend}.rank{r}.npz", allow_pickle=True) for r in range(RANKS)
        ]
        for backend in BACKENDS
    }


@needs_mpi
@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_all_reduced_inside_jit_trains_as_one_process_on_the_whole_batch(
    two_rank_run, backend
):
    expected = single_process_run(backend, "float64", STEPS)
    ranks = two_rank_run[backend]
    for data in ranks:
        np.testing.assert_allclose(data["losses"], expected["losses"], rtol=1e-12, atol=1e-14)
        for name, value in expected["grads"].items():
            np.testing.assert_allclose(
                data[f"grad_{name}"], value, rtol=1e-12, atol=1e-14, err_msg=name
            )
        for name, value in expected["params"].items():
            np.testing.assert_allclose(
                data[f"param_{name}"], value, rtol=1e-12, atol=1e-14, err_msg=name
            )
            np.testing.assert_array_equal(data[f"param_{name}"], ranks[0][f"param_{name}"])


@needs_mpi
def test_the_llvm_step_makes_one_all_reduce_per_host_step(two_rank_run):
    for data in two_rank_run["llvm"]:
        calls = dict(data["calls"].tolist())
        # host step 0: the loss's cotangent (a constant: started before the forward);
        # host step 1: the loss (waited on at the end, so the backward runs meanwhile);
        # host step 2: the 4 gradients (one bucket); the agreement check once, at the
        # first call
        assert calls == {"Iallreduce": 3 * STEPS, "Iallgather": 1}, calls
        text = str(data["kernels"])
        assert "host step 2: start 4 collectives" in text and "kernel group 2" in text
        assert (
            "host step 1: start 1 collectives, 8 bytes (MPI on the host, non-blocking); "
            "needed by kernel groups: none; waited on at the end" in text
        )


def transposes(ranks: int) -> dict[str, list[np.ndarray]]:
    """The gradients of sum(weights(r) * C(x)) by rank, written out with numpy."""
    xs = [collective_inputs(r)["x"] for r in range(ranks)]
    ws = [weights(r) for r in range(ranks)]
    total = sum(ws)
    peak = np.max(np.stack(xs), axis=0)
    holders = sum((x == peak).astype(float) for x in xs)
    block = xs[0].shape[0] // ranks
    scatter = np.concatenate(
        [sum(w[j * block : (j + 1) * block] for j in range(ranks)) for w in ws]
    )
    return {
        "sum": [total] * ranks,
        "mean": [total / ranks] * ranks,
        "max": [(x == peak) * total / holders for x in xs],
        "gather": [total * (2.0 if s == 0 else 1.0) for s in range(ranks)],
        "scatter": [scatter] * ranks,
        "broadcast": [total * (s == ranks - 1) for s in range(ranks)],
    }


@needs_mpi
@pytest.mark.parametrize("backend", BACKENDS)
def test_collectives_and_their_gradients_match_numpy_definitions(two_rank_run, backend):
    inputs = [collective_inputs(r) for r in range(RANKS)]
    xs = np.stack([i["x"] for i in inputs])
    s = np.array([i["s"] for i in inputs])
    block = xs.shape[1] // RANKS
    gradients = transposes(RANKS)
    for r, data in enumerate(two_rank_run[backend]):
        expect = {
            "sum": xs.sum(0),
            "mean": xs.mean(0),
            "max": xs.max(0),
            "min": xs.min(0),
            "sum_i32": np.sum([i["i32"] for i in inputs], 0).astype(np.int32),
            "gather0": np.concatenate(list(xs), 0),
            "gather1": np.concatenate(list(xs), 1),
            "gather_scalar": s,
            "broadcast": xs[-1],
            "scatter_sum": xs.sum(0)[r * block : (r + 1) * block],
            "scatter_mean1": np.full((3, 2), s.mean()),
            "chain": np.exp(xs.max(0) - xs).sum(0),
        }
        for key, value in expect.items():
            np.testing.assert_allclose(
                data[f"fwd_{key}"], value, rtol=1e-14, err_msg=f"rank {r} {key}"
            )
            assert data[f"fwd_{key}"].dtype == value.dtype, key
        for name, per_rank in gradients.items():
            np.testing.assert_allclose(
                data[f"grad_of_{name}"],
                per_rank[r],
                rtol=1e-14,
                err_msg=f"rank {r}: gradient of {name}",
            )


@needs_mpi
@pytest.mark.parametrize("backend", BACKENDS)
def test_ranks_that_trace_different_shapes_fail_alike_naming_them(two_rank_run, backend):
    for data in two_rank_run[backend]:
        message = str(data["error_mismatch"])
        assert message.startswith("TcompDistributedError: tcomp.distributed: the ranks disagree")
        assert "rank 0:" in message and "all_reduce_sum {ranks=2} float64[3]" in message
        assert "rank 1:" in message and "all_reduce_sum {ranks=2} float64[4]" in message
        assert "jit_collectives.py" in message
        assert "axis 0 of length 5 cannot be split into 2 equal blocks" in str(
            data["error_scatter_shape"]
        )
        np.testing.assert_array_equal(data["after_errors"], [2.0, 2.0])
