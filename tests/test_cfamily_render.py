"""The C-family renderer (tcomp.backends.cfamily): OpenCL C and CUDA C source from kernel IR.

- golden sources for softmax, layer_norm, matmul+bias+relu, a 2-d elementwise
  chain (a collapsed nest), softmax over rows of 1000 and a 0-d sum
  (work-groups), a tiled matmul (local-memory tiles, register tiles) and a
  big elementwise nest (four indices per work-item)
  (``tests/golden/cfamily/*.cl`` / ``*.cu``; after an intended change,
  regenerate with ``TCOMP_UPDATE_GOLDEN=1 python -m pytest tests/test_cfamily_render.py``
  and review the diff like code);
- every primitive in float32 (or, without float32, its first dtype) lowers and
  renders in both dialects;
- the launch plan (function names, buffers in argument order, global and local size);
- CUDA sources compile with ``nvcc --ptx`` (one batched call), OpenCL sources
  pass ``gcc -fsyntax-only`` behind a prelude of #defines for OpenCL's
  qualifiers and builtins (work-group ones included). Both are checks that
  the text compiles, not of what it computes: running the kernels is the
  runtimes' test (and the mapping's rules are tests/test_cfamily_mapping.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kernel_lowering_helpers import one_op
from test_primitive_references import REF_CASES

import tcomp
from tcomp import nn
from tcomp.backends.cfamily import CUDA, launch_plan, render_program
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.kernel.lowering import lower_function
from tcomp.ir.primitives import PRIMITIVES
from tcomp.ir.primitives.collectives import COLLECTIVE_OPS  # tested in test_distributed_jit.py
from tcomp.ir.primitives.control_flow import CONTROL_FLOW_OPS

GOLDEN = Path(__file__).parent / "golden" / "cfamily"
UPDATE = os.environ.get("TCOMP_UPDATE_GOLDEN") == "1"
EXTENSIONS = {"opencl": "cl", "cuda": "cu"}
F32 = np.float32


def _softmax(x):
    return nn.softmax(x, axis=-1)


def _layer_norm(x, w, b):
    return nn.layer_norm(x, w, b)


def _matmul_bias_relu(x, w, b):
    return nn.relu(x @ w + b)


def _sum_all(x):
    return np.sum(x)


def _elementwise_chain(x, y):
    return np.tanh(x) * y + 1.0


CASES = {
    "elementwise_chain": (_elementwise_chain, [np.zeros((64, 100), F32), np.zeros(100, F32)]),
    "softmax": (_softmax, [np.zeros((8, 32), F32)]),
    "softmax_rows_of_1000": (_softmax, [np.zeros((16, 1000), F32)]),
    "layer_norm": (_layer_norm, [np.zeros((8, 32), F32), np.ones(32, F32), np.zeros(32, F32)]),
    "matmul_bias_relu": (
        _matmul_bias_relu,
        [np.zeros((8, 16), F32), np.zeros((16, 32), F32), np.zeros(32, F32)],
    ),
    # large enough for the tiled contraction (backends/cfamily/contraction.py)
    "tiled_matmul_bias_relu": (
        _matmul_bias_relu,
        [np.zeros((96, 48), F32), np.zeros((48, 80), F32), np.zeros(80, F32)],
    ),
    # a 0-d reduction: one work-group
    "sum_all": (_sum_all, [np.zeros((3, 100), F32)]),
    # a big elementwise nest: four indices per work-item
    "elementwise_coarsened": (_elementwise_chain, [np.zeros((256, 300), F32), np.zeros(300, F32)]),
}
FLOAT32_OPS = sorted(op for op, case in REF_CASES.items() if "float32" in case.accepts)
# the primitives without float32 (bitwise ops, shifts) render in the first dtype they take
OTHER_OPS = sorted(
    (op, case.accepts[0]) for op, case in REF_CASES.items() if "float32" not in case.accepts
)

# OpenCL C's qualifiers, types and builtins for a C compiler (syntax only)
OPENCL_AS_C = """\
#include <math.h>
#include <stdbool.h>
#define __kernel
#define __global
#define __constant const
#include <string.h>
typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
static inline uint as_uint(float f) { uint u; memcpy(&u, &f, 4); return u; }
static inline float as_float(uint u) { float f; memcpy(&f, &u, 4); return f; }
typedef unsigned long ulong;
static inline unsigned long get_global_id(unsigned int d) { (void)d; return 0; }
static inline unsigned long get_local_id(unsigned int d) { (void)d; return 0; }
static inline unsigned long get_group_id(unsigned int d) { (void)d; return 0; }
static inline unsigned long get_local_size(unsigned int d) { (void)d; return 1; }
#define CLK_LOCAL_MEM_FENCE 1
static inline void barrier(int flags) { (void)flags; }
#define __local static
#define reqd_work_group_size(x, y, z)
"""


def case_program(case: str):
    fn, args = CASES[case]
    function = tcomp.jit(fn, backend="reference").lower(*args).function("optimized")
    return lower_function(function)


def primitive_programs(op: str, examples: int = 3, dtype: str = "float32") -> list:
    """Programs of ``op`` alone on ``dtype`` inputs that hypothesis draws (deterministically)."""
    programs = []

    @settings(
        max_examples=examples, derandomize=True, database=None, deadline=None,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def collect(data):
        rng = np.random.default_rng(0)
        inputs, attrs = REF_CASES[op].make(data.draw, rng, dtype)
        programs.append(lower_function(one_op(op, inputs, attrs)))

    collect()
    return programs


@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_sources_match_the_golden_text(case, dialect):
    text = render_program(case_program(case), dialect)
    path = GOLDEN / f"{case}.{EXTENSIONS[dialect]}"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with TCOMP_UPDATE_GOLDEN=1 once"
    assert text == path.read_text(), (
        f"the {dialect} source of {case} changed; if intended, regenerate with "
        "TCOMP_UPDATE_GOLDEN=1 and review the diff"
    )


def test_the_render_cases_cover_every_primitive():
    covered = set(FLOAT32_OPS) | {op for op, _ in OTHER_OPS}
    assert covered == set(PRIMITIVES) - CONTROL_FLOW_OPS - COLLECTIVE_OPS  # no kernels


@pytest.mark.parametrize("op, dtype", [(op, "float32") for op in FLOAT32_OPS] + OTHER_OPS)
def test_every_primitive_renders_in_both_dialects(op, dtype):
    for program in primitive_programs(op, dtype=dtype):
        for dialect in EXTENSIONS:
            text = render_program(program, dialect)
            plan = launch_plan(program)
            assert len(plan) == len(program.kernels)
            for launch in plan:
                assert launch.function in text


def test_launch_plan_names_functions_buffers_and_sizes():
    program = case_program("softmax")
    (launch,) = launch_plan(program)
    assert launch.function == f"{program.name}_k0"
    assert launch.buffers == tuple(arg.name for arg in program.kernels[0].args)
    assert launch.global_size == 8  # the parallel loop over rows
    assert launch.buffers[0] == program.params[0]


def test_kernel_without_parallel_loop_runs_as_one_work_item():
    program = lower_function(one_op("reduce_sum", [np.ones(5, F32)], {"axes": (0,)}))
    plan = launch_plan(program)
    assert plan[0].global_size == 1
    assert "get_global_id" not in render_program(program, "opencl")


@pytest.mark.parametrize("dialect", sorted(EXTENSIONS))
def test_float16_is_stored_as_bits_and_computed_in_float(dialect):
    program = lower_function(one_op("exp", [np.ones(4, np.float16)]))
    text = render_program(program, dialect)
    half = "ushort" if dialect == "opencl" else "unsigned short"
    assert f"const {half}* " in text  # the buffers hold IEEE half bits
    assert "tc_round_f16(" in text and "tc_from_f16(" in text and "tc_to_f16(" in text


def test_unknown_dialect_is_a_clear_error():
    with pytest.raises(TcompBackendError, match="unknown dialect"):
        render_program(case_program("softmax"), "metal")


def _compile_set() -> dict[str, object]:
    """The golden cases, every float32 primitive (two draws) and every primitive in
    int32, bool and float64 (one draw): the programs the compile checks compile."""
    programs = {}
    for case in CASES:
        program = programs[case] = case_program(case)
        program.name = case  # unique: CUDA's extern "C" names ignore namespaces
    for op, case in sorted(REF_CASES.items()):
        for dtype in ("float32", "float64", "int32", "bool"):
            if dtype not in case.accepts:
                continue
            examples = 2 if dtype == "float32" else 1
            for number, program in enumerate(primitive_programs(op, examples, dtype)):
                program.name = f"{program.name}_{dtype}_{number}"
                programs[program.name] = program
    return programs


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_cuda_sources_compile_with_nvcc(tmp_path):
    """One nvcc call compiles every source to PTX (syntax and types, not results): the
    programs go into one file, each in its own C++ namespace (their helpers repeat)."""
    parts = [
        f"namespace program{number} {{\n{render_program(program, 'cuda')}}}\n"
        for number, program in enumerate(_compile_set().values())
    ]
    path = tmp_path / "all.cu"
    path.write_text("".join(parts))
    result = subprocess.run(
        ["nvcc", "--ptx", *CUDA.compile_options, "-o", str(tmp_path / "all.ptx"), str(path)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    ptx = (tmp_path / "all.ptx").read_text()
    assert ".entry softmax_k0" in ptx


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not on PATH")
def test_opencl_sources_pass_a_c_syntax_check(tmp_path):
    """OpenCL C compiled as C11 behind #defines for the OpenCL qualifiers and builtins
    (one gcc call): a check of syntax (and of most types), not of semantics."""
    files = []
    for number, program in enumerate(_compile_set().values()):
        path = tmp_path / f"program{number}.c"
        source = render_program(program, "opencl")
        source = "\n".join(
            line for line in source.splitlines() if not line.startswith("#pragma OPENCL")
        )
        path.write_text(OPENCL_AS_C + source + "\n")
        files.append(str(path))
    result = subprocess.run(
        ["gcc", "-fsyntax-only", "-std=c11", "-Wall", "-Werror", "-Wno-unused-function", "-Wno-unknown-pragmas",
         "-x", "c", *files],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
