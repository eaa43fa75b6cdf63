"""The lowering of the random-bit generator ``threefry2x32``: one ``Call`` per element.

Elementwise, like the rules of ``rules_elementwise.py``: the four operands are read
at the output's index and word ``w`` of the block is the kernel op
``threefry2x32_<w>`` (:mod:`tcomp.ir.kernel.call`)::

    %4 = threefry2x32(%0, %1, %2, %3) {word=1}
    -> threefry2x32_1(%p0[i0], %p1[i0], %p2[i0], %p3[i0])
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from tcomp.ir.kernel.call import call, threefry_op
from tcomp.ir.kernel.lowering.context import Accessor, LoweringContext
from tcomp.ir.types import TensorType


def lower_threefry(
    ctx: LoweringContext, inputs: Sequence[Accessor], attrs: Mapping[str, Any], out_type: TensorType
) -> Accessor:
    op = threefry_op(attrs["word"])
    return lambda idx: call(op, [x(idx) for x in inputs])


LOWERINGS = {"threefry2x32": lower_threefry}
