"""``tcomp.nn`` against independent numpy references, with gradient checks and error cases.

For every ``nn`` function, hypothesis draws shapes, axes, kernel sizes,
strides and paddings (small: batch <= 3, channels <= 3, spatial <= 7):

1. Forward: the function inside ``tcomp.jit(..., backend=backend)`` and
   eagerly on numpy arrays (which gives a ``tcomp.Array``), in float32 and
   float64, against ``nn_reference`` (plain numpy, loops for conv/pooling).
2. Gradients (float64): ``tcomp.grad`` of ``sum(f(x) * c)`` for a random
   cotangent ``c``, inside ``jit``, against central finite differences of
   the jitted forward pass, coordinate by coordinate (a random sample when an
   input is large) and along random directions. Inputs avoid kinks: relu
   inputs stay away from 0 and max-pool inputs are distinct.
Errors (bad shapes and dtypes) are in tests/test_nn_errors.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import nn_reference as ref
import numpy as np
import pytest
from gradcheck import assert_gradient_matches_sampled_differences
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tcomp
from tcomp import nn

# The backend fixture is parametrised per test, so hypothesis may reuse it across examples.
fixture_ok = settings(
    suppress_health_check=list(settings.default.suppress_health_check)
    + [HealthCheck.function_scoped_fixture]
)

TOLERANCES = {"float32": dict(rtol=2e-4, atol=5e-5), "float64": dict(rtol=1e-9, atol=1e-11)}
FD_EPS = 1e-6
MAX_COORDINATES = (
    24  # per input; larger inputs are checked on a random sample (and along directions)
)

# ---------------------------------------------------------------------------
# Cases: one nn call with its arguments, drawn by hypothesis


@dataclass
class Case:
    """``getattr(nn, name)(*args, **kwargs)``; ``args[i]`` may be None (an omitted optional input)."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    wrt: tuple[int, ...] = (0,)  # the float inputs to differentiate (and cast to the test dtype)

    def __repr__(self) -> str:
        shown = ", ".join("None" if a is None else f"{a.dtype}{list(a.shape)}" for a in self.args)
        return f"nn.{self.name}({shown}, **{self.kwargs})"

    def present(self) -> list[int]:
        return [i for i, a in enumerate(self.args) if a is not None]

    def nn_function(self) -> Callable[..., Any]:
        """``f(*present_args)``: the nn call with the None arguments filled back in."""
        present = self.present()

        def f(*values: Any) -> Any:
            full = list(self.args)
            for i, v in zip(present, values):
                full[i] = v
            return getattr(nn, self.name)(*full, **self.kwargs)

        f.__name__ = self.name
        return f

    def reference(self, args: tuple[Any, ...]) -> np.ndarray:
        return np.asarray(getattr(ref, self.name)(*args, **self.kwargs))

    def cast(self, dtype: str) -> tuple[Any, ...]:
        return tuple(
            a.astype(dtype) if (i in self.wrt and a is not None) else a
            for i, a in enumerate(self.args)
        )


def seeds():
    return st.integers(0, 2**32 - 1).map(np.random.default_rng)


def shapes(min_dims: int, max_dims: int, max_side: int = 4):
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in ±[0.2, 2]: relu is smooth there."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 2.0, size=shape)


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in [-2, 2) at least 4/size apart: no two tie, so the max is smooth."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) / size * 4.0 - 2.0) + rng.uniform(
        0, 1e-3, size=shape
    )


@st.composite
def elementwise_cases(draw, name: str):
    shape, rng = draw(shapes(0, 3)), draw(seeds())
    x = away_from_zero(rng, shape) if name == "relu" else 2.0 * rng.standard_normal(shape)
    return Case(name, (np.asarray(x),))


@st.composite
def softmax_cases(draw, name: str):
    shape, rng = draw(shapes(1, 3)), draw(seeds())
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return Case(name, (2.0 * rng.standard_normal(shape),), {"axis": axis})


@st.composite
def logsumexp_cases(draw):
    shape, rng = draw(shapes(1, 3)), draw(seeds())
    ndim = len(shape)
    axis = draw(
        st.one_of(
            st.integers(-ndim, ndim - 1),
            st.none(),
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple),
        )
    )
    keepdims = draw(st.booleans())
    return Case(
        "logsumexp", (2.0 * rng.standard_normal(shape),), {"axis": axis, "keepdims": keepdims}
    )


@st.composite
def cross_entropy_cases(draw):
    lead, classes, rng = draw(shapes(0, 2, 3)), draw(st.integers(1, 5)), draw(seeds())
    label_dtype = draw(st.sampled_from([np.int32, np.int64]))
    logits = 2.0 * rng.standard_normal(lead + (classes,))
    labels = rng.integers(0, classes, size=lead).astype(label_dtype)
    return Case("cross_entropy", (logits, np.asarray(labels)))


@st.composite
def mse_cases(draw):
    shape, rng = draw(shapes(0, 3)), draw(seeds())
    return Case(
        "mse",
        (np.asarray(rng.standard_normal(shape)), np.asarray(rng.standard_normal(shape))),
        wrt=(0, 1),
    )


@st.composite
def layer_norm_cases(draw):
    shape, rng = draw(shapes(1, 3)), draw(seeds())
    normalized = draw(st.integers(1, len(shape)))
    affine_shape = shape[-normalized:]
    use_weight, use_bias = draw(st.booleans()), draw(st.booleans())
    if not use_weight:
        affine_shape = shape[-1:]
    weight = rng.standard_normal(affine_shape) if use_weight else None
    bias = rng.standard_normal(affine_shape) if use_bias else None
    eps = draw(st.sampled_from([1e-5, 1e-2, 0.5]))
    x = rng.standard_normal(shape) * 1.5 + 0.3
    return Case("layer_norm", (x, weight, bias), {"eps": eps}, wrt=(0, 1, 2))


def int_or_pair(values: st.SearchStrategy[int]):
    return st.one_of(values, st.tuples(values, values))


def as_pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else value


@st.composite
def conv2d_cases(draw):
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    padding = draw(int_or_pair(st.integers(0, 2)))
    stride = draw(int_or_pair(st.integers(1, 3)))
    ph, pw = as_pair(padding)
    kh = draw(st.integers(1, min(h + 2 * ph, 4)))
    kw = draw(st.integers(1, min(w + 2 * pw, 4)))
    rng = draw(seeds())
    bias = rng.standard_normal(o) if draw(st.booleans()) else None
    args = (rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, kh, kw)), bias)
    return Case("conv2d", args, {"stride": stride, "padding": padding}, wrt=(0, 1, 2))


@st.composite
def conv_nd_cases(draw, d: int):
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding, stride = draw(st.integers(0, 1)), draw(st.integers(1, 2))
    spatial = tuple(draw(st.integers(1, 5 if d == 1 else 3)) for _ in range(d))
    kernel = tuple(draw(st.integers(1, s + 2 * padding)) for s in spatial)
    rng = draw(seeds())
    bias = rng.standard_normal(o) if draw(st.booleans()) else None
    args = (rng.standard_normal((n, c, *spatial)), rng.standard_normal((o, c, *kernel)), bias)
    return Case(f"conv{d}d", args, {"stride": stride, "padding": padding}, wrt=(0, 1, 2))


@st.composite
def pool_cases(draw, name: str):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kernel = draw(
        st.one_of(
            st.integers(1, min(h, w, 4)),
            st.tuples(st.integers(1, min(h, 4)), st.integers(1, min(w, 4))),
        )
    )
    stride = draw(st.one_of(st.none(), int_or_pair(st.integers(1, 3))))
    rng = draw(seeds())
    x = distinct(rng, (n, c, h, w)) if name == "max_pool2d" else rng.standard_normal((n, c, h, w))
    return Case(name, (x,), {"kernel": kernel, "stride": stride})


@st.composite
def pool1d_cases(draw, name: str):
    n, c, length = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 7))
    kernel = draw(st.integers(1, min(length, 4)))
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    rng = draw(seeds())
    x = distinct(rng, (n, c, length)) if name == "max_pool1d" else rng.standard_normal((n, c, length))
    return Case(name, (x,), {"kernel": kernel, "stride": stride})


@st.composite
def adaptive_pool_cases(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    out = (draw(st.integers(1, h)), draw(st.integers(1, w)))
    x = draw(seeds()).standard_normal((n, c, h, w))
    return Case("adaptive_avg_pool2d", (x,), {"output_size": out})


@st.composite
def attention_cases(draw):
    causal = draw(st.booleans())
    lead = draw(shapes(0, 2, 2))
    # k and v may broadcast over some leading axes of q (one head of keys for several queries).
    kv_lead = tuple(d if draw(st.booleans()) else 1 for d in lead)
    tq = draw(st.integers(1, 4))
    tk = draw(st.integers(tq, 5)) if causal else draw(st.integers(1, 5))
    d, dv = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rng = draw(seeds())
    args = (
        rng.standard_normal(lead + (tq, d)),
        rng.standard_normal(kv_lead + (tk, d)),
        rng.standard_normal(kv_lead + (tk, dv)),
    )
    return Case("attention", args, {"causal": causal}, wrt=(0, 1, 2))


CASES: dict[str, st.SearchStrategy[Case]] = {
    "relu": elementwise_cases("relu"),
    "gelu": elementwise_cases("gelu"),
    "sigmoid": elementwise_cases("sigmoid"),
    "softmax": softmax_cases("softmax"),
    "log_softmax": softmax_cases("log_softmax"),
    "logsumexp": logsumexp_cases(),
    "cross_entropy": cross_entropy_cases(),
    "mse": mse_cases(),
    "layer_norm": layer_norm_cases(),
    "conv1d": conv_nd_cases(1),
    "conv2d": conv2d_cases(),
    "conv3d": conv_nd_cases(3),
    "max_pool2d": pool_cases("max_pool2d"),
    "avg_pool2d": pool_cases("avg_pool2d"),
    "max_pool1d": pool1d_cases("max_pool1d"),
    "avg_pool1d": pool1d_cases("avg_pool1d"),
    "adaptive_avg_pool2d": adaptive_pool_cases(),
    "attention": attention_cases(),
}


def test_every_nn_function_has_cases():
    """Here, or in a tests/test_nn_*.py module's ``CASES`` (labels ``name:variant``) or
    ``OTHERWISE_TESTED`` (names checked without reference cases, e.g. random ones)."""
    from nn_checks import covered_by_test_modules

    assert sorted(set(CASES) | covered_by_test_modules()) == sorted(nn.__all__)


# ---------------------------------------------------------------------------
# Forward


def check_result(result: Any, case: Case, args: tuple[Any, ...], dtype: str) -> None:
    assert isinstance(result, tcomp.Array), f"{case}: got {type(result).__name__}, not tcomp.Array"
    expected = case.reference(args)
    assert result.dtype == np.dtype(dtype), f"{case}: result dtype {result.dtype}, inputs {dtype}"
    assert result.shape == expected.shape, (
        f"{case}: shape {result.shape}, reference {expected.shape}"
    )
    np.testing.assert_allclose(
        np.asarray(result), expected, err_msg=repr(case), **TOLERANCES[dtype]
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
@fixture_ok
@given(data=st.data())
def test_forward_jit(backend, name, dtype, data):
    case = data.draw(CASES[name], label="case")
    args = case.cast(dtype)
    f = tcomp.jit(case.nn_function(), backend=backend)
    result = f(*[args[i] for i in case.present()])
    check_result(result, case, args, dtype)
    assert result.backend == backend


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_forward_eager(name, dtype, data):
    """Outside jit, nn functions take numpy arrays and return a tcomp.Array at once."""
    case = data.draw(CASES[name], label="case")
    args = case.cast(dtype)
    result = getattr(nn, name)(*args, **case.kwargs)
    check_result(result, case, args, dtype)


def test_eager_on_backend_arrays_stays_on_that_backend(backend):
    to_device = tcomp.jit(lambda x: x, backend=backend)
    x = to_device(np.linspace(-2, 2, 24, dtype=np.float32).reshape(1, 2, 3, 4))
    w = to_device(np.ones((3, 2, 2, 2), dtype=np.float32))
    out = nn.relu(nn.conv2d(x, w, padding=1))
    assert isinstance(out, tcomp.Array) and out.backend == backend
    np.testing.assert_allclose(
        np.asarray(out), ref.relu(ref.conv2d(np.asarray(x), np.asarray(w), padding=1)), rtol=1e-5
    )


# ---------------------------------------------------------------------------
# Gradients


def check_gradients(backend: str, case: Case, rng: np.random.Generator) -> None:
    """tcomp.grad inside jit against central differences of the jitted forward pass (float64)."""
    f = case.nn_function()
    present = case.present()
    values = [case.args[i] for i in present]
    wrt = tuple(k for k, i in enumerate(present) if i in case.wrt)
    out_shape = case.reference(case.args).shape
    cotangent = rng.standard_normal(out_shape)

    def objective(cot, *xs):
        return tcomp.sum(f(*xs) * cot)

    forward = tcomp.jit(objective, backend=backend)
    gradient = tcomp.jit(
        lambda cot, *xs: tcomp.grad(lambda *ys: objective(cot, *ys), argnums=wrt)(*xs),
        backend=backend,
    )
    grads = gradient(cotangent, *values)
    assert len(grads) == len(wrt)

    def value_at(k: int, x: np.ndarray) -> float:
        trial = list(values)
        trial[k] = x
        return float(np.asarray(forward(cotangent, *trial)))

    for k, g in zip(wrt, grads):
        x = values[k]
        g = np.asarray(g)
        assert g.shape == x.shape and g.dtype == np.float64, (
            f"{case}: gradient {k} is {g.dtype}{g.shape}"
        )
        assert_gradient_matches_sampled_differences(
            lambda trial: value_at(k, trial),
            x,
            g,
            rng,
            MAX_COORDINATES,
            err_msg=f"{case}: gradient of argument {present[k]} disagrees with finite differences",
            atol=1e-6,
            eps=FD_EPS,
        )


@pytest.mark.parametrize("name", sorted(CASES))
@fixture_ok
@given(data=st.data())
def test_gradient(backend, name, data):
    case = data.draw(CASES[name], label="case")
    check_gradients(backend, case, data.draw(seeds(), label="rng"))


# ---------------------------------------------------------------------------
# Semantics the references alone would not pin down


def test_softmax_family_is_stable_for_large_logits(backend):
    logits = np.array([[1000.0, 999.0, -1000.0], [-800.0, -801.0, -803.0]], dtype=np.float32)
    labels = np.array([1, 2])

    def f(x, y):
        return nn.softmax(x), nn.log_softmax(x), nn.logsumexp(x), nn.cross_entropy(x, y)

    for result, expected in zip(
        tcomp.jit(f, backend=backend)(logits, labels),
        (
            ref.softmax(logits),
            ref.log_softmax(logits),
            ref.logsumexp(logits),
            ref.cross_entropy(logits, labels),
        ),
    ):
        assert np.all(np.isfinite(np.asarray(result)))
        np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-5)
    grads = tcomp.jit(tcomp.grad(nn.cross_entropy), backend=backend)(logits, labels)
    expected = (ref.softmax(logits) - np.eye(3)[labels]) / 2
    np.testing.assert_allclose(np.asarray(grads), expected, rtol=1e-5, atol=1e-7)


def test_softmax_family_handles_minus_infinity(backend):
    """-inf logits (masked classes) get probability 0; a row of only -inf has logsumexp -inf, not nan."""
    x = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf]])
    lse, log_p, p = tcomp.jit(
        lambda x: (nn.logsumexp(x), nn.log_softmax(x), nn.softmax(x)), backend=backend
    )(x)
    norm = np.log1p(np.e)
    np.testing.assert_allclose(np.asarray(lse), [norm, -np.inf], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(log_p)[0], [-np.inf, -norm, 1.0 - norm], rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(p)[0], [0.0, 1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-12
    )

    logits = np.array([[0.5, -np.inf, 1.0], [2.0, 0.0, -np.inf]])
    labels = np.array([0, 1])
    loss, g = tcomp.jit(tcomp.value_and_grad(nn.cross_entropy), backend=backend)(logits, labels)
    finite = np.where(np.isfinite(logits), logits, -1e300)
    np.testing.assert_allclose(float(loss), ref.cross_entropy(finite, labels), rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(g), (ref.softmax(finite) - np.eye(3)[labels]) / 2, rtol=1e-12, atol=1e-300
    )


INT_INPUTS = {
    # name: (call on int32 arrays, dtype of the result)
    "relu": (lambda x: nn.relu(x), "int32"),
    "gelu": (lambda x: nn.gelu(x), "float32"),
    "sigmoid": (lambda x: nn.sigmoid(x), "float32"),
    "softmax": (lambda x: nn.softmax(x), "float32"),
    "log_softmax": (lambda x: nn.log_softmax(x), "float32"),
    "logsumexp": (lambda x: nn.logsumexp(x), "float32"),
    "layer_norm": (lambda x: nn.layer_norm(x), "float32"),
    "attention": (lambda x: nn.attention(x, x, x), "float32"),
    "max_pool2d": (lambda x: nn.max_pool2d(x[None, None], 2), "int32"),
    "avg_pool2d": (lambda x: nn.avg_pool2d(x[None, None], 2), "float32"),
    "conv2d": (lambda x: nn.conv2d(x[None, None], x[None, None, :2, :2]), "int32"),
}


@pytest.mark.parametrize("name", sorted(INT_INPUTS))
def test_integer_inputs(backend, name):
    """Smooth functions of integers give float32 (like tcomp.exp), not numpy's float64; relu/max/conv stay int32."""
    call, dtype = INT_INPUTS[name]
    x = np.array([[3, -1, 0, 2], [1, 4, -2, 0]], dtype=np.int32)
    result = tcomp.jit(call, backend=backend)(x)
    assert result.dtype == np.dtype(dtype), f"{name}: {result.dtype}"
    expected = np.asarray(tcomp.jit(call, backend=backend)(x.astype(np.float64)))
    np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-6)


def test_sigmoid_saturates_without_overflow(backend):
    x = np.array([-100.0, -30.0, 0.0, 30.0, 100.0], dtype=np.float32)
    result = np.asarray(tcomp.jit(nn.sigmoid, backend=backend)(x))
    assert np.all(np.isfinite(result))
    # exp(-100) is a float32 subnormal with few significant bits: compare it absolutely.
    np.testing.assert_allclose(result, ref.sigmoid(x), rtol=1e-6, atol=1e-43)


def test_causal_attention_ignores_future_keys(backend):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 4, 3)) for _ in range(3))
    f = tcomp.jit(lambda q, k, v: nn.attention(q, k, v, causal=True), backend=backend)
    base = np.asarray(f(q, k, v))
    k2, v2 = k.copy(), v.copy()
    k2[:, 2:] += 5.0
    v2[:, 2:] -= 3.0
    changed = np.asarray(f(q, k2, v2))
    np.testing.assert_allclose(
        changed[:, :2], base[:, :2], rtol=1e-12
    )  # rows 0, 1 never see keys 2, 3
    assert not np.allclose(changed[:, 2:], base[:, 2:])
    # The first query sees only the first key: its output is v[0].
    np.testing.assert_allclose(base[:, 0], v[:, 0], rtol=1e-12)


def test_gelu_is_the_exact_form_by_default():
    # PyTorch's default (issue 15); differs from the tanh form by ~1e-4 here. The tanh
    # form (approximate="tanh") is tested in test_nn_resample.py.
    x = np.array([-3.0, -1.5, 0.5, 1.0, 2.5])
    np.testing.assert_allclose(np.asarray(nn.gelu(x)), ref.gelu(x), rtol=1e-12, atol=1e-14)
    assert np.abs(ref.gelu(x) - ref.gelu(x, "tanh")).max() > 1e-4


def test_cross_entropy_gradient_of_labels_is_not_needed(backend):
    """value_and_grad over logits only; integer labels ride along as a plain argument."""
    logits = np.array([[0.5, -1.0, 2.0]], dtype=np.float64)
    loss, g = tcomp.jit(tcomp.value_and_grad(nn.cross_entropy), backend=backend)(
        logits, np.array([0])
    )
    np.testing.assert_allclose(float(loss), ref.cross_entropy(logits, np.array([0])), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g), ref.softmax(logits) - np.eye(3)[[0]], rtol=1e-12)


def test_nn_functions_trace_once_per_signature(backend):
    f = tcomp.jit(
        lambda x, w: nn.max_pool2d(nn.relu(nn.conv2d(x, w, padding=1)), 2), backend=backend
    )
    rng = np.random.default_rng(1)
    for _ in range(3):
        f(
            rng.standard_normal((1, 2, 4, 4)).astype(np.float32),
            rng.standard_normal((2, 2, 3, 3)).astype(np.float32),
        )
    assert f.trace_count == 1
