"""float64 at the jit boundary (issue 15): the opt-in switch to float32, and the warning.

``tcomp.config.enable_x64 = False`` (or ``TCOMP_ENABLE_X64=0``) converts float64
arguments of jitted functions (numpy arrays and scalars, ``tcomp.Array``) to float32
before the signature is built, as JAX's x64-off mode does; the default keeps float64.
With the default (neither set), the first jitted call in a process that gets a float64
array of 1024 elements or more warns once with ``TcompFloat64Warning``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tcomp
from tcomp.errors import TcompFloat64Warning
from tcomp.frontend import precision

BIG = 1024  # the warning's threshold, in elements


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    """Each test starts from the default: switch unset, no warning given yet."""
    monkeypatch.delenv("TCOMP_ENABLE_X64", raising=False)
    monkeypatch.setattr(precision, "_warned", False)
    tcomp.config.enable_x64 = None
    yield
    tcomp.config.enable_x64 = None


def _double(x):
    return x * 2


# --- the switch ------------------------------------------------------------------------


def test_by_default_float64_stays_float64(backend):
    x = np.linspace(0, 1, 5)
    result = tcomp.jit(_double, backend=backend)(x)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(result), x * 2)
    assert tcomp.config.enable_x64 is True


def test_switch_off_converts_float64_arguments_to_float32(backend):
    f = tcomp.jit(_double, backend=backend)
    x = np.linspace(0, 1, 5) + 1e-12  # a value float32 cannot hold
    assert f(x).dtype == np.float64
    tcomp.config.enable_x64 = False
    assert tcomp.config.enable_x64 is False
    result = f(x)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(result), x.astype(np.float32) * 2)
    assert "f32[5]" in f.lower(x).as_text() and "f64" not in f.lower(x).as_text()
    assert f.trace_count == 2  # a new signature: float32
    assert "float64" in f.retrace_reasons[-1] and "float32" in f.retrace_reasons[-1]


def test_switch_off_converts_every_kind_of_float64_leaf(backend):
    tcomp.config.enable_x64 = False
    params = {"w": np.ones((2, 3)), "b": np.float64(0.5), "scale": 2.0, "n": np.int64(3)}
    stored = tcomp.jit(lambda v: v, backend=backend)
    tcomp.config.enable_x64 = True
    held = stored(np.arange(3.0))  # a float64 tcomp.Array
    assert held.dtype == np.float64
    tcomp.config.enable_x64 = False
    out = tcomp.jit(lambda p, a: (p["w"] * p["b"] + p["scale"] * p["n"], a), backend=backend)(
        params, held
    )
    assert out[0].dtype == np.float32  # float64 array and scalar: float32; Python float: weak
    np.testing.assert_array_equal(np.asarray(out[0]), np.full((2, 3), 6.5, np.float32))
    assert out[1].dtype == np.float32 and out[1].backend == backend
    np.testing.assert_array_equal(np.asarray(out[1]), [0, 1, 2])


def test_switch_off_leaves_other_dtypes_and_explicit_float64_alone(backend):
    tcomp.config.enable_x64 = False
    f = tcomp.jit(lambda a, b, c: (a, b, c, a.astype("float64")), backend=backend)
    a, b, c = np.ones(2, np.float16), np.ones(2, np.int32), np.ones(2, np.float32)
    dtypes = [r.dtype for r in f(a, b, c)]
    assert dtypes == [np.float16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize(
    "value, expected", [("0", False), ("false", False), ("Off", False), ("1", True), ("yes", True)]
)
def test_the_environment_variable(monkeypatch, value, expected):
    monkeypatch.setenv("TCOMP_ENABLE_X64", value)
    assert tcomp.config.enable_x64 is expected
    result = tcomp.jit(_double)(np.ones(3))
    assert result.dtype == (np.float64 if expected else np.float32)


def test_the_setting_wins_over_the_environment_and_none_goes_back_to_it(monkeypatch):
    monkeypatch.setenv("TCOMP_ENABLE_X64", "0")
    tcomp.config.enable_x64 = True
    assert tcomp.config.enable_x64 is True and tcomp.jit(_double)(np.ones(2)).dtype == np.float64
    tcomp.config.enable_x64 = None
    assert tcomp.config.enable_x64 is False


def test_bad_values_are_clear(monkeypatch):
    with pytest.raises(TypeError, match="enable_x64.*True, False or None"):
        tcomp.config.enable_x64 = "no"
    monkeypatch.setenv("TCOMP_ENABLE_X64", "maybe")
    with pytest.warns(RuntimeWarning, match="TCOMP_ENABLE_X64='maybe'"):
        assert tcomp.config.enable_x64 is True


# --- the warning -----------------------------------------------------------------------


def test_a_big_float64_argument_warns_once(backend):
    f = tcomp.jit(lambda params, x: params["w"] @ x, backend=backend)
    params = {"w": np.ones((32, 32))}  # 1024 float64 elements: looks like weights
    with pytest.warns(TcompFloat64Warning) as caught:
        f(params, np.ones(32, np.float32))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "params['w']" in message and "float64" in message and "1024" in message
    assert "enable_x64 = False" in message and "TCOMP_ENABLE_X64=0" in message
    assert caught[0].filename == __file__  # the user's line
    assert issubclass(TcompFloat64Warning, UserWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process: no second warning
        f(params, np.ones(32, np.float32))
        tcomp.jit(_double, backend=backend)(np.ones((64, 64)))


def test_small_float64_arguments_do_not_warn(backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tcomp.jit(_double, backend=backend)(np.ones(BIG - 1))
        tcomp.jit(_double, backend=backend)(np.ones(BIG, np.float32))
        tcomp.jit(_double, backend=backend)(1.5)


def test_no_warning_once_the_choice_is_explicit(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tcomp.config.enable_x64 = True
        tcomp.jit(_double)(np.ones(BIG))
        tcomp.config.enable_x64 = False  # converted: nothing to warn about
        tcomp.jit(_double)(np.ones(BIG))
        tcomp.config.enable_x64 = None
        monkeypatch.setenv("TCOMP_ENABLE_X64", "1")
        tcomp.jit(_double)(np.ones(BIG))


def test_the_warning_can_be_silenced_by_category():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=TcompFloat64Warning)
        tcomp.jit(_double)(np.ones(BIG))
    assert not [w for w in caught if issubclass(w.category, TcompFloat64Warning)]
