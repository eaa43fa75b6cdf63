"""Operators and numpy-style methods shared by ``Tracer`` and ``tcomp.Array``.

Every operator forwards to the function of the same meaning in
``tcomp.frontend.ops`` (``& | ^ ~ << >>``: ``tcomp.frontend.bitwise_ops``), so
traced and eager arrays behave identically.
numpy ufuncs called on them (``np.exp(x)``, ``ndarray + x``) are routed to
tcomp too, through ``__array_ufunc__``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _ops():
    from tcomp.frontend import ops

    return ops


def _bits():
    from tcomp.frontend import bitwise_ops

    return bitwise_ops


def _function_modules() -> tuple[Any, ...]:
    """The modules of tcomp's array functions that numpy's ufuncs are looked up in."""
    from tcomp.frontend import bitwise_ops, math_ops

    return (_ops(), math_ops, bitwise_ops)


def _composite():
    from tcomp.frontend import composite_ops

    return composite_ops


_UFUNC_NAMES = {  # numpy ufunc name -> tcomp.frontend.ops function name
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "divide",
    "true_divide": "divide", "floor_divide": "floor_divide", "remainder": "remainder",
    "divmod": "divmod", "power": "power", "negative": "negative", "absolute": "abs",
    "sign": "sign", "exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "sin": "sin",
    "cos": "cos", "square": "square", "maximum": "maximum", "minimum": "minimum",
    "equal": "equal", "not_equal": "not_equal", "less": "less", "less_equal": "less_equal",
    "greater": "greater", "greater_equal": "greater_equal", "matmul": "matmul",
    # frontend/math_ops.py ("erf" is scipy.special's ufunc)
    "floor": "floor", "ceil": "ceil", "trunc": "trunc", "rint": "rint", "erf": "erf",
    "log1p": "log1p", "expm1": "expm1", "sinh": "sinh", "cosh": "cosh", "arcsinh": "asinh",
    "arccosh": "acosh", "arctanh": "atanh", "arcsin": "arcsin", "arccos": "arccos",
    "arctan": "arctan", "isnan": "isnan", "isinf": "isinf", "isfinite": "isfinite",
    # frontend/bitwise_ops.py (numpy's bitwise_not is its invert)
    "logical_and": "logical_and", "logical_or": "logical_or", "logical_xor": "logical_xor",
    "logical_not": "logical_not", "bitwise_and": "bitwise_and", "bitwise_or": "bitwise_or",
    "bitwise_xor": "bitwise_xor", "invert": "bitwise_not", "left_shift": "left_shift",
    "right_shift": "right_shift",
}


def _ufunc_table() -> dict[str, Any]:
    """numpy ufuncs called on tcomp arrays (np.exp(x), ndarray + x ...) -> tcomp functions."""
    modules = _function_modules()
    return {
        name: next(getattr(m, target) for m in modules if hasattr(m, target))
        for name, target in _UFUNC_NAMES.items()
    }


class ArrayMethods:
    """Mixin: requires ``shape``, ``dtype`` and ``aval`` on the class."""

    __slots__ = ()
    __array_priority__ = 1000

    # Shape facts ------------------------------------------------------------------

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        size = 1
        for d in self.shape:
            size *= d
        return size

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        for i in range(self.shape[0]):
            yield self[i]

    # Arithmetic ---------------------------------------------------------------------

    def __add__(self, other: Any): return _ops().add(self, other)
    def __radd__(self, other: Any): return _ops().add(other, self)
    def __sub__(self, other: Any): return _ops().subtract(self, other)
    def __rsub__(self, other: Any): return _ops().subtract(other, self)
    def __mul__(self, other: Any): return _ops().multiply(self, other)
    def __rmul__(self, other: Any): return _ops().multiply(other, self)
    def __truediv__(self, other: Any): return _ops().divide(self, other)
    def __rtruediv__(self, other: Any): return _ops().divide(other, self)
    def __floordiv__(self, other: Any): return _ops().floor_divide(self, other)
    def __rfloordiv__(self, other: Any): return _ops().floor_divide(other, self)
    def __mod__(self, other: Any): return _ops().remainder(self, other)
    def __rmod__(self, other: Any): return _ops().remainder(other, self)
    def __divmod__(self, other: Any): return _ops().divmod(self, other)
    def __rdivmod__(self, other: Any): return _ops().divmod(other, self)
    def __pow__(self, other: Any): return _ops().power(self, other)
    def __rpow__(self, other: Any): return _ops().power(other, self)
    def __matmul__(self, other: Any): return _ops().matmul(self, other)
    def __rmatmul__(self, other: Any): return _ops().matmul(other, self)
    def __neg__(self): return _ops().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _ops().abs(self)

    # Bitwise (int32 and bool; the shifts int32) -----------------------------------------

    def __and__(self, other: Any): return _bits().bitwise_and(self, other)
    def __rand__(self, other: Any): return _bits().bitwise_and(other, self)
    def __or__(self, other: Any): return _bits().bitwise_or(self, other)
    def __ror__(self, other: Any): return _bits().bitwise_or(other, self)
    def __xor__(self, other: Any): return _bits().bitwise_xor(self, other)
    def __rxor__(self, other: Any): return _bits().bitwise_xor(other, self)
    def __lshift__(self, other: Any): return _bits().left_shift(self, other)
    def __rlshift__(self, other: Any): return _bits().left_shift(other, self)
    def __rshift__(self, other: Any): return _bits().right_shift(self, other)
    def __rrshift__(self, other: Any): return _bits().right_shift(other, self)
    def __invert__(self): return _bits().bitwise_not(self)

    # Comparisons (elementwise, bool results) ------------------------------------------

    def __eq__(self, other: Any): return _ops().equal(self, other)  # type: ignore[override]
    def __ne__(self, other: Any): return _ops().not_equal(self, other)  # type: ignore[override]
    def __lt__(self, other: Any): return _ops().less(self, other)
    def __le__(self, other: Any): return _ops().less_equal(self, other)
    def __gt__(self, other: Any): return _ops().greater(self, other)
    def __ge__(self, other: Any): return _ops().greater_equal(self, other)

    __hash__ = None  # type: ignore[assignment]

    # Methods ------------------------------------------------------------------------

    def __getitem__(self, index: Any):
        from tcomp.frontend.indexing import getitem

        return getitem(self, index)

    @property
    def at(self):
        """Functional indexed updates: ``x.at[index].set(v)``, ``.add(v)``, ``.multiply(v)``,
        ``.min(v)``, ``.max(v)``, ``.get()`` (``frontend/indexing_update.py``)."""
        from tcomp.frontend.indexing_update import IndexUpdateHelper

        return IndexUpdateHelper(self)

    @property
    def T(self):
        return _ops().transpose(self)

    # numpy's functions call these methods with out=/dtype=/order= (np.sum(x) is
    # x.sum(axis=None, dtype=None, out=None)), so the methods accept the defaults.

    def sum(
        self, axis: Any = None, keepdims: bool = False, *, dtype: Any = None, out: Any = None,
        where: Any = None,
    ):
        keep = _no_out(keepdims, out)
        return _with_dtype(_ops().sum(self, axis=axis, keepdims=keep, where=where), dtype)

    def mean(
        self, axis: Any = None, keepdims: bool = False, *, dtype: Any = None, out: Any = None,
        where: Any = None,
    ):
        keep = _no_out(keepdims, out)
        return _with_dtype(_ops().mean(self, axis=axis, keepdims=keep, where=where), dtype)

    def max(
        self, axis: Any = None, keepdims: bool = False, *, out: Any = None, initial: Any = None,
        where: Any = None,
    ):
        keep = _no_out(keepdims, out)
        return _ops().max(self, axis=axis, keepdims=keep, initial=initial, where=where)

    def min(
        self, axis: Any = None, keepdims: bool = False, *, out: Any = None, initial: Any = None,
        where: Any = None,
    ):
        keep = _no_out(keepdims, out)
        return _ops().min(self, axis=axis, keepdims=keep, initial=initial, where=where)

    def argmax(self, axis: Any = None, *, out: Any = None):
        return _ops().argmax(self, axis=_no_out(axis, out))

    # numpy functions composed from the ops above (frontend/composite_ops.py)

    def argmin(self, axis: Any = None, *, out: Any = None):
        return _composite().argmin(self, axis=_no_out(axis, out))

    def var(
        self, axis: Any = None, ddof: Any = 0, keepdims: bool = False, *, dtype: Any = None,
        out: Any = None,
    ):
        return _composite().var(self, axis, ddof, _no_out(keepdims, out), dtype=dtype)

    def std(
        self, axis: Any = None, ddof: Any = 0, keepdims: bool = False, *, dtype: Any = None,
        out: Any = None,
    ):
        return _composite().std(self, axis, ddof, _no_out(keepdims, out), dtype=dtype)

    def prod(self, axis: Any = None, keepdims: bool = False, *, dtype: Any = None, out: Any = None):
        return _composite().prod(self, axis, _no_out(keepdims, out), dtype=dtype)

    def any(self, axis: Any = None, keepdims: bool = False, *, out: Any = None):
        return _composite().any(self, axis, _no_out(keepdims, out))

    def all(self, axis: Any = None, keepdims: bool = False, *, out: Any = None):
        return _composite().all(self, axis, _no_out(keepdims, out))

    def cumsum(self, axis: Any = None, *, dtype: Any = None, out: Any = None):
        return _composite().cumsum(self, _no_out(axis, out), dtype=dtype)

    def cumprod(self, axis: Any = None, *, dtype: Any = None, out: Any = None):
        return _composite().cumprod(self, _no_out(axis, out), dtype=dtype)

    def repeat(self, repeats: Any, axis: Any = None):
        return _composite().repeat(self, repeats, axis)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1):
        return _composite().diagonal(self, offset, axis1, axis2)

    def reshape(self, *shape: Any, order: str = "C"):
        if order != "C":
            raise _type_error(f"reshape: only order='C' (row-major) is supported, got {order!r}")
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops().reshape(self, shape)

    def transpose(self, *axes: Any):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = () if axes[0] is None else tuple(axes[0])  # np.transpose(x) passes None
        return _ops().transpose(self, axes or None)

    def swapaxes(self, axis1: int, axis2: int):
        return _ops().swapaxes(self, axis1, axis2)

    def squeeze(self, axis: Any = None):
        return _ops().squeeze(self, axis)

    def flatten(self):
        return _ops().reshape(self, (-1,))

    ravel = flatten

    def astype(self, dtype: Any):
        return _ops().astype(self, dtype)

    def clip(self, min: Any = None, max: Any = None, *, out: Any = None):
        return _ops().clip(self, _no_out(min, out), max)

    def round(self, decimals: int = 0, *, out: Any = None):
        from tcomp.frontend import math_ops

        return math_ops.round(self, _no_out(decimals, out))

    def __round__(self, ndigits: Any = None):
        return self.round(0 if ndigits is None else ndigits)

    # numpy interoperability -----------------------------------------------------------

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any):
        function = _ufunc_table().get(ufunc.__name__)
        if method == "__call__" and not kwargs and function is not None:
            return function(*inputs)
        from tcomp.frontend.trace import Tracer

        if not any(isinstance(x, Tracer) for x in inputs):
            # Concrete arrays only (np.isnan(result) at a prompt): numpy on host copies.
            host = [np.asarray(x) if isinstance(x, ArrayMethods) else x for x in inputs]
            return getattr(ufunc, method)(*host, **kwargs)
        raise _type_error(
            f"numpy's {ufunc.__name__} ({method}) is not supported on traced arrays; "
            "use tcomp's array functions inside jit"
        )


def _type_error(message: str) -> Exception:
    from tcomp.ir.errors import TcompTypeError

    return TcompTypeError(message)


def _no_out(value: Any, out: Any) -> Any:
    """Passes ``value`` through; ``out=`` arrays are refused (tcomp arrays are immutable)."""
    if out is not None:
        raise _type_error("out= is not supported: tcomp arrays are immutable; use the result")
    return value


def _with_dtype(result: Any, dtype: Any) -> Any:
    return result if dtype is None else _ops().astype(result, dtype)
