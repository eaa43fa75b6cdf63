"""``grad``, ``value_and_grad`` and ``vjp`` inside and outside ``jit``,
checked against central finite differences in float64 and against
analytic derivatives.
"""

from __future__ import annotations

import numpy as np
import pytest
from frontend_helpers import check, fixture_settings, random_array, seeds, shapes
from hypothesis import given
from hypothesis import strategies as st

import tcomp
from tcomp.errors import TcompArgumentError, TcompTypeError


def numerical_grad(fn, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of scalar ``fn`` (numpy in, float out) at float64 ``x``."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += eps
        minus[i] -= eps
        grad[i] = (fn(plus) - fn(minus)) / (2 * eps)
    return grad


def loss(w, b, x):
    """A small model: tanh layer, squared, mean."""
    return tcomp.mean(tcomp.tanh(x @ w + b) ** 2)


def loss_np(w, b, x):
    return float(np.mean(np.tanh(x @ w + b) ** 2))


def _params(seed: int, n: int = 3, k: int = 2, batch: int = 4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, k)), rng.normal(size=(k,)), rng.normal(size=(batch, n))


def _maybe_jit(fn, inside_jit: bool, backend: str):
    return tcomp.jit(fn, backend=backend) if inside_jit else fn


def _assert_close(actual, expected, backend, rtol=1e-6, atol=1e-8):
    assert isinstance(actual, tcomp.Array) and actual.backend == backend
    assert actual.dtype == np.float64
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# grad and value_and_grad


@pytest.mark.parametrize("inside_jit", [True, False])
@fixture_settings
@given(seed=seeds)
def test_grad_matches_finite_differences(monkeypatch, backend, inside_jit, seed):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    w, b, x = _params(seed)
    grad_fn = _maybe_jit(tcomp.grad(loss), inside_jit, backend)
    _assert_close(grad_fn(w, b, x), numerical_grad(lambda v: loss_np(v, b, x), w), backend)


@pytest.mark.parametrize("inside_jit", [True, False])
def test_argnums_tuple_and_negative(monkeypatch, backend, inside_jit):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    w, b, x = _params(1)
    grads = _maybe_jit(tcomp.grad(loss, argnums=(0, 2)), inside_jit, backend)(w, b, x)
    assert isinstance(grads, tuple) and len(grads) == 2
    _assert_close(grads[0], numerical_grad(lambda v: loss_np(v, b, x), w), backend)
    _assert_close(grads[1], numerical_grad(lambda v: loss_np(w, b, v), x), backend)
    grad_b = _maybe_jit(tcomp.grad(loss, argnums=1), inside_jit, backend)(w, b, x)
    _assert_close(grad_b, numerical_grad(lambda v: loss_np(w, v, x), b), backend)
    grad_last = _maybe_jit(tcomp.grad(loss, argnums=-1), inside_jit, backend)(w, b, x)
    _assert_close(grad_last, grads[1], backend)


@pytest.mark.parametrize("inside_jit", [True, False])
def test_value_and_grad_of_dict_params(monkeypatch, backend, inside_jit):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    w, b, x = _params(2)
    params = {"layer": {"w": w, "b": b}, "scale": np.float64(1.5), "unused": None}

    def model_loss(p, data):
        return loss(p["layer"]["w"], p["layer"]["b"], data) * p["scale"]

    value, grads = _maybe_jit(tcomp.value_and_grad(model_loss), inside_jit, backend)(params, x)
    _assert_close(value, 1.5 * loss_np(w, b, x), backend)
    assert set(grads) == {"layer", "scale", "unused"} and set(grads["layer"]) == {"w", "b"}
    assert grads["unused"] is None
    _assert_close(grads["layer"]["w"], 1.5 * numerical_grad(lambda v: loss_np(v, b, x), w), backend)
    _assert_close(grads["layer"]["b"], 1.5 * numerical_grad(lambda v: loss_np(w, v, x), b), backend)
    _assert_close(grads["scale"], loss_np(w, b, x), backend)


@pytest.mark.parametrize("inside_jit", [True, False])
def test_has_aux(monkeypatch, backend, inside_jit):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    x = np.array([0.5, -1.0, 2.0])

    def with_aux(v):
        return tcomp.sum(v**2), {"double": v * 2, "count": 3}

    grads, aux = _maybe_jit(tcomp.grad(with_aux, has_aux=True), inside_jit, backend)(x)
    _assert_close(grads, 2 * x, backend)
    _assert_close(aux["double"], 2 * x, backend)
    assert int(np.asarray(aux["count"])) == 3
    (value, aux), grads = _maybe_jit(tcomp.value_and_grad(with_aux, has_aux=True), inside_jit, backend)(x)
    _assert_close(value, np.sum(x**2), backend)
    _assert_close(grads, 2 * x, backend)
    _assert_close(aux["double"], 2 * x, backend)


def test_has_aux_needs_a_pair(backend):
    with pytest.raises(TcompTypeError, match="has_aux=True needs the function to return a pair"):
        tcomp.jit(tcomp.grad(lambda v: tcomp.sum(v), has_aux=True), backend=backend)(np.ones(2))


@pytest.mark.parametrize("inside_jit", [True, False])
def test_grad_of_a_non_scalar_is_an_error(backend, inside_jit):
    grad_fn = _maybe_jit(tcomp.grad(lambda v: v * 2), inside_jit, backend)
    with pytest.raises(TcompTypeError, match=r"float scalar, got f64\[3\]") as info:
        grad_fn(np.ones(3))
    assert "test_transforms.py" in str(info.value)


@pytest.mark.parametrize("inside_jit", [True, False])
def test_grad_with_respect_to_an_int_is_an_error(backend, inside_jit):
    grad_fn = _maybe_jit(tcomp.grad(lambda v, n: tcomp.sum(v * n), argnums=1), inside_jit, backend)
    with pytest.raises(TcompTypeError, match="dtype int32.*float"):
        grad_fn(np.ones(3), np.arange(3))


def test_grad_of_an_integer_output_is_an_error(backend):
    with pytest.raises(TcompTypeError, match="float scalar"):
        tcomp.jit(tcomp.grad(lambda v: tcomp.argmax(v)), backend=backend)(np.ones(3))


def test_bad_argnums_is_an_error(backend):
    with pytest.raises(TcompArgumentError, match="argnums 3"):
        tcomp.jit(tcomp.grad(loss, argnums=3), backend=backend)(*_params(0))


def test_grad_of_a_constant_function_is_zero(backend):
    x = np.array([1.0, 2.0])
    grads = tcomp.jit(tcomp.grad(lambda v: tcomp.sum(v * 0.0) + 2.0), backend=backend)(x)
    check(grads, np.zeros(2), np.float64, backend)


def test_eager_grad_takes_non_array_options(monkeypatch, backend):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    grad_fn = tcomp.grad(lambda v, activation, scale=1.0: tcomp.sum(getattr(tcomp, activation)(v)) * scale)
    x = np.array([0.0, 0.5])
    _assert_close(grad_fn(x, "sin"), np.cos(x), backend)
    _assert_close(grad_fn(x, "tanh", scale=2.0), 2 * (1 - np.tanh(x) ** 2), backend)
    _assert_close(grad_fn(x * 2, "sin"), np.cos(x * 2), backend)
    with pytest.raises(TcompTypeError, match=r"argument args\[1\]: dtype complex128"):
        grad_fn(x, np.ones(2, complex))


def test_grad_keeps_float32(backend):
    x = np.array([1.0, 2.0], np.float32)
    grads = tcomp.jit(tcomp.grad(lambda v: tcomp.sum(v**2) * 0.5), backend=backend)(x)
    check(grads, x, np.float32, backend)


# ---------------------------------------------------------------------------
# Higher order and closures


@pytest.mark.parametrize("inside_jit", [True, False])
@fixture_settings
@given(x0=st.floats(-2.0, 2.0))
def test_second_derivatives_match_analytic(monkeypatch, backend, inside_jit, x0):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    x = np.float64(x0)
    cube = _maybe_jit(tcomp.grad(tcomp.grad(lambda v: v**3)), inside_jit, backend)
    _assert_close(cube(x), 6 * x0, backend, atol=1e-10)
    tanh2 = _maybe_jit(tcomp.grad(tcomp.grad(tcomp.tanh)), inside_jit, backend)
    t = np.tanh(x0)
    _assert_close(tanh2(x), -2 * t * (1 - t**2), backend, atol=1e-10)
    third = _maybe_jit(tcomp.grad(tcomp.grad(tcomp.grad(tcomp.sin))), inside_jit, backend)
    _assert_close(third(x), -np.cos(x0), backend, atol=1e-10)


def test_grad_of_a_closure_over_a_traced_value(backend):
    @tcomp.jit(backend=backend)
    def fn(x, y):
        scale = tcomp.exp(y)  # traced in the outer function
        inner = lambda v: tcomp.sum(tcomp.sin(v) * scale)
        return tcomp.grad(inner)(x)

    x, y = np.array([0.1, 0.7]), np.array([0.3, -0.2])
    _assert_close(fn(x, y), np.cos(x) * np.exp(y), backend)


def test_grad_through_a_closure_is_differentiable_in_the_closed_value(backend):
    # d/dy of [d/dx sum(x * y)^2 / 2] at x, i.e. d/dy sum(x * y * y) = 2 * x * y.
    def outer(y, x):
        return tcomp.sum(tcomp.grad(lambda v: tcomp.sum((v * y) ** 2) / 2)(x))

    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.5])
    got = tcomp.jit(tcomp.grad(outer), backend=backend)(y, x)
    _assert_close(got, 2 * x * y, backend)


def test_grad_of_a_jitted_function(backend):
    jitted_loss = tcomp.jit(loss, backend=backend)
    w, b, x = _params(4)
    grads = tcomp.jit(tcomp.grad(jitted_loss), backend=backend)(w, b, x)
    _assert_close(grads, numerical_grad(lambda v: loss_np(v, b, x), w), backend)


def test_training_step_from_the_issue(backend):
    @tcomp.jit(backend=backend)
    def train_step(params, x):
        value, grads = tcomp.value_and_grad(lambda p: loss(p["w"], p["b"], x))(params)
        return value, tcomp.tree_map(lambda p, g: p - 0.1 * g, params, grads)

    w, b, x = _params(5)
    params = {"w": w, "b": b}
    losses = []
    for _ in range(5):
        value, params = train_step(params, x)
        losses.append(float(value))
    assert train_step.trace_count == 1  # Arrays fed back in have the first call's signature
    assert losses[-1] < losses[0]
    assert isinstance(params["w"], tcomp.Array)


# ---------------------------------------------------------------------------
# vjp


@pytest.mark.parametrize("inside_jit", [True, False])
@fixture_settings
@given(shape=shapes(min_dims=1, max_dims=2, min_side=1), seed=seeds)
def test_vjp_with_a_cotangent(monkeypatch, backend, inside_jit, shape, seed):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    rng = np.random.default_rng(seed)
    x = random_array(rng, shape, "float64")
    y = random_array(rng, shape[-1:], "float64")
    ct = random_array(rng, shape, "float64")

    def fn(a, b):
        return tcomp.sin(a) * b

    def both(a, b, cot):
        out, vjp_fn = tcomp.vjp(fn, a, b)
        return out, vjp_fn(cot)

    out, (ga, gb) = _maybe_jit(both, inside_jit, backend)(x, y, ct)
    _assert_close(out, np.sin(x) * y, backend)
    _assert_close(ga, ct * np.cos(x) * y, backend)
    _assert_close(gb, (ct * np.sin(x)).reshape(-1, shape[-1]).sum(axis=0), backend)
    # The same against finite differences of <ct, fn(x, y)>.
    expected = numerical_grad(lambda v: float(np.sum(ct * np.sin(v) * y)), x)
    _assert_close(ga, expected, backend)


def test_vjp_eagerly_returns_output_and_function(monkeypatch, backend):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    out, vjp_fn = tcomp.vjp(lambda a: {"sq": a**2, "sum": tcomp.sum(a)}, x)
    _assert_close(out["sq"], x**2, backend)
    (grad,) = vjp_fn({"sq": np.ones_like(x) * 2, "sum": np.float64(3.0)})
    _assert_close(grad, 2 * 2 * x + 3, backend)
    (grad_again,) = vjp_fn({"sq": np.zeros_like(x), "sum": np.float64(1.0)})
    _assert_close(grad_again, np.ones_like(x), backend)


def test_vjp_has_aux(monkeypatch, backend):
    monkeypatch.setenv("TCOMP_BACKEND", backend)
    x = np.array([1.0, -2.0])
    out, vjp_fn, aux = tcomp.vjp(lambda a: (a * 3, a.sum()), x, has_aux=True)
    _assert_close(out, 3 * x, backend)
    _assert_close(aux, np.float64(-1.0), backend)
    _assert_close(vjp_fn(np.array([1.0, 2.0]))[0], np.array([3.0, 6.0]), backend)


def test_vjp_cotangent_must_match_the_output(backend):
    def bad(x):
        out, vjp_fn = tcomp.vjp(tcomp.sin, x)
        return vjp_fn(tcomp.ones((3,), dtype="float64"))

    with pytest.raises(TcompArgumentError, match=r"cotangent 0 must be f64\[2\], got f64\[3\]"):
        tcomp.jit(bad, backend=backend)(np.ones(2))

    def bad_structure(x):
        out, vjp_fn = tcomp.vjp(lambda a: (a, a), x)
        return vjp_fn(x)

    with pytest.raises(TcompArgumentError, match="structure"):
        tcomp.jit(bad_structure, backend=backend)(np.ones(2))
