"""All primitives of the graph IR, registered on import.

``PRIMITIVES`` maps each name to its :class:`Primitive` (shape rule, numpy
reference, gradient rule). The definitions are grouped by kind:
elementwise, reductions, movement (layout) ops, contraction, convolution,
window reductions (pooling) and indexing.
"""

from tcomp.ir.primitives import contraction as _contraction  # noqa: F401,E402
from tcomp.ir.primitives import convolution as _convolution  # noqa: F401,E402
from tcomp.ir.primitives import elementwise as _elementwise  # noqa: F401,E402
from tcomp.ir.primitives import indexing as _indexing  # noqa: F401,E402
from tcomp.ir.primitives import movement as _movement  # noqa: F401,E402
from tcomp.ir.primitives import reductions as _reductions  # noqa: F401,E402
from tcomp.ir.primitives import windows as _windows  # noqa: F401,E402
from tcomp.ir.primitives.base import PRIMITIVES, Primitive, get_primitive, register

__all__ = ["PRIMITIVES", "Primitive", "get_primitive", "register"]
