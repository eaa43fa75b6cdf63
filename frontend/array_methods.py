"""Operators and numpy-style methods shared by ``Tracer`` and ``tcomp.Array``.

Every operator forwards to the function of the same meaning in
``tcomp.frontend.ops``, so traced and eager arrays behave identically.
numpy ufuncs called on them (``np.exp(x)``, ``ndarray + x``) are routed to
tcomp too, through ``__array_ufunc__``.
"""

from __future__ import annotations

from typing import Any


def _ops():
    from tcomp.frontend import ops

    return ops


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
    def __pow__(self, other: Any): return _ops().power(self, other)
    def __rpow__(self, other: Any): return _ops().power(other, self)
    def __matmul__(self, other: Any): return _ops().matmul(self, other)
    def __rmatmul__(self, other: Any): return _ops().matmul(other, self)
    def __neg__(self): return _ops().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _ops().abs(self)

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
    def T(self):
        return _ops().transpose(self)

    def sum(self, axis: Any = None, keepdims: bool = False):
        return _ops().sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False):
        return _ops().mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False):
        return _ops().max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False):
        return _ops().min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: Any = None):
        return _ops().argmax(self, axis=axis)

    def reshape(self, *shape: Any):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops().reshape(self, shape)

    def transpose(self, *axes: Any):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
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

    def clip(self, min: Any = None, max: Any = None):
        return _ops().clip(self, min, max)

    # numpy interoperability -----------------------------------------------------------

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any):
        from tcomp.frontend.ops import UFUNCS

        function = UFUNCS.get(ufunc.__name__)
        if method != "__call__" or kwargs or function is None:
            from tcomp.ir.errors import TcompTypeError

            raise TcompTypeError(
                f"numpy's {ufunc.__name__} ({method}) is not supported on tcomp arrays; "
                "use the tcomp function of the same name"
            )
        return function(*inputs)
