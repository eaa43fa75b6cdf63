"""The integer dtypes int8, uint8, uint32 and int64 (issue 15), end to end on every backend.

Each result is compared with numpy (the definition tcomp promises) or, where numpy has
no answer or an undefined one, with tcomp's stated rule:

- promotion: numpy 2's table (``np.result_type``), except int8 with uint8 -> int32
  (numpy: int16, which tcomp lacks); Python ints are weak (``uint8 + 1`` stays uint8;
  one the dtype cannot hold is an error, as numpy 2 raises);
- arithmetic wraps (two's complement); ``//`` and ``%`` floor as numpy's (a zero
  divisor gives 0);
- float -> int: truncation toward zero in range; out of range by
  ``ir/primitives/elementwise.py`` ``float_to_int`` (int8/uint8 through int32,
  uint32 through int64, then wrapped);
- sums: bool/int8/int32 in int32, uint8/uint32 in uint32, int64 in int64;
- host arrays: int8, uint8, uint32 keep their dtype; int64 (numpy's default integer)
  still becomes int32, unless asked for with ``tcomp.astype(x, "int64")``.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tcomp
import tcomp.nn
from tcomp.errors import TcompTypeError
from tcomp.ir.primitives.elementwise import float_to_int
from tcomp.ir.types import promote_dtypes

NEW = ("int8", "uint8", "uint32", "int64")
INTS = ("int8", "uint8", "int32", "uint32", "int64")
SUM_DTYPE = {
    "int8": "int32",
    "uint8": "uint32",
    "int32": "int32",
    "uint32": "uint32",
    "int64": "int64",
}
N = 12


def _ints(dtype: str, nonzero: bool = False):
    info = np.iinfo(dtype)
    elements = st.integers(int(info.min), int(info.max))
    if nonzero:
        elements = elements.filter(lambda v: v != 0)
    return hnp.arrays(np.dtype(dtype), N, elements=elements)


def _arg(array: np.ndarray):
    """int64 data kept as int64 (a numpy int64 argument would become int32)."""
    return tcomp.astype(array, "int64") if array.dtype == np.int64 else array


def _same(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------
# Promotion


@pytest.mark.parametrize("a", INTS + ("bool", "float16", "float32", "float64"))
@pytest.mark.parametrize("b", INTS)
def test_promotion_is_numpys_but_int8_with_uint8_is_int32(a, b):
    x, y = np.ones(2, a), np.ones(2, b)
    got = tcomp.jit(lambda p, q: p + q, backend="reference")(_arg(x), _arg(y))
    want = "int32" if {a, b} == {"int8", "uint8"} else np.result_type(x, y).name
    assert str(got.dtype) == want == promote_dtypes(a, b)


def test_int8_plus_uint8_is_computed_in_int32():
    x, y = np.array([-128, 127], np.int8), np.array([255, 255], np.uint8)
    _same(tcomp.add(x, y), np.array([127, 382], np.int32))


@pytest.mark.parametrize("dtype", NEW)
def test_python_scalars_are_weak(dtype):
    x = _arg(np.array([1, 2, 3], dtype))
    assert tcomp.add(x, 1).dtype == np.dtype(dtype)
    assert tcomp.multiply(x, 2.5).dtype == np.float32  # a float lifts to float32
    low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
    with pytest.raises(TcompTypeError, match=f"does not fit in {dtype}"):
        tcomp.add(x, int(high) + 1)
    with pytest.raises(TcompTypeError, match=f"does not fit in {dtype}"):
        tcomp.add(x, int(low) - 1)


# ---------------------------------------------------------------------------
# Host data


def test_host_arrays_keep_small_integer_dtypes_and_narrow_int64():
    f = tcomp.jit(lambda x: x + 1, backend="llvm")
    for dtype in ("int8", "uint8", "uint32"):
        _same(
            f(np.array([1, 255 if dtype != "int8" else 127], dtype)),
            np.array([1, 255 if dtype != "int8" else 127], dtype) + np.array(1, dtype),
        )
    assert f(np.arange(3)).dtype == np.int32  # numpy's default int64, as before
    with pytest.raises(TcompTypeError, match="tcomp.astype"):
        f(np.array([2**40]))
    big = tcomp.astype(np.array([2**40, -(2**62)]), "int64")
    assert big.dtype == np.int64
    _same(f(big), np.array([2**40 + 1, -(2**62) + 1]))


@pytest.mark.parametrize("dtype", NEW)
def test_save_and_load_keep_the_dtype(tmp_path, dtype):
    info = np.iinfo(dtype)
    values = np.array([info.min, 0, info.max], dtype)
    tcomp.save(tmp_path / "t.safetensors", {"x": _arg(values)})
    loaded = tcomp.load(tmp_path / "t.safetensors", backend="llvm")["x"]
    _same(loaded, values)


# ---------------------------------------------------------------------------
# Arithmetic, against numpy, on every backend


def _arith(x, y):
    return (
        x + y,
        x - y,
        x * y,
        x // y,
        x % y,
        tcomp.maximum(x, y),
        tcomp.minimum(x, y),
        x < y,
        x == y,
        -x,
        abs(x),
        tcomp.sign(x),
        x**3,
        x & y,
        x | y,
        x ^ y,
        ~x,
    )


def _arith_numpy(x, y):
    with np.errstate(all="ignore"):
        return (
            x + y,
            x - y,
            x * y,
            x // y,
            x % y,
            np.maximum(x, y),
            np.minimum(x, y),
            x < y,
            x == y,
            -x,
            np.abs(x),
            np.sign(x),
            x**3,
            x & y,
            x | y,
            x ^ y,
            ~x,
        )


@pytest.mark.parametrize("dtype", NEW)
def test_arithmetic_wraps_and_divides_as_numpy(backend, dtype):
    jitted = tcomp.jit(_arith, backend=backend)

    @settings(max_examples=8, deadline=None)
    @given(_ints(dtype), _ints(dtype, nonzero=True))
    def check(x, y):
        for got, want in zip(jitted(_arg(x), _arg(y)), _arith_numpy(x, y)):
            _same(got, want)

    check()


@pytest.mark.parametrize("dtype", ("int8", "int64"))
def test_division_by_negative_numbers_and_the_overflowing_quotient(backend, dtype):
    low = int(np.iinfo(dtype).min)
    x = np.array([7, -7, 7, -7, low, low, 5, 0], dtype)
    y = np.array([-2, -2, 2, 2, -1, 1, 0, -3], dtype)
    got = tcomp.jit(lambda a, b: (a // b, a % b), backend=backend)(_arg(x), _arg(y))
    with np.errstate(all="ignore"):
        _same(got[0], np.array([-4, 3, 3, -4, low, low, 0, 0], dtype))
        _same(got[1], np.array([-1, -1, 1, 1, 0, 0, 0, 0], dtype))


@pytest.mark.parametrize("dtype", INTS)
def test_shifts_for_every_amount_as_numpy(backend, dtype):
    bits = np.dtype(dtype).itemsize * 8
    x = np.array([1, 3, 100, 127, 1, 5, 64, 9], dtype)
    if dtype.startswith("int"):
        x[::2] = -x[::2]
    s = np.array([0, 1, bits - 1, bits, bits + 3, 2, 7, 3], dtype)
    got = tcomp.jit(lambda a, b: (a << b, a >> b), backend=backend)(_arg(x), _arg(s))
    shifted_left = np.where(s < bits, np.left_shift(x, np.minimum(s, bits - 1)), 0).astype(dtype)
    _same(got[0], shifted_left)
    fill = np.where(x < 0, -1, 0).astype(dtype)
    _same(got[1], np.where(s < bits, np.right_shift(x, np.minimum(s, bits - 1)), fill))


# ---------------------------------------------------------------------------
# Casts


@pytest.mark.parametrize("dtype", NEW)
def test_float_to_int_truncates_in_range_and_follows_the_rule_outside(backend, dtype):
    info = np.iinfo(dtype)
    inside = np.array(
        [info.min, -1.75 if info.min else 0.25, 0.5, 2.9, 100.99, info.max / 2], np.float64
    )
    outside = np.array([-1.0, 300.5, -129.0, 1e10, -3e9, np.nan], np.float64)
    f = tcomp.jit(lambda v: v.astype(dtype), backend=backend)
    _same(f(inside), np.trunc(inside).astype(dtype))
    _same(f(outside), float_to_int(outside, dtype))
    if dtype == "uint8":
        _same(f(np.array([-1.0, 256.0])), np.array([255, 0], np.uint8))  # wraps through int32


@pytest.mark.parametrize("dtype", NEW)
def test_int_to_float_and_int_to_int_casts_as_numpy(backend, dtype):
    info = np.iinfo(dtype)
    x = np.array([info.min, -1 if info.min else 1, 0, 1, min(2**20 + 1, info.max), info.max], dtype)
    targets = ("float32", "float64", "float16", "int8", "uint8", "int32", "uint32", "int64", "bool")
    got = tcomp.jit(lambda v: tuple(v.astype(t) for t in targets), backend=backend)(_arg(x))
    with np.errstate(all="ignore"):
        for target, value in zip(targets, got):
            _same(value, x.astype(target))


# ---------------------------------------------------------------------------
# Reductions and movement


@pytest.mark.parametrize("dtype", NEW)
def test_reductions(backend, dtype):
    @settings(max_examples=5, deadline=None)
    @given(_ints(dtype))
    def check(x):
        matrix = x.reshape(3, 4)
        got = tcomp.jit(
            lambda v: (
                v.sum(),
                v.sum(axis=0),
                v.max(axis=1),
                v.min(),
                tcomp.argmax(v, axis=1),
                tcomp.argmin(v, axis=0),
                tcomp.prod(v, axis=1),
                tcomp.cumsum(v, axis=1),
            ),
            backend=backend,
        )(_arg(matrix))
        acc = SUM_DTYPE[dtype]
        with np.errstate(all="ignore"):
            want = (
                matrix.sum(dtype=acc),
                matrix.sum(axis=0, dtype=acc),
                matrix.max(axis=1),
                matrix.min(),
                np.argmax(matrix, axis=1).astype(np.int32),
                np.argmin(matrix, axis=0).astype(np.int32),
                matrix.prod(axis=1, dtype=acc),
                matrix.cumsum(axis=1, dtype=acc),
            )
        for g, w in zip(got, want):
            _same(g, w)

    check()


@pytest.mark.parametrize("dtype", NEW)
def test_movement_select_and_int64_indices(backend, dtype):
    info = np.iinfo(dtype)
    x = np.linspace(info.min // 2, info.max // 2, 24).astype(dtype).reshape(4, 6)
    index = np.array([3, 0, -1, 2], np.int64)

    def moves(v, i):
        return (
            v.T,
            v[1:, ::2],
            tcomp.reshape(v, (6, 4)),
            tcomp.concatenate([v, v[:1]]),
            tcomp.where(v > v[0], v, v[-1]),
            tcomp.take(v, i, axis=0),
            v[i],
            tcomp.flip(v, 1),
        )

    got = tcomp.jit(moves, backend=backend)(_arg(x), tcomp.astype(index, "int64"))
    want = (
        x.T,
        x[1:, ::2],
        x.reshape(6, 4),
        np.concatenate([x, x[:1]]),
        np.where(x > x[0], x, x[-1]),
        np.take(x, index, axis=0),
        x[index],
        np.flip(x, 1),
    )
    for g, w in zip(got, want):
        _same(g, w)


def test_uint8_images_pool_and_scatter_in_their_dtype(backend):
    image = np.arange(64, dtype=np.uint8).reshape(1, 1, 8, 8) * 4 + 3
    pooled = tcomp.jit(lambda v: tcomp.nn.max_pool2d(v, 2), backend=backend)(image)
    _same(pooled, image.reshape(1, 1, 4, 2, 4, 2).max(axis=(3, 5)))
    counts = tcomp.jit(lambda v: v.at[np.array([0, 0, 2])].add(np.uint8(200)), backend=backend)
    want = np.array([2, 0, 200, 0], np.uint8) + np.array([0, 0, 0, 0], np.uint8)
    want[0] = np.uint8((400) % 256)
    _same(counts(np.zeros(4, np.uint8)), want)


# ---------------------------------------------------------------------------
# Gradients and errors


def test_integer_arguments_get_no_gradient_as_int32():
    def loss(w, labels):
        return (w * labels.astype("float32")).sum()

    w = np.ones(3, np.float32)
    for dtype in ("int32",) + NEW:
        labels = _arg(np.array([1, 2, 3], dtype))
        _same(tcomp.grad(loss)(w, labels), np.array([1, 2, 3], np.float32))
        with pytest.raises(TcompTypeError, match=f"dtype {dtype}.*need float"):
            tcomp.grad(loss, argnums=1)(w, labels)


@pytest.mark.parametrize("dtype", ["int16", np.complex64, "uint64"])
def test_unsupported_dtypes_name_the_supported_ones(dtype):
    with pytest.raises(TcompTypeError, match="tcomp supports .*int8, uint8, int32, uint32, int64"):
        tcomp.astype(np.ones(3, np.float32), dtype)


# ---------------------------------------------------------------------------
# CUDA C


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA toolkit) is not on PATH")
def test_the_cuda_source_of_every_new_dtype_compiles_with_nvcc(tmp_path):
    from nvcc_check import nvcc_fatbin

    from tcomp.backends.cfamily import CUDA, render_program
    from tcomp.ir.kernel.lowering import lower_function

    def everything(a, b, c, d, f):
        outs = []
        for v in (a, b, c, d):
            outs += list(_arith(v, v + 1)) + [v.sum(), v.max(), v << 2, v >> 1]
            outs += [v.astype(t) for t in ("float32", "float16", "bfloat16", "int8", "uint32")]
            outs += [f.astype(v.dtype)]
        return tuple(outs)

    args = [np.ones(8, t) for t in ("int8", "uint8", "uint32")] + [np.ones(8, np.int32)]
    function = (
        tcomp.jit(
            lambda a, b, c, i, f: everything(a, b, c, i.astype("int64"), f), backend="reference"
        )
        .lower(*args, np.ones(8, np.float32))
        .function("optimized")
    )
    source = render_program(lower_function(function), "cuda")
    for ctype in ("signed char", "unsigned char", "unsigned int", "long long"):
        assert ctype in source
    path = tmp_path / "ints.cu"
    path.write_text(source)
    result = nvcc_fatbin(path, CUDA.compile_options, arches=["sm_80"])
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.mark.parametrize("step", [1, 3, -2])
def test_an_int64_arange_beyond_int32_keeps_its_values(step):
    start = 2**31 + 5 if step > 0 else 2**31 + 40
    want = np.arange(start, start + 12 * step, step, dtype=np.int64)
    eager = tcomp.arange(start, start + 12 * step, step, dtype="int64")
    traced = tcomp.jit(lambda: tcomp.arange(start, start + 12 * step, step, dtype="int64"))()
    for got in (eager, traced):
        assert np.asarray(got).dtype == np.int64
        np.testing.assert_array_equal(np.asarray(got), want)
