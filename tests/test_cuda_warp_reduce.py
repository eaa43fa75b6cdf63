"""Warp-shuffle reductions in the CUDA dialect (``Dialect.warp_shuffle``).

A work-group reduction combines its partials in local memory while more than
32 remain, then finishes within warp 0 with ``__shfl_down_sync`` (a group of
32 or fewer shuffles all the way and broadcasts with ``__shfl_sync``); OpenCL
keeps the local-memory tree. No GPU runs here, so:

- the rendered CUDA of row softmax, layer_norm, row sums / max over 1000 and
  4096 columns and a 0-d sum, in float32 / float64 / float16 / bfloat16,
  holds the shuffle, outside any ``if (tc_lid < tc_s)``; argmax is not a
  group reduction (one work-item per row) and renders without one;
- the OpenCL text of the same programs has no shuffle and the local-memory
  tree down to ``tc_s > 0``;
- groups of 64, 32, 16 and 2 (a patched ``MAX_GROUP_SIZE``) render the right
  masks and widths;
- a numpy model of the emitted order (local steps, then shuffles with CUDA's
  out-of-range rule: a lane whose source lane is past the width keeps its own
  value) gives bit-for-bit the local-memory tree's result;
- everything compiles to machine code for sm_80 and sm_90 with ``--fmad=false``
  (one ``nvcc -fatbin`` call; skipped without nvcc).
"""

from __future__ import annotations

import re
import shutil

import ml_dtypes
import numpy as np
import pytest
from nvcc_check import nvcc_fatbin

import tcomp
from tcomp import nn
from tcomp.backends.cfamily import CUDA, render_program
from tcomp.backends.cfamily import mapping as mapping_module
from tcomp.backends.cfamily.exprs import ExprRenderer
from tcomp.backends.cfamily.helpers import render_helpers
from tcomp.backends.cfamily.mapping import Accumulator, GroupStep, identity
from tcomp.backends.cfamily.render import _BodyWriter
from tcomp.ir.kernel.expr import Var
from tcomp.ir.kernel.kernel import Let
from tcomp.ir.kernel.lowering import lower_function

DTYPES = {
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
}
SHUFFLE = "__shfl_down_sync(0xffffffffu, "


def _row_sum(x):
    return np.sum(x, axis=-1)


def _row_max(x):
    return np.max(x, axis=-1)


def _row_argmax(x):
    return np.argmax(x, axis=-1)


def _softmax(x):
    return nn.softmax(x, axis=-1)


def _layer_norm(x, w, b):
    return nn.layer_norm(x, w, b)


def _sum_all(x):
    return np.sum(x)


def _args(case: str, columns: int, dtype: np.dtype) -> list[np.ndarray]:
    if case == "layer_norm":
        return [np.zeros((4, columns), dtype), np.ones(columns, dtype), np.zeros(columns, dtype)]
    if case == "sum_all":
        return [np.zeros((3, columns), dtype)]
    return [np.zeros((4, columns), dtype)]


CASES = {
    "row_sum": _row_sum, "row_max": _row_max, "row_argmax": _row_argmax,
    "softmax": _softmax, "layer_norm": _layer_norm, "sum_all": _sum_all,
}
GROUP_CASES = [name for name in CASES if name != "row_argmax"]
PARAMS = [
    (case, columns, dtype) for case in CASES for columns in (1000, 4096) for dtype in DTYPES
]


def program_of(case: str, columns: int, dtype: str):
    fn = CASES[case]
    args = _args(case, columns, DTYPES[dtype])
    function = tcomp.jit(fn, backend="reference").lower(*args).function("optimized")
    program = lower_function(function)
    program.name = f"{case}_{columns}_{dtype}"
    return program


def _shuffles_outside_conditions(source: str) -> None:
    """No shuffle sits in the body of an ``if (tc_lid < tc_s)`` (which would leave
    lanes of warp 0 out of the full-mask shuffle)."""
    depth_of_partial_if = None
    depth = 0
    for line in source.splitlines():
        if "if (tc_lid < tc_s)" in line:
            depth_of_partial_if = depth
        if "__shfl" in line:
            assert depth_of_partial_if is None, line
        depth += line.count("{") - line.count("}")
        if depth_of_partial_if is not None and depth <= depth_of_partial_if:
            depth_of_partial_if = None


@pytest.mark.parametrize("case,columns,dtype", PARAMS)
def test_cuda_group_reductions_finish_with_warp_shuffles(case, columns, dtype):
    program = program_of(case, columns, dtype)
    cu = render_program(program, "cuda")
    cl = render_program(program, "opencl")
    assert "__shfl" not in cl
    if case == "row_argmax":  # a serial loop per row: not a work-group reduction
        assert "__shfl" not in cu and "tc_red_" not in cu
        return
    reductions = cu.count("tc_s >= 32; tc_s >>= 1")
    assert reductions >= 1
    assert cu.count(SHUFFLE) == reductions  # one shuffle loop per reduced accumulator
    assert cu.count("if (tc_lid < 32) {") == reductions
    assert "tc_s > 0;" not in cu and "tc_s > 0;" in cl
    _shuffles_outside_conditions(cu)
    if dtype == "float64":
        assert re.search(r"const double tc_o_\w+ = __shfl_down_sync", cu)
    if case == "row_max" and dtype != "float64":
        assert re.search(r"(\w+) = tc_max_f32\(\1, tc_o_\1\);", cu)


@pytest.mark.parametrize(
    "size,mask,width", [(64, "0xffffffffu", ""), (32, "0xffffffffu", ""), (16, "0xffffu", ", 16"),
                        (2, "0x3u", ", 2")],
)
def test_small_groups_shuffle_with_their_own_lanes(monkeypatch, size, mask, width):
    monkeypatch.setattr(mapping_module, "MAX_GROUP_SIZE", size)
    program = program_of("row_sum", 1000, "float32")
    cu = render_program(program, "cuda")
    assert f"__launch_bounds__({size})" in cu
    if size > 32:
        assert "tc_s = 32; tc_s >= 32" in cu and "if (tc_lid < 32)" in cu
        return
    assert "__shared__" not in cu and "__syncthreads" not in cu and "tc_red_" not in cu
    assert f"for (int tc_w = {size // 2}; tc_w > 0; tc_w >>= 1)" in cu
    assert re.search(rf"__shfl_down_sync\({mask}, (\w+), tc_w{width}\)", cu)
    assert re.search(rf"(\w+) = __shfl_sync\({mask}, \1, 0{width}\);", cu)
    _shuffles_outside_conditions(cu)


def test_group_of_one_needs_no_combine(monkeypatch):
    monkeypatch.setattr(mapping_module, "MAX_GROUP_SIZE", 1)
    cu = render_program(program_of("row_sum", 1000, "float32"), "cuda")
    assert "__shfl" not in cu and "__syncthreads" not in cu


@pytest.mark.parametrize(
    "dtype,op,expected",
    [
        ("float16", "add", "acc = tc_round_f16(acc + tc_o_acc);"),
        ("bfloat16", "mul", "acc = tc_round_bf16(acc * tc_o_acc);"),
        ("float16", "max", "acc = tc_max_f32(acc, tc_o_acc);"),
        ("float64", "min", "acc = tc_min_f64(acc, tc_o_acc);"),
        ("int32", "add", "acc = (int)((unsigned int)acc + (unsigned int)tc_o_acc);"),
        ("index", "max", "acc = tc_max_i64(acc, tc_o_acc);"),
        ("bool", "or", "acc = acc || tc_o_acc;"),
    ],
)
def test_every_combine_is_shuffled_through_its_own_variable(dtype, op, expected):
    """The combine is the local-memory tree's (NaN-propagating max/min helpers, the
    16-bit rounding of a half sum or product, wrapping int32); the shuffled value is
    a variable first, so a short-circuit ``||`` / ``&&`` cannot skip a shuffle."""
    exprs = ExprRenderer(CUDA)
    lines: list[str] = []
    acc = Accumulator(Var("acc", dtype), op)
    step = GroupStep("reduce", Let(acc.var, identity(op, dtype)), (), (acc,))
    _BodyWriter(exprs, lines).warp_combine(step, 256)
    text = "\n".join(lines)
    assert expected in text, text
    ctype = exprs.ctype(dtype)
    if dtype == "bool":
        assert "const bool tc_o_acc = (__shfl_down_sync(0xffffffffu, (int)acc, tc_w) != 0);" in text
        assert "tc_red_acc[0] = (unsigned char)acc;" in text
    else:
        assert f"const {ctype} tc_o_acc = __shfl_down_sync(0xffffffffu, acc, tc_w);" in text


# -- a model of the emitted order ---------------------------------------------


def _local_tree(values: np.ndarray, op) -> np.generic:
    s = values.copy()
    step = len(s) // 2
    while step > 0:
        s[:step] = op(s[:step], s[step : 2 * step])
        step //= 2
    return s[0]


def _warp_tree(values: np.ndarray, op) -> np.generic:
    """What the CUDA text computes: local steps down to 32, then shuffle steps on
    ``min(size, 32)`` lanes, where lane ``l`` gets ``op(v[l], v[l + w])`` and keeps
    its own value when ``l + w`` is past the width (CUDA's rule)."""
    s = values.copy()
    size = len(s)
    step = size // 2
    while step >= 32:
        s[:step] = op(s[:step], s[step : 2 * step])
        step //= 2
    lanes = min(size, 32)
    v = s[:lanes].copy()
    w = lanes // 2
    while w > 0:
        other = np.concatenate([v[w:], v[lanes - w :]])  # lanes past the width: own value
        other[lanes - w :] = v[lanes - w :]
        v = op(v, other)
        w //= 2
    return v[0]


@pytest.mark.parametrize("size", [1, 2, 16, 32, 64, 128, 256])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_the_shuffle_order_is_the_local_tree_bit_for_bit(size, dtype):
    rng = np.random.default_rng(size)
    values = (rng.standard_normal(size) * 1000).astype(dtype)
    values[rng.integers(0, size)] = np.nan if size > 8 else values[0]
    for op in (np.add, np.maximum, np.minimum, np.multiply):
        with np.errstate(over="ignore", invalid="ignore"):
            expected, got = _local_tree(values, op), _warp_tree(values, op)
        assert np.array_equal(np.asarray(expected), np.asarray(got), equal_nan=True)
        assert np.asarray(expected).tobytes() == np.asarray(got).tobytes()


# -- nvcc -------------------------------------------------------------------------


COMBINES = {
    "bool": ("and", "or", "max", "min", "add", "mul"), "int32": ("add", "mul", "max", "min"),
    "index": ("add", "max", "min"), "float16": ("add", "mul", "max", "min"),
    "bfloat16": ("add", "mul", "max", "min"), "float64": ("add", "mul", "max", "min"),
    "float32": ("add", "mul", "max", "min"),
}


def _combine_kernels() -> str:
    """One kernel per (dtype, op, group size) around a bare warp_combine: every shuffle
    overload the renderer can ask for (bool as int, long long, double...)."""
    exprs = ExprRenderer(CUDA)
    kernels = []
    for dtype, ops in COMBINES.items():
        t = exprs.ctype(dtype)
        for op in ops:
            for size in (256, 32, 8):
                acc = Accumulator(Var("acc", dtype), op)
                step = GroupStep("reduce", Let(acc.var, identity(op, dtype)), (), (acc,))
                lines = [f'extern "C" __global__ void c_{dtype}_{op}_{size}(double* out) {{']
                writer = _BodyWriter(exprs, lines)
                writer.group_arrays((step,), size)
                lines.append("  const long long tc_lid = (long long)threadIdx.x;")
                lines.append(f"  {t} acc = ({t})(out[tc_lid] != 0);")
                writer.warp_combine(step, size)
                lines += ["  out[tc_lid] = (double)acc;", "}"]
                kernels.append("\n".join(lines) + "\n")
    return CUDA.header + render_helpers(exprs.used, CUDA) + "\n".join(kernels)


def _all_sources(monkeypatch) -> str:
    parts = [f"namespace combines {{\n{_combine_kernels()}}}\n"]
    number = 0
    for case, columns, dtype in PARAMS:
        parts.append(f"namespace p{number} {{\n{render_program(program_of(case, columns, dtype), 'cuda')}}}\n")
        number += 1
    for size in (32, 16, 2):
        monkeypatch.setattr(mapping_module, "MAX_GROUP_SIZE", size)
        for case in GROUP_CASES:
            program = program_of(case, 1000, "float32")
            program.name += f"_group{size}"
            parts.append(f"namespace p{number} {{\n{render_program(program, 'cuda')}}}\n")
            number += 1
    return "".join(parts)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_warp_reductions_compile_to_machine_code(tmp_path, monkeypatch):
    """sm_80 and sm_90 in one nvcc call (tests/nvcc_check.py)."""
    path = tmp_path / "all.cu"
    path.write_text(_all_sources(monkeypatch))
    result = nvcc_fatbin(path, CUDA.compile_options)
    assert result.returncode == 0, result.stderr[-4000:]
    assert path.with_suffix(".fatbin").stat().st_size > 0
