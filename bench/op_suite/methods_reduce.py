"""Reductions, scans, sorting and selection methods of the shim's Tensor."""

from __future__ import annotations

from typing import Any

from bench.op_suite.dtypes import to_dtype
from bench.op_suite.lookup import fn


def _axis(axis: Any, ndim: int) -> Any:
    """tinygrad/torch axes (an int, a list, a tuple or None) as numpy's (int, tuple,
    None). torch lets a 0-d tensor be reduced along axis 0 or -1: that is all of it."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    if ndim == 0 and (
        axis in (0, -1) or (isinstance(axis, tuple) and len(axis) == 1 and axis[0] in (0, -1))
    ):
        return None
    return axis


def along_axis(tensor: Any, name: str, function: Any, axis: int) -> Any:
    """``function(tensor, axis)`` recorded as ``name``. torch lets a 0-d tensor be
    scanned or softmaxed along axis 0 or -1, as if it were one element long: the shim
    hands tcomp that one-element axis and takes it away again."""
    if tensor.ndim == 0 and axis in (0, -1):
        return along_axis(tensor.reshape(1), name, function, 0).reshape(())
    return tensor._record(name, function, tensor, axis)


class ReduceMethods:
    """Reductions (``sum``, ``max``, ``var`` ...), cumulative ops, sort and top-k."""

    def _reduce(self: Any, name: str, axis: Any, keepdim: bool, **kw: Any) -> Any:
        return self._record(
            name, fn(name), self, axis=_axis(axis, self.ndim), keepdims=keepdim, **kw
        )

    def sum(self: Any, axis: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
        x = self if dtype is None else self.cast(to_dtype(dtype))
        return x._reduce("sum", axis, keepdim)

    def prod(self: Any, axis: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
        kw = {} if dtype is None else {"dtype": to_dtype(dtype).tcomp_name}
        return self._reduce("prod", axis, keepdim, **kw)

    def max(self: Any, axis: Any = None, keepdim: bool = False) -> Any:
        return self._reduce("max", axis, keepdim)

    def min(self: Any, axis: Any = None, keepdim: bool = False) -> Any:
        return self._reduce("min", axis, keepdim)

    def mean(self: Any, axis: Any = None, keepdim: bool = False) -> Any:
        return self._reduce("mean", axis, keepdim)

    def any(self: Any, axis: Any = None, keepdim: bool = False) -> Any:
        return self._reduce("any", axis, keepdim)

    def all(self: Any, axis: Any = None, keepdim: bool = False) -> Any:
        return self._reduce("all", axis, keepdim)

    def var(self: Any, axis: Any = None, keepdim: bool = False, correction: int = 1) -> Any:
        return self._reduce("var", axis, keepdim, ddof=correction)

    def std(self: Any, axis: Any = None, keepdim: bool = False, correction: int = 1) -> Any:
        return self._reduce("std", axis, keepdim, ddof=correction)

    def std_mean(self: Any, axis: Any = None, keepdim: bool = False, correction: int = 1) -> Any:
        return self.std(axis, keepdim, correction), self.mean(axis, keepdim)

    def var_mean(self: Any, axis: Any = None, keepdim: bool = False, correction: int = 1) -> Any:
        return self.var(axis, keepdim, correction), self.mean(axis, keepdim)

    def logsumexp(self: Any, axis: Any = None, keepdim: bool = False) -> Any:
        return self._record(
            "logsumexp",
            fn("logsumexp", where="nn"),
            self,
            axis=_axis(axis, self.ndim),
            keepdims=keepdim,
        )

    def _arg(self: Any, name: str, axis: Any, keepdim: bool) -> Any:
        out = self._record(name, fn(name), self, axis)
        if keepdim and axis is not None:
            out = self._record("expand_dims", fn("expand_dims"), out, axis)
        return out

    def argmax(self: Any, axis: Any = None, keepdim: bool = False) -> Any:
        return self._arg("argmax", axis, keepdim)

    def argmin(self: Any, axis: Any = None, keepdim: bool = False) -> Any:
        return self._arg("argmin", axis, keepdim)

    # cumulative ops: tinygrad's default axis is 0
    def cumsum(self: Any, axis: int = 0) -> Any:
        return along_axis(self, "cumsum", fn("cumsum"), axis)

    def cumprod(self: Any, axis: int = 0) -> Any:
        return along_axis(self, "cumprod", fn("cumprod"), axis)

    def logcumsumexp(self: Any, axis: int = 0) -> Any:
        return along_axis(self, "logcumsumexp", fn("logcumsumexp"), axis)

    def cummax(self: Any, axis: int = 0) -> Any:
        """``(values, indices)``: ``tcomp.cummax(x, axis, return_indices=True)``."""
        return _scan_with_indices(self, "cummax", axis)

    def cummin(self: Any, axis: int = 0) -> Any:
        """``(values, indices)``: ``tcomp.cummin(x, axis, return_indices=True)``."""
        return _scan_with_indices(self, "cummin", axis)

    # sorting and selection
    def sort(self: Any, dim: int = -1, descending: bool = False) -> Any:
        return self._record("sort", fn("sort"), self, dim, descending=descending), self._record(
            "argsort", fn("argsort"), self, dim, descending=descending
        )

    def argsort(self: Any, dim: int = -1, descending: bool = False) -> Any:
        return self._record("argsort", fn("argsort"), self, dim, descending=descending)

    def topk(self: Any, k: int, dim: int = -1, largest: bool = True, sorted_: bool = True) -> Any:
        """``tcomp.top_k`` (last axis; another ``dim`` is moved there and back)."""
        last = self.ndim - 1
        dim = dim % self.ndim if self.ndim else 0
        x = self if dim == last else self._record("moveaxis", fn("moveaxis"), self, dim, -1)
        values, indices = x._record("top_k", fn("top_k"), x, k, largest=largest)
        if dim != last:
            values = values._record("moveaxis", fn("moveaxis"), values, -1, dim)
            indices = indices._record("moveaxis", fn("moveaxis"), indices, -1, dim)
        return values, indices


def _scan_with_indices(tensor: Any, name: str, axis: int) -> Any:
    """``tcomp.<name>(tensor, axis, return_indices=True)``; a 0-d tensor's axis 0 or -1
    is a one-element axis, as in :func:`along_axis`."""
    if tensor.ndim == 0 and axis in (0, -1):
        values, indices = _scan_with_indices(tensor.reshape(1), name, 0)
        return values.reshape(()), indices.reshape(())
    return tensor._record(name, fn(name), tensor, axis, return_indices=True)
