"""The counter-based random-bit generator: ``threefry2x32``, Threefry-2x32 with 20 rounds.

``threefry2x32(k0, k1, x0, x1, word=w)`` takes four int32 tensors of one shape: the
two key words and the two counter words, each the int32 bit pattern of a uint32
value. Element by element it computes the Threefry-2x32-20 block cipher of
Random123, the same function as JAX's ``threefry2x32`` primitive (the algorithm,
its constants and its known answers: :mod:`tcomp.ir.threefry`), and gives output
word ``w`` (0 or 1) as the int32 bit pattern of its uint32 value.

One primitive gives one word: a program that needs both has two nodes with the same
inputs, and the backends compute the block once (the kernel op calls one helper
function, which the C and LLVM compilers inline and share). It has no gradient
(integer results).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tcomp.ir.primitives.attrs import AttrKind
from tcomp.ir.primitives.base import Primitive, register, shape_error, type_error
from tcomp.ir.threefry import threefry2x32
from tcomp.ir.types import TensorType

NAME = "threefry2x32"


def _infer(types: Sequence[TensorType], attrs: Mapping[str, Any]) -> TensorType:
    first = types[0]
    for other in types[1:]:
        if other.shape != first.shape:
            raise shape_error(NAME, "key and counter words must have one shape", *types)
    if any(t.dtype != "int32" for t in types):
        raise type_error(NAME, "takes int32 key and counter words (uint32 bit patterns)", *types)
    if attrs["word"] not in (0, 1):
        raise shape_error(NAME, f"word must be 0 or 1, got {attrs['word']}")
    return first


def _reference(inputs: Sequence[np.ndarray], attrs: Mapping[str, Any]) -> np.ndarray:
    words = threefry2x32(*inputs)
    return np.asarray(words[attrs["word"]], dtype=np.uint32).view(np.int32)


register(Primitive(NAME, _infer, _reference, None, attrs={"word": AttrKind.INDEX}, num_inputs=4))
