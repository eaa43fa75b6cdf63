"""The looped bitonic network behind ``tcomp.sort``/``argsort``/``top_k``
(frontend/sort_network.py): long rows that are not powers of two, with ties, NaN,
infinities and both zeros, against numpy's stable sort on every backend and dtype; the
program keeps one loop and the same kernels whatever the row length; the unrolled
network (the other path) gives the same answers; gradients flow through the loop path
to the selected elements."""

from __future__ import annotations

import shutil
import subprocess

import ml_dtypes
import numpy as np
import pytest
from frontend_helpers import to_array

import tcomp
from tcomp.backends.cfamily import CUDA, launch_plan, map_gpu, render_program
from tcomp.errors import TcompFloat64Warning
from tcomp.frontend import sort_network
from tcomp.ir.kernel.passes import GPU_PIPELINE, lower

BF16 = np.dtype(ml_dtypes.bfloat16)


def tied_values(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Values drawn from a few, so that every row has long runs of ties; floats get NaN,
    both infinities and both zeros among them."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype == np.int32:
        pool = np.array([-(2**31), 2**31 - 1, -7, -1, 0, 1, 3, 40], dtype=np.int32)
    else:
        pool = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.5, 1.0, 2.0, 3.25])
    return pool[rng.integers(0, len(pool), size=shape)].astype(dtype)


def stable_argsort(x: np.ndarray, axis: int = -1) -> np.ndarray:
    # numpy sorts bfloat16 through float32 (the same order)
    keys = x.astype(np.float32) if x.dtype == BF16 else x
    return np.argsort(keys, axis=axis, kind="stable").astype(np.int32)


def descending_stable(x: np.ndarray) -> np.ndarray:
    """top_k's order of each row, independently of argsort: NaN first, then larger
    first, equal values lowest index first (a stable sort of -x with NaN moved first)."""
    keys = x.astype(np.float64)
    nan = np.isnan(keys)
    # primary key: not NaN (so NaN first); then -x; lexsort keeps ties in index order
    order = np.lexsort((np.where(nan, 0.0, -keys), ~nan), axis=-1)
    return order.astype(np.int32)


def assert_same_elements(got: np.ndarray, want: np.ndarray) -> None:
    """Equal values, NaN where NaN, and the same sign of each zero."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64))
    if want.dtype.kind == "f" or want.dtype == BF16:
        np.testing.assert_array_equal(
            np.signbit(got.astype(np.float32)), np.signbit(want.astype(np.float32))
        )


def test_long_rows_with_ties_and_nans_sort_stably(backend):
    rng = np.random.default_rng(5)
    x = tied_values(rng, (3, 5000), np.float32)
    index, values = tcomp.jit(lambda a: (tcomp.argsort(a), tcomp.sort(a)), backend=backend)(x)
    want = stable_argsort(x)
    np.testing.assert_array_equal(np.asarray(index), want)
    assert_same_elements(np.asarray(values), np.take_along_axis(x, want, axis=-1))


def test_long_rows_top_k_is_the_stable_descending_order(backend):
    rng = np.random.default_rng(6)
    x = tied_values(rng, (2, 3000), np.float32)
    values, index = tcomp.jit(lambda a: tcomp.top_k(a, 700), backend=backend)(x)
    want = descending_stable(x)[:, :700]
    np.testing.assert_array_equal(np.asarray(index), want)
    assert_same_elements(np.asarray(values), np.take_along_axis(x, want, axis=-1))


@pytest.mark.filterwarnings(f"ignore::{TcompFloat64Warning.__module__}.TcompFloat64Warning")
@pytest.mark.parametrize("dtype", ["int32", "bool", "float16", "bfloat16", "float64"])
def test_long_rows_of_every_key_dtype(dtype):
    rng = np.random.default_rng(7)
    x = tied_values(rng, (2, 1500), BF16 if dtype == "bfloat16" else dtype)
    f = tcomp.jit(
        lambda a: (tcomp.argsort(a, axis=0), tcomp.sort(a, axis=None), tcomp.top_k(a.T, 40)[1])
    )
    index, flat, top = f(np.ascontiguousarray(x.T))
    np.testing.assert_array_equal(np.asarray(index), stable_argsort(x.T, axis=0))
    flat_want = np.take(x.T.reshape(-1), stable_argsort(x.T.reshape(-1)))
    assert_same_elements(np.asarray(flat), flat_want)
    np.testing.assert_array_equal(np.asarray(top), descending_stable(x)[:, :40])


@pytest.mark.parametrize("n", [2, 3, 5, 33, 40, 129])
def test_every_padding_and_odd_stage_count(n):
    # m = 4 and m = 64 have an odd number of stages (3 and 21): the loop's last step
    # pads with a stage that must change nothing
    rng = np.random.default_rng(n)
    x = tied_values(rng, (4, n), np.float32)
    index = tcomp.jit(tcomp.argsort)(x)
    np.testing.assert_array_equal(np.asarray(index), stable_argsort(x))


def test_unrolled_and_looped_networks_agree(monkeypatch):
    rng = np.random.default_rng(8)
    x = tied_values(rng, (3, 100), np.float32)
    results = {}
    for path, threshold in (("unrolled", 2**62), ("loop", 2)):
        monkeypatch.setattr(sort_network, "LOOP_MIN_LENGTH", threshold)
        program = tcomp.jit(lambda a: (tcomp.argsort(a), tcomp.top_k(a, 9)[1]))
        text = program.lower(x).as_text("kernels")
        assert ("repeat" in text) == (path == "loop")
        results[path] = [np.asarray(r) for r in program(x)]
    for got, want in zip(results["loop"], [stable_argsort(x), descending_stable(x)[:, :9]]):
        np.testing.assert_array_equal(got, want)
    for looped, unrolled in zip(results["loop"], results["unrolled"]):
        np.testing.assert_array_equal(looped, unrolled)


def kernel_lines(n: int) -> list[str]:
    x = np.zeros((4, n), np.float32)
    text = tcomp.jit(lambda a: tcomp.sort(a, axis=-1)).lower(x).as_text("kernels")
    return [
        line.split("(")[0].strip()
        for line in text.splitlines()
        if line.strip().startswith(("kernel ", "repeat "))
    ]


def test_the_kernel_count_does_not_grow_with_the_row_length(monkeypatch):
    monkeypatch.setattr(sort_network, "LOOP_MIN_LENGTH", 2)
    short, long = kernel_lines(300), kernel_lines(70000)
    assert sum(line.startswith("repeat") for line in long) == 1
    # the same kernels; only the repeat's count (the number of stages) differs
    assert len(short) == len(long)
    assert [line for line in short if not line.startswith("repeat")] == [
        line for line in long if not line.startswith("repeat")
    ]


def test_eager_long_rows_on_numpy_and_arrays():
    rng = np.random.default_rng(9)
    x = tied_values(rng, (2, 1100), np.float32)
    for value in (x, to_array(x, "llvm")):
        np.testing.assert_array_equal(np.asarray(tcomp.argsort(value)), stable_argsort(x))
        _, index = tcomp.top_k(value, 5)
        np.testing.assert_array_equal(np.asarray(index), descending_stable(x)[:, :5])


def test_gradient_through_the_loop_goes_to_the_selected_elements(backend, monkeypatch):
    monkeypatch.setattr(sort_network, "LOOP_MIN_LENGTH", 2)
    rng = np.random.default_rng(10)
    x = rng.integers(-30, 30, size=(2, 300)).astype(np.float32)  # many ties
    c_sort = rng.standard_normal((2, 300)).astype(np.float32)
    c_top = rng.standard_normal((2, 20)).astype(np.float32)

    def loss(a):
        values, _ = tcomp.top_k(a, 20)
        return tcomp.sum(tcomp.sort(a) * c_sort) + tcomp.sum(values * c_top)

    grad = np.asarray(tcomp.jit(tcomp.grad(loss), backend=backend)(x))
    want = np.zeros_like(x)
    order, top = stable_argsort(x), descending_stable(x)[:, :20]
    for r in range(2):
        want[r, order[r]] += c_sort[r]
        want[r, top[r]] += c_top[r]
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-6)


def test_the_loop_renders_for_cuda(tmp_path):
    """No GPU here: the sort's CUDA program is lowered and rendered as the cuda backend
    would (one repeat whose kernels are launched per step), and compiled to PTX when
    nvcc is on PATH."""
    x = np.zeros((3, 5000), np.float32)
    traced = tcomp.jit(lambda a: tcomp.top_k(a, 10), backend="reference").lower(x)
    program = map_gpu(lower(traced.function("optimized"), GPU_PIPELINE), CUDA)
    assert len(program.loops) == 1
    source = render_program(program, "cuda")
    for launch in launch_plan(program):
        assert launch.function in source
    if shutil.which("nvcc") is None:
        return
    path = tmp_path / "sort.cu"
    path.write_text(source)
    result = subprocess.run(
        ["nvcc", "--ptx", *CUDA.compile_options, "-o", str(tmp_path / "sort.ptx"), str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
