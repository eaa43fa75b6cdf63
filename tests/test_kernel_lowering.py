"""Lowering graph IR to kernel IR (tcomp.ir.kernel.lowering): every primitive, random
graphs and whole training steps are lowered, checked by the kernel-IR verifier,
interpreted by the kernel-IR interpreter and compared with the reference executor;
fusion decisions (kernel counts) and the memory plan are asserted directly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradcheck import FIXED_GRAD_CASES, case_id, rngs
from hypothesis import given
from hypothesis import strategies as st
from ir_strategies import functions_with_inputs
from kernel_lowering_helpers import check_program, lower_and_compare, one_op
from test_primitive_references import REF_CASES, REF_PARAMS

import tcomp
from tcomp import nn
from tcomp.backends.reference.executor import evaluate
from tcomp.backends.reference.kernel_interpreter import run_program
from tcomp.ir.builder import FunctionBuilder
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.kernel.expr import Load, walk
from tcomp.ir.kernel.kernel import Loop, statement_exprs, walk_statements
from tcomp.ir.kernel.lowering import LOWERINGS, lower_function, lowering_for, plan_fusion
from tcomp.ir.primitives import PRIMITIVES
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS  # tested in test_distributed_jit.py
from tcomp.ir.primitives.control_flow import CONTROL_FLOW_OPS
from tcomp.ir.types import TensorType


def optimized(f, *args):
    return tcomp.jit(f).lower(*args).function("optimized")


def loads(kernel) -> list[Load]:
    found = []
    for stmt in walk_statements(kernel.body):
        for expr in statement_exprs(stmt):
            found += [e for e in walk(expr) if isinstance(e, Load)]
    return found


# ---------------------------------------------------------------------------
# Every primitive, alone


def test_every_primitive_has_a_lowering():
    """The lowering table covers the registry exactly: a new primitive needs a rule."""
    # control flow: lowered by scan.py; collectives: run on the host (jit splits there)
    missing = sorted(set(PRIMITIVES) - set(LOWERINGS) - CONTROL_FLOW_OPS - COLLECTIVE_OPS)
    assert not missing, f"primitives without a kernel lowering: {', '.join(missing)}"
    assert set(LOWERINGS) <= set(PRIMITIVES)
    assert all(
        lowering_for(name) is LOWERINGS[name]
        for name in set(PRIMITIVES) - CONTROL_FLOW_OPS - COLLECTIVE_OPS
    )


def test_a_missing_lowering_names_the_primitive():
    with pytest.raises(TcompBackendError, match="'no_such_op' has no kernel-IR lowering"):
        lowering_for("no_such_op")


def test_the_lowering_does_not_patch_the_primitive_registry():
    """The table is looked up, never attached to a Primitive."""
    assert not any(hasattr(primitive, "lowering") for primitive in PRIMITIVES.values())


@pytest.mark.parametrize("op, dtype", REF_PARAMS)
@given(data=st.data())
def test_one_primitive_matches_the_reference(op, dtype, data):
    inputs, attrs = REF_CASES[op].make(data.draw, data.draw(rngs()), dtype)
    lower_and_compare(one_op(op, inputs, attrs), inputs)


@pytest.mark.parametrize("case", FIXED_GRAD_CASES, ids=case_id)
def test_fixed_cases_match_the_reference(case):
    # rank 0, empty axes, strided slices, interior padding, batched matmul, clamped indices
    lower_and_compare(one_op(case.op, case.inputs, case.attrs), case.inputs)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize(
    "row",
    [
        [1.0, NAN, 3.0, NAN],
        [NAN, 2.0, 5.0, 5.0],
        [-INF, -INF, -INF, -INF],
        [INF, 2.0, INF, -INF],
        [-0.0, 0.0, -1.0, 0.0],
        [2.0, 7.0, 7.0, 1.0],
    ],
)
def test_extremes_propagate_nan_like_numpy(row, dtype):
    x = np.array([row, row[::-1]], dtype=dtype)
    for op, attrs in [("reduce_max", {"axes": (1,)}), ("reduce_min", {"axes": (0, 1)}),
                      ("argmax", {"axis": 1}), ("argmax", {"axis": 0})]:
        lower_and_compare(one_op(op, [x], attrs), [x], exact=True)
    lower_and_compare(one_op("max", [x, x[::-1].copy()]), [x, x[::-1].copy()], exact=True)


def test_integer_and_bool_extremes():
    ints = np.array([[-(2**31), -(2**31)], [5, -(2**31)], [2**31 - 1, 3]], dtype=np.int32)
    for op, attrs in [("reduce_max", {"axes": (1,)}), ("reduce_min", {"axes": (0,)}),
                      ("argmax", {"axis": 1}), ("reduce_sum", {"axes": (0, 1)})]:
        lower_and_compare(one_op(op, [ints], attrs), [ints], exact=True)
    flags = np.array([[False, False, True, True], [False, False, False, False]])
    lower_and_compare(one_op("argmax", [flags], {"axis": 1}), [flags], exact=True)


def test_scatter_add_with_uniform_constant_indices_accumulates():
    # every update hits element 0: the load of the output must stay inside the loop
    b = FunctionBuilder("scatter_same")
    updates = b.add_param(TensorType((5,), "float64"))
    indices = b.emit("constant", [], {"value": np.zeros(5, dtype=np.int32)})
    out = b.emit("scatter_add", [updates, indices], {"axis": 0, "size": 3})
    fn = b.finish([out])
    u = np.arange(1.0, 6.0)
    lower_and_compare(fn, [u], exact=True)


def test_scatter_add_of_a_computed_update_and_gather_of_computed_indices():
    b = FunctionBuilder("scatter_gather")
    x = b.add_param(TensorType((3, 4), "float32"))
    idx = b.add_param(TensorType((2, 3), "int32"))
    u = b.add_param(TensorType((2, 2, 3, 2), "float32"))
    picked = b.emit("argmax", [x], {"axis": 1})  # i32[3], data-dependent
    gathered = b.emit("gather", [x, picked], {"axis": 1})  # f32[3, 3]
    scattered = b.emit("scatter_add", [b.emit("exp", [u], {}), idx], {"axis": 1, "size": 3})
    fn = b.finish([gathered, scattered])
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((3, 4)).astype(np.float32),
              np.array([[0, -1, 7], [2, -9, 1]], dtype=np.int32),
              rng.standard_normal((2, 2, 3, 2)).astype(np.float32)]
    program = lower_and_compare(fn, inputs)
    scatter = [k for k in program.kernels if any("scatter_add" in o for o in k.origin)]
    assert len(scatter) == 1 and scatter[0].schedule.parallel is None
    assert any("exp" in o for o in scatter[0].origin)  # the update's producer fused in


def test_zero_size_and_rank_zero_values():
    b = FunctionBuilder("shapes")
    empty = b.add_param(TensorType((0, 3), "float32"))
    scalar = b.add_param(TensorType((), "float32"))
    total = b.emit("reduce_sum", [empty], {"axes": (0,)})  # f32[3] of zeros
    doubled = b.emit("exp", [empty], {})  # f32[0, 3]
    square = b.emit("mul", [scalar, scalar], {})
    fn = b.finish([total, doubled, square, scalar])
    inputs = [np.zeros((0, 3), np.float32), np.array(1.5, np.float32)]
    program = lower_and_compare(fn, inputs, exact=True)
    assert program.outputs[3] == "p1"  # a parameter output names its buffer
    (scalar_kernel,) = [k for k in program.kernels if any("mul" in o for o in k.origin)]
    assert not any(isinstance(s, Loop) for s in scalar_kernel.body)  # 0-d: no loops


def test_constant_outputs_and_constant_buffers():
    b = FunctionBuilder("constants")
    x = b.add_param(TensorType((2, 3), "float32"))
    table = b.emit("constant", [], {"value": np.arange(6, dtype=np.float32).reshape(2, 3)})
    ones = b.emit("constant", [], {"value": np.ones((2, 3), np.float32)})
    out = b.emit("add", [b.emit("mul", [x, table], {}), ones], {})
    fn = b.finish([out, table])
    program = lower_and_compare(fn, [np.full((2, 3), 2.0, np.float32)], exact=True)
    table_name = f"c{table.id}"
    assert program.outputs[1] == table_name and program.buffers[table_name].kind == "constant"
    assert f"c{ones.id}" not in program.buffers  # a uniform constant is a Const
    assert len(program.kernels) == 1


# ---------------------------------------------------------------------------
# Random graphs


@given(functions_with_inputs(max_steps=6))
def test_random_functions_match_the_reference(case):
    fn, inputs = case
    lower_and_compare(fn, inputs, scale=20.0)


@given(functions_with_inputs(max_steps=6, dtypes=("float64",)))
def test_random_float64_functions_with_tight_tolerance(case):
    fn, inputs = case
    lower_and_compare(fn, inputs, scale=10.0)


# ---------------------------------------------------------------------------
# Fusion


X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
LABELS = np.array([0, 5, 2, 9], dtype=np.int32)


@pytest.mark.parametrize(
    "f, args, most",
    [
        (lambda x: nn.softmax(x), (X,), 1),
        (lambda x: nn.log_softmax(x), (X,), 1),
        (lambda x: nn.layer_norm(x), (X,), 1),
        (lambda x, y: nn.cross_entropy(x, y), (X, LABELS), 1),
        (lambda x: nn.logsumexp(x, axis=1), (X,), 1),
    ],
    ids=["softmax", "log_softmax", "layer_norm", "cross_entropy", "logsumexp"],
)
def test_row_normalisations_are_single_kernels(f, args, most):
    fn = optimized(f, *args)
    program = lower_and_compare(fn, list(args))
    assert len(program.kernels) <= most, [k.origin for k in program.kernels]
    assert program.buffers_of_kind("temp") == []


def test_matmul_bias_relu_is_one_kernel():
    w, b = X[:, :3].T.copy(), np.arange(4, dtype=np.float32)
    fn = optimized(lambda x, w, b: nn.relu(x @ w.T + b), X[:, :3].copy(), w.T.copy(), b)
    program = lower_and_compare(fn, [X[:, :3].copy(), w.T.copy(), b])
    (kernel,) = program.kernels
    ops = {o.split()[1] for o in kernel.origin}
    assert {"matmul", "add", "le", "select"} <= ops  # relu: select(x <= 0, 0, x)


def test_elementwise_chain_is_one_kernel():
    fn = optimized(lambda x, y: tcomp.tanh(tcomp.exp(x) * 2.0 + y) - x / (y * y + 1.0), X, X)
    program = lower_and_compare(fn, [X, X])
    assert len(program.kernels) == 1


def test_movement_chains_are_index_arithmetic():
    def f(x, v):
        t = tcomp.reshape(tcomp.transpose(x, (1, 0)), (3, 2, 4))  # [6,4] -> [3,2,4]
        return tcomp.exp(t) + tcomp.broadcast_to(tcomp.reshape(v, (1, 1, 4)), (3, 2, 4))

    v = np.arange(4, dtype=np.float32)
    fn = optimized(f, X, v)
    program = lower_and_compare(fn, [X, v], exact=True)
    (kernel,) = program.kernels
    assert {"transpose", "reshape", "broadcast_to"} <= {o.split()[1] for o in kernel.origin}
    # reshape div/mod chains vanished: the loads are plain affine functions of the loops
    assert not any(op in repr(load.index) for load in loads(kernel) for op in ("floordiv", "mod"))


def test_column_reduction_inside_a_row_loop_gets_its_own_kernel():
    # sum over rows is needed per column: inside the row-major output loop it would
    # run once per element, so it is materialised instead
    fn = optimized(lambda x: x - tcomp.sum(x, axis=0, keepdims=True), X)
    program = lower_and_compare(fn, [X])
    assert len(program.kernels) == 2
    assert len(program.buffers_of_kind("temp")) == 1


def test_a_shared_matmul_read_at_two_index_vectors_is_computed_once():
    # log_softmax of a matmul: the row max and the output both read the logits
    w = X[:, :3].copy()
    fn = optimized(lambda x, w: nn.log_softmax(x.T @ w), X, w)
    program = lower_and_compare(fn, [X, w])
    matmul_kernels = [k for k in program.kernels if any("matmul" in o for o in k.origin)]
    assert len(matmul_kernels) == 1
    runs = [stmt for stmt in walk_statements(matmul_kernels[0].body)
            if isinstance(stmt, Loop) and stmt.var.name.startswith("r")]
    assert len(runs) == 1  # one contraction loop: the matmul is not recomputed


def test_values_used_by_two_kernels_are_materialised_once():
    fn = optimized(lambda x: (tcomp.exp(x), tcomp.sum(tcomp.exp(x), axis=0)), X)
    program = lower_and_compare(fn, [X])
    exp_kernels = [k for k in program.kernels if any(o.endswith(" exp") for o in k.origin)]
    assert len(exp_kernels) == 1


def test_fusion_plan_roots():
    fn = optimized(lambda x: nn.softmax(x), X)
    plan = plan_fusion(fn)
    assert plan.roots == list(fn.outputs)


def test_schedule_hints():
    fn = optimized(lambda x: tcomp.exp(x), X.astype(np.float64))
    (kernel,) = lower_function(fn).kernels
    assert kernel.schedule.parallel == "i0"
    assert kernel.schedule.vector == {"i1": 8}
    fn = optimized(lambda x: tcomp.exp(x), X)
    assert lower_function(fn).kernels[0].schedule.vector == {"i1": 16}


# ---------------------------------------------------------------------------
# Whole models


# kernels per float64 training step today (forward, backward and SGD update): upper bounds
MOST_KERNELS = {"mlp": 13, "cnn": 19, "transformer": 48, "rnn": 19}


@pytest.mark.parametrize("name", sorted(MOST_KERNELS))
def test_model_zoo_training_steps(name):
    from test_model_zoo import setup  # noqa: PLC0415 (a test module: import on use)

    model, params, x, y = setup(name, "float64")

    def train_step(params, x, y):
        loss, grads = tcomp.value_and_grad(model.loss)(params, x, y)
        return loss, tcomp.tree_map(lambda p, g: p - 0.1 * g, params, grads)

    fn = optimized(train_step, params, x, y)
    leaves = tcomp.tree_flatten((params, x, y))[0]
    inputs = [np.asarray(a, dtype=p.dtype) for a, p in zip(leaves, fn.params)]
    program = lower_and_compare(fn, inputs)
    assert len(program.kernels) <= MOST_KERNELS[name]
    loss = run_program(program, inputs)[0]
    np.testing.assert_allclose(float(loss), model.reference(params, x, y), rtol=1e-10)


# ---------------------------------------------------------------------------
# Memory plan


def _overlap(a, b):
    return a[0] < b[1] and b[0] < a[1]


def assert_plan_is_safe(program):
    from tcomp.ir.kernel.lowering import temp_lifetimes
    from tcomp.ir.types import numpy_dtype

    lifetimes = temp_lifetimes(program)
    ranges = {}
    for name, (first, last) in lifetimes.items():
        buffer = program.buffers[name]
        size = buffer.size * numpy_dtype(buffer.type.dtype).itemsize
        assert buffer.offset % 64 == 0 and buffer.offset + size <= program.arena_bytes
        ranges[name] = (buffer.offset, buffer.offset + size)
    names = sorted(ranges)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            live_together = _overlap((lifetimes[a][0], lifetimes[a][1] + 1),
                                     (lifetimes[b][0], lifetimes[b][1] + 1))
            if live_together and ranges[a][0] < ranges[a][1] and ranges[b][0] < ranges[b][1]:
                assert not _overlap(ranges[a], ranges[b]), (a, b)
    return lifetimes, ranges


def test_memory_plan_reuses_dead_temporaries():
    # a chain of matmuls: each intermediate dies once the next one is computed
    def f(x, w):
        for _ in range(4):
            x = tcomp.tanh(x @ w)
        return x

    w = np.eye(6, dtype=np.float32) * 0.5
    fn = optimized(f, X, w)
    program = lower_and_compare(fn, [X, w])
    lifetimes, ranges = assert_plan_is_safe(program)
    assert len(lifetimes) >= 3
    sizes = sum(r[1] - r[0] for r in ranges.values())
    assert program.arena_bytes < sizes  # disjoint lifetimes shared storage
    assert all(b.offset is None for b in program.buffers.values() if b.kind != "temp")


@given(functions_with_inputs(max_steps=8))
def test_memory_plan_never_overlaps_live_temporaries(case):
    fn, _ = case
    assert_plan_is_safe(lower_function(fn))


def test_evaluate_and_interpreter_agree_on_a_program_with_many_temps():
    fn = optimized(lambda x: [tcomp.exp(x) * i for i in range(1, 4)], X)
    program = lower_function(fn)
    check_program(program)
    for got, want in zip(run_program(program, [X]), evaluate(fn, [X])):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert math.isclose(len(program.kernels), 3)


def test_memory_plan_of_a_temporary_chain():
    # k0 writes t1, k1 reads t1 and writes t2, k2 reads t2 and writes t3 (each 400 bytes)
    from tcomp.ir.kernel.kernel import Kernel, KernelArg, Program, ProgramBuffer
    from tcomp.ir.kernel.lowering import plan_memory

    t = TensorType((100,), "float32")
    buffers = {name: ProgramBuffer(name, t, "temp") for name in ("t1", "t2", "t3")}
    buffers["t4"] = ProgramBuffer("t4", t, "output")

    def kernel(i, reads, writes):
        args = [KernelArg(n, "float32", 100, "in") for n in reads]
        args += [KernelArg(n, "float32", 100, "out") for n in writes]
        return Kernel(f"k{i}", tuple(args), ())

    kernels = [kernel(0, [], ["t1"]), kernel(1, ["t1"], ["t2"]), kernel(2, ["t2"], ["t3"]),
               kernel(3, ["t3"], ["t4"])]
    planned = plan_memory(Program("chain", buffers, [], ["t4"], kernels))
    offsets = {name: planned.buffers[name].offset for name in ("t1", "t2", "t3")}
    assert offsets == {"t1": 0, "t2": 448, "t3": 0}
    assert planned.arena_bytes == 896 and planned.buffers["t4"].offset is None
    assert buffers["t1"].offset is None  # the input program is left as it was


# ---------------------------------------------------------------------------
# Naming and recomputation limits


def test_a_shared_value_read_at_three_index_vectors_gets_a_buffer():
    def f(x):
        y = tcomp.exp(x)
        return y[:-2] + y[1:-1] + y[2:]

    x = np.linspace(-1, 1, 8).astype(np.float32)
    program = lower_and_compare(optimized(f, x), [x])
    assert [len(k.origin) for k in program.kernels][0] == 1  # exp alone, then the stencil
    assert len(program.kernels) == 2


def test_names_and_origins():
    b = FunctionBuilder("names")
    x = b.add_param(TensorType((2, 3), "float32"))
    e = b.emit("exp", [x], {})
    total = b.emit("reduce_sum", [e], {"axes": (0, 1)})
    fn = b.finish([total, e, total])
    program = lower_and_compare(fn, [np.ones((2, 3), np.float32)])
    assert program.params == ["p0"]
    assert program.outputs == [f"t{total.id}", f"t{e.id}", f"t{total.id}"]
    assert [k.origin for k in program.kernels] == [
        (f"%{e.id} exp",), (f"%{total.id} reduce_sum",)
    ]


def test_float16_sums_accumulate_in_float32():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 300)).astype(np.float16)
    y = rng.standard_normal((300, 2)).astype(np.float16)
    for fn, inputs in [(one_op("reduce_sum", [x], {"axes": (1,)}), [x]),
                       (one_op("matmul", [x, y]), [x, y])]:
        (got,) = run_program(lower_function(fn), inputs)
        exact = evaluate(one_op(fn.nodes[0].op, [a.astype(np.float64) for a in inputs],
                                fn.nodes[0].attrs), [a.astype(np.float64) for a in inputs])[0]
        # one rounding to float16 at the end, not one per partial sum
        np.testing.assert_allclose(got.astype(np.float64), exact, rtol=1e-3, atol=1e-3)
