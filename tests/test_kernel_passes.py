"""Named kernel passes and the backends' kernel pipelines (ir/kernel/passes): every pass
is documented and leaves IR that verifies, the verifier names the pass that broke the IR,
pipeline names are checked before anything runs, and the llvm and GPU pipelines give the
very programs the backends built before the pipelines existed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import tcomp
from tcomp.backends.cfamily import map_gpu
from tcomp.ir.errors import TcompArgumentError, TcompBackendError, TcompVerifyError
from tcomp.ir.kernel.kernel import Store
from tcomp.ir.kernel.lowering import lower_function
from tcomp.ir.kernel.lowering.contraction import schedule_contractions
from tcomp.ir.kernel.lowering.memory import plan_memory
from tcomp.ir.kernel.lowering.program import fuse_function
from tcomp.ir.kernel.lowering.reuse_terms import reuse_reduction_terms
from tcomp.ir.kernel.lowering.schedule_cpu import schedule_cpu
from tcomp.ir.kernel.lowering.split_reduction import GPU_PARTS, PARTS, split_reductions
from tcomp.ir.kernel.passes import (
    FUSE,
    GPU_PIPELINE,
    KERNEL_PASSES,
    LLVM_PIPELINE,
    PIPELINES,
    fuse,
    llvm_pipeline,
    lower,
    parse_pass,
    run_kernel_pipeline,
    split_names,
    summary,
)
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.kernel.verifier import verify_program

F32 = np.float32


def softmax(x):
    e = tcomp.exp(x - tcomp.max(x, axis=-1, keepdims=True))
    return e / tcomp.sum(e, axis=-1, keepdims=True)


def mlp(x, w1, w2):
    return tcomp.tanh(tcomp.maximum(x @ w1, 0.0) @ w2).sum()


def chain(x):
    y = tcomp.exp(x) * 2.0
    return (y.sum(axis=0), tcomp.tanh(y).max())


SAMPLES = {
    "softmax": (softmax, (np.ones((4, 8), F32),)),
    "mlp": (mlp, (np.ones((64, 64), F32), np.ones((64, 96), F32), np.ones((96, 48), F32))),
    "big_sum": (lambda x: x.sum(), (np.ones(70001, F32),)),
    "chain": (chain, (np.ones((300, 300), F32),)),
}


def graph(name: str):
    fn, args = SAMPLES[name]
    return tcomp.jit(fn, backend="reference").lower(*args).function("optimized")


def old_llvm(fn):
    """What backends/llvm/compile_cache.py ran before the pipelines, then the thread split
    the llvm renderer used to decide while rendering (now the schedule-cpu pass)."""
    program = schedule_contractions(fuse_function(fn))
    return schedule_cpu(reuse_reduction_terms(plan_memory(split_reductions(program, PARTS))))


def old_gpu(fn):
    """What backends/gpu/backend.py ran before the pipelines."""
    return plan_memory(split_reductions(schedule_contractions(fuse_function(fn)), GPU_PARTS))


def gpu_steps(fn):
    """The GPU pipeline's steps by hand: no CPU blocking (map-gpu decides the launch)."""
    return plan_memory(split_reductions(fuse_function(fn), GPU_PARTS))


def test_every_pass_has_a_summary_and_an_example():
    for name, function in {FUSE: fuse, **KERNEL_PASSES}.items():
        doc = function.__doc__ or ""
        first = summary(function)
        assert first and first.endswith(".") and len(first) <= 93, f"{name}: {first!r}"
        assert "->" in doc, f"{name}: the docstring should show a before -> after example"


@pytest.mark.parametrize("name", list(KERNEL_PASSES))
@pytest.mark.parametrize("sample", list(SAMPLES))
def test_each_pass_alone_leaves_ir_that_verifies(name, sample):
    program = fuse(graph(sample))
    verify_program(program, pass_name=FUSE)
    verify_program(run_kernel_pipeline(program, [name], verify_each=True), pass_name=name)


def test_the_passes_change_what_they_say():
    blocked = run_kernel_pipeline(fuse(graph("mlp")), "schedule-contractions")
    assert any(kernel.schedule.tile for kernel in blocked.kernels)
    split = run_kernel_pipeline(fuse(graph("big_sum")), "split-reductions{parts=8}")
    assert [len(split.kernels), split.buffers["tsplit0"].size] == [2, 8]
    planned = run_kernel_pipeline(fuse(graph("chain")), "plan-memory")
    assert planned.arena_bytes > 0
    reused = run_kernel_pipeline(fuse(graph("softmax")), "reuse-reduction-terms")
    assert any(arg.access == "inout" for kernel in reused.kernels for arg in kernel.args)


@pytest.mark.parametrize("sample", list(SAMPLES))
def test_pipelines_give_the_programs_of_before(sample):
    fn = graph(sample)
    assert print_program(lower(fn, LLVM_PIPELINE, verify_each=True)) == print_program(old_llvm(fn))
    assert print_program(lower(fn, GPU_PIPELINE, verify_each=True)) == print_program(gpu_steps(fn))
    plain = plan_memory(split_reductions(schedule_contractions(fuse_function(fn)), PARTS))
    assert print_program(lower_function(fn)) == print_program(plain)
    assert print_program(lower_function(fn, GPU_PARTS)) == print_program(old_gpu(fn))


def test_the_backends_compile_through_their_pipeline():
    fn, args = SAMPLES["softmax"]
    function = graph("softmax")
    try:
        llvm = tcomp.jit(fn, backend="llvm").lower(*args).as_text("kernels")
    except tcomp.TcompError as error:
        pytest.skip(f"the llvm backend is not available: {error}")
    from tcomp.backends.llvm.runtime import host_vector_bits

    assert llvm == print_program(lower(function, llvm_pipeline(host_vector_bits())))
    program = cuda_without_device().compile(function).program
    mapped = map_gpu(lower(function, PIPELINES["gpu"]), "cuda")
    assert print_program(program) == print_program(mapped)
    assert all(kernel.schedule.gpu is not None for kernel in program.kernels)
    assert not any(k.schedule.unroll or k.schedule.tile or k.schedule.vector for k in program.kernels)


def corrupt(program):
    """Moves the first store one element past the end of its buffer (a broken pass)."""
    kernel = program.kernels[0]
    store = kernel.body[-1]
    while not isinstance(store, Store):
        store = store.body[-1]
    from tcomp.ir.kernel.expr import add, const_index

    broken = dataclasses.replace(store, index=add(store.index, const_index(10**6)))

    def replace(body):
        return tuple(
            broken if stmt is store
            else dataclasses.replace(stmt, body=replace(stmt.body)) if hasattr(stmt, "body")
            else stmt
            for stmt in body
        )

    kernel.body = replace(kernel.body)
    return program


def test_the_verifier_names_the_pass_that_broke_the_ir(monkeypatch):
    monkeypatch.setitem(KERNEL_PASSES, "corrupt", corrupt)
    with pytest.raises(TcompVerifyError, match="after pass 'corrupt'"):
        lower(graph("softmax"), [FUSE, "plan-memory", "corrupt", "reuse-reduction-terms"],
              verify_each=True)
    with pytest.raises(TcompVerifyError, match="after pass 'corrupt'"):
        run_kernel_pipeline(fuse(graph("chain")), "plan-memory,corrupt", verify_each=True)
    # off (the default: ir reads no environment, as for graph passes): nothing checks
    monkeypatch.setenv("TCOMP_VERIFY_PASSES", "1")
    lower(graph("softmax"), [FUSE, "corrupt"])


def cuda_without_device():
    from tcomp.backends.cfamily.dialect import get_dialect
    from tcomp.backends.gpu.backend import GPUBackend

    def no_driver():
        raise TcompBackendError("no device in this test")

    return GPUBackend("cuda", get_dialect("cuda"), no_driver)  # renders without a device


def test_backends_verify_their_pipeline_when_the_environment_says_so(monkeypatch, tmp_path):
    """TCOMP_VERIFY_PASSES=1 (read by the backend when it compiles): each pass of the
    backend's pipeline is verified, so a broken plan-memory is named."""
    real = KERNEL_PASSES["plan-memory"]
    monkeypatch.setitem(KERNEL_PASSES, "plan-memory", lambda program: corrupt(real(program)))
    function = graph("chain")
    monkeypatch.setenv("TCOMP_VERIFY_PASSES", "0")
    cuda_without_device().compile(function)  # not verified: renders the broken program
    monkeypatch.setenv("TCOMP_VERIFY_PASSES", "1")
    with pytest.raises(TcompVerifyError, match="after pass 'plan-memory'"):
        cuda_without_device().compile(function)
    pytest.importorskip("llvmlite")
    from tcomp.backends.llvm.compile_cache import compile_function
    from tcomp.backends.options import CompileOptions

    options = CompileOptions(verify_passes=True, cache_dir=tmp_path)  # a fresh cache: lowers
    with pytest.raises(TcompVerifyError, match="after pass 'plan-memory'"):
        compile_function(function, options)


def test_the_input_is_verified_before_the_first_pass(monkeypatch):
    program = corrupt(fuse(graph("softmax")))
    with pytest.raises(TcompVerifyError) as error:
        run_kernel_pipeline(program, ["plan-memory"], verify_each=True)
    assert "after pass" not in str(error.value)


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        ("plan-memory,tile", "unknown kernel pass 'tile'"),
        ("split-reductions{parts=x}", "cannot read option 'parts=x'"),
        ("split-reductions{chunks=4}", "takes no option 'chunks'"),
        ("plan-memory{parts=4}", "options: none"),
        ("split-reductions{parts=0}", "parts must be a count >= 1"),
        ("schedule-contractions{vector_bits=384}", "vector_bits must be one of"),
        ("fuse,plan-memory", "fuse lowers graph IR"),
    ],
)
def test_bad_pipelines_fail_before_any_pass_runs(monkeypatch, names, fragment):
    ran = []
    monkeypatch.setitem(KERNEL_PASSES, "plan-memory", lambda program: ran.append(1) or program)
    with pytest.raises(TcompArgumentError, match=fragment):
        run_kernel_pipeline(fuse(graph("softmax")), names)
    assert not ran


def test_lower_wants_fuse_first():
    with pytest.raises(TcompArgumentError, match="starts with fuse"):
        lower(graph("softmax"), ["plan-memory"])


def test_names_and_options_parse():
    assert split_names(" fuse, split-reductions{parts=8}, plan-memory ,") == [
        "fuse", "split-reductions{parts=8}", "plan-memory"]
    assert parse_pass("split-reductions{parts=8}") == ("split-reductions", {"parts": 8})
    assert parse_pass("split-reductions{}") == ("split-reductions", {})
    assert parse_pass("plan-memory") == ("plan-memory", {})
    assert GPU_PIPELINE[1] == f"split-reductions{{parts={GPU_PARTS}}}"
    assert PIPELINES == {"llvm": LLVM_PIPELINE, "gpu": GPU_PIPELINE}


# AVX-512's 64 rows: 8-row tiles (12-row ones would compute 72, over a tenth zeros)
@pytest.mark.parametrize("bits, rows, lanes", [(512, 8, 16), (256, 6, 8), (128, 4, 4)])
def test_the_contraction_blocking_follows_the_vector_width(bits, rows, lanes):
    program = lower(graph("mlp"), llvm_pipeline(bits), verify_each=True)
    schedules = [k.schedule for k in program.kernels if k.schedule.unroll]
    assert schedules, "the 64x64 @ 64x96 matmul is blocked"
    for schedule in schedules:
        assert sorted(schedule.unroll.values()) == sorted([rows, 2 * lanes])
        assert set(schedule.vector.values()) == {lanes}
    assert llvm_pipeline(512) == LLVM_PIPELINE
    assert "schedule-contractions{vector_bits=256}" in llvm_pipeline(256)
