"""The numpy boundary: on llvm numpy inputs are read in place and ``np.asarray`` of a
result is a read-only view of its memory; other inputs are copied, saying why.

See ``LLVMBackend.borrow`` / ``host_view``, ``LLVMExecutable.__call__``,
``tcomp.frontend.eager.own_results`` and ``tcomp.Array.__array__``.
"""

from __future__ import annotations

import functools
import gc
import logging

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import tcomp  # noqa: E402
from tcomp import nn  # noqa: E402
from tcomp.backends.llvm import host_pool  # noqa: E402
from tcomp.backends.llvm.backend import LLVMBackend, aligned_empty  # noqa: E402
from tcomp.backends.registry import get_backend  # noqa: E402

jit = functools.partial(tcomp.jit, backend="llvm")


def _no_copy(*args):
    raise AssertionError("a numpy input was copied to the llvm backend")


def _at_offset(values: np.ndarray, offset: int) -> np.ndarray:
    """``values`` copied to memory ``offset`` bytes past a 64-byte boundary."""
    raw = aligned_empty((values.nbytes + 64,), np.uint8)
    array = raw[offset : offset + values.nbytes].view(values.dtype).reshape(values.shape)
    array[...] = values
    return array


@pytest.mark.parametrize("offset", [0, 4, 16, 36])
def test_contiguous_inputs_of_the_exact_dtype_are_read_in_place(monkeypatch, offset):
    x = np.linspace(-3, 3, 1000, dtype=np.float32).reshape(10, 100)
    y = np.arange(100, dtype=np.float32)
    f = jit(lambda a, b: nn.gelu(a) * b + a.sum(axis=1, keepdims=True))
    expected = np.asarray(f(jit(lambda a: a + 0.0)(x), y))  # from an Array input
    shifted = _at_offset(x, offset)
    assert shifted.ctypes.data % 64 == offset and shifted.flags.c_contiguous
    monkeypatch.setattr(get_backend("llvm"), "from_host", _no_copy)
    got = np.asarray(f(shifted, y))
    np.testing.assert_array_equal(got, expected)
    assert "input_copies" not in f.compile_stats()[0]


@pytest.mark.parametrize("offset", [4, 20])
def test_matmul_and_column_sums_read_misaligned_inputs_in_place(monkeypatch, offset):
    # the blocked contraction loads 64-byte aligned only from its own packed scratch:
    # an aligned load (vmovaps) from a parameter would fault on these addresses
    rng = np.random.default_rng(2)
    a = rng.standard_normal((96, 160), dtype=np.float32)
    b = rng.standard_normal((160, 72), dtype=np.float32)
    f = jit(lambda a, b: (a @ b, a.sum(axis=0), b.T @ a.T))
    expected = [np.asarray(r) for r in f(a, b)]
    shifted_a, shifted_b = _at_offset(a, offset), _at_offset(b, offset + 8)
    monkeypatch.setattr(get_backend("llvm"), "from_host", _no_copy)
    for got, want in zip(f(shifted_a, shifted_b), expected):
        np.testing.assert_array_equal(np.asarray(got), want)
    assert "input_copies" not in f.compile_stats()[0]
    assert "tc.ukernel" in f.lower(a, b).as_text("source")  # the blocked contraction ran


def test_inputs_it_cannot_address_are_copied_and_it_says_why(caplog):
    f = jit(lambda a: a * 2.0)
    x = np.arange(64, dtype=np.float32)
    f(x)
    assert "input_copies" not in f.compile_stats()[0]
    strided = np.arange(128, dtype=np.float32)[::2]
    with caplog.at_level(logging.DEBUG, logger="tcomp.llvm"):
        np.testing.assert_array_equal(np.asarray(f(strided)), strided * 2)
    (why,) = f.compile_stats()[0]["input_copies"].values()
    assert "not C-contiguous" in why and "float32[64]" in why
    assert "input 0 copied" in caplog.text and "not C-contiguous" in caplog.text
    # not aligned to its element size (1 byte past a float boundary): copied too
    raw = np.zeros(64 * 4 + 1, np.uint8)
    odd = raw[1:].view(np.float32)
    odd[...] = x
    assert not odd.flags.aligned
    np.testing.assert_array_equal(np.asarray(f(odd)), x * 2)
    assert "element alignment" in f.compile_stats()[0]["input_copies"][0]


def test_inputs_are_never_written():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 48), dtype=np.float32)
    w = rng.standard_normal((48, 32), dtype=np.float32)
    before = x.copy(), w.copy()

    def loss(w, x):
        return nn.softmax(x @ w, axis=-1).sum() + (w * w).sum()

    step = jit(lambda w, x: tcomp.value_and_grad(loss)(w, x))
    value, grad = step(w, x)
    step(w, x)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(w, before[1])
    assert np.isfinite(float(value)) and grad.shape == w.shape
    # what makes reading in place safe: no kernel has a parameter as an out/inout argument
    # (the kernel verifier's rule, checked here on the compiled program itself)
    program = step.lower(w, x).kernel_program()
    written = [
        (kernel.name, arg.name)
        for kernel in program.kernels
        for arg in kernel.args
        if arg.name in program.params and arg.access != "in"
    ]
    assert program.params and not written


def test_asarray_is_a_read_only_view_that_keeps_the_memory_alive():
    n = host_pool.MIN_BYTES // 4 * 2  # big enough to come from the host pool
    x = np.linspace(0, 1, n, dtype=np.float32)
    f = jit(lambda a: a * 3.0)
    result = f(x)
    view = np.asarray(result)
    assert np.shares_memory(view, result._buffer)
    assert np.shares_memory(np.asarray(result), view)  # no copy the second time either
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view[0] = 1.0
    with pytest.raises(ValueError):
        view.setflags(write=True)
    expected = x * np.float32(3.0)
    del result
    gc.collect()
    for _ in range(3):  # later calls take blocks from the pool: never the one still viewed
        f(x)
        f(x + 1)
    np.testing.assert_array_equal(view, expected)


def test_numpy_and_copies():
    f = jit(lambda a: a + 1.0)
    result = f(np.arange(6, dtype=np.float32).reshape(2, 3))
    view = np.asarray(result)
    for copy in (result.numpy(), np.array(result), np.asarray(result, copy=True)):
        assert copy.flags.writeable and not np.shares_memory(copy, view)
        copy[0, 0] = -5.0
        np.testing.assert_array_equal(copy[1], view[1])
    assert view[0, 0] == 1.0 and np.asarray(result)[0, 0] == 1.0
    for same in (np.asarray(result, copy=False), np.asarray(result, dtype=np.float32)):
        assert np.shares_memory(same, view) and not same.flags.writeable
    as64 = np.asarray(result, dtype=np.float64)
    assert as64.dtype == np.float64 and as64.flags.writeable
    with pytest.raises(ValueError, match="needs a copy"):
        np.asarray(result, dtype=np.float64, copy=False)


def test_zero_dim_and_bfloat16_views():
    total = jit(lambda a: a.sum())(np.ones(10, np.float32))
    assert np.asarray(total).shape == () and float(total) == 10.0
    assert not np.asarray(total).flags.writeable
    halves = jit(lambda a: a * 2)(np.ones(4, np.float32).astype(tcomp.bfloat16))
    view = np.asarray(halves)
    assert view.dtype == tcomp.bfloat16 and not view.flags.writeable
    np.testing.assert_array_equal(view.astype(np.float32), 2.0)
    empty = np.asarray(jit(lambda a: a * 2)(np.ones((0, 3), np.float32)))
    assert empty.shape == (0, 3) and not empty.flags.writeable


@pytest.mark.parametrize("name", ["gelu", "softmax"])
def test_numpy_in_and_out_match_arrays_in_and_out(name):
    fn = nn.gelu if name == "gelu" else (lambda v: nn.softmax(v, axis=-1))
    x = np.random.default_rng(1).standard_normal((64, 96), dtype=np.float32)
    f = jit(fn)
    as_array = jit(lambda v: v + 0.0)(x)
    np.testing.assert_array_equal(np.asarray(f(x)), f(as_array).numpy())


def test_an_input_returned_as_it_is_does_not_follow_later_writes():
    identity = jit(lambda a, b: (a, b * 2.0))
    x = np.arange(4, dtype=np.float32)
    same, doubled = identity(x, x)
    assert not np.shares_memory(np.asarray(same), x)
    x[0] = 100.0  # the caller's array changes; the Array does not
    assert np.asarray(same)[0] == 0.0 and np.asarray(doubled)[0] == 0.0
    whole = np.arange(8, dtype=np.float32)
    part, _ = identity(whole[2:6], whole[2:6])  # a view of the caller's array, too
    assert not np.shares_memory(np.asarray(part), whole)
    # an Array passed through is handed over as it is (both are immutable)
    a = jit(lambda v: v + 0.0)(x)
    again, _ = identity(a, a)
    assert again._buffer is a._buffer


def test_eager_execution_reads_numpy_inputs_in_place(monkeypatch):
    from tcomp.frontend import eager

    x = np.linspace(-1, 1, 33, dtype=np.float32)
    monkeypatch.setenv("TCOMP_BACKEND", "llvm")  # the backend of eager numpy operands
    monkeypatch.setattr(get_backend("llvm"), "from_host", _no_copy)
    out = eager.execute("exp", {}, [x])
    np.testing.assert_allclose(np.asarray(out), np.exp(x), rtol=1e-6)


def test_other_backends_still_copy_on_the_way_out():
    result = tcomp.jit(lambda a: a + 1.0, backend="reference")(np.zeros(3, np.float32))
    first, second = np.asarray(result), np.asarray(result)
    assert first.flags.writeable and not np.shares_memory(first, second)
    with pytest.raises(ValueError, match="copy"):
        np.asarray(result, copy=False)
    assert not hasattr(get_backend("reference"), "host_view")
    assert hasattr(LLVMBackend, "host_view") and hasattr(LLVMBackend, "borrow")
