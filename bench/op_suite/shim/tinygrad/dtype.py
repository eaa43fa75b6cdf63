"""``tinygrad.dtype``."""

from bench.op_suite.dtypes import DType, dtypes

__all__ = ["DType", "dtypes"]
