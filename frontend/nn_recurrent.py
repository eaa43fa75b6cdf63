"""Recurrent layers: ``lstm_cell``, ``gru_cell``, ``rnn_cell`` and ``rnn`` over ``tcomp.scan``.

Parameters follow PyTorch's ``nn.LSTMCell`` / ``nn.GRUCell`` / ``nn.RNNCell``: a dict
with ``weight_ih`` ``(G*H, I)``, ``weight_hh`` ``(G*H, H)`` and, optionally,
``bias_ih`` and ``bias_hh`` ``(G*H,)`` (``G`` = 4 for the LSTM, 3 for the GRU, 1
for the tanh RNN; a ``torch.nn.LSTMCell``'s ``state_dict()`` converted to arrays
fits as it is). The gates are stacked in PyTorch's order, LSTM ``i, f, g, o`` and
GRU ``r, z, n``::

    LSTM: i, f, g, o = split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
          c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c')
    GRU:  r = sigmoid(W_ir x + b_ir + W_hr h + b_hr);  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h
    RNN:  h' = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)

``x`` is ``[..., I]`` (a batch ``[B, I]``, or one sample ``[I]``) and the hidden state
``[..., H]`` with the same leading axes. :func:`rnn` runs a cell over a sequence
``[T, ..., I]`` with :func:`tcomp.scan`: one trace and one compile whatever ``T``;
for the three cells here it multiplies all ``T`` inputs by ``W_ih`` in one matmul
before the loop, so the loop body holds only the ``h @ W_hh.T`` part.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Callable

from tcomp.frontend import ops
from tcomp.frontend.control_flow import scan
from tcomp.frontend.creation import zeros
from tcomp.frontend.dispatch import result_dtype, shape_of, user_error
from tcomp.frontend.nn_common import _float_array, is_int
from tcomp.frontend.random_keys import split
from tcomp.frontend.random_sampling import uniform
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError

_WEIGHTS = ("weight_ih", "weight_hh")
_BIASES = ("bias_ih", "bias_hh")


def _hidden(carry: Any, kind: str, op: str) -> tuple[Any, ...]:
    """The carry's arrays: ``(h, c)`` for the LSTM, ``(h,)`` for the others."""
    if kind == "lstm":
        if not (isinstance(carry, (tuple, list)) and len(carry) == 2):
            raise user_error(
                TcompTypeError,
                f"{op}: the carry must be a pair (h, c) of [..., hidden_size] arrays, got "
                f"{type(carry).__name__}",
            )
        return tuple(_float_array(v, op) for v in carry)
    if isinstance(carry, (tuple, list)):
        raise user_error(
            TcompTypeError,
            f"{op}: the hidden state must be one [..., hidden_size] array, got a "
            f"{type(carry).__name__} of {len(carry)}",
        )
    return (_float_array(carry, op),)


def _parameters(
    params: Any, kind: str, op: str, x_shape: tuple[int, ...], hidden: int,
    h_shape: tuple[int, ...] | None, x_name: str = "x",
) -> list[Any]:
    """``[weight_ih, weight_hh, bias_ih or None, bias_hh or None]``, each shape checked
    against the input size ``x_shape[-1]`` and ``hidden``."""
    if not isinstance(params, Mapping):
        raise user_error(
            TcompTypeError,
            f"{op}: params must be a dict with weight_ih, weight_hh and optionally bias_ih, "
            f"bias_hh (PyTorch's names), got {type(params).__name__}",
        )
    gates = _GATES[kind]
    where = f"{x_name} {x_shape} and " + (
        f"hidden state {h_shape}" if h_shape is not None else f"hidden_size {hidden} (weight_hh's)"
    )
    found = []
    for name in _WEIGHTS + _BIASES:
        value = params.get(name)
        if value is None:
            if name in _WEIGHTS:
                raise user_error(
                    TcompArgumentError,
                    f"{op}: params has no {name!r}; it needs weight_ih, weight_hh and "
                    f"optionally bias_ih, bias_hh (PyTorch's names), got keys {sorted(params)}",
                )
            found.append(None)
            continue
        value = _float_array(value, op)
        g = f"{gates}*hidden_size" if gates > 1 else "hidden_size"
        want, formula = {
            "weight_ih": ((gates * hidden, x_shape[-1]), f"({g}, input_size)"),
            "weight_hh": ((gates * hidden, hidden), f"({g}, hidden_size)"),
        }.get(name, ((gates * hidden,), f"({g},)"))
        if shape_of(value) != want:
            raise user_error(
                TcompShapeError,
                f"{op}: {name} must have shape {want} {formula} for {where}, got "
                f"{shape_of(value)}",
            )
        found.append(value)
    return found


def _hidden_size(params: Any, hidden_shape: tuple[int, ...] | None, kind: str, op: str) -> int:
    """``H``: the hidden state's last axis, or without one ``weight_hh``'s columns."""
    if hidden_shape is not None:
        return hidden_shape[-1] if hidden_shape else 0
    weight = params.get("weight_hh") if isinstance(params, Mapping) else None
    if weight is None:
        return 0  # _parameters names the missing weight
    shape = shape_of(_float_array(weight, op))
    if len(shape) != 2 or shape[0] != _GATES[kind] * shape[1]:
        g = f"{_GATES[kind]}*hidden_size" if _GATES[kind] > 1 else "hidden_size"
        raise user_error(
            TcompShapeError,
            f"{op}: weight_hh must have shape ({g}, hidden_size), got {shape}",
        )
    return shape[1]


def _check_state(x_shape: tuple[int, ...], states: tuple[Any, ...], op: str) -> int:
    """The hidden size; each state must be ``x``'s leading axes plus ``(H,)``."""
    if not x_shape:
        raise user_error(TcompShapeError, f"{op}: x must be [..., input_size], got a 0-d array")
    first = shape_of(states[0])
    names = ("h", "c")
    for name, state in zip(names, states):
        shape = shape_of(state)
        if not shape or shape[:-1] != x_shape[:-1] or shape != first:
            raise user_error(
                TcompShapeError,
                f"{op}: the hidden state {name} must have shape {x_shape[:-1] + ('hidden_size',)} "
                f"(x's leading axes, then the hidden size) for x {x_shape}, got {shape}"
                + (f" (h is {first})" if name == "c" else ""),
            )
    return first[-1]


def _common_dtype(*arrays: Any) -> str:
    return result_dtype(*[a for a in arrays if a is not None])


def _cast(dtype: str, *arrays: Any) -> list[Any]:
    return [None if a is None else ops.astype(a, dtype) for a in arrays]


def _project(x: Any, w_ih: Any, *biases: Any) -> Any:
    """``x @ W_ih.T`` plus the biases given (None skipped)."""
    out = x @ ops.transpose(w_ih)
    for b in biases:
        if b is not None:
            out = out + b
    return out


def _gate(z: Any, index: int, hidden: int) -> Any:
    return z[..., index * hidden : (index + 1) * hidden]


def _lstm_step(gi: Any, carry: tuple[Any, Any], w_hh_t: Any) -> tuple[Any, Any]:
    """One LSTM step from ``gi = x @ W_ih.T + b_ih + b_hh``."""
    h, c = carry
    hidden = shape_of(h)[-1]
    z = gi + h @ w_hh_t
    i, f = ops.sigmoid(_gate(z, 0, hidden)), ops.sigmoid(_gate(z, 1, hidden))
    g, o = ops.tanh(_gate(z, 2, hidden)), ops.sigmoid(_gate(z, 3, hidden))
    c = f * c + i * g
    return o * ops.tanh(c), c


def _gru_step(gi: Any, h: Any, w_hh_t: Any, b_hh: Any) -> Any:
    """One GRU step from ``gi = x @ W_ih.T + b_ih``."""
    hidden = shape_of(h)[-1]
    gh = h @ w_hh_t
    if b_hh is not None:
        gh = gh + b_hh
    r = ops.sigmoid(_gate(gi, 0, hidden) + _gate(gh, 0, hidden))
    z = ops.sigmoid(_gate(gi, 1, hidden) + _gate(gh, 1, hidden))
    n = ops.tanh(_gate(gi, 2, hidden) + r * _gate(gh, 2, hidden))
    return (1.0 - z) * n + z * h


def _rnn_step(gi: Any, h: Any, w_hh_t: Any) -> Any:
    """One tanh-RNN step from ``gi = x @ W_ih.T + b_ih + b_hh``."""
    return ops.tanh(gi + h @ w_hh_t)


def _cell(kind: str, params: Any, carry: Any, x: Any) -> Any:
    op = f"nn.{kind}_cell"
    x = _float_array(x, op)
    states = _hidden(carry, kind, op)
    hidden = _check_state(shape_of(x), states, op)
    w_ih, w_hh, b_ih, b_hh = _parameters(params, kind, op, shape_of(x), hidden, shape_of(states[0]))
    dtype = _common_dtype(x, w_ih, w_hh, b_ih, b_hh, *states)
    x, w_ih, w_hh, b_ih, b_hh, *states = _cast(dtype, x, w_ih, w_hh, b_ih, b_hh, *states)
    if kind == "gru":
        return _gru_step(_project(x, w_ih, b_ih), states[0], ops.transpose(w_hh), b_hh)
    gi = _project(x, w_ih, b_ih, b_hh)
    if kind == "lstm":
        return _lstm_step(gi, (states[0], states[1]), ops.transpose(w_hh))
    return _rnn_step(gi, states[0], ops.transpose(w_hh))


def lstm_cell(params: Mapping[str, Any], carry: tuple[Any, Any], x: Any) -> tuple[Any, Any]:
    """One LSTM step, PyTorch's ``nn.LSTMCell``: returns the new ``(h, c)``.

    ``params``: ``weight_ih`` ``(4H, I)``, ``weight_hh`` ``(4H, H)``, optional
    ``bias_ih``, ``bias_hh`` ``(4H,)``, gates in the order ``i, f, g, o``; ``carry``
    ``(h, c)``, each ``[..., H]``; ``x`` ``[..., I]`` (see the module docstring).
    """
    return _cell("lstm", params, carry, x)


def gru_cell(params: Mapping[str, Any], h: Any, x: Any) -> Any:
    """One GRU step, PyTorch's ``nn.GRUCell``: returns the new ``h`` ``[..., H]``.

    ``params``: ``weight_ih`` ``(3H, I)``, ``weight_hh`` ``(3H, H)``, optional
    ``bias_ih``, ``bias_hh`` ``(3H,)``, gates ``r, z, n``, with
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.
    """
    return _cell("gru", params, h, x)


def rnn_cell(params: Mapping[str, Any], h: Any, x: Any) -> Any:
    """One step of PyTorch's ``nn.RNNCell`` (tanh): ``tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)``.

    ``params``: ``weight_ih`` ``(H, I)``, ``weight_hh`` ``(H, H)``, optional
    ``bias_ih``, ``bias_hh`` ``(H,)``.
    """
    return _cell("rnn", params, h, x)


_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
_KINDS: dict[Callable[..., Any], str] = {lstm_cell: "lstm", gru_cell: "gru", rnn_cell: "rnn"}


def _output(carry: Any) -> Any:
    """What a step emits: ``h`` (the carry's first array when the carry is a tuple)."""
    return carry[0] if isinstance(carry, (tuple, list)) else carry


def rnn(
    cell: Callable[[Any, Any, Any], Any],
    params: Any,
    xs: Any,
    h0: Any = None,
    reverse: bool = False,
) -> tuple[Any, Any]:
    """Runs ``cell`` over the sequence ``xs`` ``[T, ..., I]`` with :func:`tcomp.scan`;
    returns ``(final carry, hs)``, ``hs`` ``[T, ..., H]`` the hidden state after each step.

    ``cell`` is :func:`lstm_cell`, :func:`gru_cell`, :func:`rnn_cell` or any
    ``cell(params, carry, x) -> carry`` (a step emits the carry, or its first
    element when the carry is a tuple, as the LSTM's ``(h, c)``). ``h0`` is the
    first carry (``(h0, c0)`` for the LSTM); None gives zeros for the three cells
    here. ``reverse=True`` runs from the last step to the first, as the backward
    half of PyTorch's bidirectional layers; ``hs[t]`` is still step ``t``'s state.
    In Python::

        carry, hs = h0, [None] * T
        for t in (reversed(range(T)) if reverse else range(T)):
            carry = cell(params, carry, xs[t])
            hs[t] = carry[0] if isinstance(carry, tuple) else carry
        return carry, stack(hs)

    The loop is traced once; for the cells here the input projection
    ``xs @ W_ih.T`` of all steps is one matmul before the loop.
    """
    kind = _KINDS.get(cell)
    if kind is None:
        if not callable(cell):
            raise user_error(
                TcompTypeError,
                f"nn.rnn: cell must be nn.lstm_cell, nn.gru_cell, nn.rnn_cell or a function "
                f"cell(params, carry, x) -> carry, got {type(cell).__name__}",
            )
        if h0 is None:
            raise user_error(
                TcompArgumentError, "nn.rnn: give h0, the first carry, for a cell of your own"
            )

        def step(carry: Any, x: Any) -> tuple[Any, Any]:
            new = cell(params, carry, x)
            return new, _output(new)

        step.__name__ = getattr(cell, "__name__", "cell")
        return scan(step, h0, xs, reverse=reverse)
    op = "nn.rnn"
    xs = _float_array(xs, op)
    if len(shape_of(xs)) < 2:
        raise user_error(
            TcompShapeError, f"nn.rnn: xs must be [T, ..., input_size], got {shape_of(xs)}"
        )
    x_shape = shape_of(xs)[1:]
    states = None if h0 is None else _hidden(h0, kind, f"{op} ({kind}_cell)")
    if states is not None:
        _check_state(x_shape, states, f"{op} ({kind}_cell)")
    hidden = _hidden_size(params, None if states is None else shape_of(states[0]), kind, op)
    w_ih, w_hh, b_ih, b_hh = _parameters(
        params, kind, f"{op} ({kind}_cell)", x_shape, hidden,
        None if states is None else shape_of(states[0]), x_name="xs[t]",
    )
    dtype = _common_dtype(xs, w_ih, w_hh, b_ih, b_hh, *(states or ()))
    xs, w_ih, w_hh, b_ih, b_hh = _cast(dtype, xs, w_ih, w_hh, b_ih, b_hh)
    if states is None:
        states = tuple(zeros(x_shape[:-1] + (hidden,), dtype) for _ in range(2 if kind == "lstm" else 1))
    states = tuple(_cast(dtype, *states))
    w_hh_t = ops.transpose(w_hh)
    if kind == "gru":
        gis = _project(xs, w_ih, b_ih)

        def gru(h: Any, gi: Any) -> tuple[Any, Any]:
            h = _gru_step(gi, h, w_hh_t, b_hh)
            return h, h

        return scan(gru, states[0], gis, reverse=reverse)
    gis = _project(xs, w_ih, b_ih, b_hh)
    if kind == "lstm":

        def lstm(carry: tuple[Any, Any], gi: Any) -> tuple[Any, Any]:
            h, c = _lstm_step(gi, carry, w_hh_t)
            return (h, c), h

        return scan(lstm, (states[0], states[1]), gis, reverse=reverse)

    def tanh_rnn(h: Any, gi: Any) -> tuple[Any, Any]:
        h = _rnn_step(gi, h, w_hh_t)
        return h, h

    return scan(tanh_rnn, states[0], gis, reverse=reverse)


def _init(kind: str, key: Any, input_size: int, hidden_size: int, dtype: Any,
          bias: bool) -> dict[str, Any]:
    op = f"nn.init_{kind}"
    for name, size in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not is_int(size) or size < 1:
            raise user_error(TcompArgumentError, f"{op}: {name} must be an int >= 1, got {size!r}")
    gates = _GATES[kind]
    bound = 1.0 / math.sqrt(hidden_size)
    shapes = {
        "weight_ih": (gates * hidden_size, input_size),
        "weight_hh": (gates * hidden_size, hidden_size),
    }
    if bias:
        shapes.update(bias_ih=(gates * hidden_size,), bias_hh=(gates * hidden_size,))
    keys = split(key, len(shapes))
    return {
        name: uniform(keys[i], shape, dtype, -bound, bound)
        for i, (name, shape) in enumerate(shapes.items())
    }


def init_lstm(key: Any, input_size: int, hidden_size: int, dtype: Any = "float32",
              bias: bool = True) -> dict[str, Any]:
    """:func:`lstm_cell`'s parameters as PyTorch's ``nn.LSTMCell`` draws them: each
    uniform in ``[-1/sqrt(H), 1/sqrt(H))``, from ``tcomp.random.split(key, 4)`` (in
    the order weight_ih, weight_hh, bias_ih, bias_hh); ``bias=False`` leaves out the biases."""
    return _init("lstm", key, input_size, hidden_size, dtype, bias)


def init_gru(key: Any, input_size: int, hidden_size: int, dtype: Any = "float32",
             bias: bool = True) -> dict[str, Any]:
    """:func:`gru_cell`'s parameters, drawn as :func:`init_lstm` draws the LSTM's."""
    return _init("gru", key, input_size, hidden_size, dtype, bias)


def init_rnn(key: Any, input_size: int, hidden_size: int, dtype: Any = "float32",
             bias: bool = True) -> dict[str, Any]:
    """:func:`rnn_cell`'s parameters, drawn as :func:`init_lstm` draws the LSTM's."""
    return _init("rnn", key, input_size, hidden_size, dtype, bias)


__all__ = ["gru_cell", "init_gru", "init_lstm", "init_rnn", "lstm_cell", "rnn", "rnn_cell"]
