"""The analyses of kernel IR (tcomp.ir.kernel.analysis): affine index terms, contraction
matching and overlapping temps, and the rule that renderers depend on them, not on the
graph-to-kernel lowering (importing a renderer imports no ``tcomp.ir.kernel.lowering``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tcomp
from tcomp.ir.kernel.analysis import (
    affine_terms,
    blocked_contraction,
    match_contraction,
    overlapping_temps,
)
from tcomp.ir.kernel.expr import INDEX, Binary, Const, Load, Var, const_index
from tcomp.ir.kernel.kernel import Kernel, KernelArg, Program, ProgramBuffer
from tcomp.ir.types import TensorType

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_renderers_does_not_import_the_lowering():
    pytest.importorskip("llvmlite")
    probe = (
        "import sys\n"
        "import tcomp.backends.cfamily.render, tcomp.backends.llvm.render\n"
        "found = sorted(m for m in sys.modules if m.startswith('tcomp.ir.kernel.lowering'))\n"
        "assert not found, found\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_affine_terms_of_an_index():
    i0, r0 = Var("i0", INDEX, 4), Var("r0", INDEX, 3)
    def op(name, a, b):
        return Binary(name, a, b, INDEX)

    index = op("add", op("add", op("mul", i0, const_index(3)), r0), const_index(2))
    assert affine_terms(index) == ({"i0": 3, "r0": 1}, 2)
    assert affine_terms(op("sub", i0, i0)) == ({}, 0)
    assert affine_terms(Const(5, "index")) == ({}, 5)
    assert affine_terms(Load("p0", i0, "int32")) is None


def _matmul_kernels(m: int, k: int, n: int) -> list[Kernel]:
    x = np.ones((m, k), np.float32)
    y = np.ones((k, n), np.float32)
    lowered = tcomp.jit(lambda a, b: a @ b, backend="llvm").lower(x, y)
    return lowered.kernel_program().kernels


def test_a_matmul_is_a_contraction_and_a_large_one_is_blocked():
    pytest.importorskip("llvmlite")
    (small,) = _matmul_kernels(4, 5, 6)
    match = match_contraction(small)
    assert match is not None and match.sizes == (4, 6, 5)
    assert blocked_contraction(small) is None  # too little work for the blocked schedule
    (large,) = _matmul_kernels(64, 64, 64)
    assert blocked_contraction(large) is not None


def test_overlapping_temps_are_those_sharing_arena_bytes():
    f32 = TensorType((4,), "float32")
    buffers = {
        "t1": ProgramBuffer("t1", f32, "temp", offset=0),
        "t2": ProgramBuffer("t2", f32, "temp", offset=8),  # bytes 8..24 overlap t1's 0..16
        "t3": ProgramBuffer("t3", f32, "temp", offset=64),
        "t4": ProgramBuffer("t4", f32, "output"),
    }
    args = tuple(KernelArg(name, "float32", 4, "in") for name in buffers)
    kernel = Kernel("k0", args, ())
    program = Program("f", buffers, [], ["t4"], [kernel], arena_bytes=128)
    assert overlapping_temps(program, kernel) == {"t1", "t2"}
    unplanned = Program("f", buffers, [], ["t4"], [kernel], arena_bytes=0)
    assert overlapping_temps(unplanned, kernel) == frozenset()


def test_parallel_loop_is_one_function_with_each_backend_minimum():
    from tcomp.ir.kernel.analysis import CPU_MIN_EXTENT, GPU_MIN_EXTENT, parallel_loop
    from tcomp.ir.kernel.parser import parse_kernel

    def kernel(extent):
        return parse_kernel(
            f"kernel k0(in %p0: f32[{extent}], out %t1: f32[{extent}]) {{\n"
            "  schedule {parallel=i0}\n"
            "  let c: f32 = 2.0:f32\n"
            f"  for i0 in 0..{extent} {{\n"
            "    %t1[i0] = %p0[i0] * c\n"
            "  }\n"
            "}\n"
        )

    one, many = kernel(1), kernel(8)
    assert parallel_loop(one, GPU_MIN_EXTENT) is one.body[-1]  # a GPU maps it to a work-item
    assert parallel_loop(one, CPU_MIN_EXTENT) is None  # nothing to split across threads
    assert parallel_loop(many, CPU_MIN_EXTENT) is many.body[-1]
    no_schedule = kernel(8)
    no_schedule.schedule = type(no_schedule.schedule)()
    assert parallel_loop(no_schedule) is None
