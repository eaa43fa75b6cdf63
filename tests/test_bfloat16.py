"""bfloat16 from the user's side: host arrays, promotion, the IR text, the reference's
meaning, tcomp's rounding to bfloat16 (``tcomp.ir.bfloat16`` against an exact
Fraction oracle, ``tests/rounding_oracle.py``; conversions and Python-float
constants on every backend), and a model trained in bfloat16 on every backend.

Backend-specific bit-level checks (every bf16 pattern, float32 rounding ties,
NaN payloads) live beside each backend: tests/test_llvm_bfloat16.py and
tests/test_cfamily_bfloat16.py.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rounding_oracle import BFLOAT16

import tcomp
from tcomp import nn
from tcomp.ir.bfloat16 import bfloat16_bits, to_bfloat16
from tcomp.ir.errors import TcompTypeError
from tcomp.ir.text import parse_function, print_function
from tcomp.ir.types import promote_dtypes

INFINITY, midpoint, oracle_bits = BFLOAT16.infinity, BFLOAT16.midpoint, BFLOAT16.oracle_bits

BF16 = np.dtype(ml_dtypes.bfloat16)
RTOL, ATOL = 2e-2, 1e-2  # 8 significant bits, a few roundings deep


def _bf16(values) -> np.ndarray:
    return np.asarray(values, np.float32).astype(BF16)


# ------------------------------------------------------------------ dtypes and promotion


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("bfloat16", "bfloat16", "bfloat16"),
        ("bfloat16", "float32", "float32"),
        ("bfloat16", "float64", "float64"),
        ("bfloat16", "float16", "float32"),  # numpy has no rule; JAX's
        ("float16", "bfloat16", "float32"),
        ("bfloat16", "int32", "float64"),  # like float16 with int32
        ("bfloat16", "bool", "bfloat16"),
    ],
)
def test_promotion(a, b, expected):
    assert promote_dtypes(a, b) == expected


def test_arrays_keep_bfloat16_and_python_scalars_are_weak():
    x = _bf16([1.0, 2.0, 3.0])
    f = tcomp.jit(lambda x: (x * 2.5, x + np.float32(1), x.astype(tcomp.float32), x > 1.5),
                  backend="reference")
    scaled, widened, converted, compared = f(x)
    assert scaled.dtype == BF16 and np.asarray(scaled).dtype == BF16
    assert widened.dtype == np.float32 and converted.dtype == np.float32
    assert compared.dtype == np.bool_
    np.testing.assert_array_equal(np.asarray(scaled).astype(np.float32), [2.5, 5.0, 7.5])


def test_astype_names_and_eager_ops():
    x = tcomp.jit(lambda v: v, backend="reference")(np.array([0.1, 1e-3, 3e38], np.float32))
    assert isinstance(x, tcomp.Array)
    for name in ("bfloat16", tcomp.bfloat16, ml_dtypes.bfloat16, BF16):
        y = x.astype(name)
        assert y.dtype == BF16
        np.testing.assert_array_equal(np.asarray(y), np.array([0.1, 1e-3, 3e38],
                                                              np.float32).astype(BF16))


def test_unsupported_dtypes_still_name_bfloat16():
    with pytest.raises(TcompTypeError, match="bfloat16"):
        tcomp.jit(lambda x: x)(np.zeros(2, np.complex64))


def test_ir_text_round_trips_bfloat16_constants():
    values = _bf16([0.1, -2.5, np.inf, -np.inf, np.nan, 1e-40, 3.0e38])
    f = tcomp.jit(lambda x: x * values, backend="reference")
    text = f.lower(values).as_text("optimized")
    assert "bf16[7]" in text
    function = parse_function(text)
    assert print_function(function) == text
    constant = [n for n in function.nodes if n.op == "constant"][0].attrs["value"]
    assert constant.dtype == BF16
    assert constant.view(np.uint16).tolist() == values.view(np.uint16).tolist()


# ------------------------------------------------------------------ the reference's meaning


def test_sums_accumulate_in_float32_not_bfloat16():
    # a running bfloat16 total sticks at 256 (257 is not a bfloat16); a float32 one does not
    ones = _bf16(np.ones(4096))
    total = tcomp.jit(lambda x: x.sum(), backend="reference")(ones)
    assert float(np.asarray(total).astype(np.float32)) == 4096.0
    assert float(np.add.reduce(ones[:1000], dtype=BF16).astype(np.float32)) < 1000


def test_matmul_accumulates_in_float32_and_rounds_once():
    rng = np.random.default_rng(0)
    a, b = _bf16(rng.standard_normal((5, 300))), _bf16(rng.standard_normal((300, 4)))
    product = tcomp.jit(lambda a, b: a @ b, backend="reference")(a, b)
    exact = a.astype(np.float32) @ b.astype(np.float32)
    assert np.asarray(product).view(np.uint16).tolist() == exact.astype(BF16).view(np.uint16).tolist()


def test_elementwise_ops_compute_in_float32_and_round_once():
    x = _bf16(np.linspace(-3, 3, 61))
    got = np.asarray(tcomp.jit(lambda x: tcomp.tanh(x), backend="reference")(x))
    want = np.tanh(x.astype(np.float32)).astype(BF16)
    assert got.view(np.uint16).tolist() == want.view(np.uint16).tolist()


# ------------------------------------------------------------------ tcomp's rounding


def _bits(values) -> list[int]:
    return bfloat16_bits(np.asarray(values)).astype(int).tolist()


@st.composite
def near_midpoints(draw) -> float:
    """A float64 at, or a few ulps around, the midpoint of two neighbouring bfloat16
    magnitudes (subnormal ones, and the last: the overflow threshold, included)."""
    pattern = draw(st.one_of(st.integers(0, 0x100), st.integers(0x7F00, INFINITY - 1),
                             st.integers(0, INFINITY - 1)))
    exact = midpoint(pattern)
    x = float(exact)
    assert x == exact  # 9 significant bits: a float64 holds it
    steps = draw(st.integers(-3, 3))
    for _ in range(abs(steps)):
        x = math.nextafter(x, math.inf if steps > 0 else 0.0)
    return -x if draw(st.booleans()) else x


@given(st.lists(st.floats(width=64), min_size=1, max_size=40))
@example([1 + 2**-8 + 2**-40, 1 + 2**-8, 1 + 3 * 2**-8, 2**-134, 2**-134 * (1 + 2**-52)])
@example([3.3961e38, float(midpoint(INFINITY - 1)), 1e300, 5e-324, -0.0, math.inf, -math.nan])
def test_float64_rounds_once_to_the_nearest_bfloat16(values):
    assert _bits(values) == [oracle_bits(x) for x in values]


@given(st.lists(near_midpoints(), min_size=1, max_size=40))
def test_values_at_and_around_midpoints_round_to_nearest_even(values):
    assert _bits(values) == [oracle_bits(x) for x in values]


@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=40))
def test_float32_rounds_once_to_the_nearest_bfloat16(patterns):
    values = np.array(patterns, np.uint32).view(np.float32)
    assert _bits(values) == [oracle_bits(float(x)) for x in values]


@given(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=40))
@example([2**24 + 2**16 + 1, -(2**24 + 2**16 + 1), 2**31 - 1, -(2**31), 2**24 + 1, 257])
def test_int32_rounds_once_to_the_nearest_bfloat16(ints):
    assert _bits(np.array(ints, np.int32)) == [oracle_bits(i) for i in ints]


def test_every_float16_rounds_once_to_the_nearest_bfloat16():
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    assert _bits(halves) == [oracle_bits(float(h)) for h in halves]


def test_double_rounding_cases_round_once():
    # through float32, 1 + 2**-8 + 2**-40 would lose the 2**-40 and tie to even (1.0)
    assert _bits([1 + 2**-8 + 2**-40]) == [0x3F81]
    # and 2**24 + 2**16 + 1 would become 2**24 + 2**16 (float32 ties to even), then 2**24
    assert float(to_bfloat16(np.int32(2**24 + 2**16 + 1)).astype(np.float64)) == 2**24 + 2**17
    assert to_bfloat16(np.float64([1.0, 2.0])).dtype == BF16


def _conversions(d, i):
    return d.astype(tcomp.bfloat16), i.astype(tcomp.bfloat16)


def test_conversions_to_bfloat16_round_once_on_every_backend(backend):
    rng = np.random.default_rng(3)
    halfway = np.array([float(midpoint(p)) for p in range(0, INFINITY, 97)])
    d = np.concatenate([halfway, np.nextafter(halfway, 0), np.nextafter(halfway, np.inf),
                        -halfway, [1 + 2**-8 + 2**-40, np.nan, -np.inf, 1e300, 1e-300]])
    i = np.concatenate([rng.integers(-(2**31), 2**31, 500), [2**24 + 2**16 + 1, 2**31 - 1]])
    i = i.astype(np.int32)
    with np.errstate(all="ignore"):
        got = tcomp.jit(_conversions, backend=backend)(d, i)
    for result, source in zip(got, (d, i)):
        assert np.asarray(result).dtype == BF16
        assert np.asarray(result).view(np.uint16).tolist() == _bits(source)


def test_python_float_constants_round_once_on_every_backend(backend):
    # the weak scalar becomes a bfloat16 constant: 1 + 2**-7, not 1.0 (float32's tie)
    ones = np.ones(8, BF16)
    got = tcomp.jit(lambda x: x * (1 + 2**-8 + 2**-40), backend=backend)(ones)
    assert np.asarray(got).view(np.uint16).tolist() == [0x3F81] * 8


# ------------------------------------------------------------------ every backend


def _mlp_loss(params, x, labels):
    hidden = nn.relu(x @ params["w1"] + params["b1"])
    return nn.cross_entropy(hidden @ params["w2"] + params["b2"], labels)


def _mlp_arguments(seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {
        "w1": _bf16(rng.standard_normal((12, 16)) * 0.3),
        "b1": _bf16(np.zeros(16)),
        "w2": _bf16(rng.standard_normal((16, 3)) * 0.3),
        "b2": _bf16(np.zeros(3)),
    }
    return params, _bf16(rng.standard_normal((33, 12))), rng.integers(0, 3, 33).astype(np.int32)


def _close(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype == BF16
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32),
                               rtol=RTOL, atol=ATOL)


def test_a_bfloat16_model_and_its_gradient_match_the_reference(backend):
    params, x, labels = _mlp_arguments()
    value_and_grad = tcomp.value_and_grad(_mlp_loss)
    want_loss, want_grads = tcomp.jit(value_and_grad, backend="reference")(params, x, labels)
    got_loss, got_grads = tcomp.jit(value_and_grad, backend=backend)(params, x, labels)
    _close(got_loss, want_loss)
    for name in params:
        _close(got_grads[name], want_grads[name])


def test_bfloat16_training_steps_lower_the_loss(backend):
    params, x, labels = _mlp_arguments(1)

    @tcomp.jit(backend=backend)
    def step(params, x, labels):
        loss, grads = tcomp.value_and_grad(_mlp_loss)(params, x, labels)
        return loss, tcomp.tree_map(lambda p, g: p - 0.5 * g, params, grads)

    losses = []
    for _ in range(30):
        loss, params = step(params, x, labels)
        losses.append(float(np.asarray(loss).astype(np.float32)))
    assert all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("shape", [(0, 5), (1,), (7, 13), (3, 1023)])
def test_odd_shapes_softmax_and_sums(backend, shape):
    rng = np.random.default_rng(len(shape))
    x = _bf16(rng.standard_normal(shape) * 4)

    def f(x):
        return nn.softmax(x, axis=-1), x.sum(axis=-1), x.max(axis=-1)

    want = tcomp.jit(f, backend="reference")(x)
    got = tcomp.jit(f, backend=backend)(x)
    for g, w in zip(got, want):
        _close(g, w)


def test_tcomp_check_compares_bfloat16_outputs_at_their_tolerance(tmp_path, capsys, monkeypatch):
    from tcomp.cli import main

    (tmp_path / "model.py").write_text(
        "import tcomp\n\n\ndef f(x):\n    return tcomp.tanh(x) * 2.0 + x.sum()\n"
    )
    monkeypatch.chdir(tmp_path)
    code = main(["check", "model.py:f", "--arg", "x=bf16[5,7]", "--backends", "llvm"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "bf16 rtol=2e-02 atol=1e-02" in out, out
    assert "PASS" in out
