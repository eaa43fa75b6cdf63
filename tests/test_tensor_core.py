"""float16 and bfloat16 matmuls on tensor cores (backends/cfamily/tensor_core.py).

Three checks, none needing a GPU:

- which contractions take the tensor-core kernel (both operands one 16-bit
  float dtype, a float32 accumulator, big enough to be blocked; CUDA only);
- the rendered CUDA compiles with nvcc for sm_80 and sm_90 (``mma.sync``);
- the same kernel with ``tensor_cores="emulated"`` (the products computed in C
  from the very fragments ``mma.sync`` would get, exchanged through local
  memory) runs on the OpenCL CPU device against the reference: every index of
  the staging, the fragment layout and the epilogue is checked here, only the
  instruction itself waits for the GPU run.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from nvcc_check import nvcc_fatbin

import tcomp
from tcomp import nn
from tcomp.backends.cfamily.dialect import CUDA, OPENCL
from tcomp.backends.cfamily.tensor_core import tensor_core_contraction

BF16 = np.dtype(ml_dtypes.bfloat16)
MMA = "mma.sync.aligned.m16n8k16.row.col.f32"
HALVES = [np.dtype(np.float16), BF16]


def _arrays(dtype, *shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32).astype(dtype) for shape in shapes]


def _dense(x, w, b):
    return nn.relu(x @ w + b)


def _cuda_source(fn, *args) -> str:
    return tcomp.jit(fn, backend="cuda").lower(*args).as_text("source")


# ------------------------------------------------------------------------ which kernels


@pytest.mark.parametrize("dtype", HALVES, ids=str)
def test_half_matmuls_take_tensor_cores_on_cuda(dtype):
    x, w, b = _arrays(dtype, (128, 96), (96, 80), (80,))
    source = _cuda_source(_dense, x, w, b)
    kind = "bf16" if dtype == BF16 else "f16"
    assert f"{MMA}.{kind}.{kind}.f32" in source
    assert "__launch_bounds__(128)" in source


def test_other_contractions_keep_the_float32_tiled_kernel():
    x, w, b = _arrays(np.float32, (128, 96), (96, 80), (80,))
    assert MMA not in _cuda_source(_dense, x, w, b)
    # mixed operands (a half with a float32) and small products stay off the tensor cores
    (h,) = _arrays(np.float16, (128, 96))
    assert MMA not in _cuda_source(lambda h, w: h.astype(tcomp.float32) @ w, h, w)
    small = _arrays(BF16, (8, 8), (8, 8))
    assert MMA not in _cuda_source(lambda a, b: a @ b, *small)
    # OpenCL devices have no mma.sync: the generic path
    x, w, b = _arrays(BF16, (128, 96), (96, 80), (80,))
    source = tcomp.jit(_dense, backend="opencl").lower(x, w, b).as_text("source")
    assert "mma" not in source


def test_only_the_modes_that_ask_for_it():
    x, w, b = _arrays(BF16, (128, 96), (96, 80), (80,))
    matmul = tcomp.jit(_dense, backend="cuda").lower(x, w, b).kernel_program().kernels[0]
    assert tensor_core_contraction(matmul, "none") is None
    assert tensor_core_contraction(matmul, "mma") is not None
    assert CUDA.tensor_cores == "mma" and OPENCL.tensor_cores == "none"


# ------------------------------------------------------------------------ nvcc


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed here")
def test_tensor_core_kernels_compile_with_nvcc(tmp_path):
    """Each source for sm_80 and sm_90 in one nvcc call (tests/nvcc_check.py)."""
    sources = []
    for dtype in HALVES:
        x, w, b = _arrays(dtype, (200, 72), (72, 136), (136,))
        sources.append(_cuda_source(_dense, x, w, b))
        a, c = _arrays(dtype, (3, 64, 48), (3, 48, 40))
        sources.append(_cuda_source(lambda a, c: a @ c, a, c))
    for index, source in enumerate(sources):
        path = tmp_path / f"tc{index}.cu"
        path.write_text(source)
        done = nvcc_fatbin(path, ["--fmad=false"], timeout=300)
        assert done.returncode == 0, done.stderr + "\n" + source


# ------------------------------------------------------------------------ emulated, on OpenCL


@pytest.fixture(scope="module")
def emulated():
    """An OpenCL backend whose dialect emulates mma.sync (skips without OpenCL)."""
    from tcomp.backends.gpu.backend import GPUBackend
    from tcomp.backends.opencl.driver import OpenCLDriver
    from tcomp.ir.errors import TcompBackendError

    backend = GPUBackend("opencl", dataclasses.replace(OPENCL, tensor_cores="emulated"),
                         lambda: OpenCLDriver(None))
    try:
        backend.check_available()
    except TcompBackendError as error:
        pytest.skip(f"no OpenCL device: {error}")
    return backend


def _run(backend, fn, *args):
    from tcomp.frontend.jit import JitFunction

    jitted = JitFunction(fn, "reference", (), ())
    optimized = jitted.lower(*args).function("optimized")
    executable = backend.compile(optimized)
    assert "FA[warp][lane]" in executable.source, "the tensor-core kernel was not chosen"
    outputs = executable([backend.from_host(np.asarray(a)) for a in args])
    return [backend.to_host(out) for out in outputs], optimized


def _check(backend, fn, *args):
    from tcomp.backends.reference.executor import evaluate

    got, optimized = _run(backend, fn, *args)
    want = evaluate(optimized, [np.asarray(a) for a in args])
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g.astype(np.float32), w.astype(np.float32), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("dtype", HALVES, ids=str)
@pytest.mark.parametrize("m, k, n", [(64, 64, 64), (65, 33, 70), (37, 100, 129), (128, 40, 8)])
def test_emulated_tensor_cores_match_the_reference(emulated, dtype, m, k, n):
    a, b = _arrays(dtype, (m, k), (k, n), seed=m + n)
    _check(emulated, lambda a, b: a @ b, a, b)


@pytest.mark.parametrize("dtype", HALVES, ids=str)
def test_emulated_epilogue_transposes_and_batches(emulated, dtype):
    x, w, b = _arrays(dtype, (96, 40), (40, 72), (72,), seed=1)
    _check(emulated, _dense, x, w, b)
    wt = np.ascontiguousarray(w.T)
    _check(emulated, lambda x, wt: x @ wt.T, x, wt)
    xt = np.ascontiguousarray(x.T)
    _check(emulated, lambda xt, w: xt.T @ w, xt, w)
    p, q = _arrays(dtype, (3, 40, 48), (3, 48, 36), seed=2)
    _check(emulated, lambda p, q: p @ q, p, q)


# ------------------------------------------------------------------------ golden


GOLDEN = Path(__file__).parent / "golden" / "cfamily" / "tensor_core_matmul_bias_relu.cu"


def test_the_tensor_core_kernel_matches_its_golden_text():
    """A bfloat16 dense layer on tensor cores, as CUDA C: a change to the kernel shows as a
    diff here (regenerate with TCOMP_UPDATE_GOLDEN=1 after an intended change)."""
    x, w, b = _arrays(BF16, (128, 96), (96, 80), (80,))
    source = tcomp.jit(_dense, backend="cuda").lower(x, w, b).as_text("source")
    if os.environ.get("TCOMP_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(source)
    assert GOLDEN.exists(), f"no golden file {GOLDEN}: run with TCOMP_UPDATE_GOLDEN=1 once"
    assert source == GOLDEN.read_text(), "the tensor-core kernel changed: review the diff"
