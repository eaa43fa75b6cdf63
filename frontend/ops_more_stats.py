"""``logcumsumexp``, ``cov`` and ``corrcoef`` of the ``tcomp`` namespace (issue 15),
composed from tcomp's ops, so they trace, run eagerly and differentiate everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcomp.frontend import ops
from tcomp.frontend.composite_reductions import _scan
from tcomp.frontend.composite_shapes import as_array, diagonal
from tcomp.frontend.dispatch import shape_of, to_float, user_error
from tcomp.frontend.ops_more_math import _logaddexp_core
from tcomp.ir.errors import TcompShapeError, TcompTypeError


def logcumsumexp(x: Any, axis: Any = None):
    """``log(cumsum(exp(x)))`` along ``axis`` (of the flattened array when None), as
    PyTorch's ``torch.logcumsumexp`` (numpy: ``np.logaddexp.accumulate``).

    Numerically stable whatever the range: the log-depth scan of ``cumsum`` with
    ``logaddexp`` as its combining step (never ``exp`` of a large value, nor the log of an
    underflowed sum), O(n log n) work. ``-inf`` elements contribute nothing; ints and
    bools give float32. Gradient: ``softmax`` of the prefix, through ``logaddexp``.
    """
    value = to_float(as_array(x, "logcumsumexp"))
    return _scan(
        "logcumsumexp", value, axis, lambda a, b: _logaddexp_core(a, b, 1.0), None, keep_bool=True
    )


def _observations(m: Any, rowvar: bool, op: str):
    value = to_float(as_array(m, op))
    rank = len(shape_of(value))
    if rank > 2:
        raise user_error(
            TcompShapeError, f"{op}: needs a 1-d or 2-d array, got shape {shape_of(value)}"
        )
    if rank < 2:
        value = ops.reshape(value, (1, -1))
    elif not rowvar:
        value = ops.transpose(value)
    return value  # [variables, observations]


def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: Any = None):
    """numpy's ``cov`` (without ``fweights``/``aweights``): the covariance matrix of the
    variables in the rows of ``m`` (columns when ``rowvar=False``), ``y`` adding more
    variables. Normalised by ``N - 1``, ``N`` when ``bias``, or ``N - ddof``. A single
    variable gives a 0-d array, as numpy. ints give float32."""
    if not isinstance(rowvar, bool) or not isinstance(bias, bool):
        raise user_error(TcompTypeError, "cov: rowvar and bias must be True or False")
    value = _observations(m, rowvar, "cov")
    if y is not None:
        value = ops.concatenate([value, _observations(y, rowvar, "cov")], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    elif isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, (int, np.integer)):
        raise user_error(TcompTypeError, f"cov: ddof must be an int, got {ddof!r}")
    count = shape_of(value)[1]
    centred = value - ops.mean(value, axis=1, keepdims=True)
    result = ops.matmul(centred, ops.transpose(centred)) / float(count - int(ddof))
    return ops.squeeze(result) if shape_of(result) == (1, 1) else result


def corrcoef(x: Any, y: Any = None, rowvar: bool = True):
    """numpy's ``corrcoef``: ``cov(x, y, rowvar)`` divided by the outer product of the
    standard deviations, clipped to ``[-1, 1]`` as numpy. A constant variable gives NaN.
    A single variable gives a 0-d ``1.0`` (NaN if constant)."""
    c = cov(x, y, rowvar)
    if len(shape_of(c)) == 0:
        return c / c
    d = ops.sqrt(diagonal(c))
    scaled = c / ops.reshape(d, (-1, 1)) / ops.reshape(d, (1, -1))
    return ops.clip(scaled, -1.0, 1.0)


__all__ = ["corrcoef", "cov", "logcumsumexp"]
