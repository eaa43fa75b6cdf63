"""The CPU thread split as schedule data: the ``schedule-cpu`` kernel pass decides which
kernels run their parallel loop on threads, the kernel text shows it, the verifier checks
it and the llvm renderer does what the schedule says (and nothing else)."""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp.ir.errors import TcompArgumentError, TcompVerifyError
from tcomp.ir.kernel.analysis import CPU_MIN_EXTENT, kernel_work, parallel_loop
from tcomp.ir.kernel.lowering.schedule_cpu import MIN_PARALLEL_WORK
from tcomp.ir.kernel.parser import parse_program
from tcomp.ir.kernel.passes import GPU_PIPELINE, LLVM_PIPELINE, fuse, lower, run_kernel_pipeline
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.kernel.verifier import verify_cpu_schedule, verify_program

pytest.importorskip("llvmlite")

from tcomp.backends.llvm.backend import LLVMExecutable  # noqa: E402

F32 = np.float32
BIG = np.random.default_rng(0).normal(size=(1024, 1024)).astype(F32)
SMALL = np.random.default_rng(1).normal(size=(8, 32)).astype(F32)


def _scaled_exp(x):
    return tcomp.exp(x) * 0.5


def _centered(x):
    return x - tcomp.mean(x)


def graph(fn, *args):
    return tcomp.jit(fn, backend="reference").lower(*args).function("optimized")


def test_the_pass_keeps_parallel_only_where_a_split_pays():
    big = lower(graph(_scaled_exp, BIG), LLVM_PIPELINE, verify_each=True)
    small = lower(graph(_scaled_exp, SMALL), LLVM_PIPELINE, verify_each=True)
    (big_kernel,), (small_kernel,) = big.kernels, small.kernels
    assert kernel_work(big_kernel) >= MIN_PARALLEL_WORK > kernel_work(small_kernel)
    assert big_kernel.schedule.parallel == "i0"
    assert small_kernel.schedule.parallel is None
    # only parallel changes: the rest of the schedule is fuse's
    fused = fuse(graph(_scaled_exp, SMALL)).kernels[0].schedule
    assert fused.parallel == "i0" and small_kernel.schedule.vector == fused.vector


def _parallel_after_pipeline(fn, *args) -> list[str | None]:
    return [k.schedule.parallel for k in lower(graph(fn, *args), LLVM_PIPELINE).kernels]


def test_the_work_estimate_weighs_library_math_and_discounts_blocked_matmuls():
    # elementwise over 2**18 floats: a tanh costs a polynomial, an add one instruction
    x = np.ones(2**18, F32)
    assert _parallel_after_pipeline(lambda v: tcomp.tanh(v) * 2.0, x) == ["i0"]
    assert _parallel_after_pipeline(lambda v: v * 2.0 + 1.0, x) == [None]
    # a 64x64 matmul (tens of microseconds on one core) stays on one thread, 512x512 splits
    small, large = np.ones((64, 64), F32), np.ones((512, 512), F32)
    assert _parallel_after_pipeline(lambda a, b: a @ b, small, small) == [None]
    assert _parallel_after_pipeline(lambda a, b: a @ b, large, large) == ["i0"]


def test_a_loop_that_cannot_be_split_loses_parallel_on_cpus_only():
    # the mean is a reduction before the output loop: the kernel is not one splittable loop
    fused = fuse(graph(_centered, BIG))
    (kernel,) = fused.kernels
    assert kernel.schedule.parallel == "i0" and parallel_loop(kernel, CPU_MIN_EXTENT) is None
    assert kernel_work(kernel) >= MIN_PARALLEL_WORK
    assert lower(graph(_centered, BIG), LLVM_PIPELINE).kernels[0].schedule.parallel is None
    assert lower(graph(_centered, BIG), GPU_PIPELINE).kernels[0].schedule.parallel == "i0"


def test_min_work_is_an_option_of_the_pass():
    program = fuse(graph(_scaled_exp, SMALL))
    kept = run_kernel_pipeline(program, "schedule-cpu{min_work=0}", verify_each=True)
    assert kept.kernels[0].schedule.parallel == "i0"
    cleared = run_kernel_pipeline(fuse(graph(_scaled_exp, SMALL)), "schedule-cpu", verify_each=True)
    assert cleared.kernels[0].schedule.parallel is None
    with pytest.raises(TcompArgumentError, match="min_work must be a count"):
        run_kernel_pipeline(program, "schedule-cpu{min_work=-1}")


def test_the_kernels_stage_shows_the_split_the_renderer_makes():
    for x, threaded in ((BIG, True), (SMALL, False)):
        text = tcomp.jit(_scaled_exp, backend="llvm").lower(x).as_text("kernels")
        assert ("parallel=i0" in text) is threaded
        program = parse_program(text)
        assert print_program(program) == text  # the schedule round-trips through the text
        assert (".parallel" in LLVMExecutable(program, 2).llvm_ir) is threaded


def test_a_schedule_edited_to_run_serially_runs_serially_and_right():
    text = print_program(lower(graph(_scaled_exp, BIG), LLVM_PIPELINE))
    assert text.count("parallel=i0, ") == 1
    serial = parse_program(text.replace("parallel=i0, ", ""))
    verify_program(serial)
    verify_cpu_schedule(serial)
    threaded, edited = LLVMExecutable(parse_program(text), 4), LLVMExecutable(serial, 4)
    assert ".parallel" in threaded.llvm_ir and ".parallel" not in edited.llvm_ir
    want = np.exp(BIG) * F32(0.5)
    np.testing.assert_allclose(edited([BIG])[0], want, rtol=1e-6)
    np.testing.assert_array_equal(edited([BIG])[0], threaded([BIG])[0])


def test_parallel_on_a_loop_that_cannot_be_split_is_a_verifier_error():
    text = print_program(lower(graph(_scaled_exp, BIG), LLVM_PIPELINE))
    inner = parse_program(text.replace("parallel=i0,", "parallel=i1,"))
    verify_program(inner)  # i1 is a loop of the kernel: any backend's schedule may name it
    with pytest.raises(
        TcompVerifyError,
        match=r"kernel k0: schedule: parallel=i1: loop i1 is "
        r"not the kernel's outermost loop",
    ):
        verify_cpu_schedule(inner, pass_name="hand edit")
    with pytest.raises(TcompVerifyError, match="after pass 'hand edit'"):
        verify_cpu_schedule(inner, pass_name="hand edit")
    with pytest.raises(TcompVerifyError, match="parallel=i1"):
        LLVMExecutable(inner, 4)  # the renderer refuses it rather than guess
    centered = fuse(graph(_centered, SMALL))  # parallel=i0 after the mean's loop
    with pytest.raises(TcompVerifyError, match="kernel k0: schedule: parallel=i0: loop i0"):
        verify_cpu_schedule(centered)


def test_a_loop_of_one_iteration_is_no_split():
    from tcomp.ir.kernel.expr import INDEX, Load, Var
    from tcomp.ir.kernel.kernel import (
        Kernel,
        KernelArg,
        Loop,
        Program,
        ProgramBuffer,
        Schedule,
        Store,
    )
    from tcomp.ir.types import TensorType

    i = Var("i0", INDEX, 1)
    kernel = Kernel(
        "k0",
        (KernelArg("p0", "float32", 1, "in"), KernelArg("t1", "float32", 1, "out")),
        (Loop(i, (Store("t1", i, Load("p0", i, "float32")),)),),
        Schedule(parallel="i0"),
    )
    program = Program(
        "f",
        {
            "p0": ProgramBuffer("p0", TensorType((1,), "float32"), "param"),
            "t1": ProgramBuffer("t1", TensorType((1,), "float32"), "output"),
        },
        ["p0"],
        ["t1"],
        [kernel],
    )
    verify_program(program)
    with pytest.raises(
        TcompVerifyError,
        match=r"kernel k0: .*loop i0 runs 1 time\(s\); a split "
        r"across threads needs at least 2",
    ):
        verify_cpu_schedule(program)
    assert (
        run_kernel_pipeline(program, "schedule-cpu{min_work=0}").kernels[0].schedule.parallel
        is None
    )


def test_opt_lists_the_pass_and_llvm_runs_it_last():
    from tcomp.commands.opt import list_passes

    listing = list_passes()
    assert "schedule-cpu" in listing and "Records the CPU thread split" in listing
    assert LLVM_PIPELINE[-1] == "schedule-cpu" and "schedule-cpu" not in GPU_PIPELINE


@pytest.mark.filterwarnings("ignore::tcomp.errors.TcompFloat64Warning")
def test_the_pass_records_column_blocks_where_the_renderer_blocks_columns():
    """A column reduction's vector loop gets ``columns`` (4096 bytes of accumulators per
    block); a row reduction does not, nor a blocked matmul (its own blocks)."""

    def columns_of(fn, *args):
        program = lower(graph(fn, *args), LLVM_PIPELINE, verify_each=True)
        return [kernel.schedule.columns for kernel in program.kernels]

    x = np.zeros((64, 300), F32)
    assert columns_of(lambda v: v.sum(axis=0), x) == [{"i0": 1024}]
    assert columns_of(lambda v: v.sum(axis=0), x.astype(np.float64)) == [{"i0": 512}]
    assert columns_of(lambda v: v.sum(axis=1), x) == [{}]
    a = np.zeros((256, 256), F32)
    assert columns_of(lambda p, q: p @ q, a, a) == [{}]
    assert "columns=" not in print_program(lower(graph(lambda p, q: p @ q, a, a), LLVM_PIPELINE))
