"""The jit's memory bound and retrace warning: the per-function LRU of signatures
(``TCOMP_JIT_CACHE_SIZE``), the kept retrace reasons, and ``TcompRetraceWarning``."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from frontend_helpers import check, counting_calls

import tcomp
from tcomp.errors import TcompRetraceWarning
from tcomp.frontend import jit as jit_module
from tcomp.frontend import retrace as retrace_module


def _f32(*shape):
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) / 3


# ---------------------------------------------------------------------------
# The bounded signature cache


def test_the_signature_cache_keeps_the_most_recently_used(monkeypatch):
    monkeypatch.setenv("TCOMP_JIT_CACHE_SIZE", "3")
    fn, calls = counting_calls(lambda x: x * 2)
    jitted = tcomp.jit(fn, backend="reference")
    for n in (1, 2, 3, 4):  # 1 is forgotten
        jitted(_f32(n))
    assert jitted.cache_size == 3 and len(calls) == 4
    jitted(_f32(2))  # kept, and now the most recently used
    assert len(calls) == 4
    jitted(_f32(5))  # forgets 3, the least recently used
    check(jitted(_f32(2)), _f32(2) * 2, np.float32, "reference")
    assert len(calls) == 5
    check(jitted(_f32(3)), _f32(3) * 2, np.float32, "reference")  # traced again
    assert len(calls) == 6 and jitted.trace_count == 6 and jitted.cache_size == 3
    assert jitted.retrace_reasons[-1] == "argument types changed: x: float32[2] -> float32[3]"
    assert len(jitted.compile_stats()) == 3


@pytest.mark.parametrize(
    "value, size",
    [(None, 64), ("", 64), ("5", 5), (" 1 ", 1), ("0", None)],
    ids=["unset", "empty", "five", "spaces", "zero-is-no-bound"],
)
def test_jit_cache_size_reads_the_environment_when_asked(monkeypatch, value, size):
    if value is None:
        monkeypatch.delenv("TCOMP_JIT_CACHE_SIZE", raising=False)
    else:
        monkeypatch.setenv("TCOMP_JIT_CACHE_SIZE", value)
    assert retrace_module.jit_cache_size() == size


@pytest.mark.parametrize("value", ["-1", "lots", "2.5"])
def test_an_invalid_jit_cache_size_warns_and_keeps_the_default(monkeypatch, value):
    monkeypatch.setenv("TCOMP_JIT_CACHE_SIZE", value)
    with pytest.warns(RuntimeWarning, match=f"TCOMP_JIT_CACHE_SIZE='{re.escape(value)}'.*default, 64"):
        assert retrace_module.jit_cache_size() == 64


def test_zero_keeps_every_signature(monkeypatch):
    monkeypatch.setenv("TCOMP_JIT_CACHE_SIZE", "0")
    monkeypatch.setattr(retrace_module, "DEFAULT_CACHE_SIZE", 2)  # 0 must not mean the default
    jitted = tcomp.jit(lambda x: x + 1, backend="reference")
    for n in range(1, 6):
        jitted(_f32(n))
    assert jitted.cache_size == 5


def test_retrace_reasons_keep_the_newest(monkeypatch):
    monkeypatch.setattr(jit_module, "RETRACE_REASONS_KEPT", 3)
    jitted = tcomp.jit(lambda x: x + 1, backend="reference")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcompRetraceWarning)
        for n in range(1, 8):
            jitted(_f32(n))
    assert jitted.trace_count == 7
    assert [r.split(" -> ")[-1] for r in jitted.retrace_reasons] == [
        "float32[5]", "float32[6]", "float32[7]"
    ]


# ---------------------------------------------------------------------------
# The retrace warning


def _traced_with_warnings(jitted, arguments):
    """Calls ``jitted`` on each tuple of ``arguments``; returns the retrace warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for args in arguments:
            jitted(*args)
    return [w for w in caught if issubclass(w.category, TcompRetraceWarning)]


def test_the_eighth_trace_warns_naming_the_changing_argument():
    def scaled(x, scale):
        return x * scale

    jitted = tcomp.jit(scaled, backend="reference")
    caught = _traced_with_warnings(jitted, [(_f32(n), 2.0) for n in range(1, 9)])
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith(
        "scaled has been traced 8 times; the argument that keeps changing: x (shapes "
        "float32[1] -> float32[2] -> float32[3] -> ... -> float32[8])"
    ), message
    assert "last retrace: argument types changed: x: float32[7] -> float32[8]" in message
    assert "TCOMP_JIT_CACHE_SIZE" in message
    assert caught[0].filename == __file__  # the user's call, not tcomp's code


def test_the_retrace_warning_repeats_only_when_the_count_doubles():
    jitted = tcomp.jit(lambda x: -x, backend="reference")
    caught = _traced_with_warnings(jitted, [(_f32(n),) for n in range(1, 33)])
    assert [str(w.message).split(";")[0] for w in caught] == [
        "<lambda> has been traced 8 times",
        "<lambda> has been traced 16 times",
        "<lambda> has been traced 32 times",
    ]
    assert not _traced_with_warnings(jitted, [(_f32(n),) for n in range(30, 33)])  # cached


def test_the_retrace_warning_names_a_changing_static_argument():
    jitted = tcomp.jit(lambda x, n: x * n, static_argnames="n", backend="reference")
    caught = _traced_with_warnings(jitted, [(_f32(3), n) for n in range(8)])
    assert len(caught) == 1
    assert "the argument that keeps changing: n (values 0 -> 1 -> 2 -> ... -> 7)" in str(
        caught[0].message
    )


def test_the_retrace_warning_names_a_changing_dtype():
    jitted = tcomp.jit(lambda x: x, backend="reference")
    dtypes = [np.float32, np.float64] * 4
    arguments = [(np.zeros(n + 1, dtype),) for n, dtype in enumerate(dtypes)]
    message = str(_traced_with_warnings(jitted, arguments)[0].message)
    assert "x (types float32[1] -> float64[2] -> float32[3] -> ... -> float64[8])" in message


def test_a_signature_whose_trace_raised_traces_again_without_a_warning():
    def fragile(x):
        raise ValueError("not today")

    jitted = tcomp.jit(fragile, backend="reference")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcompRetraceWarning)
        for _ in range(9):
            with pytest.raises(ValueError, match="not today"):
                jitted(_f32(2))
    assert jitted.trace_count == 9 and jitted.cache_size == 0
    assert jitted.retrace_reasons[-1] == (
        "the same signature again: its last trace raised, or its program was dropped"
    )


def test_a_retrace_warning_turned_into_an_error_leaves_the_function_usable():
    jitted = tcomp.jit(lambda x: x + 1, backend="reference")
    for n in range(1, 8):
        jitted(_f32(n))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcompRetraceWarning)
        with pytest.raises(TcompRetraceWarning, match="traced 8 times"):
            jitted(_f32(8))
    check(jitted(_f32(8)), _f32(8) + 1, np.float32, "reference")  # no thread left waiting
    assert not jitted._tracing and jitted.trace_count == 9


def test_the_retrace_warning_names_a_changing_structure():
    jitted = tcomp.jit(lambda xs: xs, backend="reference")
    arguments = [([_f32(2)] * (n + 1),) for n in range(8)]
    message = str(_traced_with_warnings(jitted, arguments)[0].message)
    assert "keeps changing: the structure of xs (structures [*] -> [*, *] -> " in message, message
