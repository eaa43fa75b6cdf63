"""All primitives of the graph IR, registered on import.

``PRIMITIVES`` maps each name to its :class:`Primitive` (shape rule, numpy
reference, gradient rule). The definitions are grouped by kind:
elementwise (with math functions and bitwise ops), reductions, movement
(layout) ops, contraction, convolution, window reductions (pooling),
indexing, the random-bit generator (``threefry2x32``), control flow
(``scan``, ``switch``, ``while``: ops that hold regions) and the collectives
across processes (``all_reduce_sum`` ...: ``COLLECTIVE_OPS``).
"""

from tcomp.ir.primitives import bitwise as _bitwise  # noqa: F401,E402
from tcomp.ir.primitives import collectives as _collectives  # noqa: F401,E402
from tcomp.ir.primitives import contraction as _contraction  # noqa: F401,E402
from tcomp.ir.primitives import control_flow as _control_flow  # noqa: F401,E402
from tcomp.ir.primitives import convolution as _convolution  # noqa: F401,E402
from tcomp.ir.primitives import elementwise as _elementwise  # noqa: F401,E402
from tcomp.ir.primitives import indexing as _indexing  # noqa: F401,E402
from tcomp.ir.primitives import math_functions as _math_functions  # noqa: F401,E402
from tcomp.ir.primitives import movement as _movement  # noqa: F401,E402
from tcomp.ir.primitives import random_bits as _random_bits  # noqa: F401,E402
from tcomp.ir.primitives import reductions as _reductions  # noqa: F401,E402
from tcomp.ir.primitives import windows as _windows  # noqa: F401,E402
from tcomp.ir.primitives.base import PRIMITIVES, Primitive, get_primitive, register

__all__ = ["PRIMITIVES", "Primitive", "get_primitive", "register"]
