"""The reference executor: runs graph IR with numpy, one primitive at a time.

It is the specification of what every function means: each primitive's
``reference`` rule, applied in node order. Every compiled backend is tested
against it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tcomp.ir.errors import TcompArgumentError, TcompMemoryError
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
        if node.regions:  # control flow: its rule runs the regions through evaluate
            arrays = primitive.reference_regions(  # type: ignore[misc]
                [env[v] for v in node.inputs], node.attrs, node.regions, evaluate
            )
            for value, array in zip(node.outputs, arrays):
                env[value] = np.asarray(array, dtype=numpy_dtype(value.dtype)).reshape(value.shape)
            continue
        try:
            result = primitive.evaluate([env[v] for v in node.inputs], node.attrs, node.output.dtype)
        except MemoryError as error:
            raise _out_of_memory(function, node.op, node.output) from error
        env[node.output] = result.reshape(node.output.shape)
    return [env[v] for v in function.outputs]


def _out_of_memory(function: Function, op: str, output: Value) -> TcompMemoryError:
    """The error for a node whose numpy evaluation ran out of memory: the bytes of its
    result (numpy may have wanted a temporary of another size), op and function."""
    itemsize = numpy_dtype(output.dtype).itemsize
    nbytes = int(np.prod(output.shape, dtype=np.int64)) * itemsize
    return TcompMemoryError.allocating(
        nbytes, f"the result {output.type} of {op} in {function.name} (reference backend)"
    )
