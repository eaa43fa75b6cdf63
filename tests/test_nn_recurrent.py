"""``nn.lstm_cell``, ``nn.gru_cell``, ``nn.rnn_cell`` and ``nn.rnn``: PyTorch's gate
equations (written here in numpy), gradients equal to the Python-unrolled loop,
``reverse=True``, and errors that name the parameter, both shapes and the user's line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tcomp
from tcomp import nn
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError

# tests/test_nn.py's coverage check: tested here against numpy, not by reference cases
OTHERWISE_TESTED = {"gru_cell", "init_gru", "init_lstm", "init_rnn", "lstm_cell", "rnn", "rnn_cell"}

STEPS, BATCH, INPUT, HIDDEN = 4, 2, 3, 5
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
CELLS = {"lstm": nn.lstm_cell, "gru": nn.gru_cell, "rnn": nn.rnn_cell}


def _dtype(backend: str) -> type:
    return np.float32 if backend == "opencl" else np.float64


def _kinds(backend: str) -> tuple[str, ...]:
    """The cells whose slow-to-compile variants (reversed, differentiated) run on ``backend``:
    on opencl (PoCL compiles each kernel in a fraction of a second) the GRU alone."""
    return ("gru",) if backend == "opencl" else tuple(GATES)


def _tolerance(backend: str) -> dict:
    return {"rtol": 2e-4, "atol": 2e-5} if backend == "opencl" else {"rtol": 1e-10, "atol": 1e-12}


# --- PyTorch's equations (torch.nn.LSTMCell / GRUCell / RNNCell docs), in numpy ----------


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def _affine(p: dict, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gi = x @ p["weight_ih"].T + p.get("bias_ih", 0.0)
    gh = h @ p["weight_hh"].T + p.get("bias_hh", 0.0)
    return gi, gh


def np_lstm(p: dict, carry: tuple, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, c = carry
    gi, gh = _affine(p, x, h)
    i, f, g, o = np.split(gi + gh, 4, axis=-1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c), c


def np_gru(p: dict, h: np.ndarray, x: np.ndarray) -> np.ndarray:
    gi, gh = _affine(p, x, h)
    i_r, i_z, i_n = np.split(gi, 3, axis=-1)
    h_r, h_z, h_n = np.split(gh, 3, axis=-1)
    r, z = _sigmoid(i_r + h_r), _sigmoid(i_z + h_z)
    n = np.tanh(i_n + r * h_n)
    return (1.0 - z) * n + z * h


def np_rnn(p: dict, h: np.ndarray, x: np.ndarray) -> np.ndarray:
    gi, gh = _affine(p, x, h)
    return np.tanh(gi + gh)


NP_CELLS = {"lstm": np_lstm, "gru": np_gru, "rnn": np_rnn}


def np_scan(kind: str, p: dict, xs: np.ndarray, h0, reverse: bool = False):
    carry, hs = h0, [None] * len(xs)
    for t in reversed(range(len(xs))) if reverse else range(len(xs)):
        carry = NP_CELLS[kind](p, carry, xs[t])
        hs[t] = carry[0] if kind == "lstm" else carry
    return carry, np.stack(hs)


# --- data --------------------------------------------------------------------------------


def _params(kind: str, dtype: type, rng: np.random.Generator, bias: bool = True) -> dict:
    g = GATES[kind] * HIDDEN
    shapes = {"weight_ih": (g, INPUT), "weight_hh": (g, HIDDEN)}
    if bias:
        shapes.update(bias_ih=(g,), bias_hh=(g,))
    return {n: rng.uniform(-0.7, 0.7, s).astype(dtype) for n, s in shapes.items()}


def _data(dtype: type, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "params": {k: _params(k, dtype, rng) for k in GATES},
        "xs": rng.standard_normal((STEPS, BATCH, INPUT)).astype(dtype),
        "h": (rng.standard_normal((BATCH, HIDDEN)) * 0.5).astype(dtype),
        "c": (rng.standard_normal((BATCH, HIDDEN)) * 0.5).astype(dtype),
    }


def _carry(kind: str, d: dict):
    return (d["h"], d["c"]) if kind == "lstm" else d["h"]


def _close(got, want, backend: str) -> None:
    for g, w in zip(tcomp.tree_flatten(got)[0], tcomp.tree_flatten(want)[0]):
        np.testing.assert_allclose(np.asarray(g), w, **_tolerance(backend))


# --- values ------------------------------------------------------------------------------


def test_cells_follow_pytorch_equations(backend):
    d = _data(_dtype(backend))
    no_bias = {n: d["params"]["gru"][n] for n in ("weight_ih", "weight_hh")}

    @tcomp.jit(backend=backend)
    def cells(d, no_bias):
        out = {k: CELLS[k](d["params"][k], _carry(k, d), d["xs"][0]) for k in GATES}
        out["gru no bias"] = nn.gru_cell(no_bias, d["h"], d["xs"][1])
        out["rnn unbatched"] = nn.rnn_cell(d["params"]["rnn"], d["h"][0], d["xs"][2, 1])
        return out

    want = {k: NP_CELLS[k](d["params"][k], _carry(k, d), d["xs"][0]) for k in GATES}
    want["gru no bias"] = np_gru(no_bias, d["h"], d["xs"][1])
    want["rnn unbatched"] = np_rnn(d["params"]["rnn"], d["h"][0], d["xs"][2, 1])
    got = cells(d, no_bias)
    for name in want:
        _close(got[name], want[name], backend)


def test_rnn_matches_numpy_loop_forward_and_reverse(backend):
    d = _data(_dtype(backend), seed=1)

    def double(p, h, x):  # a cell of the user's own, through the generic path
        return tcomp.tanh(h * p["a"] + x.sum(axis=-1, keepdims=True))

    a = np.full((HIDDEN,), 0.5, _dtype(backend))

    @tcomp.jit(backend=backend)
    def run(d, a):
        out = {}
        for k in GATES:
            out[k] = nn.rnn(CELLS[k], d["params"][k], d["xs"], _carry(k, d))
            if k in _kinds(backend):
                out[k + " reverse"] = nn.rnn(CELLS[k], d["params"][k], d["xs"], reverse=True)
        out["own"] = nn.rnn(double, {"a": a}, d["xs"], d["h"], reverse=True)
        return out

    got = run(d, a)
    zero = np.zeros_like(d["h"])
    for k in GATES:
        _close(got[k], np_scan(k, d["params"][k], d["xs"], _carry(k, d)), backend)
        h0 = (zero, zero) if k == "lstm" else zero
        if k in _kinds(backend):
            _close(got[k + " reverse"], np_scan(k, d["params"][k], d["xs"], h0, True), backend)
    h, hs = d["h"], [None] * STEPS
    for t in reversed(range(STEPS)):
        h = hs[t] = np.tanh(h * a + d["xs"][t].sum(axis=-1, keepdims=True))
    _close(got["own"], (h, np.stack(hs)), backend)


# --- gradients: the scanned layers against the Python-unrolled loop ----------------------


def _loss(params: dict, xs, h, c, scanned: bool, kinds: tuple[str, ...]):
    """A loss reading every output and the final carry of each cell (the GRU reversed)."""
    total = 0.0
    for k in kinds:
        reverse = k == "gru"
        carry = (h, c) if k == "lstm" else h
        if scanned:
            carry, hs = nn.rnn(CELLS[k], params[k], xs, carry, reverse=reverse)
        else:
            outs = [None] * STEPS
            for t in reversed(range(STEPS)) if reverse else range(STEPS):
                carry = CELLS[k](params[k], carry, xs[t])
                outs[t] = carry[0] if k == "lstm" else carry
            hs = tcomp.stack(outs)
        weights = tcomp.arange(STEPS, dtype=str(xs.dtype)).reshape(STEPS, 1, 1) + 1.0
        total = total + tcomp.sum(hs * hs * weights)
        total = total + tcomp.sum(tcomp.tree_flatten(carry)[0][-1] * 0.3)
    return total


def test_rnn_gradient_equals_unrolled_loop(backend):
    """The scanned layers' gradients on ``backend`` against the unrolled loop's (on the
    reference backend: unrolled, the loop compiles slowly on the others)."""
    d, kinds = _data(_dtype(backend), seed=2), _kinds(backend)
    args = ({k: d["params"][k] for k in kinds}, d["xs"], d["h"], d["c"])
    results = []
    for scanned, on in ((True, backend), (False, "reference")):
        f = tcomp.value_and_grad(
            lambda p, xs, h, c, s=scanned: _loss(p, xs, h, c, s, kinds), argnums=(0, 1, 2, 3)
        )
        results.append(tcomp.jit(f, backend=on)(*args))
    (value, grads), (want_value, want_grads) = results
    tol = _tolerance(backend)
    np.testing.assert_allclose(np.asarray(value), np.asarray(want_value), **tol)
    got, want = tcomp.tree_flatten(grads)[0], tcomp.tree_flatten(want_grads)[0]
    assert len(got) == len(want) == len(kinds) * 4 + 3
    for index, (g, w) in enumerate(zip(got, want)):
        if index < len(got) - 1 or "lstm" in kinds:  # c (the last) only reaches the LSTM
            assert np.abs(np.asarray(w)).max() > 0  # every gradient takes part
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), **tol)


def test_rnn_traces_the_cell_once():
    d = _data(np.float64)
    f = tcomp.jit(lambda p, xs: nn.rnn(nn.lstm_cell, p, xs), backend="reference")
    ir = f.lower(d["params"]["lstm"], d["xs"]).as_text()
    assert ir.count("scan") >= 1 and ir.count("tanh") == 2  # one step's two tanh, not STEPS x 2


# --- initialisers ------------------------------------------------------------------------


def test_init_follows_pytorch_bounds_and_key():
    key = tcomp.random.key(3)
    init = tcomp.jit(
        lambda key: {
            "lstm": nn.init_lstm(key, 6, 16),
            "gru": nn.init_gru(key, 6, 4, dtype="float64", bias=False),
            "rnn": nn.init_rnn(key, 2, 3),
            "drawn": tcomp.random.uniform(
                tcomp.random.split(key, 4)[1], (64, 16), "float32", -0.25, 0.25
            ),
        },
        backend="reference",
    )
    got = init(key)
    lstm = {n: np.asarray(v) for n, v in got["lstm"].items()}
    assert {n: v.shape for n, v in lstm.items()} == {
        "weight_ih": (64, 6), "weight_hh": (64, 16), "bias_ih": (64,), "bias_hh": (64,),
    }
    for v in lstm.values():  # uniform(-1/sqrt(16), 1/sqrt(16))
        assert v.dtype == np.float32 and 0.2 < np.abs(v).max() < 0.25
    # weight_hh is drawn from the second of split(key, 4), as documented
    np.testing.assert_array_equal(lstm["weight_hh"], np.asarray(got["drawn"]))
    assert not np.array_equal(lstm["bias_ih"], lstm["bias_hh"])
    gru = got["gru"]
    assert sorted(gru) == ["weight_hh", "weight_ih"] and np.asarray(gru["weight_ih"]).shape == (12, 6)
    assert np.asarray(gru["weight_ih"]).dtype == np.float64
    assert np.asarray(got["rnn"]["bias_hh"]).shape == (3,)


# --- errors ------------------------------------------------------------------------------


def _f(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.float32)


def _raises(cls: type, *fragments: str):
    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(cls)
            self.info = self.ctx.__enter__()
            return self

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            message = str(self.info.value)
            for fragment in fragments + (Path(__file__).name,):
                assert fragment in message, message
            return handled

    return Check()


def test_wrong_parameter_shapes_name_parameter_and_shapes():
    p = {"weight_ih": _f(20, 3), "weight_hh": _f(20, 4), "bias_ih": _f(20), "bias_hh": _f(20)}
    bad = dict(p, weight_hh=_f(20, 5))
    with _raises(TcompShapeError, "nn.lstm_cell", "weight_hh", "(16, 4)", "(20, 5)"):
        nn.lstm_cell(dict(bad, weight_ih=_f(16, 3)), (_f(2, 4), _f(2, 4)), _f(2, 3))
    with _raises(TcompShapeError, "nn.gru_cell", "weight_ih", "(12, 3)", "(20, 3)"):
        nn.gru_cell(p, _f(2, 4), _f(2, 3))
    with _raises(TcompShapeError, "nn.rnn", "bias_ih", "(20,)", "(19,)"):
        nn.rnn(nn.lstm_cell, dict(bad, bias_ih=_f(19)), _f(5, 2, 3))
    with _raises(TcompShapeError, "nn.rnn", "weight_ih", "(20, 7)", "(20, 3)"):
        nn.rnn(nn.lstm_cell, bad, _f(5, 2, 7))
    with _raises(TcompShapeError, "nn.rnn", "weight_hh", "(4*hidden_size, hidden_size)", "(20, 4)"):
        nn.rnn(nn.lstm_cell, p, _f(5, 2, 3))
    with _raises(TcompArgumentError, "nn.rnn_cell", "'weight_hh'"):
        nn.rnn_cell({"weight_ih": _f(4, 3)}, _f(2, 4), _f(2, 3))


def test_wrong_states_and_cells_are_clear_errors():
    p = {"weight_ih": _f(16, 3), "weight_hh": _f(16, 4)}
    with _raises(TcompTypeError, "nn.lstm_cell", "pair (h, c)"):
        nn.lstm_cell(p, _f(2, 4), _f(2, 3))
    with _raises(TcompShapeError, "nn.rnn", "hidden state c", "(2, 5)"):
        nn.rnn(nn.lstm_cell, p, _f(5, 2, 3), (_f(2, 4), _f(2, 5)))
    with _raises(TcompShapeError, "nn.rnn", "[T, ..., input_size]", "(3,)"):
        nn.rnn(nn.lstm_cell, p, _f(3))
    with _raises(TcompArgumentError, "nn.rnn", "h0"):
        nn.rnn(lambda p, h, x: h, p, _f(5, 2, 3))
