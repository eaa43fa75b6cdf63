"""``tinygrad.tensor``: the Tensor and ``_to_np_dtype``."""

from bench.op_suite.dtypes import to_np_dtype as _to_np_dtype
from bench.op_suite.tensor import Tensor

__all__ = ["Tensor", "_to_np_dtype"]
