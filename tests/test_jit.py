"""``tcomp.jit``: one trace per signature, retrace reasons, static arguments,
inlining, constants, ``lower().as_text()``, ``tcomp.Array`` results, input
dtypes, pytree arguments and outputs, methods, and backend selection; the
bounded signature cache and the retrace warning.
"""

from __future__ import annotations

import inspect
import re
from collections import namedtuple

import numpy as np
import pytest
from frontend_helpers import check, counting_calls, to_array

import tcomp
from tcomp.errors import (
    TcompArgumentError,
    TcompBackendError,
    TcompCallError,
    TcompTypeError,
)


def _f32(*shape):
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) / 3


# ---------------------------------------------------------------------------
# One trace per signature


def test_one_trace_per_signature(backend):
    def affine(x, w):
        return x @ w + 1.0

    fn, calls = counting_calls(affine)
    jitted = tcomp.jit(fn, backend=backend)
    x, w = _f32(2, 3), _f32(3, 4)
    first = jitted(x, w)
    second = jitted(x + 1, w * 2)  # new values, same signature
    assert jitted.trace_count == 1 and len(calls) == 1
    assert jitted.retrace_reasons == []
    check(first, x @ w + 1, np.float32, backend)
    check(second, (x + 1) @ (w * 2) + 1, np.float32, backend)


@pytest.mark.parametrize(
    "first, second, reason",
    [
        ((_f32(2, 3),), (_f32(3, 3),), r"x: float32\[2, 3\] -> float32\[3, 3\]"),
        ((_f32(2),), (_f32(2).astype(np.float64),), r"x: float32\[2\] -> float64\[2\]"),
        ((_f32(2),), (1.5,), r"x: float32\[2\] -> float32\[\] \(Python scalar\)"),
        (([_f32(2)],), ((_f32(2),),), r"argument structure changed: \(\[\*\]\) -> \(\(\*,\)\)"),
        (({"a": _f32(2)},), ({"a": _f32(2), "b": _f32(2)},), r"structure changed.*'b'"),
    ],
    ids=["shape", "dtype", "python-scalar", "list-to-tuple", "dict-keys"],
)
def test_retrace_says_why(backend, first, second, reason):
    fn, calls = counting_calls(lambda x: tcomp.tree_map(lambda v: v * 2, x))
    jitted = tcomp.jit(fn, backend=backend)
    jitted(*first)
    jitted(*second)
    assert jitted.trace_count == 2 and len(calls) == 2
    assert len(jitted.retrace_reasons) == 1
    assert re.search(reason, jitted.retrace_reasons[0]), jitted.retrace_reasons[0]
    jitted(*first)  # both signatures are cached now
    assert jitted.trace_count == 2


def test_python_scalar_values_do_not_retrace(backend):
    fn, calls = counting_calls(lambda x, scale: x * scale)
    jitted = tcomp.jit(fn, backend=backend)
    x = _f32(3)
    check(jitted(x, 2.0), x * 2, np.float32, backend)
    check(jitted(x, -0.5), x * -0.5, np.float32, backend)  # weakly typed: float32 stays
    assert jitted.trace_count == 1 and len(calls) == 1
    check(jitted(x, 3), x * 3, np.float32, backend)  # an int is another signature
    assert jitted.trace_count == 2
    assert "scale" in jitted.retrace_reasons[0]


# ---------------------------------------------------------------------------
# Static arguments


def test_static_argnums_and_argnames(backend):
    def power_sum(x, n, axis=0):
        out = x
        for _ in range(n - 1):  # Python control flow on a static value
            out = out * x
        return out.sum(axis=axis)

    fn, calls = counting_calls(power_sum)
    jitted = tcomp.jit(fn, backend=backend, static_argnums=1, static_argnames="axis")
    x = _f32(2, 3)
    check(jitted(x, 3), (x**3).sum(axis=0), np.float32, backend)
    check(jitted(x, 3, axis=1), (x**3).sum(axis=1), np.float32, backend)
    check(jitted(x, n=2, axis=1), (x**2).sum(axis=1), np.float32, backend)
    assert jitted.trace_count == 3
    assert any("n=3 -> 2" in r for r in jitted.retrace_reasons), jitted.retrace_reasons
    jitted(x, 2, axis=1)
    assert jitted.trace_count == 3


def test_static_values_of_different_types_do_not_share_a_trace(backend):
    jitted = tcomp.jit(lambda x, flag: x * 2 if flag is True else x * 3, static_argnums=1, backend=backend)
    x = _f32(2)
    check(jitted(x, 1), x * 3, np.float32, backend)
    check(jitted(x, True), x * 2, np.float32, backend)  # 1 == True, but a different static value


def test_unhashable_static_argument_is_an_error(backend):
    jitted = tcomp.jit(lambda x, shape: x.reshape(shape), static_argnums=1, backend=backend)
    check(jitted(_f32(6), (2, 3)), _f32(6).reshape(2, 3), np.float32, backend)
    with pytest.raises(TcompArgumentError, match="static argument 'shape' must be hashable.*tuple"):
        jitted(_f32(6), [2, 3])


def test_bad_static_declarations_are_errors():
    with pytest.raises(TcompArgumentError, match="static_argnums: 2 is out of range"):
        tcomp.jit(lambda x, y: x, static_argnums=2)
    with pytest.raises(TcompArgumentError, match="no parameter named"):
        tcomp.jit(lambda x: x, static_argnames="nope")


def test_string_defaults_need_no_static_declaration(backend):
    @tcomp.jit(backend=backend)
    def reduce(x, how="sum"):
        return x.sum() if how == "sum" else x.max()

    check(reduce(_f32(4)), _f32(4).sum(), np.float32, backend)


def test_which_defaults_were_passed_is_part_of_the_signature(backend):
    jitted = tcomp.jit(lambda x, shift=0.0, scale=1.0: (x + shift) * scale, backend=backend)
    x = _f32(2)
    check(jitted(x, shift=3.0), x + 3, np.float32, backend)
    check(jitted(x, scale=3.0), x * 3, np.float32, backend)  # same leaf types, other parameter
    assert jitted.retrace_reasons == ["arguments passed changed: ['x', 'shift'] -> ['x', 'scale']"]


# ---------------------------------------------------------------------------
# Nesting and constants


def test_jit_inside_jit_is_inlined(backend):
    inner_fn, inner_calls = counting_calls(lambda x: tcomp.exp(x) * 2)
    inner = tcomp.jit(inner_fn, backend=backend)

    @tcomp.jit(backend=backend)
    def outer(x):
        return inner(x) + inner(x + 1)

    x = _f32(3)
    check(outer(x), np.exp(x) * 2 + np.exp(x + 1) * 2, np.float32, backend)
    assert inner.trace_count == 0, "the inner function is traced as part of the outer one"
    assert len(inner_calls) == 2
    text = outer.lower(x).as_text()
    assert text.count("exp(") == 2 and "call" not in text


def test_closed_over_numpy_arrays_become_constants(backend):
    table = np.array([10.0, 20.0, 30.0], np.float32)

    @tcomp.jit(backend=backend)
    def lookup(x):
        return x + table

    x = _f32(3)
    check(lookup(x), x + table, np.float32, backend)
    lowered = lookup.lower(x)
    assert len(lowered.function().params) == 1
    text = lowered.as_text()
    assert "constant" in text and "20.0" in text


def test_lower_shows_the_function_and_the_users_line(backend):
    def my_model(x, w):
        hidden = tcomp.tanh(x @ w)  # the line to find
        return hidden.sum()

    line = inspect.getsourcelines(my_model)[1] + 1
    jitted = tcomp.jit(my_model, backend=backend)
    lowered = jitted.lower(_f32(2, 3), _f32(3, 2))
    text = lowered.as_text()
    assert "my_model" in text
    assert re.search(rf'test_jit\.py"?:{line}\b', text), text
    assert "tanh" in text and "matmul" in text
    assert str(lowered) == text
    optimized = lowered.as_text(stage="optimized")
    assert "my_model" in optimized and "tanh" in optimized
    assert jitted.trace_count == 1
    jitted(_f32(2, 3), _f32(3, 2))  # lower() traced already: no second trace
    assert jitted.trace_count == 1


def test_lower_of_an_unknown_stage_is_an_error(backend):
    lowered = tcomp.jit(lambda x: x + 1, backend=backend).lower(_f32(2))
    with pytest.raises(TcompArgumentError, match="unknown stage 'kernel'.*traced, optimized"):
        lowered.as_text(stage="kernel")


# ---------------------------------------------------------------------------
# Results and inputs


def test_results_are_arrays(backend):
    jitted = tcomp.jit(lambda x: x * 2, backend=backend)
    x = _f32(2, 3)
    result = jitted(x)
    assert isinstance(result, tcomp.Array)
    assert result.shape == (2, 3) and result.dtype == np.float32 and result.backend == backend
    assert result.ndim == 2 and result.size == 6 and len(result) == 2
    host = result.numpy()
    assert isinstance(host, np.ndarray)
    np.testing.assert_array_equal(host, x * 2)
    np.testing.assert_array_equal(np.asarray(result), x * 2)
    host[0, 0] = 99  # a copy: the Array is unchanged
    assert np.asarray(result)[0, 0] == 0
    assert "Array(" in repr(result) and backend in repr(result)
    assert float(jitted(np.float32(1.5))) == 3.0
    with pytest.raises(TypeError, match="immutable"):
        result[0, 0] = 1.0


def test_arrays_pass_back_in(backend):
    jitted = tcomp.jit(lambda x, y: x * y + 1, backend=backend)
    x, y = _f32(2, 2), _f32(2, 2) + 1
    from_numpy = jitted(x, y)
    from_arrays = jitted(to_array(x, backend), to_array(y, backend))
    chained = jitted(from_numpy, from_numpy)
    assert jitted.trace_count == 1  # an Array has the same signature as its numpy data
    np.testing.assert_array_equal(np.asarray(from_arrays), np.asarray(from_numpy))
    check(chained, (x * y + 1) ** 2 + 1, np.float32, backend)


@pytest.mark.parametrize("dtype", [np.int64, np.int16, np.int32])
def test_integer_inputs_become_int32(backend, dtype):
    # int8, uint8 and uint32 arrays keep their dtype: tests/test_int_dtypes.py
    jitted = tcomp.jit(lambda x: x + 1, backend=backend)
    check(jitted(np.array([1, 2, 3], dtype)), np.array([2, 3, 4]), np.int32, backend)
    check(jitted(7), np.int32(8), np.int32, backend)


def test_integers_out_of_int32_range_are_errors(backend):
    jitted = tcomp.jit(lambda x: x + 1, backend=backend)
    with pytest.raises(TcompTypeError, match="do not fit in int32"):
        jitted(np.array([1, 2**31]))
    with pytest.raises(TcompTypeError, match="does not fit in int32"):
        jitted(2**40)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.bool_])
def test_float_and_bool_inputs_keep_their_dtype(backend, dtype):
    jitted = tcomp.jit(lambda x: x, backend=backend)
    x = np.array([0, 1, 1], dtype)
    check(jitted(x), x, dtype, backend)


@pytest.mark.parametrize(
    "stored, native",
    [(">f4", np.float32), (">f8", np.float64), (">f2", np.float16), (">i4", np.int32),
     (">i8", np.int32), (">u2", np.int32), ("?", np.bool_)],
)
def test_big_endian_inputs_are_converted_to_native_order(monkeypatch, backend, stored, native):
    # as read from a big-endian file: the values count, not the byte order
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    x = np.array([0, 1, 2, 5], dtype=native).astype(stored)
    jitted = tcomp.jit(lambda v: v, backend=backend)
    check(jitted(x), x.astype(native), native, backend)
    jitted(x.astype(native))
    assert jitted.trace_count == 1  # the same signature as the native array
    check(tcomp.reshape(x, (2, 2)), x.astype(native).reshape(2, 2), native, backend)  # eagerly


# ---------------------------------------------------------------------------
# Pytrees and calling conventions

Params = namedtuple("Params", ["w", "b"])


def test_pytree_arguments_and_outputs(backend):
    @tcomp.jit(backend=backend)
    def fn(tree, pair, nothing, params):
        assert nothing is None
        total = tree["a"] + tree["nested"][0] * tree["nested"][1]["c"]
        return {"sum": total, "list": [pair[0] * 2, None, (pair[1],)], "p": Params(params.w * 2, params.b)}

    a, c = _f32(2), _f32(2) + 1
    tree = {"a": a, "nested": [2.0, {"c": c}]}
    out = fn(tree, (a, c), None, Params(a, 3.0))
    assert set(out) == {"sum", "list", "p"}
    check(out["sum"], a + 2.0 * c, np.float32, backend)
    assert isinstance(out["list"], list) and out["list"][1] is None and isinstance(out["list"][2], tuple)
    check(out["list"][0], a * 2, np.float32, backend)
    check(out["list"][2][0], c, np.float32, backend)
    assert isinstance(out["p"], Params)
    check(out["p"].w, a * 2, np.float32, backend)
    check(out["p"].b, np.float32(3.0), np.float32, backend)


def test_keyword_arguments(backend):
    fn, calls = counting_calls(lambda x, y, scale=1.0: (x - y) * scale)
    jitted = tcomp.jit(fn, backend=backend)
    x, y = _f32(3), _f32(3) * 2
    check(jitted(x, y=y), x - y, np.float32, backend)
    check(jitted(y=y, x=x, scale=2.0), (x - y) * 2, np.float32, backend)
    check(jitted(x, y, 3.0), (x - y) * 3, np.float32, backend)


def test_varargs_and_kwargs(backend):
    jitted = tcomp.jit(lambda *xs, **named: sum(xs) + named["extra"], backend=backend)
    x = _f32(2)
    check(jitted(x, x, extra=x), 3 * x, np.float32, backend)


def test_wrong_number_of_arguments(backend):
    jitted = tcomp.jit(lambda x, y: x + y, backend=backend)
    with pytest.raises(TcompArgumentError, match="missing a required argument: 'y'"):
        jitted(_f32(2))
    with pytest.raises(TcompArgumentError, match="too many positional arguments"):
        jitted(_f32(2), _f32(2), _f32(2))
    with pytest.raises(TcompArgumentError, match="unexpected keyword argument 'z'"):
        jitted(_f32(2), _f32(2), z=1)


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f(_f32(2)),
        lambda f: f(_f32(2), _f32(2), _f32(2)),
        lambda f: f(_f32(2), _f32(2), z=1),
        lambda f: f.lower(_f32(2)),
    ],
    ids=["too-few", "too-many", "unknown-keyword", "lower"],
)
def test_calls_that_do_not_bind_are_type_errors(call):
    # Python, numpy and JAX raise TypeError for these; `except ValueError` still works
    jitted = tcomp.jit(lambda x, y: x + y, backend="reference")
    with pytest.raises(TypeError) as info:
        call(jitted)
    assert isinstance(info.value, TcompCallError)
    assert isinstance(info.value, TcompArgumentError) and isinstance(info.value, ValueError)


def test_keywords_to_a_function_without_a_signature_are_type_errors():
    jitted = tcomp.jit(max, backend="reference")  # a builtin without a Python signature
    with pytest.raises(TypeError, match="keyword arguments need a Python signature"):
        jitted(_f32(2), default=None)


def test_a_jitted_method_called_with_too_many_arguments_is_a_type_error():
    class Model:
        @tcomp.jit(backend="reference")
        def apply(self, x):
            return x * 2

    with pytest.raises(TypeError, match="too many positional arguments"):
        Model().apply(_f32(2), _f32(2))


def test_methods_decorated_with_jit(monkeypatch, backend):
    monkeypatch.setenv("TCOMP_BACKEND", backend)

    class Scaler:
        def __init__(self, factor: float) -> None:
            self.factor = np.float32(factor)

        @tcomp.jit
        def apply(self, x):
            return x * self.factor

    class Pair(namedtuple("Pair", ["a", "b"])):
        @tcomp.jit
        def total(self, x):
            return self.a * x + self.b

    x = _f32(3)
    two, three = Scaler(2.0), Scaler(3.0)
    check(two.apply(x), x * 2, np.float32, backend)
    check(three.apply(x), x * 3, np.float32, backend)  # each instance is its own static value
    check(two.apply(x + 1), (x + 1) * 2, np.float32, backend)
    assert Scaler.apply.trace_count == 2
    assert "constant" in two.apply.lower(x).as_text()
    # An instance that is a pytree (a namedtuple of arrays) is traced like an argument.
    pair = Pair(_f32(3), np.float32(1.0))
    check(pair.total(x), pair.a * x + 1, np.float32, backend)
    check(Pair(_f32(3) + 1, np.float32(2.0)).total(x), (_f32(3) + 1) * x + 2, np.float32, backend)
    assert Pair.total.trace_count == 1


def test_arrays_passed_back_in_do_not_visit_the_host(monkeypatch, backend):
    from tcomp.backends.registry import get_backend

    jitted = tcomp.jit(lambda x: x * 2, backend=backend)
    first = jitted(_f32(4))
    instance = get_backend(backend)

    def no_host_copy(*args):
        raise AssertionError("an Array of this backend was copied through the host")

    monkeypatch.setattr(instance, "to_host", no_host_copy)
    monkeypatch.setattr(instance, "from_host", no_host_copy)
    second = jitted(first)
    third = first * second  # eagerly, too
    monkeypatch.undo()
    check(second, _f32(4) * 4, np.float32, backend)
    check(third, _f32(4) * 2 * _f32(4) * 4, np.float32, backend)


# ---------------------------------------------------------------------------
# Backends


def test_reference_backend_is_always_available():
    assert "reference" in tcomp.available_backends()
    assert set(tcomp.available_backends()) <= {"reference", "llvm", "opencl", "cuda"}


def test_unknown_backend_names_are_errors(monkeypatch):
    with pytest.raises(TcompBackendError, match="unknown backend 'tpu'"):
        tcomp.jit(lambda x: x, backend="tpu")
    monkeypatch.setenv("TCOMP_BACKEND", "nonsense")
    with pytest.raises(TcompBackendError, match="unknown TCOMP_BACKEND 'nonsense'"):
        tcomp.jit(lambda x: x)(_f32(2))
    with pytest.raises(TcompBackendError, match="TCOMP_BACKEND"):
        tcomp.exp(_f32(2))


def test_tcomp_backend_picks_the_default(monkeypatch, backend):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    assert tcomp.default_backend_name() == backend
    assert tcomp.jit(lambda x: x + 1)(_f32(2)).backend == backend
    assert tcomp.exp(_f32(2)).backend == backend
    assert tcomp.grad(lambda x: x.sum())(_f32(2)).backend == backend
    monkeypatch.delenv("TCOMP_BACKEND")
    assert tcomp.default_backend_name() in tcomp.available_backends()


def test_a_new_backend_retraces_with_a_reason(monkeypatch):
    jitted = tcomp.jit(lambda x: x + 1)
    monkeypatch.setenv("TCOMP_BACKEND", "reference")
    jitted(_f32(2))
    available = [b for b in tcomp.available_backends() if b != "reference"]
    if not available:
        pytest.skip("only the reference backend is available here")
    monkeypatch.setenv("TCOMP_BACKEND", available[0])
    jitted(_f32(2))
    assert jitted.retrace_reasons == [f"backend changed: reference -> {available[0]}"]
