"""The inverse error function, in public tcomp ops, for ``tcomp.random.truncated_normal``.

M. Giles, "Approximating the erfinv function" (GPU Computing Gems Jade, 2011), whose
polynomials XLA's ``ErfInv`` uses too. float32 (and float16/bfloat16, computed in
float32), with ``w = -log((1 - x) * (1 + x))``::

    w < 5:  x * P8(w - 2.5)         else:  x * Q8(sqrt(w) - 3)

within 4 float32 ulp of erfinv on (-1, 1) (relative error below 3e-7). float64: the
double-precision version, degree 22 in ``w - 3.125`` for ``w < 6.25``, degree 18 in
``sqrt(w) - 3.25`` for ``w < 16``, degree 16 in ``sqrt(w) - 5`` beyond (relative error
below 1e-15 on (-1, 1) against scipy's). ``erfinv(+-1)`` is ``+-inf``; NaN outside
``[-1, 1]``. ``(1 - x) * (1 + x)`` rather than ``1 - x*x``: both factors are exact
near ``|x| = 1``, where the tail is decided.
"""

from __future__ import annotations

import math
from typing import Any

from tcomp.frontend import ops
from tcomp.frontend.dispatch import dtype_of

# Giles' single-precision coefficients, highest degree first
_CENTRAL = (
    2.81022636e-08,
    3.43273939e-07,
    -3.5233877e-06,
    -4.39150654e-06,
    0.00021858087,
    -0.00125372503,
    -0.00417768164,
    0.246640727,
    1.50140941,
)
_TAIL = (
    -0.000200214257,
    0.000100950558,
    0.00134934322,
    -0.00367342844,
    0.00573950773,
    -0.0076224613,
    0.00943887047,
    1.00167406,
    2.83297682,
)
# Giles' double-precision coefficients (as XLA's ErfInv64), highest degree first: for
# w < 6.25 in w - 3.125, for w < 16 in sqrt(w) - 3.25, beyond in sqrt(w) - 5
_CENTRAL64 = (
    -3.6444120640178196996e-21,
    -1.685059138182016589e-19,
    1.2858480715256400167e-18,
    1.115787767802518096e-17,
    -1.333171662854620906e-16,
    2.0972767875968561637e-17,
    6.6376381343583238325e-15,
    -4.0545662729752068639e-14,
    -8.1519341976054721522e-14,
    2.6335093153082322977e-12,
    -1.2975133253453532498e-11,
    -5.4154120542946279317e-11,
    1.051212273321532285e-09,
    -4.1126339803469836976e-09,
    -2.9070369957882005086e-08,
    4.2347877827932403518e-07,
    -1.3654692000834678645e-06,
    -1.3882523362786468719e-05,
    0.0001867342080340571352,
    -0.00074070253416626697512,
    -0.0060336708714301490533,
    0.24015818242558961693,
    1.6536545626831027356,
)
_MIDDLE64 = (
    2.2137376921775787049e-09,
    9.0756561938885390979e-08,
    -2.7517406297064545428e-07,
    1.8239629214389227755e-08,
    1.5027403968909827627e-06,
    -4.013867526981545969e-06,
    2.9234449089955446044e-06,
    1.2475304481671778723e-05,
    -4.7318229009055733981e-05,
    6.8284851459573175448e-05,
    2.4031110387097893999e-05,
    -0.0003550375203628474796,
    0.00095328937973738049703,
    -0.0016882755560235047313,
    0.0024914420961078508066,
    -0.0037512085075692412107,
    0.005370914553590063617,
    1.0052589676941592334,
    3.0838856104922207635,
)
_TAIL64 = (
    -2.7109920616438573243e-11,
    -2.5556418169965252055e-10,
    1.5076572693500548083e-09,
    -3.7894654401267369937e-09,
    7.6157012080783393804e-09,
    -1.4960026627149240478e-08,
    2.9147953450901080826e-08,
    -6.7711997758452339498e-08,
    2.2900482228026654717e-07,
    -9.9298272942317002539e-07,
    4.5260625972231537039e-06,
    -1.9681778105531670567e-05,
    7.5995277030017761139e-05,
    -0.00021503011930044477347,
    -0.00013871931833623122026,
    1.0103004648645343977,
    4.8499064014085844221,
)


def _horner(coefficients: tuple[float, ...], t: Any) -> Any:
    p = t * coefficients[0] + coefficients[1]
    for c in coefficients[2:]:
        p = p * t + c
    return p


def erfinv(x: Any) -> Any:
    """``erfinv(x)`` elementwise for float ``x`` (see the module docstring for accuracy)."""
    w = -ops.log((1.0 - x) * (1.0 + x))  # (1 - x)(1 + x): exact factors near |x| = 1
    if dtype_of(x) == "float64":
        root = ops.sqrt(ops.maximum(w, 6.25))
        p = ops.where(
            w < 6.25,
            _horner(_CENTRAL64, w - 3.125),
            ops.where(w < 16.0, _horner(_MIDDLE64, root - 3.25), _horner(_TAIL64, root - 5.0)),
        )
    else:
        central = _horner(_CENTRAL, w - 2.5)
        p = ops.where(w < 5.0, central, _horner(_TAIL, ops.sqrt(ops.maximum(w, 5.0)) - 3.0))
    return ops.where(ops.abs(x) == 1.0, x * math.inf, p * x)  # erfinv(+-1) = +-inf
