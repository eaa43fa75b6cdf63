"""Schedule decisions edited by hand in a kernel program's text change the generated code.

``map-gpu`` records each GPU kernel's decisions in ``gpu={...}`` (``collapse``: the
loops folded into the grid; ``local``: a work-group reduction's group size; ``kind``:
vector accesses, tensor cores; ``coarsen``) and ``schedule-cpu`` each column reduction's
block in ``columns={...}``. The renderers read them and decide nothing themselves, so a
value changed in the printed text and parsed back (``parse_program``) changes the source
as it says, and still computes the same result (run here on OpenCL when a device is
there, and on llvm); a value the kernel cannot run as is a verifier error naming the
kernel.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import tcomp
from tcomp.backends.cfamily import CUDA, launch_plan, map_gpu, render_program
from tcomp.backends.llvm.backend import LLVMExecutable
from tcomp.backends.llvm.render import render_text
from tcomp.ir.errors import TcompVerifyError
from tcomp.ir.kernel.parser import parse_program
from tcomp.ir.kernel.passes import GPU_PIPELINE, lower
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.kernel.verifier import verify_program

F32, F16 = np.float32, np.float16


def gpu_text(fn, *args, dialect: str = "opencl") -> str:
    """The kernel-program text of ``fn`` after the GPU pipeline and ``map-gpu``."""
    function = tcomp.jit(fn, backend="reference").lower(*args).function("optimized")
    return print_program(map_gpu(lower(function, GPU_PIPELINE, verify_each=True), dialect))


def edited(text: str, old: str, new: str):
    """``text`` with its one ``old`` replaced by ``new``, parsed and verified."""
    assert text.count(old) == 1, (old, text)
    program = parse_program(text.replace(old, new))
    verify_program(program, "hand edit")
    return program


def opencl_backend():
    backend = tcomp.backends.registry.get_backend("opencl")
    try:
        backend.check_available()
    except tcomp.TcompError as error:
        pytest.skip(f"no OpenCL device: {error}")
    return backend


def run_opencl(program, *inputs):
    backend = opencl_backend()
    executable = backend.compile_program(program)
    outputs = executable([backend.from_host(x) for x in inputs])
    return [backend.to_host(out) for out in outputs]


def tanh_twice(x):
    return tcomp.tanh(x) * 2.0


def softmax(x):
    e = tcomp.exp(x - tcomp.max(x, axis=-1, keepdims=True))
    return e / tcomp.sum(e, axis=-1, keepdims=True)


def numpy_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# -- GPU: collapse --------------------------------------------------------------------


def test_fewer_collapsed_loops_render_the_inner_loop_inside_each_work_item():
    x = np.random.default_rng(0).standard_normal((10, 20)).astype(F32)
    text = gpu_text(tanh_twice, x)
    assert "gpu={kind: nest, global: 200, collapse: 2}" in text
    decided = render_program(parse_program(text), "opencl")
    assert "tc_g / 20" in decided and "for (long i1" not in decided
    program = edited(text, "global: 200, collapse: 2", "global: 10, collapse: 1")
    source = render_program(program, "opencl")
    assert "if (i0 >= 10) return;" in source
    assert "for (long i1 = 0; i1 < 20; ++i1) {" in source and "tc_g" not in source
    assert launch_plan(program, "opencl")[0].global_size == 10
    (got,) = run_opencl(program, x)
    np.testing.assert_allclose(got, np.tanh(x) * 2.0, rtol=1e-6, atol=1e-6)


def test_a_collapse_the_kernel_does_not_have_is_a_verifier_error_naming_it():
    text = gpu_text(tanh_twice, np.ones((10, 20), F32))
    with pytest.raises(
        TcompVerifyError,
        match=r"kernel k0.*collapse 3 folds more loops than the "
        r"kernel's parallel nest has \(2: i0, i1",
    ):
        edited(text, "global: 200, collapse: 2", "global: 200, collapse: 3")
    with pytest.raises(
        TcompVerifyError,
        match=r"kernel k0.*global 200 is not what nest with "
        r"collapse 1 gives: 10",
    ):
        edited(text, "global: 200, collapse: 2", "global: 200, collapse: 1")


# -- GPU: the group size of a work-group reduction --------------------------------------


def test_a_smaller_work_group_renders_its_stride_and_tree():
    x = np.random.default_rng(1).standard_normal((8, 1000)).astype(F32)
    text = gpu_text(softmax, x)
    old = "gpu={kind: group_reduction, global: 2048, local: 256, collapse: 1}"
    assert old in text
    decided = render_program(parse_program(text), "opencl")
    assert "reqd_work_group_size(256, 1, 1)" in decided and "r0 += 256" in decided
    program = edited(text, "global: 2048, local: 256", "global: 512, local: 64")
    source = render_program(program, "opencl")
    assert "reqd_work_group_size(64, 1, 1)" in source and "r0 += 64" in source
    assert "tc_s = 32" in source and "[256]" not in source
    plan = launch_plan(program, "opencl")[0]
    assert (plan.global_size, plan.local_size) == (512, 64)
    (got,) = run_opencl(program, x)
    np.testing.assert_allclose(got, numpy_softmax(x), rtol=1e-5, atol=1e-7)
    tiny = edited(text, "global: 2048, local: 256", "global: 8, local: 1")  # one per row
    assert "r0 += 1)" in render_program(tiny, "opencl")
    (got,) = run_opencl(tiny, x)
    np.testing.assert_allclose(got, numpy_softmax(x), rtol=1e-5, atol=1e-7)


def test_a_group_size_that_is_no_power_of_two_is_refused():
    text = gpu_text(softmax, np.ones((8, 1000), F32))
    with pytest.raises(
        TcompVerifyError, match="kernel k0.*group size must be a power of two, not 96"
    ):
        edited(text, "global: 2048, local: 256", "global: 768, local: 96")


# -- GPU: vector accesses, coarsening, tensor cores --------------------------------------


def test_a_vector_nest_edited_to_coarsened_loses_its_vector_accesses():
    x = np.random.default_rng(2).standard_normal((512, 512)).astype(F32)
    text = gpu_text(tanh_twice, x, dialect="cuda")
    old = "kind: vector, global: 65536, collapse: 2, coarsen: 4"
    assert old in text
    assert "float4" in render_program(parse_program(text), "cuda")
    coarsened = edited(text, old, "kind: coarsened, global: 65536, collapse: 2, coarsen: 4")
    source = render_program(coarsened, "cuda")
    assert "float4" not in source and "tc_u < 4" in source
    halved = edited(text, old, "kind: coarsened, global: 131072, collapse: 2, coarsen: 2")
    assert "tc_u < 2" in render_program(halved, "cuda")
    assert launch_plan(halved, "cuda")[0].global_size == 131072
    (got,) = run_opencl(halved, x)
    np.testing.assert_allclose(got, np.tanh(x) * 2.0, rtol=1e-6, atol=1e-6)


def test_tensor_cores_switched_off_by_hand_render_a_plain_nest():
    a = np.ones((64, 64), F16)
    text = gpu_text(lambda x, y: x @ y, a, a, dialect="cuda")
    old = "gpu={kind: tensor_core, global: 128, local: 128}"
    assert old in text
    assert "mma.sync" in render_program(parse_program(text), "cuda")
    program = edited(text, old, "gpu={kind: nest, global: 4096, collapse: 2}")
    source = render_program(program, "cuda")
    assert "mma.sync" not in source and "tc_g / 64" in source


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_edited_cuda_launches_compile_with_nvcc(tmp_path):
    """The CUDA of each edit above (and a group of at most one warp, which shuffles in
    registers) compiles to PTX: one nvcc call, each program in its own namespace."""
    x = np.ones((512, 512), F32)
    nest = gpu_text(tanh_twice, np.ones((10, 20), F32), dialect="cuda")
    rows = gpu_text(softmax, np.ones((8, 1000), F32), dialect="cuda")
    vector = gpu_text(tanh_twice, x, dialect="cuda")
    half = gpu_text(
        lambda a, b: a @ b, np.ones((64, 64), F16), np.ones((64, 64), F16), dialect="cuda"
    )
    programs = [
        edited(nest, "global: 200, collapse: 2", "global: 10, collapse: 1"),
        edited(rows, "global: 2048, local: 256", "global: 512, local: 64"),
        edited(rows, "global: 2048, local: 256", "global: 128, local: 16"),
        edited(
            vector,
            "kind: vector, global: 65536, collapse: 2, coarsen: 4",
            "kind: coarsened, global: 131072, collapse: 2, coarsen: 2",
        ),
        edited(
            half,
            "gpu={kind: tensor_core, global: 128, local: 128}",
            "gpu={kind: nest, global: 4096, collapse: 2}",
        ),
    ]
    for number, program in enumerate(programs):
        program.name = f"edit{number}"  # unique: CUDA's extern "C" names ignore namespaces
    sources = [render_program(program, "cuda") for program in programs]
    assert "__shfl_sync(0xffffu" in sources[2]  # 16 lanes: no shared memory
    path = tmp_path / "edits.cu"
    path.write_text(
        "".join(f"namespace edit{number} {{\n{source}}}\n" for number, source in enumerate(sources))
    )
    result = subprocess.run(
        ["nvcc", "--ptx", *CUDA.compile_options, "-o", str(tmp_path / "edits.ptx"), str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]


# -- CPU: column blocks ----------------------------------------------------------------


def test_llvm_kernels_show_the_column_blocks_and_an_edited_block_is_rendered():
    x = np.random.default_rng(3).standard_normal((64, 300)).astype(F32)
    lowered = tcomp.jit(lambda v: v.sum(axis=0), backend="llvm").lower(x)
    text = print_program(lowered.kernel_program())
    assert "schedule {vector={i0: 16}, columns={i0: 1024}}" in lowered.as_text("kernels")
    decided = parse_program(text)
    assert "[1024 x float]" in render_text(decided)
    blocks = edited(text, "columns={i0: 1024}", "columns={i0: 64}")
    source = render_text(blocks)
    assert "[64 x float]" in source and "[1024 x float]" not in source
    plain = edited(
        text, "schedule {vector={i0: 16}, columns={i0: 1024}}", "schedule {vector={i0: 16}}"
    )
    assert not re.search(r'"i0\.col', render_text(plain))
    want = np.add.reduce(x, axis=0)  # each column summed in order, as the blocks do
    for program in (decided, blocks):
        (got,) = LLVMExecutable(program, 1)([x])
        assert np.asarray(got).view(np.uint32).tolist() == want.view(np.uint32).tolist()
    (got,) = LLVMExecutable(plain, 1)([x])  # a reassociable sum per column: rounding differs
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(TcompVerifyError, match=r"kernel k0.*columns\[i0\] = 100000: at most"):
        edited(text, "columns={i0: 1024}", "columns={i0: 100000}")  # a stack array that big


def test_columns_on_a_loop_without_a_reduction_is_a_verifier_error():
    x = np.zeros((64, 300), F32)
    text = print_program(tcomp.jit(lambda v: v * 2.0, backend="llvm").lower(x).kernel_program())
    line = next(ln for ln in text.splitlines() if "schedule {" in ln)
    loop = re.search(r"vector=\{(\w+): ", line).group(1)
    with pytest.raises(
        TcompVerifyError,
        match=rf"kernel k0.*columns names {loop}, whose loop is "
        "not lets, then a reduction",
    ):
        edited(text, line, line.replace("}}", f"}}, columns={{{loop}: 64}}}}"))
