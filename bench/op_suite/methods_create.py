"""Tensor creation (``Tensor.zeros``, ``arange``, ``randn`` ...) and the static
methods of the shim's Tensor, each one tcomp function."""

from __future__ import annotations

import itertools
from typing import Any, Callable

import tcomp
from bench.op_suite.dtypes import to_dtype
from bench.op_suite.errors import Unsupported
from bench.op_suite.lookup import fn
from bench.op_suite.methods_shape import _shape_args

_seed = {"value": 0}
_counter = itertools.count()


def _dtype_kw(dtype: Any) -> dict[str, Any]:
    return {} if dtype is None else {"dtype": to_dtype(dtype).tcomp_name}


def _random(sample: Callable[..., Any], **params: Any) -> Callable[..., Any]:
    """``sample(key, shape, ...)`` with a key from tinygrad's global seed and a counter
    (tinygrad's random state is global; tcomp's random functions take a key)."""
    seed, step = _seed["value"], next(_counter)

    def draw(shape: tuple, **kw: Any) -> Any:
        key = tcomp.random.fold_in(tcomp.random.key(seed), step)
        return sample(key, shape, **kw, **params)

    return draw


class CreationMethods:
    """Class methods that make tensors, and the static joins (``Tensor.einsum``)."""

    @classmethod
    def zeros(cls, *shape: Any, dtype: Any = None, **_: Any) -> Any:
        return cls._record(
            "zeros", fn("zeros"), _shape_args(shape), **_dtype_kw(dtype or "float32")
        )

    @classmethod
    def ones(cls, *shape: Any, dtype: Any = None, **_: Any) -> Any:
        return cls._record("ones", fn("ones"), _shape_args(shape), **_dtype_kw(dtype or "float32"))

    @classmethod
    def empty(cls, *shape: Any, dtype: Any = None, **_: Any) -> Any:
        """tcomp has no ``empty``; ``zeros`` is one of the values an empty tensor may hold."""
        return cls._record(
            "zeros", fn("empty", "zeros"), _shape_args(shape), **_dtype_kw(dtype or "float32")
        )

    @classmethod
    def full(cls, shape: Any, fill_value: Any, dtype: Any = None, **_: Any) -> Any:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return cls._record("full", fn("full"), shape, fill_value, **_dtype_kw(dtype))

    def full_like(self: Any, fill_value: Any, dtype: Any = None, **_: Any) -> Any:
        return self._record("full_like", fn("full_like"), self, fill_value, **_dtype_kw(dtype))

    def zeros_like(self: Any, dtype: Any = None, **_: Any) -> Any:
        return self._record("zeros_like", fn("zeros_like"), self, **_dtype_kw(dtype))

    def ones_like(self: Any, dtype: Any = None, **_: Any) -> Any:
        return self._record("ones_like", fn("ones_like"), self, **_dtype_kw(dtype))

    @classmethod
    def arange(
        cls, start: Any, stop: Any = None, step: Any = 1, dtype: Any = None, **_: Any
    ) -> Any:
        return cls._record("arange", fn("arange"), start, stop, step, **_dtype_kw(dtype))

    @classmethod
    def linspace(cls, start: Any, stop: Any, steps: int, dtype: Any = None, **_: Any) -> Any:
        return cls._record("linspace", fn("linspace"), start, stop, steps, **_dtype_kw(dtype))

    @classmethod
    def eye(cls, n: int, m: Any = None, dtype: Any = None, **_: Any) -> Any:
        return cls._record("eye", fn("eye"), n, m, **_dtype_kw(dtype))

    @staticmethod
    def manual_seed(seed: int = 0) -> None:
        _seed["value"] = seed

    @classmethod
    def rand(cls, *shape: Any, dtype: Any = None, **_: Any) -> Any:
        return cls._record(
            "random.uniform",
            _random(fn("uniform", where="random")),
            _shape_args(shape),
            **_dtype_kw(dtype),
        )

    @classmethod
    def randn(cls, *shape: Any, dtype: Any = None, **_: Any) -> Any:
        return cls._record(
            "random.normal",
            _random(fn("normal", where="random")),
            _shape_args(shape),
            **_dtype_kw(dtype),
        )

    @classmethod
    def randint(cls, *shape: Any, low: int = 0, high: int = 10, dtype: Any = None, **_: Any) -> Any:
        return cls._record(
            "random.randint",
            _random(fn("randint", where="random"), minval=low, maxval=high),
            _shape_args(shape),
            **_dtype_kw(dtype),
        )

    @classmethod
    def normal(
        cls, *shape: Any, mean: float = 0.0, std: float = 1.0, dtype: Any = None, **_: Any
    ) -> Any:
        return cls._record(
            "init.normal",
            _random(fn("normal", where="init"), mean=mean, std=std),
            _shape_args(shape),
            **_dtype_kw(dtype),
        )

    @classmethod
    def uniform(
        cls, *shape: Any, low: float = 0.0, high: float = 1.0, dtype: Any = None, **_: Any
    ) -> Any:
        return cls._record(
            "init.uniform",
            _random(fn("uniform", where="init"), a=low, b=high),
            _shape_args(shape),
            **_dtype_kw(dtype),
        )

    @classmethod
    def scaled_uniform(cls, *shape: Any, **_: Any) -> Any:
        raise Unsupported("tcomp.nn.init.scaled_uniform")

    @classmethod
    def glorot_uniform(cls, *shape: Any, dtype: Any = None, **_: Any) -> Any:
        return cls._record(
            "init.glorot_uniform",
            _random(fn("glorot_uniform", where="init")),
            _shape_args(shape),
            **_dtype_kw(dtype),
        )

    @classmethod
    def kaiming_uniform(cls, *shape: Any, a: float = 0.01, dtype: Any = None, **_: Any) -> Any:
        return cls._record(
            "init.kaiming_uniform",
            _random(fn("kaiming_uniform", where="init"), a=a),
            _shape_args(shape),
            **_dtype_kw(dtype),
        )

    @classmethod
    def kaiming_normal(cls, *shape: Any, a: float = 0.01, dtype: Any = None, **_: Any) -> Any:
        return cls._record(
            "init.kaiming_normal",
            _random(fn("kaiming_normal", where="init"), a=a),
            _shape_args(shape),
            **_dtype_kw(dtype),
        )

    @classmethod
    def einsum(cls, formula: str, *operands: Any, **_: Any) -> Any:
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = tuple(operands[0])
        return cls._record("einsum", fn("einsum"), formula, *operands)
