"""The C-family GPU mapping (tcomp.backends.cfamily.mapping): which loops collapse into
the global index, which kernels get one work-group per index for a reduction, the
launch plan's global and local sizes, and the conservative cases.

Running what the rules produce is the GPU runtimes' test; here the analysis is
checked on lowered graphs and on hand-written kernels.
"""

from __future__ import annotations

import numpy as np
from kernel_lowering_helpers import one_op

import tcomp
from tcomp import nn
from tcomp.backends.cfamily import launch_plan, render_program
from tcomp.backends.cfamily.mapping import (
    ENOUGH_WORK_ITEMS,
    group_size,
    identity,
    map_kernel,
)
from tcomp.ir.kernel.expr import INDEX, Const, Load, Var, add, mul
from tcomp.ir.kernel.kernel import (
    Assign,
    Kernel,
    KernelArg,
    Let,
    Loop,
    Program,
    ProgramBuffer,
    Schedule,
    Store,
)
from tcomp.ir.kernel.lowering import lower_function
from tcomp.ir.types import TensorType

F32 = np.float32


def program_of(fn, *args):
    function = tcomp.jit(fn, backend="reference").lower(*args).function("optimized")
    return lower_function(function)


def only_mapping(fn, *args):
    (kernel,) = program_of(fn, *args).kernels
    return map_kernel(kernel)


def nest_names(mapping) -> list[str]:
    return [loop.var.name for loop in mapping.nest]


# -- rule 1: collapsing ---------------------------------------------------------


def test_a_2d_elementwise_nest_collapses_into_one_global_index():
    program = program_of(lambda x, y: np.tanh(x) * y + 1.0, np.ones((64, 100), F32), np.ones(100, F32))
    mapping = map_kernel(program.kernels[0])
    assert nest_names(mapping) == ["i0", "i1"]
    assert mapping.local_size is None and mapping.global_size == 6400
    (launch,) = launch_plan(program)
    assert (launch.global_size, launch.local_size) == (6400, None)
    text = render_program(program, "opencl")
    assert "const long i0 = tc_g / 100;" in text and "const long i1 = tc_g % 100;" in text
    assert "if (tc_g >= 6400) return;" in text


def test_a_3d_nest_collapses_with_the_innermost_fastest():
    program = program_of(lambda x: x * 2.0, np.ones((3, 5, 7), F32))
    mapping = map_kernel(program.kernels[0])
    assert len(mapping.nest) == 3 and mapping.global_size == 105
    text = render_program(program, "cuda")
    names = nest_names(mapping)
    assert f"{names[0]} = tc_g / 35;" in text
    assert f"{names[1]} = (tc_g / 7) % 5;" in text
    assert f"{names[2]} = tc_g % 7;" in text


def test_a_big_matmul_runs_one_work_item_per_output_element():
    mapping = only_mapping(lambda a, b: a @ b, np.ones((128, 64), F32), np.ones((64, 256), F32))
    assert nest_names(mapping) == ["i0", "i1"]
    assert 128 * 256 >= ENOUGH_WORK_ITEMS
    assert mapping.local_size is None and mapping.global_size == 128 * 256


def test_a_reduction_loop_is_not_collapsed_into_the_nest():
    mapping = only_mapping(lambda x: np.sum(x, axis=1), np.ones((8, 5), F32))
    assert nest_names(mapping) == ["i0"]
    assert mapping.global_size == 8 and mapping.local_size is None


# -- rule 2: work-group reductions ----------------------------------------------


def test_long_row_softmax_runs_one_work_group_per_row():
    program = program_of(lambda x: nn.softmax(x, axis=-1), np.ones((4, 1000), F32))
    mapping = map_kernel(program.kernels[0])
    assert mapping.local_size == 256 and mapping.global_size == 4 * 256
    kinds = [step.kind for step in mapping.steps]
    assert kinds == ["partial", "reduce", "all", "partial", "reduce", "strided"]
    (launch,) = launch_plan(program)
    assert (launch.global_size, launch.local_size) == (1024, 256)
    cl = render_program(program, "opencl")
    assert "reqd_work_group_size(256, 1, 1)" in cl
    assert cl.count("barrier(CLK_LOCAL_MEM_FENCE);") == 4
    assert "return;" not in cl  # every work-item reaches every barrier
    assert "for (long i1 = tc_lid; i1 < 1000; i1 += 256)" in cl
    cu = render_program(program, "cuda")
    assert "__launch_bounds__(256)" in cu and "__shared__ float" in cu
    assert "__syncthreads();" in cu


def test_layer_norm_over_long_rows_gets_two_group_reductions():
    x, w, b = np.ones((6, 300), F32), np.ones(300, F32), np.ones(300, F32)
    mapping = only_mapping(lambda x, w, b: nn.layer_norm(x, w, b), x, w, b)
    assert mapping.local_size == 256 and mapping.global_size == 6 * 256
    assert [step.kind for step in mapping.steps].count("reduce") == 2


def test_short_rows_keep_one_work_item_per_row():
    mapping = only_mapping(lambda x: nn.softmax(x, axis=-1), np.ones((8, 32), F32))
    assert mapping.local_size is None and mapping.global_size == 8


def test_a_0d_reduction_runs_as_one_work_group():
    program = program_of(lambda x: np.sum(x), np.ones((3, 100), F32))
    mapping = map_kernel(program.kernels[0])
    assert mapping.nest == () and mapping.local_size == 256 and mapping.global_size == 256
    (reduce_step,) = [step for step in mapping.steps if step.kind == "reduce"]
    assert [loop.extent for loop in reduce_step.levels] == [3, 100]  # flattened, strided
    assert [step.kind for step in mapping.steps][-1] == "once"  # the store: work-item 0
    text = render_program(program, "opencl")
    assert "if (tc_lid == 0) {" in text


def test_a_small_0d_reduction_stays_a_single_work_item():
    program = lower_function(one_op("reduce_sum", [np.ones(5, F32)], {"axes": (0,)}))
    (launch,) = launch_plan(program)
    assert (launch.global_size, launch.local_size) == (1, None)


def test_a_small_matmul_with_a_long_reduction_gets_groups():
    mapping = only_mapping(lambda a, b: a @ b, np.ones((8, 100), F32), np.ones((100, 7), F32))
    assert nest_names(mapping) == ["i0", "i1"]
    assert mapping.local_size == 64 and mapping.global_size == 56 * 64


def test_a_long_sum_over_the_first_axis_gets_groups():
    mapping = only_mapping(lambda x: np.sum(x, axis=0), np.ones((5000, 3), F32))
    assert mapping.local_size == 256 and mapping.global_size == 3 * 256


def test_argmax_is_not_a_group_reduction():
    # two accumulators updated through a select: cross-iteration state that is no combine
    mapping = only_mapping(lambda x: tcomp.argmax(x, axis=-1), np.ones((4, 1000), F32))
    assert mapping.local_size is None and mapping.global_size == 4


def test_group_sizes_are_powers_of_two_up_to_256():
    assert [group_size(n) for n in (64, 100, 127, 128, 255, 256, 1000, 10**6)] == [
        64, 64, 64, 128, 128, 256, 256, 256,
    ]


def test_partials_start_from_the_identity_of_the_op():
    assert identity("add", "float32") == Const(0.0, "float32")
    assert identity("max", "float32") == Const(float("-inf"), "float32")
    assert identity("min", "int32") == Const(2**31 - 1, "int32")
    assert identity("max", INDEX) == Const(-(2**63), INDEX)
    assert identity("or", "bool") == Const(False, "bool")
    assert identity("and", "bool") == Const(True, "bool")


def test_a_non_identity_initial_value_goes_to_work_item_0_only():
    i0, r0 = Var("i0", INDEX, 4), Var("r0", INDEX, 128)
    acc = Var("acc0", "float32")
    flat = add(mul(i0, Const(128, INDEX)), r0)
    body = (
        Let(acc, Const(1.5, "float32")),
        Loop(r0, (Assign(acc, add(acc, Load("p0", flat, "float32"))),)),
        Store("t1", i0, acc),
    )
    kernel = Kernel(
        "k0",
        (KernelArg("p0", "float32", 512, "in"), KernelArg("t1", "float32", 4, "out")),
        (Loop(i0, body),),
        Schedule(parallel="i0"),
    )
    mapping = map_kernel(kernel)
    assert mapping.local_size == 128 and mapping.global_size == 512
    buffers = {
        "p0": ProgramBuffer("p0", TensorType((512,), "float32"), "param"),
        "t1": ProgramBuffer("t1", TensorType((4,), "float32"), "output"),
    }
    program = Program("init", buffers, ["p0"], ["t1"], [kernel])
    assert "float acc0 = (tc_lid == 0) ? 1.5f : 0.0f;" in render_program(program, "opencl")


# -- the conservative cases -----------------------------------------------------


def _read_modify_write_kernel() -> Kernel:
    """``t0[i0 * 8 + i1] = t0[i0 * 8 + i1] + 1`` under ``parallel=i0``."""
    i0, i1 = Var("i0", INDEX, 4), Var("i1", INDEX, 8)
    flat = add(mul(i0, Const(8, INDEX)), i1)
    value = add(Load("t0", flat, "float32"), Const(1.0, "float32"))
    return Kernel(
        "k0",
        (KernelArg("t0", "float32", 32, "inout"),),
        (Loop(i0, (Loop(i1, (Store("t0", flat, value),)),)),),
        Schedule(parallel="i0"),
    )


def test_a_kernel_that_loads_and_stores_one_buffer_is_not_collapsed():
    mapping = map_kernel(_read_modify_write_kernel())
    assert nest_names(mapping) == ["i0"] and mapping.global_size == 4


def test_buffers_that_may_share_memory_count_as_one():
    kernel = _read_modify_write_kernel()
    i0, i1 = Var("i0", INDEX, 4), Var("i1", INDEX, 8)
    flat = add(mul(i0, Const(8, INDEX)), i1)
    kernel.args = (KernelArg("t0", "float32", 32, "in"), KernelArg("t1", "float32", 32, "out"))
    kernel.body = (Loop(i0, (Loop(i1, (Store("t1", flat, Load("t0", flat, "float32")),)),)),)
    assert len(map_kernel(kernel).nest) == 2
    assert len(map_kernel(kernel, frozenset({"t0", "t1"})).nest) == 1


def test_scatter_add_stays_a_single_work_item():
    updates, indices = np.ones((5, 3, 70), F32), np.array([0, 2, 2], np.int32)
    program = lower_function(one_op("scatter_add", [updates, indices], {"axis": 1, "size": 4}))
    for kernel, launch in zip(program.kernels, launch_plan(program)):
        mapping = map_kernel(kernel)
        assert mapping.nest == () and mapping.local_size is None
        assert (launch.global_size, launch.local_size) == (1, None)


def test_an_inner_loop_with_cross_iteration_state_is_not_collapsed():
    i0, i1 = Var("i0", INDEX, 4), Var("i1", INDEX, 8)
    s = Var("s0", "float32")
    flat = add(mul(i0, Const(8, INDEX)), i1)
    prefix_sum = Loop(i1, (
        Assign(s, add(s, Load("p0", flat, "float32"))),
        Store("t1", flat, s),
    ))
    kernel = Kernel(
        "k0",
        (KernelArg("p0", "float32", 32, "in"), KernelArg("t1", "float32", 32, "out")),
        (Loop(i0, (Let(s, Const(0.0, "float32")), prefix_sum)),),
        Schedule(parallel="i0"),
    )
    mapping = map_kernel(kernel)
    assert nest_names(mapping) == ["i0"] and mapping.local_size is None
