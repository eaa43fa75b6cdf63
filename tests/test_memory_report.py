"""``Lowered.memory()``: inputs, outputs, the scratch arena and the residuals of a gradient.

The numbers are worked out by hand for a small MLP and its gradient
(``x``: f32[5,4], ``w1``: f32[4,8], ``w2``: f32[8,3]) on each backend; the
residuals are the values the forward pass computes and the backward pass
reads, told apart by the reverse pass's ``BackwardLocation``s.
"""

from __future__ import annotations

import numpy as np
import pytest

import tcomp
from tcomp.backends.registry import available_backends
from tcomp.ir.autodiff import BackwardLocation
from tcomp.ir.graph import Location
from tcomp.ir.text import parse_function, print_function


def mlp_loss(w1, w2, x):
    h = tcomp.maximum(x @ w1, 0.0)  # LINE_H: x @ w1 (f32[5,8]) and its relu (f32[5,8])
    out = h @ w2  # LINE_OUT: f32[5,3]
    return tcomp.mean(out * out)


def mlp_grads(w1, w2, x):
    return tcomp.grad(mlp_loss, argnums=(0, 1))(w1, w2, x)


def w1_grad(w1, w2, x):
    return tcomp.grad(mlp_loss)(w1, w2, x)


LINE_H = mlp_loss.__code__.co_firstlineno + 1
LINE_OUT = LINE_H + 1
F32 = 4  # bytes


def args():
    rng = np.random.default_rng(0)
    return (
        rng.standard_normal((4, 8)).astype(np.float32),
        rng.standard_normal((8, 3)).astype(np.float32),
        rng.standard_normal((5, 4)).astype(np.float32),
    )


def report(fn, backend: str):
    return tcomp.jit(fn, backend=backend).lower(*args()).memory()


def residual_rows(memory) -> list[tuple]:
    return [
        (r.op, r.shape, r.dtype, r.bytes, int(r.line.rsplit(":", 1)[1]), r.kept_in)
        for r in memory.residuals
    ]


# The kernels of mlp_grads on llvm (and opencl, whose pipeline fuses the same way):
#   k0 x @ w1 -> t3 [5,8]; k1 relu -> t7 [5,8]; k2 (out @ ...) the loss's cotangent -> t29 [5,3]
#   k3 dw2 = t7^T @ t29; k4 dh = t29 @ w2^T times relu's mask of t3 -> t43 [5,8]; k5 dw1.
# Temporaries 160, 160, 60, 160 B, each rounded up to 64 B in the arena: 192, 192, 64, 192.
# Live: t3 k0..k4, t7 k1..k3, t29 k2..k4, t43 k4..k5. First fit: t3 at 0, t7 at 192, t29 at
# 384 (end 448); at k4 t7 is dead, so t43 takes 192..384. Arena 448; at k2..k4 448 B live.
ARENA = 448
PEAK = 448
GPU_SCRATCH = 160 + 160 + 60 + 160  # one pool block per temporary, its exact bytes
RESIDUALS = [  # x @ w1, its relu, h @ w2 (fused into the kernel of the loss's cotangent)
    ("matmul", (5, 8), "float32", 5 * 8 * F32, LINE_H),
    ("max", (5, 8), "float32", 5 * 8 * F32, LINE_H),
    ("matmul", (5, 3), "float32", 5 * 3 * F32, LINE_OUT),
]
INPUTS = (4 * 8 + 8 * 3 + 5 * 4) * F32
OUTPUTS = (4 * 8 + 8 * 3) * F32  # dw1, dw2


def test_reference_residuals_and_no_memory_plan():
    memory = report(mlp_grads, "reference")
    assert (memory.input_bytes, memory.output_bytes) == (INPUTS, OUTPUTS)
    assert memory.arena_bytes is None and memory.peak_live_bytes is None
    assert residual_rows(memory) == [(*row, "-") for row in RESIDUALS]
    assert memory.residual_bytes == 380


def test_llvm_arena_and_residuals():
    memory = report(mlp_grads, "llvm")
    assert (memory.input_bytes, memory.output_bytes) == (INPUTS, OUTPUTS)
    assert (memory.arena_bytes, memory.peak_live_bytes, memory.scratch_bytes) == (
        ARENA,
        PEAK,
        ARENA,
    )
    kept = ["arena", "arena", "fused"]
    assert residual_rows(memory) == [(*row, k) for row, k in zip(RESIDUALS, kept)]
    assert memory.device_free_bytes is None and memory.device_total_bytes is None


def test_opencl_scratch_is_one_block_per_temporary():
    if "opencl" not in available_backends():
        pytest.skip("no OpenCL device here")
    memory = report(mlp_grads, "opencl")
    assert (memory.arena_bytes, memory.peak_live_bytes, memory.scratch_bytes) == (
        ARENA,
        PEAK,
        GPU_SCRATCH,
    )
    kept = ["temp", "temp", "fused"]
    assert residual_rows(memory) == [(*row, k) for row, k in zip(RESIDUALS, kept)]
    assert memory.device_total_bytes and memory.device_total_bytes > 0
    assert memory.device_free_bytes is None  # core OpenCL cannot tell free memory


@pytest.mark.parametrize("backend", ["reference", "llvm"])
def test_a_gradient_for_w1_alone_saves_no_activation(backend):
    # dw1 = x^T @ (dout @ w2^T * relu'(x @ w1)): reads x @ w1 and out, not relu's output
    rows = residual_rows(report(w1_grad, backend))
    assert [row[:5] for row in rows] == [RESIDUALS[0], RESIDUALS[2]]


def test_a_function_without_a_gradient_has_no_residuals():
    memory = report(mlp_loss, "llvm")
    assert memory.residuals == () and memory.output_bytes == F32
    assert "residuals: none" in str(memory)


def test_the_table_names_each_residual_and_line():
    text = str(report(mlp_grads, "llvm"))
    assert text.startswith("memory of mlp_grads on llvm (one call)\n")
    assert f"arena      {ARENA} B" in text
    assert "largest first: 3, 380 B" in text
    rows = [line.split() for line in text.splitlines() if line.startswith("  %")]
    assert [row[1:5] for row in rows] == [
        ["matmul", "f32[5,8]", "160", "arena"],
        ["max", "f32[5,8]", "160", "arena"],
        ["matmul", "f32[5,3]", "60", "fused"],
    ]
    assert [
        row[5].endswith(f"test_memory_report.py:{line}")
        for row, line in zip(rows, (LINE_H, LINE_H, LINE_OUT))
    ] == [True, True, True]


def test_backward_locations_are_equal_to_plain_ones_and_survive_no_text_round_trip():
    traced = tcomp.jit(mlp_grads).lower(*args()).function("traced")
    marked = [n for n in traced.nodes if isinstance(n.location, BackwardLocation)]
    assert marked and len(marked) < len(traced.nodes)
    location = marked[0].location
    plain = Location(location.file, location.line)
    assert plain == location and location == plain and hash(plain) == hash(location)
    again = parse_function(print_function(traced))
    assert again == traced  # the mark is not part of the IR's text or equality
    assert not any(isinstance(n.location, BackwardLocation) for n in again.nodes)
