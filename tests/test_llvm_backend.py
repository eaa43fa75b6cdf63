"""The llvm backend on hand-built kernel-IR programs, checked against the kernel interpreter.

Each test builds a small :class:`Program`, compiles it with
:class:`LLVMExecutable` and compares its outputs with
``kernel_interpreter.run_program`` (the kernel IR's specification): exactly
for integers, bools and data movement, to a few ulps for transcendentals.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from tcomp.backends.llvm.backend import LLVMExecutable, aligned_empty  # noqa: E402
from tcomp.backends.llvm.runtime import compile_module  # noqa: E402
from tcomp.backends.reference.kernel_interpreter import run_program  # noqa: E402
from tcomp.ir.kernel.expr import (  # noqa: E402
    INDEX,
    Load,
    Var,
    add,
    binary,
    cast,
    clamp_index,
    const,
    const_index,
    floordiv,
    mod,
    mul,
    select,
    unary,
)
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
from tcomp.ir.types import TensorType, numpy_dtype  # noqa: E402

FLOATS = ("float16", "float32", "float64")
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.75, 1e-3, -7e-5, 20.0, -30.0, 88.0, -100.0,
           1e30, np.inf, -np.inf, np.nan, 65504.0, 1e-8, 2.0]


def _elementwise(
    fn, dtypes: list[str], n: int, out_dtype: str | None = None, schedule: Schedule | None = None
) -> Program:
    """out[i] = fn(p0[i], p1[i], ...) over n elements."""
    i = Var("i0", INDEX, n)
    loads = [Load(f"p{k}", i, d) for k, d in enumerate(dtypes)]
    value = fn(*loads)
    out_dtype = out_dtype or value.dtype
    args = tuple(KernelArg(f"p{k}", d, n, "in") for k, d in enumerate(dtypes))
    args += (KernelArg("out", out_dtype, n, "out"),)
    kernel = Kernel("k0", args, (Loop(i, (Store("out", i, value),)),), schedule or Schedule())
    buffers = {f"p{k}": ProgramBuffer(f"p{k}", TensorType((n,), d), "param")
               for k, d in enumerate(dtypes)}
    buffers["out"] = ProgramBuffer("out", TensorType((n,), out_dtype), "output")
    return Program("f", buffers, [f"p{k}" for k in range(len(dtypes))], ["out"], [kernel])


def _run(program: Program, inputs, num_threads: int = 1):
    executable = LLVMExecutable(program, num_threads)
    return executable(inputs), run_program(program, inputs)


def _check(got, want, exact: bool = True, rtol: float = 1e-6, atol: float = 0.0):
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        if exact or g.dtype.kind not in "f":
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64),
                                       rtol=rtol, atol=atol, equal_nan=True)


def _float_data(dtype: str, size: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore"):
        values = np.array(SPECIAL + list(rng.normal(0, 3, size)), dtype=numpy_dtype(dtype))
    return values


def _tolerance(dtype: str) -> float:
    return {"float16": 2e-3, "float32": 2e-6, "float64": 1e-14}[dtype]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["neg", "abs", "sign", "sqrt", "isnan"])
def test_exact_float_unary(op, dtype):
    x = _float_data(dtype)
    program = _elementwise(lambda a: unary(op, a), [dtype], x.size)
    _check(*_run(program, [x]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["exp", "log", "tanh", "sin", "cos", "logistic"])
def test_transcendental_unary(op, dtype):
    x = _float_data(dtype)
    if op in ("sin", "cos"):
        x = np.where(np.abs(x) > 1e4, np.asarray(1.0, x.dtype), x)  # libm vs numpy far out
    program = _elementwise(lambda a: unary(op, a), [dtype], x.size)
    got, want = _run(program, [x])
    _check(got, want, exact=False, rtol=_tolerance(dtype), atol=_tolerance(dtype) * 1e-3)
    np.testing.assert_array_equal(np.isnan(got[0]), np.isnan(want[0]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "max", "min",
                                "eq", "ne", "lt", "le", "gt", "ge"])
def test_exact_float_binary(op, dtype):
    x = _float_data(dtype, seed=1)
    y = np.roll(_float_data(dtype, seed=2), 3)
    program = _elementwise(lambda a, b: binary(op, a, b), [dtype, dtype], x.size)
    _check(*_run(program, [x, y]))


@pytest.mark.parametrize("dtype", FLOATS)
def test_pow(dtype):
    x = np.abs(_float_data(dtype, seed=1))
    y = np.roll(_float_data(dtype, seed=2), 3) / 4
    program = _elementwise(lambda a, b: binary("pow", a, b), [dtype, dtype], x.size)
    got, want = _run(program, [x, y])
    _check(got, want, exact=False, rtol=_tolerance(dtype), atol=1e-30)


def _int_data(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    edge = [0, 1, -1, 2, -2, 7, -7, 2**31 - 1, -(2**31), 100, -100, 3, -3]
    return np.array(edge + list(rng.integers(-50, 50, 30)), dtype=np.int32)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "max", "min",
                                "eq", "ne", "lt", "le", "gt", "ge"])
def test_int_binary(op):
    x, y = _int_data(1), np.roll(_int_data(2), 5)
    program = _elementwise(lambda a, b: binary(op, a, b), ["int32", "int32"], x.size)
    with np.errstate(over="ignore"):
        _check(*_run(program, [x, y]))


@pytest.mark.parametrize("op", ["floordiv", "mod"])
def test_int_division_floors(op):
    x = _int_data(1)
    y = np.roll(_int_data(2), 5)
    y[y == 0] = 3
    y[x == -(2**31)] = 7  # INT_MIN // -1 overflows in the interpreter
    program = _elementwise(lambda a, b: binary(op, a, b), ["int32", "int32"], x.size)
    _check(*_run(program, [x, y]))


def test_int_division_by_zero_and_minus_one_do_not_trap():
    x = np.array([7, -7, 0, -(2**31), 5, -(2**31)], np.int32)
    y = np.array([0, 0, 0, -1, -1, 0], np.int32)
    for op, expected in (("floordiv", [0, 0, 0, -(2**31), -5, 0]), ("mod", [0] * 6)):
        program = _elementwise(lambda a, b: binary(op, a, b), ["int32", "int32"], x.size)
        got = LLVMExecutable(program)([x, y])[0]
        np.testing.assert_array_equal(got, np.array(expected, np.int32))


@pytest.mark.parametrize("op", ["neg", "abs", "sign"])
def test_int_unary(op):
    x = _int_data(3)
    program = _elementwise(lambda a: unary(op, a), ["int32"], x.size)
    with np.errstate(over="ignore"):
        _check(*_run(program, [x]))


@pytest.mark.parametrize("op", ["and", "or", "eq", "ne", "lt", "le", "gt", "ge"])
def test_bool_binary(op):
    x = np.array([True, True, False, False] * 3)
    y = np.array([True, False, True, False] * 3)
    program = _elementwise(lambda a, b: binary(op, a, b), ["bool", "bool"], x.size)
    _check(*_run(program, [x, y]))


def test_bool_not_and_select():
    x = np.array([True, False, True, False, True])
    a = np.arange(5, dtype=np.float32)
    b = -np.arange(5, dtype=np.float32)
    program = _elementwise(
        lambda c, p, q: select(unary("not", c), p, q), ["bool", "float32", "float32"], 5
    )
    _check(*_run(program, [x, a, b]))


CAST_DTYPES = ("float16", "float32", "float64", "int32", "bool")


@pytest.mark.parametrize("source", CAST_DTYPES)
@pytest.mark.parametrize("target", CAST_DTYPES)
def test_casts(source, target):
    if source in FLOATS:
        with np.errstate(over="ignore", invalid="ignore"):
            x = _float_data(source, seed=4) * np.asarray(7, numpy_dtype(source))
            if target == "int32":  # in range for the interpreter
                x = np.where(np.abs(x.astype(np.float64)) < 2e9, x, np.asarray(0, x.dtype))
    elif source == "int32":
        x = _int_data(5)
    else:
        x = np.array([True, False, True])
    program = _elementwise(lambda a: cast(a, target), [source], x.size)
    with np.errstate(all="ignore"):
        _check(*_run(program, [x]))


def test_float_to_int_out_of_range_matches_numpy():
    for dtype in FLOATS:
        x = np.array([np.nan, np.inf, -np.inf, 3e9 if dtype != "float16" else 6e4, -3.7, 2.9],
                     numpy_dtype(dtype))
        program = _elementwise(lambda a: cast(a, "int32"), [dtype], x.size)
        got = LLVMExecutable(program)([x])[0]
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(got, x.astype(np.int32))


def test_double_to_half_rounds_once():
    # values next to half-way points between halves, where double rounding would err
    half = np.arange(1, 2048, dtype=np.float16)
    halfway = (half.astype(np.float64) + np.nextafter(half, np.float16(np.inf)).astype(np.float64)) / 2
    x = np.concatenate([halfway * (1 + 2**-40), halfway * (1 - 2**-40), halfway])
    program = _elementwise(lambda a: cast(a, "float16"), ["float64"], x.size)
    got = LLVMExecutable(program)([x])[0]
    np.testing.assert_array_equal(got, x.astype(np.float16))


def test_integer_index_arithmetic_transpose():
    # out[i, j] = x[j, i] through one flat loop with // and %
    rows, cols = 5, 7
    i = Var("i0", INDEX, rows * cols)
    r, c = floordiv(i, const_index(cols)), mod(i, const_index(cols))
    value = Load("p0", add(mul(c, const_index(rows)), r), "float32")
    kernel = Kernel("t", (KernelArg("p0", "float32", 35, "in"), KernelArg("out", "float32", 35, "out")),
                    (Loop(i, (Store("out", i, value),)),))
    program = Program("f", {"p0": ProgramBuffer("p0", TensorType((cols, rows), "float32"), "param"),
                            "out": ProgramBuffer("out", TensorType((rows, cols), "float32"), "output")},
                      ["p0"], ["out"], [kernel])
    x = np.arange(35, dtype=np.float32).reshape(cols, rows)
    got, want = _run(program, [x])
    _check(got, want)
    np.testing.assert_array_equal(got[0], x.T)


def test_select_guards_an_out_of_range_load():
    # out[i] = i < 3 ? x[i] : -1 with x of 3 elements: the load must not run for i >= 3
    i = Var("i0", INDEX, 6)
    guarded = select(binary("lt", i, const_index(3)), Load("p0", i, "float32"), const(-1.0, "float32"))
    also = binary("and", binary("lt", i, const_index(3)),
                  binary("gt", Load("p0", i, "float32"), const(0.5, "float32")))
    kernel = Kernel("g", (KernelArg("p0", "float32", 3, "in"), KernelArg("out", "float32", 6, "out"),
                          KernelArg("m", "bool", 6, "out")),
                    (Loop(i, (Store("out", i, guarded), Store("m", i, also))),))
    program = Program("f", {"p0": ProgramBuffer("p0", TensorType((3,), "float32"), "param"),
                            "out": ProgramBuffer("out", TensorType((6,), "float32"), "output"),
                            "m": ProgramBuffer("m", TensorType((6,), "bool"), "output")},
                      ["p0"], ["out", "m"], [kernel])
    _check(*_run(program, [np.array([1.0, 0.25, 3.0], np.float32)]))


def test_gather_with_clamped_index():
    i = Var("i0", INDEX, 8)
    index = clamp_index(cast(Load("p1", i, "int32"), INDEX), 4)
    kernel = Kernel("g", (KernelArg("p0", "float64", 4, "in"), KernelArg("p1", "int32", 8, "in"),
                          KernelArg("out", "float64", 8, "out")),
                    (Loop(i, (Store("out", i, Load("p0", index, "float64")),)),))
    program = Program("f", {"p0": ProgramBuffer("p0", TensorType((4,), "float64"), "param"),
                            "p1": ProgramBuffer("p1", TensorType((8,), "int32"), "param"),
                            "out": ProgramBuffer("out", TensorType((8,), "float64"), "output")},
                      ["p0", "p1"], ["out"], [kernel])
    _check(*_run(program, [np.array([1.5, 2.5, 3.5, 4.5]), np.array([0, 3, -1, 9, 2, 1, -7, 4], np.int32)]))


def _reduction_program(op: str, dtype: str, rows: int, cols: int, parallel: bool = False) -> Program:
    i, r = Var("i0", INDEX, rows), Var("r0", INDEX, cols)
    acc = Var("acc0", dtype)
    start = {"add": 0.0, "max": -np.inf, "min": np.inf}[op]
    value = Load("p0", add(mul(i, const_index(cols)), r), dtype)
    body = (Loop(i, (Let(acc, const(start, dtype)),
                     Loop(r, (Assign(acc, binary(op, acc, value)),)),
                     Store("out", i, acc))),)
    kernel = Kernel("red", (KernelArg("p0", dtype, rows * cols, "in"), KernelArg("out", dtype, rows, "out")),
                    body, Schedule(parallel="i0" if parallel else None))
    return Program("f", {"p0": ProgramBuffer("p0", TensorType((rows, cols), dtype), "param"),
                         "out": ProgramBuffer("out", TensorType((rows,), dtype), "output")},
                   ["p0"], ["out"], [kernel])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["add", "max", "min"])
def test_reductions(op, dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 37)).astype(numpy_dtype(dtype))
    x[2, 5] = np.nan
    program = _reduction_program(op, dtype, 6, 37)
    got, want = _run(program, [x])
    _check(got, want, exact=op != "add", rtol=_tolerance(dtype) * 20, atol=_tolerance(dtype) * 20)
    assert np.isnan(got[0][2])


def test_let_and_assign_scalars_and_shadowing():
    # two blocks that declare the same local name with different types
    i = Var("i0", INDEX, 4)
    a, b = Var("t", "float32"), Var("t", "int32")
    x = Load("p0", i, "float32")
    body = (Loop(i, (Let(a, mul(x, x)), Assign(a, add(a, x)), Store("out", i, a))),
            Loop(i, (Let(b, cast(x, "int32")), Assign(b, mul(b, const(3, "int32"))),
                     Store("n", i, b))))
    kernel = Kernel("k", (KernelArg("p0", "float32", 4, "in"), KernelArg("out", "float32", 4, "out"),
                          KernelArg("n", "int32", 4, "out")), body)
    program = Program("f", {"p0": ProgramBuffer("p0", TensorType((4,), "float32"), "param"),
                            "out": ProgramBuffer("out", TensorType((4,), "float32"), "output"),
                            "n": ProgramBuffer("n", TensorType((4,), "int32"), "output")},
                      ["p0"], ["out", "n"], [kernel])
    _check(*_run(program, [np.array([1.5, -2.0, 3.25, 0.0], np.float32)]))


def _two_kernel_program(planned: bool) -> Program:
    """t = exp(x) (a temp), out = t * 2, plus an output naming a constant and the param."""
    n = 10
    i = Var("i0", INDEX, n)
    k0 = Kernel("k0", (KernelArg("p0", "float32", n, "in"), KernelArg("t", "float32", n, "out")),
                (Loop(i, (Store("t", i, unary("exp", Load("p0", i, "float32"))),)),))
    k1 = Kernel("k1", (KernelArg("t", "float32", n, "in"), KernelArg("c", "float32", n, "in"),
                       KernelArg("u", "int32", 3, "in"), KernelArg("out", "float32", n, "out")),
                (Loop(i, (Store("out", i, add(mul(Load("t", i, "float32"), Load("c", i, "float32")),
                                              cast(Load("u", const_index(2), "int32"), "float32"))),)),))
    buffers = {
        "p0": ProgramBuffer("p0", TensorType((n,), "float32"), "param"),
        "t": ProgramBuffer("t", TensorType((n,), "float32"), "temp", offset=128 if planned else None),
        "c": ProgramBuffer("c", TensorType((n,), "float32"), "constant",
                           data=np.linspace(-1, 1, n, dtype=np.float32)),
        "u": ProgramBuffer("u", TensorType((3,), "int32"), "constant",
                           data=np.array([4, 5, 6], np.int32)),
        "out": ProgramBuffer("out", TensorType((n,), "float32"), "output"),
    }
    return Program("f", buffers, ["p0"], ["out", "c", "p0", "out"], [k0, k1],
                   arena_bytes=256 if planned else 0)


@pytest.mark.parametrize("planned", [False, True])
def test_temps_constants_and_aliased_outputs(planned):
    program = _two_kernel_program(planned)
    x = np.linspace(-2, 2, 10, dtype=np.float32)
    got, want = _run(program, [x])
    _check(got, want, exact=False, rtol=2e-6)
    assert got[0] is got[3]
    np.testing.assert_array_equal(got[2], x)


def test_zero_size_and_zero_d():
    i = Var("i0", INDEX, 0)
    empty = Kernel("e", (KernelArg("p0", "float32", 0, "in"), KernelArg("out", "float32", 0, "out")),
                   (Loop(i, (Store("out", i, Load("p0", i, "float32")),)),))
    scalar = Kernel("s", (KernelArg("p1", "float64", 1, "in"), KernelArg("o2", "float64", 1, "out")),
                    (Store("o2", const_index(0), unary("tanh", Load("p1", const_index(0), "float64"))),))
    program = Program("f", {"p0": ProgramBuffer("p0", TensorType((0, 3), "float32"), "param"),
                            "p1": ProgramBuffer("p1", TensorType((), "float64"), "param"),
                            "out": ProgramBuffer("out", TensorType((0, 3), "float32"), "output"),
                            "o2": ProgramBuffer("o2", TensorType((), "float64"), "output")},
                      ["p0", "p1"], ["out", "o2"], [empty, scalar])
    got, want = _run(program, [np.zeros((0, 3), np.float32), np.array(0.5)])
    _check(got, want, exact=False, rtol=1e-15)
    assert got[1].shape == ()


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_parallel_kernels_match(threads):
    rows, cols = 1001, 257
    program = _reduction_program("add", "float64", rows, cols, parallel=True)
    x = np.random.default_rng(1).normal(size=(rows, cols))
    executable = LLVMExecutable(program, threads)
    assert ".parallel" in executable.llvm_ir
    got = executable([x])[0]
    np.testing.assert_allclose(got, x.sum(axis=1), rtol=1e-12, atol=1e-12)
    n = 300_007
    elementwise = _elementwise(lambda a: add(mul(a, a), const(1.0, "float32")), ["float32"], n,
                               schedule=Schedule(parallel="i0"))
    y = np.random.default_rng(2).normal(size=n).astype(np.float32)
    parallel = LLVMExecutable(elementwise, threads)
    assert ".parallel" in parallel.llvm_ir
    np.testing.assert_array_equal(parallel([y])[0], y * y + np.float32(1))


def test_parallel_loop_after_lets():
    rows, cols = 2000, 300
    program = _reduction_program("add", "float32", rows, cols, parallel=True)
    kernel = program.kernels[0]
    scale = Var("v0", "float32")
    loop = kernel.body[0]
    body = loop.body[:-1] + (Store("out", loop.var, mul(scale, loop.body[-1].value)),)
    kernel.body = (Let(scale, Load("p1", const_index(0), "float32")), Loop(loop.var, body))
    kernel.args += (KernelArg("p1", "float32", 1, "in"),)
    program.buffers["p1"] = ProgramBuffer("p1", TensorType((1,), "float32"), "param")
    program.params.append("p1")
    x = np.random.default_rng(4).normal(size=(rows, cols)).astype(np.float32)
    executable = LLVMExecutable(program, 2)
    assert ".parallel" in executable.llvm_ir
    got = executable([x, np.array([0.5], np.float32)])[0]
    np.testing.assert_allclose(got, 0.5 * x.sum(axis=1), rtol=1e-4, atol=1e-4)


def test_compiles_again_after_the_cache_is_cleared():
    from tcomp.backends.llvm.runtime import clear_cache

    program = _elementwise(lambda a: add(a, a), ["float32"], 5)
    first = LLVMExecutable(program)
    clear_cache()
    second = LLVMExecutable(program)
    assert first._compiled is not second._compiled
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(first([x])[0], second([x])[0])


def test_a_new_process_loads_object_code_from_the_disk_cache(monkeypatch, tmp_path):
    from tcomp.backends.llvm.runtime import clear_cache, disk_cache_stats

    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    program = _elementwise(lambda a: add(a, a), ["float32"], 7)
    x = np.arange(7, dtype=np.float32)
    clear_cache()
    cold = LLVMExecutable(program)
    assert not cold._compiled.disk_hit and disk_cache_stats().stores == 1
    clear_cache()  # as a fresh process would be
    warm = LLVMExecutable(program)
    assert warm._compiled.disk_hit and disk_cache_stats().hits == 1
    assert warm.as_text() == cold.as_text()
    np.testing.assert_array_equal(warm([x])[0], 2 * x)
    # a damaged entry is never loaded: it is rejected and compiled again
    (entry,) = (tmp_path / "llvm").iterdir()
    entry.write_bytes(entry.read_bytes()[:-3])
    clear_cache()
    rebuilt = LLVMExecutable(program)
    assert not rebuilt._compiled.disk_hit and disk_cache_stats().rejected == 1
    np.testing.assert_array_equal(rebuilt([x])[0], 2 * x)


def test_small_parallel_kernel_runs_inline():
    from tcomp.ir.kernel.lowering.schedule_cpu import schedule_cpu

    program = schedule_cpu(_reduction_program("add", "float32", 4, 3, parallel=True))
    assert program.kernels[0].schedule.parallel is None  # the pass decides, not the renderer
    assert ".parallel" not in LLVMExecutable(program, 4).llvm_ir


def test_pthread_fallback_matches():
    from tcomp.backends.llvm.render import render_text
    from tcomp.backends.llvm.runtime import compile_module, run

    rows, cols = 1000, 200
    program = _reduction_program("add", "float64", rows, cols, parallel=True)
    text = render_text(program, num_threads=3, threading="pthread")
    assert "pthread_create" in text
    x = np.random.default_rng(3).normal(size=(rows, cols))
    out = np.empty(rows)
    run(compile_module(text), [x.ctypes.data, out.ctypes.data])
    np.testing.assert_allclose(out, x.sum(axis=1), rtol=1e-12, atol=1e-12)


def test_compile_cache_and_texts():
    program = _two_kernel_program(True)
    first = LLVMExecutable(program)
    second = LLVMExecutable(_two_kernel_program(True))
    assert first._compiled is second._compiled
    assert first.compile_seconds > 0
    assert "define void @tcomp_main" in first.as_text()
    assert "define internal" in first.llvm_ir
    assert first.program is program
    assert compile_module(first.llvm_ir) is first._compiled


def test_aligned_empty_is_aligned():
    for shape in [(), (0,), (3, 5), (1000,)]:
        array = aligned_empty(shape, np.float32)
        assert array.shape == shape
        assert array.size == 0 or array.ctypes.data % 64 == 0


def test_registered_and_runs_a_jitted_function():
    pytest.importorskip("tcomp.ir.kernel.lowering")
    import tcomp
    from tcomp import nn
    from tcomp.backends.registry import available_backends, get_backend

    assert "llvm" in available_backends()
    backend = get_backend("llvm")
    assert backend.name == "llvm"

    def f(x, y):
        return nn.relu(x @ y).sum(axis=1), x * 2.0

    x = np.random.default_rng(5).normal(size=(5, 4)).astype(np.float32)
    y = np.random.default_rng(6).normal(size=(4, 3)).astype(np.float32)
    got = tcomp.jit(f, backend="llvm")(x, y)
    want = tcomp.jit(f, backend="reference")(x, y)
    for g, w in zip(got, want):
        assert g.backend == "llvm"
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_parallel_kernels_work_in_a_forked_child():
    import os
    import time

    rows, cols = 2000, 300
    executable = LLVMExecutable(_reduction_program("add", "float64", rows, cols, parallel=True), 2)
    x = np.random.default_rng(7).normal(size=(rows, cols))
    np.testing.assert_allclose(executable([x])[0], x.sum(axis=1), rtol=1e-12, atol=1e-12)
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 when the parallel kernel still agrees
        ok = np.allclose(executable([x])[0], x.sum(axis=1), rtol=1e-12, atol=1e-12)
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("a parallel kernel hung in a forked child")


def test_interpreter_agrees_on_int32_division_edge_cases():
    from tcomp.ir.kernel.expr import binary as make_binary

    x = np.array([7, -7, -(2**31), 5], np.int32)
    y = np.array([0, 2, -1, -3], np.int32)
    for op in ("floordiv", "mod"):
        program = _elementwise(lambda a, b: make_binary(op, a, b), ["int32", "int32"], 4)
        got, want = _run(program, [x, y])  # division by 0 gives 0, INT32_MIN // -1 wraps
        np.testing.assert_array_equal(got[0], want[0])
