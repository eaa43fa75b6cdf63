"""Scaled dot-product attention of ``tcomp.nn``: causal and explicit masks, grouped-query
heads (PyTorch's ``F.scaled_dot_product_attention`` without dropout)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tcomp.frontend import creation, ops
from tcomp.frontend.dispatch import dtype_of, shape_of, user_error
from tcomp.frontend.nn_common import (
    _array,
    _float_array,
    _max_shift,
    broadcasts_to,
    check_number,
)
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float, numpy_dtype


def _check_shapes(q: Any, k: Any, v: Any, enable_gqa: bool) -> int:
    """The group size (query heads per key/value head; 1 without ``enable_gqa``)."""
    qs, ks, vs = shape_of(q), shape_of(k), shape_of(v)
    if min(len(qs), len(ks), len(vs)) < 2:
        raise user_error(
            TcompShapeError,
            f"attention: q, k and v need a length and a feature axis, got {qs}, {ks} and {vs}",
        )
    if ks[-1] != qs[-1] or ks[-2] != vs[-2]:
        raise user_error(
            TcompShapeError,
            f"attention: q {qs}, k {ks} and v {vs} do not fit "
            "(q and k need one feature size, k and v one length)",
        )
    if not enable_gqa:
        return 1
    if min(len(qs), len(ks), len(vs)) < 3 or ks[-3] != vs[-3] or qs[-3] % ks[-3]:
        raise user_error(
            TcompShapeError,
            f"attention: enable_gqa needs q [..., H, Tq, D] and k, v [..., Hkv, Tk, D] with Hkv "
            f"dividing H, got q {qs}, k {ks} and v {vs}",
        )
    return qs[-3] // ks[-3]


def _mask(mask: Any, scores_shape: tuple[int, ...], dtype: str):
    """The mask checked against the scores ``[..., H, Tq, Tk]``: bool stays bool, a float
    mask becomes the scores' dtype."""
    mask = _array(mask, "attention")
    if dtype_of(mask) != "bool" and not is_float(dtype_of(mask)):
        raise user_error(
            TcompTypeError,
            f"attention: mask must be bool (True keeps a key) or float (added to the scores), "
            f"got {dtype_of(mask)}",
        )
    if not broadcasts_to(shape_of(mask), scores_shape):
        raise user_error(
            TcompShapeError,
            f"attention: mask {shape_of(mask)} must broadcast to the scores "
            f"[..., heads, Tq, Tk] {scores_shape}",
        )
    return mask if dtype_of(mask) == "bool" else ops.astype(mask, dtype)


def _safe_softmax(scores: Any):
    """softmax along the last axis that gives 0 (and zero gradient) on a row of ``-inf``."""
    shifted = ops.exp(scores - _max_shift(scores, -1))
    total = ops.sum(shifted, axis=-1, keepdims=True)
    return shifted / ops.where(total == 0, 1.0, total)


def attention(
    q: Any,
    k: Any,
    v: Any,
    causal: bool = False,
    mask: Any = None,
    scale: float | None = None,
    enable_gqa: bool = False,
):
    """Scaled dot-product attention: ``softmax(q @ k^T * scale + mask) @ v``, as
    PyTorch's ``F.scaled_dot_product_attention`` (without dropout).

    q ``[..., Tq, D]``, k ``[..., Tk, D]``, v ``[..., Tk, Dv]``; leading axes (batch,
    heads: ``[B, H, T, D]``) broadcast. ``scale`` defaults to ``1 / sqrt(D)``.

    - ``causal``: query i sees keys ``<= i + Tk - Tq`` (the queries are the last ``Tq``
      positions of the key sequence, so ``Tq <= Tk``).
    - ``mask`` (PyTorch's ``attn_mask``), broadcast to the scores ``[..., Tq, Tk]``:
      bool, True where a query may see a key; or float, added to the scores (``-inf``
      hides a key). With ``causal`` both apply.
    - ``enable_gqa``: grouped-query attention; k and v have ``Hkv`` heads at axis -3,
      dividing q's ``H``, and query head ``h`` reads key/value head
      ``h // (H / Hkv)`` (PyTorch's ``repeat_interleave``), without copying them.

    A query whose every key is masked gets a zero output and zero gradient (what
    PyTorch 2.x gives too; the plain formula would give nan).
    """
    if not isinstance(causal, bool) or not isinstance(enable_gqa, bool):
        raise user_error(TcompTypeError, "attention: causal and enable_gqa must be True or False")
    q, k, v = (_float_array(a, "attention") for a in (q, k, v))
    group = _check_shapes(q, k, v, enable_gqa)
    d = shape_of(q)[-1]
    factor = 1.0 / math.sqrt(d) if scale is None else check_number(scale, "scale", "attention")
    heads = shape_of(q)[-3] if enable_gqa else None
    if group > 1:  # q [..., Hkv, G, Tq, D] against k, v [..., Hkv, 1, Tk, D]
        q = ops.reshape(q, shape_of(q)[:-3] + (heads // group, group) + shape_of(q)[-2:])
        k, v = ops.expand_dims(k, -3), ops.expand_dims(v, -3)
    scores = ops.matmul(q, ops.swapaxes(k, -1, -2)) * factor
    grouped_shape = shape_of(scores)
    if group > 1:
        scores = ops.reshape(scores, grouped_shape[:-4] + (heads,) + grouped_shape[-2:])
    tq, tk = shape_of(scores)[-2], shape_of(scores)[-1]
    if causal and tq > tk:
        raise user_error(
            TcompShapeError,
            f"attention: causal=True needs at most as many queries as keys, got {tq} and {tk} "
            f"(the first {tq - tk} queries would see no key)",
        )
    visible = None
    if causal:
        rows = ops.reshape(creation.arange(tq), (tq, 1))
        cols = ops.reshape(creation.arange(tk), (1, tk))
        visible = cols <= rows + (tk - tq)
    if mask is None:
        if visible is not None:  # every query sees a key: a finite fill is enough
            lowest = float(np.finfo(numpy_dtype(dtype_of(scores))).min)
            scores = ops.where(visible, scores, lowest)
        shifted = ops.exp(scores - _max_shift(scores, -1))
        weights = shifted / ops.sum(shifted, axis=-1, keepdims=True)
    else:
        mask = _mask(mask, shape_of(scores), dtype_of(scores))
        if dtype_of(mask) == "bool":
            visible = mask if visible is None else visible * mask
        else:
            scores = scores + mask
        if visible is not None:
            scores = ops.where(visible, scores, -math.inf)
        weights = _safe_softmax(scores)
    if group > 1:
        weights = ops.reshape(weights, grouped_shape)
        out = ops.matmul(weights, v)
        return ops.reshape(out, shape_of(out)[:-4] + (heads,) + shape_of(out)[-2:])
    return ops.matmul(weights, v)


__all__ = ["attention"]
