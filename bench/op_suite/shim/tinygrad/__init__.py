"""A fake ``tinygrad`` whose Tensor records tcomp calls (see :mod:`bench.op_suite`)."""

from bench.op_suite.device import Device
from bench.op_suite.dtypes import dtypes
from bench.op_suite.tensor import Tensor

__all__ = ["Device", "Tensor", "dtypes"]
