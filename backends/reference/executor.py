"""The reference executor: runs graph IR with numpy, one primitive at a time.

It is the specification of what every function means: each primitive's
``reference`` rule, applied in node order. Every compiled backend is tested
against it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tcomp.ir.errors import TcompArgumentError
from tcomp.ir.graph import Function, Value
from tcomp.ir.primitives import get_primitive
from tcomp.ir.types import numpy_dtype


def evaluate(function: Function, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Runs ``function`` on numpy ``inputs`` (one per parameter, exact shapes and dtypes)."""
    if len(inputs) != len(function.params):
        raise TcompArgumentError(
            f"{function.name}: expects {len(function.params)} inputs, got {len(inputs)}"
        )
    env: dict[Value, np.ndarray] = {}
    for index, (param, array) in enumerate(zip(function.params, inputs)):
        array = np.asarray(array)
        expected = numpy_dtype(param.dtype)
        if array.shape != param.shape or array.dtype != expected:
            raise TcompArgumentError(
                f"{function.name}: input {index} must be {param.type}, "
                f"got shape {array.shape} dtype {array.dtype}"
            )
        env[param] = array
    for node in function.nodes:
        primitive = get_primitive(node.op)
        result = primitive.evaluate([env[v] for v in node.inputs], node.attrs, node.output.dtype)
        env[node.output] = result.reshape(node.output.shape)
    return [env[v] for v in function.outputs]
