"""Errors in the user's terms: the op, the shapes, and the user's file:line.

Bad input never gives a wrong answer or a deep traceback: each case below
raises a subclass of :class:`tcomp.errors.TcompError` (and of the matching
built-in exception) with a message that says what to do.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from frontend_helpers import to_array

import tcomp
from tcomp.errors import (
    TcompArgumentError,
    TcompCallError,
    TcompError,
    TcompMemoryError,
    TcompShapeError,
    TcompTracerError,
    TcompTypeError,
)


def _line_of(fn, marker: str) -> int:
    """The line number of the source line of ``fn`` containing ``marker``."""
    lines, start = inspect.getsourcelines(fn)
    for offset, line in enumerate(lines):
        if marker in line:
            return start + offset
    raise AssertionError(f"{marker!r} not in the source of {fn.__name__}")


def _assert_names_line(error: BaseException, fn, marker: str) -> None:
    line = _line_of(fn, marker)
    assert re.search(rf"test_errors\.py\"?:{line}\b", str(error)), str(error)


# ---------------------------------------------------------------------------
# Shape mismatches name the op, the shapes and the line


def add_mismatch(x, y):
    return x + y  # MARK-add


def matmul_mismatch(x, y):
    return tcomp.tanh(x) @ y  # MARK-matmul


def reshape_mismatch(x):
    return x.reshape(7, 2)  # MARK-reshape


@pytest.mark.parametrize("inside_jit", [True, False])
def test_broadcast_mismatch(backend, inside_jit):
    x, y = np.ones((4, 3), np.float32), np.ones((5,), np.float32)
    if inside_jit:
        call = lambda: tcomp.jit(add_mismatch, backend=backend)(x, y)
    else:
        call = lambda: add_mismatch(to_array(x, backend), y)
    with pytest.raises(TcompShapeError) as info:
        call()
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, TcompError)
    message = str(error)
    assert "add" in message and "(4, 3)" in message and "(5,)" in message
    _assert_names_line(error, add_mismatch, "MARK-add")


@pytest.mark.parametrize("inside_jit", [True, False])
def test_matmul_mismatch(backend, inside_jit):
    x, y = np.ones((2, 3), np.float32), np.ones((4, 5), np.float32)
    if inside_jit:
        call = lambda: tcomp.jit(matmul_mismatch, backend=backend)(x, y)
    else:
        call = lambda: matmul_mismatch(to_array(x, backend), y)
    with pytest.raises(TcompShapeError) as info:
        call()
    message = str(info.value)
    assert "matmul" in message and "(2, 3)" in message and "(4, 5)" in message
    assert isinstance(info.value, ValueError)
    _assert_names_line(info.value, matmul_mismatch, "MARK-matmul")


def test_reshape_mismatch(backend):
    with pytest.raises(TcompShapeError) as info:
        tcomp.jit(reshape_mismatch, backend=backend)(np.ones((3, 4), np.float32))
    assert "reshape" in str(info.value) and "(3, 4)" in str(info.value) and "(7, 2)" in str(info.value)
    _assert_names_line(info.value, reshape_mismatch, "MARK-reshape")


def test_mismatch_inside_grad_names_the_line(backend):
    def loss(w, x):
        return tcomp.sum(x @ w)  # MARK-grad

    with pytest.raises(TcompShapeError) as info:
        tcomp.jit(tcomp.grad(loss), backend=backend)(np.ones((2, 2)), np.ones((3, 3)))
    _assert_names_line(info.value, loss, "MARK-grad")


# ---------------------------------------------------------------------------
# Python control flow and conversions on traced values


def branching(x):
    if x.sum() > 0:  # MARK-if
        return x
    return -x


@pytest.mark.parametrize(
    "fn, needle, advice",
    [
        (branching, "control flow", "tcomp.where"),
        (lambda x: x * float(x[0]), "float()", "astype"),
        (lambda x: x * int(x[0]), "int()", "static"),
        (lambda x: np.asarray(x) + 1, "numpy array", "after the jitted function returns"),
        (lambda x: x * np.array(x), "numpy array", "after the jitted function returns"),
        (lambda x: x[0].item(), "item()", "Return the array"),
        (lambda x: x.tolist(), "tolist()", "Return the array"),
        (lambda x: x * range(3)[x[0]], "index", "tcomp.take"),
        (lambda x: x if x.all_positive else x, None, None),
    ],
    ids=["if", "float", "int", "asarray", "array", "item", "tolist", "index", "attribute"],
)
def test_values_of_traced_arrays_are_unknowable(backend, fn, needle, advice):
    x = np.array([1.0, 2.0, 3.0], np.float32)
    if needle is None:  # not a tcomp matter: an ordinary AttributeError
        with pytest.raises(AttributeError):
            tcomp.jit(fn, backend=backend)(x)
        return
    with pytest.raises(TcompTracerError) as info:
        tcomp.jit(fn, backend=backend)(x)
    message = str(info.value)
    assert needle in message and advice in message
    assert re.search(r"\((f32|bool)\[[0-9,]*\]\)", message), "the message shows the traced type"
    assert isinstance(info.value, TypeError) and isinstance(info.value, TcompError)
    assert "test_errors.py" in message


def test_if_error_names_the_line(backend):
    with pytest.raises(TcompTracerError) as info:
        tcomp.jit(branching, backend=backend)(np.ones(2, np.float32))
    _assert_names_line(info.value, branching, "MARK-if")


def test_len_and_shape_are_static(backend):
    @tcomp.jit(backend=backend)
    def normalise(x):
        return x / len(x) + x.shape[1] + x.ndim + x.size

    x = np.ones((4, 2), np.float32)
    np.testing.assert_allclose(np.asarray(normalise(x)), x / 4 + 2 + 2 + 8)
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d array"):
        tcomp.jit(lambda v: len(v), backend=backend)(np.float32(1))


def test_leaked_tracer_is_a_clear_error(backend):
    leaked = []

    @tcomp.jit(backend=backend)
    def leak(x):
        leaked.append(x)
        return x * 2

    leak(np.ones(2, np.float32))
    for use in (
        lambda: leaked[0] + 1,
        lambda: tcomp.exp(leaked[0]),
        lambda: tcomp.jit(lambda y: y + leaked[0], backend=backend)(np.ones(2, np.float32)),
        lambda: tcomp.jit(lambda y: y, backend=backend)(leaked[0]),
    ):
        with pytest.raises(TcompTracerError, match="escaped its function.*Return it") as info:
            use()
        assert "test_errors.py" in str(info.value)


# ---------------------------------------------------------------------------
# Arguments and dtypes


def test_wrong_number_of_arguments(backend):
    jitted = tcomp.jit(lambda x, y: x + y, backend=backend)
    with pytest.raises(TcompArgumentError, match="missing a required argument"):
        jitted(np.ones(2))
    with pytest.raises(TcompArgumentError, match="too many positional arguments") as info:
        jitted(np.ones(2), np.ones(2), np.ones(2))
    assert isinstance(info.value, ValueError) and isinstance(info.value, TcompError)
    assert isinstance(info.value, TypeError)  # as Python itself says for a call that does not bind


def test_grad_argnums_beyond_the_arguments_is_a_type_error(monkeypatch, backend):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    with pytest.raises(TypeError, match="argnums 2: the function got 1 positional") as info:
        tcomp.grad(lambda x: (x * x).sum(), argnums=2)(np.ones(2, np.float32))
    assert isinstance(info.value, TcompCallError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "value, needle",
    [
        (np.ones(2, np.complex64), "complex64"),
        (1 + 2j, "complex"),
        (np.array([object(), object()]), "object"),
        (np.array(["a", "b"]), "<U1"),
        (np.array([b"a"]), "S1"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64"),
        (np.ones(2, ">c8"), "complex64 (big-endian, >c8)"),
        (np.ones(2, ">c16"), "complex128 (big-endian, >c16)"),
    ],
    ids=["complex-array", "complex-scalar", "object", "unicode", "bytes", "datetime",
         "big-endian-complex64", "big-endian-complex128"],
)
def test_unsupported_dtypes(backend, value, needle):
    with pytest.raises(TcompTypeError, match=re.escape(needle)) as info:
        tcomp.jit(lambda x: x, backend=backend)(value)
    assert "argument x" in str(info.value)
    assert isinstance(info.value, TcompError) and isinstance(info.value, TypeError)
    with pytest.raises(TcompTypeError):
        tcomp.exp(value)  # eagerly, too


def test_ragged_lists_are_errors_eagerly(backend):
    # Inside jit a list is a pytree of leaves; eagerly it must become one array.
    with pytest.raises(TcompTypeError, match="cannot be made an array"):
        tcomp.exp([[1.0, 2.0], [3.0]])


def test_string_argument_suggests_static_argnames(backend):
    jitted = tcomp.jit(lambda x, activation: tcomp.tanh(x) if activation == "tanh" else x, backend=backend)
    with pytest.raises(TcompTypeError, match=r"argument activation is a str.*static_argnames=\('activation',\)"):
        jitted(np.ones(2, np.float32), "tanh")
    fixed = tcomp.jit(jitted.__wrapped__, static_argnames="activation", backend=backend)
    np.testing.assert_allclose(np.asarray(fixed(np.ones(2, np.float32), "tanh")), np.tanh(np.ones(2)), rtol=1e-6)


def test_functions_and_strings_cannot_be_outputs(backend):
    with pytest.raises(TcompTypeError, match="returned a str"):
        tcomp.jit(lambda x: (x, "done"), backend=backend)(np.ones(2))


def test_jit_of_a_non_callable():
    with pytest.raises(TcompTypeError, match="expected a function"):
        tcomp.jit(3)


def test_every_error_class_is_a_tcomp_error_and_a_builtin():
    import tcomp.errors as errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        if issubclass(cls, Warning):
            assert issubclass(cls, UserWarning) and not issubclass(cls, TcompError), name
            continue
        assert issubclass(cls, TcompError)
        if cls is not TcompError:
            builtin = [b for b in cls.__mro__ if b.__module__ == "builtins" and b not in (object, BaseException, Exception)]
            assert builtin, f"{name} derives from no built-in exception"
    assert tcomp.TcompError is TcompError


# ---------------------------------------------------------------------------
# Out of memory: how much, and for what


def _llvm_backend_module():
    if "llvm" not in tcomp.available_backends():
        pytest.skip("the llvm backend is not available here")
    from tcomp.backends.llvm import backend as llvm_backend

    return llvm_backend


def test_an_output_that_cannot_be_allocated_says_its_size(monkeypatch):
    llvm_backend = _llvm_backend_module()

    def no_memory(shape, dtype):
        raise MemoryError()

    monkeypatch.setattr(llvm_backend, "output_array", no_memory)
    with pytest.raises(TcompMemoryError) as info:
        tcomp.jit(lambda x: x * 2, backend="llvm")(np.ones((4, 256), np.float32))
    message = str(info.value)
    assert "out of memory: cannot allocate 4.0 KiB (4096 bytes)" in message, message
    assert "for an output float32[4, 256] of lambda (llvm backend)" in message, message
    assert isinstance(info.value, MemoryError) and isinstance(info.value, TcompError)


def test_an_impossible_host_array_says_its_size():
    llvm_backend = _llvm_backend_module()
    # 2**62 bytes: malloc refuses at once, nothing is touched
    with pytest.raises(TcompMemoryError, match=r"4\.0 EiB \(4611686018427387904 bytes\) for an "
                       r"input copied to the llvm backend \(float32\[1152921504606846976\]\)"):
        llvm_backend.aligned_empty((2**60,), np.float32, "an input copied to the llvm backend")


def test_an_impossible_pooled_block_says_its_size():
    _llvm_backend_module()
    from tcomp.backends.llvm.host_pool import HostPool

    with pytest.raises(TcompMemoryError, match=r"cannot allocate 4\.0 EiB .* output block"):
        HostPool().array((2**60,), np.dtype(np.float32))


def test_the_reference_backend_says_which_op_ran_out_of_memory(monkeypatch):
    from tcomp.backends.reference import executor

    real = executor.get_primitive

    class Exhausted:
        def evaluate(self, *args):
            raise MemoryError()

    monkeypatch.setattr(
        executor, "get_primitive", lambda op: Exhausted() if op == "exp" else real(op)
    )
    with pytest.raises(TcompMemoryError, match=r"4\.0 KiB \(4096 bytes\) for the result "
                       r"f32\[1024\] of exp in .*reference backend"):
        tcomp.jit(lambda x: tcomp.exp(x) + 1, backend="reference")(np.ones(1024, np.float32))
