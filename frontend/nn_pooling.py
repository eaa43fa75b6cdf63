"""Pooling of ``tcomp.nn``, with PyTorch's arguments, over 1, 2 or 3 spatial axes.

Max pooling is the ``reduce_window_max`` primitive (its gradient goes to each
window's first maximum), average pooling ``reduce_window_sum`` over a divisor;
adaptive pooling is one window sum when the input divides evenly, else a mean
over slices per output cell. Inputs are ``[N, C, *spatial]``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.dispatch import bind, result_dtype, shape_of, user_error
from tcomp.frontend.nn_common import _array, _float, _spatial, is_int, static_hint
from tcomp.ir.errors import TcompShapeError, TcompTypeError
from tcomp.ir.types import is_float, numpy_dtype

_AXES = {1: "L", 2: "HW", 3: "DHW"}


def _pool_setup(
    x: Any,
    kernel_size: Any,
    kernel: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    ceil_mode: bool,
    d: int,
    op: str,
):
    """The checked input and the ``reduce_window_*`` attributes of a pooling (PyTorch's
    output size: ``floor`` or, with ``ceil_mode``, ``ceil`` of ``(L + 2 p - span) / s`` plus
    one, the last window starting inside the input or left padding; the extra windows of
    ``ceil_mode`` come from extra high padding)."""
    x = _array(x, op)
    names = _AXES[d]
    if len(shape_of(x)) != d + 2:
        raise user_error(
            TcompShapeError, f"{op}: needs an input [N, C, {', '.join(names)}], got {shape_of(x)}"
        )
    if (kernel_size is None) == (kernel is None):
        raise user_error(TcompTypeError, f"{op}: give the window as kernel (or kernel_size=), once")
    kernel = _spatial(kernel_size if kernel is None else kernel, d, f"{op} kernel", 1)
    stride = _spatial(stride, d, f"{op} stride", 1) if stride is not None else kernel
    pads = _spatial(padding, d, f"{op} padding", 0)
    dilation = _spatial(dilation, d, f"{op} dilation", 1)
    sizes = shape_of(x)[2:]
    highs = []
    for a in range(d):
        if pads[a] > kernel[a] // 2:
            raise user_error(
                TcompShapeError, f"{op}: padding {pads} must be at most half the kernel {kernel}"
            )
        span = dilation[a] * (kernel[a] - 1) + 1
        room = sizes[a] + 2 * pads[a] - span
        if room < 0:
            raise user_error(
                TcompShapeError,
                f"{op}: kernel {kernel} (dilation {dilation}) does not fit the padded input: "
                f"axis {names[a]} has {sizes[a] + 2 * pads[a]} elements, the kernel spans {span}",
            )
        count = (-(-room // stride[a]) if ceil_mode else room // stride[a]) + 1
        if ceil_mode and (count - 1) * stride[a] >= sizes[a] + pads[a]:
            count -= 1  # the last window would start in the right padding
        highs.append(pads[a] + max((count - 1) * stride[a] + span - sizes[a] - 2 * pads[a], 0))
    attrs = {
        "window": (1, 1) + kernel,
        "strides": (1, 1) + stride,
        "padding": (0, 0, 0, 0) + tuple(v for a in range(d) for v in (pads[a], highs[a])),
        "window_dilation": (1, 1) + dilation,
    }
    return x, attrs


def _max_pool(x, kernel_size, kernel, stride, padding, dilation, ceil_mode, d):
    op = f"max_pool{d}d"
    x, attrs = _pool_setup(x, kernel_size, kernel, stride, padding, dilation, ceil_mode, d, op)
    dtype = str(x.dtype) if hasattr(x, "dtype") else result_dtype(x)
    if not is_float(dtype):
        # windows hold -inf padding: integers are pooled in float64 (exact up to 2**53)
        return ops.astype(bind("reduce_window_max", [ops.astype(x, "float64")], **attrs), dtype)
    return bind("reduce_window_max", [x], **attrs)


def _avg_pool(
    x,
    kernel_size,
    kernel,
    stride,
    padding,
    ceil_mode,
    count_include_pad,
    d,
    op=None,
    divisor_override=None,
):
    op = op or f"avg_pool{d}d"
    x, attrs = _pool_setup(x, kernel_size, kernel, stride, padding, 1, ceil_mode, d, op)
    x = _float(x)
    total = bind("reduce_window_sum", [x], **attrs, base_dilation=(1,) * (d + 2))
    if divisor_override is not None:
        if not is_int(divisor_override) or divisor_override < 1:
            raise user_error(
                TcompTypeError,
                f"{op}: divisor_override must be a positive int or None, got "
                f"{divisor_override!r}{static_hint(divisor_override)}",
            )
        return total / float(divisor_override)
    # the divisor per output position: the window's elements inside the input, plus the
    # symmetric padding when count_include_pad (never the extra high padding of ceil_mode)
    sizes = shape_of(x)[2:]
    pads = attrs["padding"][4::2]
    if count_include_pad:
        ones = np.ones(tuple(s + 2 * p for s, p in zip(sizes, pads)))
        spatial_pad = tuple(v for a in range(d) for v in (0, attrs["padding"][5 + 2 * a] - pads[a]))
    else:
        ones = np.ones(sizes)
        spatial_pad = attrs["padding"][4:]
    from tcomp.ir.primitives import PRIMITIVES

    count = PRIMITIVES["reduce_window_sum"].reference(
        [ones],
        {
            "window": attrs["window"][2:],
            "strides": attrs["strides"][2:],
            "padding": spatial_pad,
            "window_dilation": (1,) * d,
            "base_dilation": (1,) * d,
        },
    )
    if np.all(count == count.flat[0]):
        return total / float(count.flat[0])
    return total / count.astype(numpy_dtype(str(total.dtype)))


_MAX_DOC = """Max over windows of an ``[N, C, {axes}]`` input, as PyTorch's ``F.max_pool{d}d``:
    ``kernel`` (or PyTorch's keyword ``kernel_size=``), ``stride`` (default: the kernel),
    ``padding`` (``-inf``, at most half the kernel), ``dilation`` and ``ceil_mode``, each an
    int or one per spatial axis. The ``reduce_window_max`` primitive; its gradient goes to
    each window's first maximum. A window that holds only padding (possible with dilation
    wider than the input) gives ``-inf`` and no gradient, as in PyTorch."""

_AVG_DOC = """Mean over windows of an ``[N, C, {axes}]`` input, as PyTorch's ``F.avg_pool{d}d``:
    zero ``padding`` (at most half the kernel) counted in the mean when
    ``count_include_pad`` (windows that ``ceil_mode`` lets run past the padding count only
    up to it){override}. The ``reduce_window_sum`` primitive over a divisor."""


def max_pool1d(
    x: Any,
    kernel: Any = None,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    *,
    kernel_size: Any = None,
):
    return _max_pool(x, kernel_size, kernel, stride, padding, dilation, ceil_mode, 1)


def max_pool3d(
    x: Any,
    kernel: Any = None,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    *,
    kernel_size: Any = None,
):
    return _max_pool(x, kernel_size, kernel, stride, padding, dilation, ceil_mode, 3)


def avg_pool1d(
    x: Any,
    kernel: Any = None,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    *,
    kernel_size: Any = None,
):
    return _avg_pool(x, kernel_size, kernel, stride, padding, ceil_mode, count_include_pad, 1)


def avg_pool2d(
    x: Any,
    kernel: Any = None,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    *,
    kernel_size: Any = None,
):
    return _avg_pool(
        x,
        kernel_size,
        kernel,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        2,
        divisor_override=divisor_override,
    )


def avg_pool3d(
    x: Any,
    kernel: Any = None,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    *,
    kernel_size: Any = None,
):
    return _avg_pool(
        x,
        kernel_size,
        kernel,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        3,
        divisor_override=divisor_override,
    )


_OVERRIDE = "; ``divisor_override``, when given, divides every window instead"
for _f, _d in ((max_pool1d, 1), (max_pool3d, 3)):  # max_pool2d: nn_more_pooling.py
    _f.__doc__ = _MAX_DOC.format(axes=", ".join(_AXES[_d]), d=_d)
for _f, _d in ((avg_pool1d, 1), (avg_pool2d, 2), (avg_pool3d, 3)):
    _f.__doc__ = _AVG_DOC.format(
        axes=", ".join(_AXES[_d]), d=_d, override=_OVERRIDE if _d > 1 else ""
    )


def _adaptive_avg_pool(x: Any, output_size: Any, d: int):
    op = f"adaptive_avg_pool{d}d"
    x = _array(x, op)
    if len(shape_of(x)) != d + 2:
        raise user_error(
            TcompShapeError,
            f"{op}: needs an input [N, C, {', '.join(_AXES[d])}], got {shape_of(x)}",
        )
    sizes = shape_of(x)[2:]
    out = _spatial(output_size, d, f"{op} output_size", 1)
    if all(s % o == 0 for s, o in zip(sizes, out)):
        kernel = tuple(s // o for s, o in zip(sizes, out))
        return _avg_pool(x, kernel, None, None, 0, False, True, d, op)
    x = _float(x)
    spans = [[((i * s) // o, -((-(i + 1) * s) // o)) for i in range(o)] for s, o in zip(sizes, out)]
    axes = tuple(range(2, d + 2))
    cells = [
        ops.mean(x[(slice(None), slice(None)) + tuple(slice(a, b) for a, b in cell)], axis=axes)
        for cell in itertools.product(*spans)
    ]
    return ops.reshape(ops.stack(cells, axis=-1), shape_of(x)[:2] + out)


def adaptive_avg_pool1d(x: Any, output_size: Any):
    """PyTorch's ``F.adaptive_avg_pool1d``: x ``[N, C, L]``; output cell ``i`` averages
    ``floor(i L / OL) .. ceil((i + 1) L / OL)``."""
    return _adaptive_avg_pool(x, output_size, 1)


def adaptive_avg_pool2d(x: Any, output_size: Any):
    """PyTorch's ``F.adaptive_avg_pool2d``: output cell ``i`` averages input rows
    ``floor(i H / OH) .. ceil((i + 1) H / OH)`` (and likewise for columns). One window sum
    when the input divides evenly, else a mean over slices per output cell."""
    return _adaptive_avg_pool(x, output_size, 2)


def adaptive_avg_pool3d(x: Any, output_size: Any):
    """PyTorch's ``F.adaptive_avg_pool3d``: x ``[N, C, D, H, W]``, cells as in
    :func:`adaptive_avg_pool2d` along each of the three axes."""
    return _adaptive_avg_pool(x, output_size, 3)


__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "max_pool1d",
    "max_pool3d",
]
