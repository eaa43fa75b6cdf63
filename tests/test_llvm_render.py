"""The LLVM renderer alone: what the IR text of a kernel-IR program looks like.

These tests import only the renderer (llvmlite.ir), no JIT: the calling
convention, linkage, aliasing attributes, fast-math flags, constants and
the parallel split are checked on the text.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from tcomp.backends.llvm.render import buffer_layout, render_text  # noqa: E402
from tcomp.ir.kernel.expr import INDEX, Load, Var, add, binary, const, const_index, mul, unary  # noqa: E402
from tcomp.ir.kernel.kernel import (  # noqa: E402
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
from tcomp.ir.types import TensorType  # noqa: E402


def _program(parallel: bool = False, rows: int = 4, cols: int = 3, overlap: bool = False) -> Program:
    """k0: t[i] = sum_r log(p0[i, r]); k1: out[i] = t[i] * c[i] + s[i] (t and s arena temps).
    (log: a libm call; float32 exp is inline IR, see tests/test_llvm_inline_math.py)"""
    i, r = Var("i0", INDEX, rows), Var("r0", INDEX, cols)
    acc = Var("acc0", "float32")
    k0 = Kernel(
        "k0",
        (KernelArg("p0", "float32", rows * cols, "in"), KernelArg("t", "float32", rows, "out"),
         KernelArg("s", "float32", rows, "out")),
        (Loop(i, (Let(acc, const(0.0, "float32")),
                  Loop(r, (Assign(acc, add(acc, unary("log", Load("p0", add(mul(i, const_index(cols)), r), "float32")))),)),
                  Store("t", i, acc), Store("s", i, acc))),),
        Schedule(parallel="i0" if parallel else None),
    )
    k1 = Kernel(
        "k1",
        (KernelArg("t", "float32", rows, "in"), KernelArg("c", "float32", rows, "in"),
         KernelArg("s", "float32", rows, "in"), KernelArg("out", "float32", rows, "out")),
        (Loop(i, (Store("out", i, add(mul(Load("t", i, "float32"), Load("c", i, "float32")),
                                      Load("s", i, "float32"))),)),),
    )
    nbytes = rows * 4
    buffers = {
        "p0": ProgramBuffer("p0", TensorType((rows, cols), "float32"), "param"),
        "t": ProgramBuffer("t", TensorType((rows,), "float32"), "temp", offset=0),
        "s": ProgramBuffer("s", TensorType((rows,), "float32"), "temp",
                           offset=0 if overlap else nbytes),
        "c": ProgramBuffer("c", TensorType((rows,), "float32"), "constant",
                           data=np.arange(rows, dtype=np.float32)),
        "u": ProgramBuffer("u", TensorType((2,), "float32"), "temp"),
        "out": ProgramBuffer("out", TensorType((rows,), "float32"), "output"),
    }
    return Program("f", buffers, ["p0"], ["out"], [k0, k1], arena_bytes=2 * nbytes)


def test_layout_is_params_outputs_arena_then_unplanned_temps():
    layout = buffer_layout(_program())
    assert layout.slots == (("param", "p0"), ("output", "out"), ("arena", ""), ("temp", "u"))
    assert layout.arena_slot == 2 and layout.slot("u") == 3


def test_entry_kernels_and_constants():
    text = render_text(_program())
    assert re.search(r'define void @"tcomp_main"\(ptr %"buffers"\)', text)
    # kernels are never inlined (inlining made LLVM optimise each parallel kernel 3 times)
    kernels = re.findall(r'define internal void @"(kernel\d\.k\d)"\((.*)\) noinline nounwind', text)
    assert [name for name, _ in kernels] == ["kernel0.k0", "kernel1.k1"]
    assert all(args.count("noalias") == args.count("ptr") for _, args in kernels)
    assert re.search(r'@"const\.c" = internal constant \[16 x i8\].*align 64', text)
    assert 'call float @"llvm.log.f32"' in text
    # the kernels run in order from tcomp_main
    main = text[text.index('define void @"tcomp_main"'):]
    assert main.index('@"kernel0.k0"') < main.index('@"kernel1.k1"')


def test_fast_math_only_reassoc_on_accumulators():
    text = render_text(_program())
    assert re.search(r"fadd reassoc float", text)
    for flag in ("nnan", "ninf", " fast ", "nsz", "arcp", "contract", "afn"):
        assert flag not in text
    assert "fmul reassoc" not in text  # t * c is no accumulator


def test_overlapping_arena_temps_lose_noalias():
    text = render_text(_program(overlap=True))
    header = re.search(r'define internal void @"kernel0.k0"\((.*)\) noinline', text).group(1)
    assert 'noalias %"p0"' in header
    assert 'noalias %"t"' not in header and 'noalias %"s"' not in header


def test_parallel_split_only_when_threads_and_the_schedule_says_so():
    from tcomp.ir.kernel.lowering.schedule_cpu import schedule_cpu

    assert "pthread_create" not in render_text(_program(parallel=True), num_threads=1)
    # the renderer decides nothing: a schedule naming parallel is split, however small ...
    assert "pthread_create" in render_text(_program(parallel=True), num_threads=4)
    # ... and the schedule-cpu pass is what keeps small kernels on one thread
    small = schedule_cpu(_program(parallel=True))
    assert small.kernels[0].schedule.parallel is None
    assert "pthread_create" not in render_text(small, num_threads=4)
    big = schedule_cpu(_program(parallel=True, rows=4096, cols=64))
    assert big.kernels[0].schedule.parallel == "i0"
    text = render_text(big, num_threads=4)
    assert "pthread_create" in text and "pthread_join" in text
    assert re.search(r'define internal void @"kernel0.k0"\(.*i64 %"start", i64 %"end"\)', text)
    assert "pthread_create" not in render_text(_program(rows=4096, cols=64), num_threads=4)


def test_guarded_load_branches_instead_of_select():
    i = Var("i0", INDEX, 6)
    guard = binary("lt", i, const_index(3))
    kernel = Kernel("g", (KernelArg("p0", "float32", 3, "in"), KernelArg("out", "bool", 6, "out")),
                    (Loop(i, (Store("out", i, binary("and", guard, binary(
                        "gt", Load("p0", i, "float32"), const(0.0, "float32")))),)),))
    program = Program("f", {"p0": ProgramBuffer("p0", TensorType((3,), "float32"), "param"),
                            "out": ProgramBuffer("out", TensorType((6,), "bool"), "output")},
                      ["p0"], ["out"], [kernel])
    text = render_text(program)
    assert "phi  i1" in text or "phi i1" in text
    assert "zext i1" in text  # bools are bytes in memory


def test_libm_calls_name_their_vector_variants():
    from tcomp.backends.llvm.vecmath import available_variants

    table = available_variants({"avx2": True}, lambda symbol: True)
    assert table["llvm.exp.f32"] == [(8, "_ZGVdN8v_expf")]
    assert table["llvm.pow.f64"] == [(4, "_ZGVdN4vv_pow")]
    text = render_text(_program(), vector_functions=table)
    assert table["llvm.log.f32"] == [(8, "_ZGVdN8v_logf")]
    assert '"vector-function-abi-variant"="_ZGV_LLVM_N8v_llvm.log.f32(_ZGVdN8v_logf)"' in text
    assert 'declare <8 x float> @"_ZGVdN8v_logf"(<8 x float>' in text
    assert '@"llvm.compiler.used" = appending global [1 x ptr]' in text
    assert "vector-function-abi-variant" not in render_text(_program())


def test_gomp_split_falls_back_to_threads_after_fork():
    text = render_text(_program(parallel=True, rows=4096, cols=64), num_threads=2, threading="gomp")
    assert '@"tcomp_use_gomp" = external global i32' in text
    assert 'call void @"GOMP_parallel"' in text
    assert "pthread_create" in text  # the fallback once libgomp's pool is unusable
