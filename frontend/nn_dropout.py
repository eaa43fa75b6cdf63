"""``tcomp.nn.dropout``: inverted dropout with an explicit key.

    y = where(keep, x / (1 - rate), 0),   keep = tcomp.random.bernoulli(key, 1 - rate, x.shape)

The mask is the same on every backend for the same key (see :mod:`tcomp.random`),
so a jitted training step and its eager replay drop the same units. The gradient
is ``keep / (1 - rate)`` (what autodiff makes of ``where`` and the division; the
mask itself has none).
"""

from __future__ import annotations

from typing import Any

from tcomp.frontend import ops
from tcomp.frontend.creation import zeros_like
from tcomp.frontend.dispatch import shape_of, user_error
from tcomp.frontend.nn_common import _float_array, static_hint
from tcomp.frontend.random_sampling import bernoulli
from tcomp.ir.errors import TcompArgumentError


def dropout(x: Any, rate: float, key: Any, deterministic: bool = False) -> Any:
    """Zeroes each element of ``x`` with probability ``rate`` and scales the rest by
    ``1 / (1 - rate)`` (PyTorch's ``F.dropout`` in training mode, JAX/Flax's ``Dropout``).

    ``rate`` is a Python number in ``[0, 1]``. ``deterministic=True`` (evaluation) or
    ``rate == 0`` returns ``x`` unchanged (the key is not used); ``rate == 1`` gives
    zeros (and a zero gradient). ``key`` is a ``tcomp.random`` key (int32 ``[2]``); use a
    new one per step and layer (``tcomp.random.fold_in(key, step)``, ``split``).
    int32 and bool ``x`` become float32.
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise user_error(
            TcompArgumentError,
            f"dropout: rate must be a Python number in [0, 1], got {rate!r}{static_hint(rate)}",
        )
    if not 0.0 <= rate <= 1.0:
        raise user_error(TcompArgumentError, f"dropout: rate must be in [0, 1], got {rate}")
    if not isinstance(deterministic, bool):
        raise user_error(
            TcompArgumentError,
            f"dropout: deterministic must be True or False, got {deterministic!r}"
            f"{static_hint(deterministic)}",
        )
    x = _float_array(x, "dropout")
    if deterministic or rate == 0:
        return x
    if rate == 1:
        return zeros_like(x)
    keep = bernoulli(key, 1.0 - rate, shape_of(x))
    return ops.where(keep, x / (1.0 - rate), 0.0)
