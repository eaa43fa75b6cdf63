"""Movement, joining, splitting and gathering methods of the shim's Tensor."""

from __future__ import annotations

import math
from typing import Any

from bench.op_suite.errors import Unsupported
from bench.op_suite.lookup import fn


def _shape_args(shape: tuple) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` alike, as tinygrad and torch take both."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _split_points(sizes: list[int]) -> list[int]:
    """numpy's split positions from torch's chunk sizes."""
    points, total = [], 0
    for size in sizes[:-1]:
        total += size
        points.append(total)
    return points


def _joined(op: str, first: Any, others: tuple) -> list[Any]:
    """The tensors of ``Tensor.cat(a, b)``, ``a.cat(b)`` or ``Tensor.cat((a, b))``."""
    if isinstance(first, (list, tuple)):
        if others:
            raise ValueError(f"{op}: give the tensors as one sequence or as arguments, not both")
        return list(first)
    return [first, *others]


class ShapeMethods:
    """reshape, permute, pad, cat, split, gather ... each one tcomp function, with
    tinygrad's arguments put in numpy's terms."""

    def reshape(self: Any, *shape: Any) -> Any:
        """``tcomp.reshape``; tinygrad's ``None`` keeps that axis's size."""
        shape = _shape_args(shape)
        shape = tuple(
            self.shape[i] if s is None and i < self.ndim else s for i, s in enumerate(shape)
        )
        return self._record("reshape", fn("reshape"), self, shape)

    view = reshape

    def flatten(self: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        shape = (
            self.shape[:start] + (math.prod(self.shape[start : end + 1]),) + self.shape[end + 1 :]
        )
        return self.reshape(shape)

    def unflatten(self: Any, dim: int, sizes: Any) -> Any:
        dim = dim % self.ndim
        return self.reshape(self.shape[:dim] + tuple(sizes) + self.shape[dim + 1 :])

    def permute(self: Any, *order: Any) -> Any:
        return self._record("transpose", fn("transpose"), self, _shape_args(order))

    def transpose(self: Any, dim0: int = 1, dim1: int = 0) -> Any:
        return self._record("swapaxes", fn("swapaxes"), self, dim0, dim1)

    @property
    def T(self: Any) -> Any:
        return self.transpose()

    def expand(self: Any, *shape: Any) -> Any:
        """``broadcast_to``; a ``-1`` keeps that axis's size (torch's rule)."""
        shape = _shape_args(shape)
        lead = len(shape) - self.ndim
        full = tuple(
            self.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape)
        )
        return self._record("broadcast_to", fn("broadcast_to"), self, full)

    def squeeze(self: Any, dim: Any = None) -> Any:
        """numpy's squeeze; a ``dim`` whose size is not 1 leaves the tensor as it is (torch)."""
        if isinstance(dim, int) and -self.ndim <= dim < self.ndim and self.shape[dim] != 1:
            return self
        if self.ndim == 0 and dim in (0, -1):
            return self  # torch: axis 0 or -1 of a 0-d tensor is the tensor itself
        return self._record("squeeze", fn("squeeze"), self, dim)

    def unsqueeze(self: Any, dim: int) -> Any:
        return self._record("expand_dims", fn("expand_dims"), self, dim)

    def pad(self: Any, padding: Any, mode: str = "constant", value: float = 0.0) -> Any:
        """Per-axis ``(low, high)`` pairs (``None`` for none) go to ``tcomp.pad``, or to
        ``tcomp.nn.pad`` when one is negative; torch's flat form (last axis first) goes to
        ``tcomp.nn.pad``."""
        if all(isinstance(p, int) for p in padding):
            return self._record(
                "nn.pad", fn("pad", where="nn"), self, tuple(padding), mode=mode, value=value
            )
        pairs = [(0, 0) if p is None else tuple(p) for p in padding]
        if len(pairs) == self.ndim and any(min(p) < 0 for p in pairs):
            # negative pads cut (torch's F.pad, tcomp.nn.pad); numpy's pad has none
            flat = tuple(w for pair in reversed(pairs) for w in pair)
            return self._record("nn.pad", fn("pad", where="nn"), self, flat, mode=mode, value=value)
        if mode == "constant":
            return self._record("pad", fn("pad"), self, pairs, constant_values=value)
        numpy_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(mode, mode)
        return self._record("pad", fn("pad"), self, pairs, mode=numpy_mode)

    def shrink(self: Any, arg: Any) -> Any:
        index = tuple(slice(None) if a is None else slice(a[0], a[1]) for a in arg)
        return self[index]

    def cat(self: Any, *others: Any, dim: int = 0) -> Any:
        tensors = _joined("cat", self, others)
        return tensors[0]._record("concatenate", fn("concatenate"), tensors, axis=dim)

    def stack(self: Any, *others: Any, dim: int = 0) -> Any:
        tensors = _joined("stack", self, others)
        return tensors[0]._record("stack", fn("stack"), tensors, axis=dim)

    def split(self: Any, sizes: Any, dim: int = 0) -> Any:
        """torch's split (a chunk size, or the sizes) as numpy's split positions."""
        length = self.shape[dim]
        if isinstance(sizes, int):
            if sizes <= 0:
                raise RuntimeError(f"split: chunk size must be positive, got {sizes}")
            sizes = [min(sizes, length - start) for start in range(0, length, sizes)] or [0]
        elif sum(sizes) != length:
            raise RuntimeError(f"split: sizes {sizes} do not add up to {length}")
        return tuple(self._record("split", fn("split"), self, _split_points(list(sizes)), axis=dim))

    def chunk(self: Any, chunks: int, dim: int = 0) -> Any:
        length = self.shape[dim]
        size = math.ceil(length / chunks) if length else 1
        return self.split(size, dim)

    def flip(self: Any, axis: Any) -> Any:
        return self._record(
            "flip", fn("flip"), self, tuple(axis) if isinstance(axis, list) else axis
        )

    def roll(self: Any, shifts: Any, dims: Any = None) -> Any:
        """numpy's roll; torch's contract (one shift per dim, no tuple of shifts without
        dims), which numpy's broadcasting would read otherwise, is checked first."""
        shifts = tuple(shifts) if isinstance(shifts, list) else shifts
        dims = tuple(dims) if isinstance(dims, list) else dims
        count = len(shifts) if isinstance(shifts, tuple) else 1
        if (dims is None and count != 1) or (
            dims is not None and count != (len(dims) if isinstance(dims, tuple) else 1)
        ):
            raise RuntimeError(f"roll: shifts {shifts} and dims {dims} must have the same length")
        return self._record("roll", fn("roll"), self, shifts, dims)

    def repeat(self: Any, *repeats: Any) -> Any:
        """torch's repeat is numpy's ``tile``; torch wants a repeat per axis at least
        (numpy's tile would pad the repeats with ones)."""
        repeats = _shape_args(repeats)
        if len(repeats) < self.ndim:
            raise ValueError(f"repeat: {len(repeats)} repeats for a tensor of rank {self.ndim}")
        return self._record("tile", fn("tile"), self, repeats)

    def repeat_interleave(self: Any, repeats: Any, dim: Any = None) -> Any:
        return self._record("repeat", fn("repeat"), self, repeats, dim)

    def tril(self: Any, diagonal: int = 0) -> Any:
        return self._record("tril", fn("tril"), self, diagonal)

    def triu(self: Any, diagonal: int = 0) -> Any:
        return self._record("triu", fn("triu"), self, diagonal)

    def diagonal(self: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:
        return self._record("diagonal", fn("diagonal"), self, offset, dim1, dim2)

    def diag(self: Any) -> Any:
        return self._record("diag", fn("diag"), self)

    def gather(self: Any, dim: int, index: Any) -> Any:
        """torch's gather is numpy's ``take_along_axis``; torch lets ``index`` be smaller
        than ``x`` on the other axes, which reads only that leading part of ``x``."""
        x = self
        if index.shape != x.shape:
            cut = tuple(
                slice(None) if a == dim % x.ndim else slice(0, n) for a, n in enumerate(index.shape)
            )
            x = x[cut]
        return self._record("take_along_axis", fn("take_along_axis"), x, index, dim)

    def scatter(self: Any, dim: int, index: Any, src: Any, reduce: Any = None) -> Any:
        """torch's scatter is ``tcomp.put_along_axis`` (``reduce`` "add" and "multiply"
        by the same names); see :func:`_scatter` for torch's index shapes."""
        if reduce is not None and _is_tensor(src):
            raise TypeError("scatter: a tensor src with reduce is scatter_reduce's (tinygrad)")
        return _scatter(self, dim, index, src, reduce=reduce)

    def scatter_reduce(
        self: Any, dim: int, index: Any, src: Any, reduce: str, include_self: bool = True
    ) -> Any:
        """``tcomp.put_along_axis`` with torch's reduction names as tcomp's (sum: add,
        prod: multiply, amin: min, amax: max, mean); another name goes to tcomp as it is."""
        return _scatter(
            self,
            dim,
            index,
            src,
            reduce=_SCATTER_REDUCTIONS.get(reduce, reduce),
            include_self=include_self,
        )

    def masked_select(self: Any, mask: Any, size: Any = None) -> Any:
        return self._record("masked_select", fn("masked_select", "compress"), self, mask, size=size)

    def nonzero(self: Any, size: Any = None, fill_value: Any = 0) -> Any:
        """torch's nonzero (an ``[n, ndim]`` tensor) is numpy's ``argwhere``; tcomp needs
        the static ``size``."""
        if size is None:
            raise Unsupported(
                "nonzero without a static size", "a result whose size depends on the data"
            )
        return self._record("argwhere", fn("argwhere"), self, size=size, fill_value=fill_value)

    def unfold(self: Any, dim: int, size: int, step: int) -> Any:
        return self._record("unfold", fn("unfold", "sliding_window_view"), self, dim, size, step)

    def meshgrid(self: Any, *others: Any, indexing: str = "ij") -> Any:
        return self._record("meshgrid", fn("meshgrid"), self, *others, indexing=indexing)

    def one_hot(self: Any, num_classes: int = -1) -> Any:
        if num_classes == -1:
            raise Unsupported(
                "one_hot without num_classes", "a result whose size depends on the data"
            )
        return self._record("one_hot", fn("one_hot"), self, num_classes, dtype="int32")


_SCATTER_REDUCTIONS = {"sum": "add", "prod": "multiply", "amin": "min", "amax": "max"}


def _is_tensor(value: Any) -> bool:
    return bool(getattr(value, "_is_shim_tensor", False))


def _scatter(x: Any, dim: int, index: Any, src: Any, **kw: Any) -> Any:
    """torch's scatter as numpy's put_along_axis. torch checks ``src``'s dtype against
    ``x``'s and lets ``index`` be smaller than ``x`` on the other axes and than ``src`` on
    every axis: only ``src``'s leading part (``index``'s shape) is written, into the
    leading part of ``x`` on the other axes; that part of ``x`` is cut out, updated and
    set back."""
    if _is_tensor(src):
        if src.dtype != x.dtype:
            raise RuntimeError(f"scatter: src is {src.dtype}, self is {x.dtype} (torch: same)")
        if src.ndim == index.ndim and src.shape != index.shape:
            src = src[tuple(slice(0, n) for n in index.shape)]
    if index.ndim != x.ndim or not -x.ndim <= dim < x.ndim:
        return x._record("put_along_axis", fn("put_along_axis"), x, index, src, dim, **kw)
    axis = dim % x.ndim
    others = [a for a in range(x.ndim) if a != axis]
    if any(index.shape[a] > x.shape[a] for a in others):
        raise RuntimeError(f"scatter: index {index.shape} is larger than self {x.shape}")
    if all(index.shape[a] == x.shape[a] for a in others):
        return x._record("put_along_axis", fn("put_along_axis"), x, index, src, dim, **kw)
    cut = tuple(slice(None) if a == axis else slice(0, index.shape[a]) for a in range(x.ndim))
    part = x[cut]
    updated = part._record("put_along_axis", fn("put_along_axis"), part, index, src, dim, **kw)
    result = type(x)(x)
    result[cut] = updated
    return result
