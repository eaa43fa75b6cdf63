"""Pooling as window reductions: ``reduce_window_sum``, ``reduce_window_max`` (and
``window_argmax``, the max's gradient routing) on every available backend against
plain loops (``direct_window`` in gradcheck.py, and PyTorch's pooling written out as
loops here); gradients against finite differences in float64 on the reference
backend and against the reference per backend; ``tcomp.nn`` max/avg pooling with
PyTorch's arguments (padding, dilation, ceil_mode, count_include_pad).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from gradcheck import check_gradients, distinct_values, one_op_function
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from window_reference import direct_window, window_attrs_and_shapes

import tcomp
from tcomp import nn
from tcomp.frontend.dispatch import bind
from tcomp.ir.errors import TcompShapeError, TcompTypeError

FIXTURE_OK = [HealthCheck.function_scoped_fixture]
KIND = {"reduce_window_sum": "sum", "reduce_window_max": "max", "window_argmax": "argmax"}


def _run(backend, op, x, attrs):
    return np.asarray(tcomp.jit(lambda x: bind(op, [x], **attrs), backend=backend)(x))


# ---------------------------------------------------------------------------
# The primitives on every backend


@pytest.mark.parametrize("op", sorted(KIND))
@settings(max_examples=20, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_primitive_matches_direct_loops(backend, op, data):
    shape, attrs = data.draw(window_attrs_and_shapes("sum" if op == "reduce_window_sum" else "max"))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = rng.standard_normal(shape).astype(np.float32)
    if op == "window_argmax" and data.draw(st.booleans()):
        x = np.round(x)  # ties: the first maximum wins
    expected = direct_window(x, KIND[op], **attrs)
    got = _run(backend, op, x, attrs)
    assert got.shape == expected.shape
    if op == "window_argmax":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_argmax_routes_padding_and_nan(backend):
    # a window of padding and -inf picks its first element, padding: index x.size;
    # NaN counts as the maximum, as numpy's argmax
    x = np.array([[-np.inf, 1.0, np.nan, 2.0, 2.0]], np.float32)
    attrs = {"window": (1, 2), "strides": (1, 1), "padding": (0, 0, 1, 1), "window_dilation": (1, 1)}
    np.testing.assert_array_equal(_run(backend, "window_argmax", x, attrs), [[5, 1, 2, 2, 3, 4]])
    np.testing.assert_array_equal(direct_window(x, "argmax", **attrs), [[5, 1, 2, 2, 3, 4]])


def test_reference_is_independent_of_direct_loops_float64():
    from tcomp.ir.primitives import PRIMITIVES

    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 9))
    attrs = {"window": (1, 2, 3, 2), "strides": (1, 1, 2, 3), "padding": (0, 1, 0, 0, 1, 2, 0, 3),
             "window_dilation": (1, 1, 2, 1)}
    for op in KIND:
        full = {**attrs, "base_dilation": (1, 2, 1, 2)} if op == "reduce_window_sum" else attrs
        np.testing.assert_allclose(PRIMITIVES[op].reference([x], full),
                                   direct_window(x, KIND[op], **full), rtol=1e-12, atol=1e-12)


def test_shape_errors_name_the_op():
    with pytest.raises(TcompShapeError, match="reduce_window_max: window"):
        bind("reduce_window_max", [np.zeros((2, 3), np.float32)], window=(2,), strides=(1, 1),
             padding=(0, 0, 0, 0), window_dilation=(1, 1))
    with pytest.raises(TcompTypeError, match="reduce_window_max: needs a float"):
        bind("reduce_window_max", [np.zeros((2, 3), np.int32)], window=(1, 2), strides=(1, 1),
             padding=(0, 0, 0, 0), window_dilation=(1, 1))


# ---------------------------------------------------------------------------
# Gradients


@pytest.mark.parametrize("op", ["reduce_window_sum", "reduce_window_max"])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_gradient_matches_finite_differences(op, data):
    kind = KIND[op]
    shape, attrs = data.draw(window_attrs_and_shapes(kind))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x = distinct_values(rng, shape) if kind == "max" else rng.standard_normal(shape)
    check_gradients(one_op_function(op, [x], attrs), [x], [0], rng=rng)


def _no_select_chains(fn):
    ops = [node.op for node in fn.nodes]
    return ops.count("select") == 0 and "concatenate" not in ops


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pool_gradient_is_a_scatter_or_window_sum_not_a_select_chain(pool):
    f = nn.max_pool2d if pool == "max" else nn.avg_pool2d
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    lowered = tcomp.jit(tcomp.grad(lambda x: tcomp.sum(f(x, 3, 2, padding=1))),
                        backend="reference").lower(x)
    text = str(lowered)
    assert ("scatter_add" in text) if pool == "max" else ("reduce_window_sum" in text)
    assert "select" not in text and "concatenate" not in text


@pytest.mark.parametrize("pool", ["max", "avg"])
@settings(max_examples=8, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_pool_gradient_per_backend_matches_reference(backend, pool, data):
    case = data.draw(pool_cases(2, pool))
    x, kwargs = case
    f = nn.max_pool2d if pool == "max" else nn.avg_pool2d
    x = x.astype(np.float32)
    w = np.random.default_rng(1).standard_normal(f(x, **kwargs).shape).astype(np.float32)

    def loss(x):
        return tcomp.sum(f(x, **kwargs) * w)

    got = np.asarray(tcomp.jit(tcomp.grad(loss), backend=backend)(x))
    want = np.asarray(tcomp.jit(tcomp.grad(loss), backend="reference")(x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# tcomp.nn pooling against PyTorch's definitions written out as loops


def torch_pool(x, pool, kernel, stride, padding, dilation=None, ceil_mode=False,
               count_include_pad=True):
    """PyTorch's max_pool / avg_pool by its formulas, in loops over output positions."""
    x = np.asarray(x, np.float64)
    d = x.ndim - 2
    dilation = dilation or (1,) * d
    out_sizes = []
    for a in range(d):
        span = dilation[a] * (kernel[a] - 1) + 1
        room = x.shape[2 + a] + 2 * padding[a] - span
        n = (math.ceil(room / stride[a]) if ceil_mode else room // stride[a]) + 1
        if ceil_mode and (n - 1) * stride[a] >= x.shape[2 + a] + padding[a]:
            n -= 1
        out_sizes.append(n)
    out = np.zeros(x.shape[:2] + tuple(out_sizes))
    for o in itertools.product(*(range(n) for n in out_sizes)):
        starts = [o[a] * stride[a] - padding[a] for a in range(d)]
        if pool == "max":
            best = np.full(x.shape[:2], -np.inf)
            for k in itertools.product(*(range(n) for n in kernel)):
                p = [starts[a] + k[a] * dilation[a] for a in range(d)]
                if all(0 <= p[a] < x.shape[2 + a] for a in range(d)):
                    best = np.maximum(best, x[(Ellipsis, *p)])
            out[(Ellipsis, *o)] = best
        else:
            ends = [min(starts[a] + kernel[a], x.shape[2 + a] + padding[a]) for a in range(d)]
            divisor = math.prod(e - s for s, e in zip(starts, ends))
            lo = [max(s, 0) for s in starts]
            hi = [min(e, x.shape[2 + a]) for a, e in enumerate(ends)]
            if not count_include_pad:
                divisor = math.prod(h - l for l, h in zip(lo, hi))
            region = x[(Ellipsis, *(slice(l, h) for l, h in zip(lo, hi)))]
            out[(Ellipsis, *o)] = region.sum(axis=tuple(range(2, 2 + d))) / divisor
    return out


@st.composite
def pool_cases(draw, d, pool):
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(d))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(d)) if pool == "max" else (1,) * d
    # at least the dilation long: every window then holds an input element (windows of
    # padding alone are test_window_of_padding_alone_*'s business)
    sizes = tuple(
        draw(st.integers(max(1, dl, dl * (k - 1) + 1 - 2 * p), 7 if d < 3 else 5))
        for k, p, dl in zip(kernel, padding, dilation)
    )
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = distinct_values(rng, (n, c, *sizes))
    kwargs = {"kernel_size": kernel, "stride": stride, "padding": padding,
              "ceil_mode": draw(st.booleans())}
    if pool == "max":
        kwargs["dilation"] = dilation
    else:
        kwargs["count_include_pad"] = draw(st.booleans())
    return x, kwargs


POOLS = {("max", 1): nn.max_pool1d, ("max", 2): nn.max_pool2d, ("max", 3): nn.max_pool3d,
         ("avg", 1): nn.avg_pool1d, ("avg", 2): nn.avg_pool2d, ("avg", 3): nn.avg_pool3d}


@pytest.mark.parametrize("pool, d", sorted(POOLS))
@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_nn_pool_matches_pytorch_loops(backend, pool, d, data):
    x, kwargs = data.draw(pool_cases(d, pool))
    got = np.asarray(tcomp.jit(lambda x: POOLS[pool, d](x, **kwargs), backend=backend)(x))
    expected = torch_pool(x, pool, kwargs["kernel_size"], kwargs["stride"], kwargs["padding"],
                          kwargs.get("dilation"), kwargs["ceil_mode"],
                          kwargs.get("count_include_pad", True))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pool", ["max", "avg"])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_nn_pool_gradient_matches_finite_differences(pool, data):
    x, kwargs = data.draw(pool_cases(2, pool))
    f = POOLS[pool, 2]
    w = np.random.default_rng(3).standard_normal(
        torch_pool(x, pool, kwargs["kernel_size"], kwargs["stride"], kwargs["padding"],
                   kwargs.get("dilation"), kwargs["ceil_mode"]).shape)
    grad = np.asarray(tcomp.jit(tcomp.grad(lambda x: tcomp.sum(f(x, **kwargs) * w)),
                                backend="reference")(x))
    eps, numeric = 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (np.sum(np.asarray(f(up, **kwargs)) * w)
                      - np.sum(np.asarray(f(down, **kwargs)) * w)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_pytorch_defaults_and_old_signature():
    x = np.arange(2 * 16, dtype=np.float64).reshape(1, 2, 4, 4)
    for f, pool in ((nn.max_pool2d, "max"), (nn.avg_pool2d, "avg")):
        want = torch_pool(x, pool, (2, 2), (2, 2), (0, 0))
        np.testing.assert_array_equal(np.asarray(f(x, 2)), want)
        np.testing.assert_array_equal(np.asarray(f(x, kernel=2, stride=None)), want)
        np.testing.assert_array_equal(np.asarray(f(x, (2, 2), stride=(2, 2))), want)


def test_adaptive_avg_pool2d(backend):
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 6))
    for out in [(1, 1), (3, 2), (4, 4), (7, 6)]:
        got = np.asarray(tcomp.jit(lambda x: nn.adaptive_avg_pool2d(x, out), backend=backend)(x))
        want = np.zeros((2, 3) + out)
        for i, j in itertools.product(range(out[0]), range(out[1])):
            h0, h1 = i * 7 // out[0], -(-(i + 1) * 7 // out[0])
            w0, w1 = j * 6 // out[1], -(-(j + 1) * 6 // out[1])
            want[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_pool_errors():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(TcompShapeError, match="max_pool2d: padding"):
        nn.max_pool2d(x, 2, padding=2)
    with pytest.raises(TcompShapeError, match="max_pool2d: kernel"):
        nn.max_pool2d(x, 5)
    with pytest.raises(TcompShapeError, match="avg_pool1d: needs an input"):
        nn.avg_pool1d(x, 2)
    with pytest.raises(TcompTypeError, match="kernel_size"):
        nn.max_pool2d(x)


def test_window_of_padding_alone_in_the_primitive(backend):
    """Input (1,), window 3, dilation 2, padding (1, 4): the first window reads positions
    -1, 1 and 3, none of them the input. Its max is -inf (the max of padding) and no
    gradient reaches the input from it; its argmax names the padding (index x.size)."""
    attrs = {"window": (3,), "strides": (1,), "padding": (1, 4), "window_dilation": (2,)}
    x = np.array([0.5])
    np.testing.assert_array_equal(_run(backend, "reduce_window_max", x, attrs), [-np.inf, 0.5])
    np.testing.assert_array_equal(_run(backend, "window_argmax", x, attrs), [1, 0])
    grad = tcomp.jit(tcomp.grad(lambda x: tcomp.sum(
        bind("reduce_window_max", [x], **attrs) * np.array([3.0, 2.0]))), backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(grad), [2.0])


def test_window_of_padding_alone_in_nn_max_pool_is_pytorchs(backend):
    """F.max_pool1d(x of length 1, 2, padding=1, dilation=2) gives -inf with gradient 0 in
    PyTorch (its padding check is against the kernel, not the dilated span); so does tcomp."""
    x = np.array([[[0.5]]])
    f = tcomp.jit(lambda x: nn.max_pool1d(x, 2, padding=1, dilation=2), backend=backend)
    np.testing.assert_array_equal(np.asarray(f(x)), [[[-np.inf]]])
    np.testing.assert_array_equal(np.asarray(f(x)), torch_pool(x, "max", (2,), (2,), (1,), (2,)))
    grad = tcomp.jit(tcomp.grad(lambda x: tcomp.sum(
        tcomp.where(f(x) > -np.inf, f(x), 0.0))), backend=backend)(x)
    np.testing.assert_array_equal(np.asarray(grad), [[[0.0]]])
