"""``tcomp.nn.init``: weight initialisers, ``f(key, shape, dtype="float32", ...)``.

PyTorch's ``torch.nn.init`` formulas (gains, bounds, standard deviations), drawn with
``tcomp.random`` from an explicit key, so the same key gives the same weights on
every backend. Each returns a new array of ``shape`` and the float ``dtype``.

Fan-in and fan-out (:func:`fan_in_and_fan_out`), for tcomp's layouts:

- 2-d ``(in, out)``: a dense weight used as ``x @ w``: ``fan_in = in``,
  ``fan_out = out``. (PyTorch's ``nn.Linear`` stores ``(out, in)``: for such a
  weight pass the transposed shape, or transpose the result.)
- 3-d and more ``(out_channels, in_channels / groups, *window)``: a convolution
  weight (``tcomp.nn.conv2d``'s OIHW): ``fan_in = in_channels * prod(window)``,
  ``fan_out = out_channels * prod(window)``, as PyTorch computes them.
- fewer than 2 dimensions: no fans (a ``TcompShapeError``, as in PyTorch); biases
  are usually ``zeros``.

``orthogonal`` (PyTorch's ``orthogonal_``) runs a Householder QR written in tcomp ops:
:mod:`tcomp.frontend.nn_init_orthogonal`.
"""

from __future__ import annotations

import math
from typing import Any

from tcomp.frontend.creation import full
from tcomp.frontend.dispatch import user_error
from tcomp.frontend.nn_init_orthogonal import orthogonal
from tcomp.frontend.random_keys import normalize_shape
from tcomp.frontend.random_sampling import normal as _normal
from tcomp.frontend.random_sampling import truncated_normal
from tcomp.frontend.random_sampling import uniform as _uniform
from tcomp.ir.errors import TcompArgumentError, TcompShapeError, TcompTypeError
from tcomp.ir.types import canonical_dtype, is_float

_LINEAR_GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "sigmoid": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 0.75,
}


def _float_dtype(dtype: Any, fn: str) -> str:
    name = canonical_dtype(dtype)
    if not is_float(name):
        raise user_error(TcompTypeError, f"nn.init.{fn}: dtype must be a float dtype, got {name}")
    return name


def fan_in_and_fan_out(shape: Any) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` (see the module docstring)."""
    shape = normalize_shape(shape, "nn.init.fan_in_and_fan_out")
    if len(shape) < 2:
        raise user_error(
            TcompShapeError,
            f"nn.init: fan-in and fan-out need a weight of at least 2 dimensions, got shape "
            f"{shape} (a dense weight is (in, out), a convolution weight (out, in, *window))",
        )
    if len(shape) == 2:
        return shape[0], shape[1]
    window = math.prod(shape[2:])
    return shape[1] * window, shape[0] * window


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gain for ``nonlinearity``: 1 for linear, identity, conv and
    sigmoid; 5/3 for tanh; sqrt(2) for relu; sqrt(2 / (1 + slope**2)) for leaky_relu
    (``param`` the negative slope, 0.01 by default); 3/4 for selu."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise user_error(
                TcompArgumentError, f"nn.init.calculate_gain: slope must be a number, got {slope!r}"
            )
        return math.sqrt(2.0 / (1.0 + slope**2))
    if nonlinearity not in _LINEAR_GAINS:
        known = ", ".join(sorted([*_LINEAR_GAINS, "leaky_relu"]))
        raise user_error(
            TcompArgumentError,
            f"nn.init.calculate_gain: unknown nonlinearity {nonlinearity!r} (known: {known})",
        )
    return _LINEAR_GAINS[nonlinearity]


def _fan(shape: Any, mode: str, fn: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise user_error(
            TcompArgumentError, f"nn.init.{fn}: mode must be 'fan_in' or 'fan_out', got {mode!r}"
        )
    fan_in, fan_out = fan_in_and_fan_out(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise user_error(TcompShapeError, f"nn.init.{fn}: {mode} of shape {tuple(shape)} is 0")
    return fan


def zeros(key: Any, shape: Any, dtype: Any = "float32") -> Any:
    """Zeros of ``shape`` (``key`` is accepted for the common signature and unused)."""
    return full(normalize_shape(shape, "nn.init.zeros"), 0, _float_dtype(dtype, "zeros"))


def ones(key: Any, shape: Any, dtype: Any = "float32") -> Any:
    """Ones of ``shape`` (``key`` is accepted for the common signature and unused)."""
    return full(normalize_shape(shape, "nn.init.ones"), 1, _float_dtype(dtype, "ones"))


def uniform(key: Any, shape: Any, dtype: Any = "float32", a: float = 0.0, b: float = 1.0) -> Any:
    """Uniform in ``[a, b)`` (PyTorch's ``uniform_``)."""
    return _uniform(key, shape, _float_dtype(dtype, "uniform"), a, b)


def normal(
    key: Any, shape: Any, dtype: Any = "float32", mean: float = 0.0, std: float = 1.0
) -> Any:
    """Normal with ``mean`` and ``std`` (PyTorch's ``normal_``)."""
    z = _normal(key, shape, _float_dtype(dtype, "normal"))
    return z * std + mean if (mean, std) != (0.0, 1.0) else z


def trunc_normal(
    key: Any,
    shape: Any,
    dtype: Any = "float32",
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
) -> Any:
    """Normal with ``mean`` and ``std`` truncated to ``[a, b]`` (PyTorch's ``trunc_normal_``:
    ``a`` and ``b`` are absolute bounds, not multiples of ``std``)."""
    dtype = _float_dtype(dtype, "trunc_normal")
    if not std > 0:
        raise user_error(TcompArgumentError, f"nn.init.trunc_normal: std must be > 0, got {std}")
    z = truncated_normal(
        key,
        (a - mean) / std,
        (b - mean) / std,
        normalize_shape(shape, "nn.init.trunc_normal"),
        dtype,
    )
    return z * std + mean


def glorot_uniform(key: Any, shape: Any, dtype: Any = "float32", gain: float = 1.0) -> Any:
    """Uniform in ``[-bound, bound)``, ``bound = gain * sqrt(6 / (fan_in + fan_out))``
    (Glorot and Bengio 2010; PyTorch's ``xavier_uniform_``)."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _uniform(key, shape, _float_dtype(dtype, "glorot_uniform"), -bound, bound)


def glorot_normal(key: Any, shape: Any, dtype: Any = "float32", gain: float = 1.0) -> Any:
    """Normal with ``std = gain * sqrt(2 / (fan_in + fan_out))`` (PyTorch's
    ``xavier_normal_``, not truncated)."""
    fan_in, fan_out = fan_in_and_fan_out(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _normal(key, shape, _float_dtype(dtype, "glorot_normal")) * std


def kaiming_uniform(
    key: Any,
    shape: Any,
    dtype: Any = "float32",
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
) -> Any:
    """Uniform in ``[-bound, bound)``, ``bound = gain * sqrt(3 / fan)`` with ``gain =
    calculate_gain(nonlinearity, a)`` and ``fan`` the ``mode`` (He et al. 2015;
    PyTorch's ``kaiming_uniform_`` with its defaults)."""
    gain = calculate_gain(nonlinearity, a)
    bound = gain * math.sqrt(3.0 / _fan(shape, mode, "kaiming_uniform"))
    return _uniform(key, shape, _float_dtype(dtype, "kaiming_uniform"), -bound, bound)


def kaiming_normal(
    key: Any,
    shape: Any,
    dtype: Any = "float32",
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
) -> Any:
    """Normal with ``std = gain / sqrt(fan)`` (PyTorch's ``kaiming_normal_``)."""
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(_fan(shape, mode, "kaiming_normal"))
    return _normal(key, shape, _float_dtype(dtype, "kaiming_normal")) * std


xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
he_uniform = kaiming_uniform
he_normal = kaiming_normal

__all__ = [
    "calculate_gain",
    "fan_in_and_fan_out",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "normal",
    "ones",
    "orthogonal",
    "trunc_normal",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]
