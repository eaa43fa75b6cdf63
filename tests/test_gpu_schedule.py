"""The GPU schedule as data: map-gpu records each kernel's launch, renderers follow it.

``map_gpu`` (backends/cfamily/schedule.py) decides once how a GPU runs each kernel and
keeps it in the schedule (``gpu={kind: ..., global: ..., ...}``); the source and the
launch plan are what the recorded launch says, and equal what the renderer decided on
its own before the pass existed (the golden sources of test_cfamily_render.py prove the
same for the generated code).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

import tcomp
from tcomp.backends.cfamily import launch_plan, map_gpu, render_program
from tcomp.ir.errors import TcompBackendError, TcompParseError, TcompVerifyError
from tcomp.ir.kernel.kernel import GPU_KINDS, GpuLaunch
from tcomp.ir.kernel.parser import parse_program
from tcomp.ir.kernel.passes import GPU_PIPELINE, lower
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.kernel.verifier import verify_program

F32, F16 = np.float32, np.float16


def gpu_program(fn, *args):
    """``fn`` traced and lowered by the GPU pipeline, before map-gpu."""
    function = tcomp.jit(fn, backend="reference").lower(*args).function("optimized")
    return lower(function, GPU_PIPELINE, verify_each=True)


def softmax(x):
    e = tcomp.exp(x - tcomp.max(x, axis=-1, keepdims=True))
    return e / tcomp.sum(e, axis=-1, keepdims=True)


CASES = {  # name -> (function, arguments, dialect, the kind of its first kernel)
    "matmul": (lambda a, b: tcomp.tanh(a @ b), (np.ones((128, 96), F32), np.ones((96, 64), F32)),
               "opencl", "tiled_matmul"),
    "half_matmul_cuda": (lambda a, b: a @ b, (np.ones((64, 64), F16), np.ones((64, 64), F16)),
                         "cuda", "tensor_core"),
    "half_matmul_opencl": (lambda a, b: a @ b, (np.ones((64, 64), F16), np.ones((64, 64), F16)),
                           "opencl", "group_reduction"),  # no tensor cores: the generic path
    "softmax": (softmax, (np.ones((8, 1000), F32),), "opencl", "group_reduction"),
    "elementwise": (lambda x: tcomp.tanh(x) * 2.0, (np.ones((10, 20), F32),), "opencl", "nest"),
    "big_elementwise": (lambda x: tcomp.tanh(x) * 2.0, (np.ones((512, 512), F32),), "cuda",
                        "vector"),
    "strided_elementwise": (lambda x: tcomp.tanh(x.T) * 2.0, (np.ones((512, 512), F32),), "cuda",
                            "coarsened"),
    "sum_to_one": (lambda x: tcomp.sum(x * x), (np.ones((4, 5), F32),), "opencl", "single"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_map_gpu_records_the_launch_the_renderer_uses(name):
    fn, args, dialect, kind = CASES[name]
    program = gpu_program(fn, *args)
    mapped = map_gpu(program, dialect)
    verify_program(mapped, "map-gpu")
    assert mapped.kernels[0].schedule.gpu.kind == kind
    for kernel in mapped.kernels:
        schedule = kernel.schedule
        assert schedule.gpu is not None and schedule.gpu.kind in GPU_KINDS
        assert not (schedule.vector or schedule.unroll or schedule.tile)  # no CPU blocking
    # the same source and launches as the renderer's own decisions on the unmapped program
    assert render_program(mapped, dialect) == render_program(program, dialect)
    plan = launch_plan(mapped, dialect)
    assert plan == launch_plan(program, dialect)
    assert [(p.global_size, p.local_size) for p in plan] == [
        (k.schedule.gpu.global_size, k.schedule.gpu.local_size) for k in mapped.kernels
    ]
    # the kernels text holds the launch and parses back to the same program
    text = print_program(mapped)
    assert f"gpu={{kind: {kind}, global: " in text
    assert print_program(parse_program(text)) == text
    assert parse_program(text).kernels[0].schedule.gpu == mapped.kernels[0].schedule.gpu


def test_a_backend_compile_shows_the_gpu_launch_and_no_cpu_blocking():
    a = np.ones((256, 256), F32)
    text = tcomp.jit(lambda x, y: x @ y, backend="cuda").lower(a, a).as_text("kernels")
    assert "gpu={kind: tiled_matmul, global: 65536, local: 256, tm: 1, tn: 1}" in text
    assert "unroll=" not in text and "tile=" not in text and "vector=" not in text


def retiled(program, tm, tn):
    """``program`` with its first kernel's recorded register tile changed, via the text."""
    text = print_program(program)
    launch = program.kernels[0].schedule.gpu
    old = f"tm: {launch.tm}, tn: {launch.tn}"
    assert old in text
    return text.replace(old, f"tm: {tm}, tn: {tn}")


def tiled_global(m, n, tm, tn):
    """Work-items of the tiled matmul of an ``m x n`` output: groups of 16 x 16 work-items,
    each group a ``16 tm x 16 tn`` tile."""
    return -(-m // (16 * tm)) * -(-n // (16 * tn)) * 256


def test_a_tile_chosen_by_hand_is_rendered_and_checked():
    a, b = np.ones((512, 256), F32), np.ones((256, 512), F32)
    program = map_gpu(gpu_program(lambda x, y: x @ y, a, b), "opencl")
    launch = program.kernels[0].schedule.gpu
    assert launch.global_size == tiled_global(512, 512, launch.tm, launch.tn)
    assert f"float tile_acc[{launch.tm}][{launch.tn}];" in render_program(program, "opencl")
    tm, tn = (4, 4) if (launch.tm, launch.tn) != (4, 4) else (2, 2)
    edited = retiled(program, tm, tn)  # still the global size of the decided tile
    with pytest.raises(TcompBackendError, match=rf"kernel k0: its schedule says gpu=\{{kind: "
                       rf"tiled_matmul, global: {launch.global_size}, local: 256, tm: {tm}"):
        render_program(parse_program(edited), "opencl")  # the global size must follow the tile
    fixed = parse_program(edited.replace(
        f"global: {launch.global_size},", f"global: {tiled_global(512, 512, tm, tn)},"))
    assert f"float tile_acc[{tm}][{tn}];" in render_program(fixed, "opencl")
    assert launch_plan(fixed, "opencl")[0].global_size == tiled_global(512, 512, tm, tn)


def test_a_kind_the_kernel_cannot_run_as_is_refused_naming_both():
    fn, args, _, _ = CASES["matmul"]
    program = map_gpu(gpu_program(fn, *args), "opencl")
    kernel = program.kernels[0]
    bad = dataclasses.replace(
        program, kernels=[dataclasses.replace(
            kernel, schedule=dataclasses.replace(kernel.schedule, gpu=GpuLaunch("vector", 2048, coarsen=4, collapse=2)))]
    )
    with pytest.raises(TcompBackendError, match=r"gpu=\{kind: vector, global: 2048, collapse: 2, "
                       r"coarsen: 4\}, but on opencl it cannot run so: its nest is not lets and "
                       r"stores.*map-gpu would choose gpu=\{kind: tiled_matmul"):
        launch_plan(bad, "opencl")
    half_fn, half_args, _, _ = CASES["half_matmul_cuda"]
    half = map_gpu(gpu_program(half_fn, *half_args), "cuda")
    with pytest.raises(TcompBackendError, match="kind: tensor_core.*on opencl it cannot run so: "
                       "no 16-bit contraction for tensor cores"):
        render_program(half, "opencl")  # OpenCL has no tensor cores


@pytest.mark.parametrize("launch, message", [
    (GpuLaunch("group_reduction", 1000, 256), "does not divide the global size 1000"),
    (GpuLaunch("nest", 0), "global_size = 0, not >= 1"),
    (GpuLaunch("nest", 64, 64), "a nest launch has local size 64"),
    (GpuLaunch("group_reduction", 512, None), "a group_reduction launch has local size None"),
    (GpuLaunch("warp_magic", 64), "gpu kind 'warp_magic' is not one of"),
])
def test_the_verifier_checks_a_launch(launch, message):
    program = map_gpu(gpu_program(softmax, np.ones((8, 1000), F32)), "opencl")
    kernel = program.kernels[0]
    kernel.schedule = dataclasses.replace(kernel.schedule, gpu=launch)
    with pytest.raises(TcompVerifyError, match=message):
        verify_program(program, "map-gpu")


@pytest.mark.parametrize("text, message", [
    ("gpu={kind: nest}", "gpu: the launch needs global"),
    ("gpu={kind: fastest, global: 4}", "gpu: unknown kind 'fastest'"),
    ("gpu={kind: nest, global: 4, speed: 2}",
     "expected kind, global, local, collapse, tm, tn or coarsen"),
    ("gpu={kind: nest, global: 4, global: 8}", "gpu: global is given twice"),
])
def test_bad_launch_text_is_a_parse_error(text, message):
    program = map_gpu(gpu_program(lambda x: x * 2.0, np.ones(4, F32)), "opencl")
    good = print_program(program)
    line = next(ln for ln in good.splitlines() if "schedule {" in ln)
    bad = good.replace(line, line[: line.index("schedule {")] + "schedule {" + text + "}")
    with pytest.raises(TcompParseError, match=message):
        parse_program(bad)


def test_opt_runs_map_gpu_as_the_last_pass(tmp_path):
    a = np.ones((64, 64), F32)
    source = tmp_path / "mm.tir"
    source.write_text(tcomp.jit(lambda x, y: x @ y).lower(a, a).as_text("traced"))
    command = [sys.executable, "-m", "tcomp", "opt", str(source), "-p"]
    good = subprocess.run(command + ["fuse,split-reductions{parts=1024},plan-memory,map-gpu-cuda"],
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert "gpu={kind: tiled_matmul, global: " in good.stdout
    misplaced = subprocess.run(command + ["fuse,map-gpu-cuda,plan-memory"],
                               capture_output=True, text=True)
    assert misplaced.returncode == 2
    assert "map-gpu-cuda is a backend pass: it ends a kernel pipeline" in misplaced.stderr


def test_a_hand_tiled_matmul_runs_correctly_on_opencl():
    backend = tcomp.backends.registry.get_backend("opencl")
    try:
        backend.check_available()
    except tcomp.TcompError as error:
        pytest.skip(f"no OpenCL device: {error}")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((128, 64)).astype(F32), rng.standard_normal((64, 96)).astype(F32)
    program = map_gpu(gpu_program(lambda x, y: x @ y, a, b), "opencl")
    launch = program.kernels[0].schedule.gpu
    tm, tn = (2, 2) if (launch.tm, launch.tn) != (2, 2) else (1, 1)
    edited = parse_program(retiled(program, tm, tn).replace(
        f"global: {launch.global_size},", f"global: {tiled_global(128, 96, tm, tn)},"))
    executable = backend.compile_program(edited)
    assert (executable.program.kernels[0].schedule.gpu.tm, executable.program.kernels[0].schedule.gpu.tn) == (tm, tn)
    (out,) = executable([backend.from_host(a), backend.from_host(b)])
    np.testing.assert_allclose(backend.to_host(out), a @ b, rtol=1e-5, atol=1e-5)
