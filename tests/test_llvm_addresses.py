"""backends/llvm/addresses.py: the fast data address equals numpy's own, on every kind of array."""

from __future__ import annotations

import numpy as np
import pytest

from tcomp.backends.llvm import addresses
from tcomp.backends.llvm.addresses import data_address

BASE = np.arange(256, dtype=np.float64).reshape(16, 16)
ARRAYS = {
    "contiguous": BASE,
    "offset view": BASE[3:, 2:],
    "transposed": BASE.T,
    "reshaped view": BASE.reshape(-1)[5:],
    "empty": np.empty(0, np.float32),
    "scalar": np.asarray(np.float32(1.5)),
    "read-only": np.frombuffer(b"\x00" * 64, dtype=np.int32),
    "bool": np.ones(7, bool),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_data_address_is_numpys(name):
    array = ARRAYS[name]
    assert data_address(array) == (array.ctypes.data or 0)


def test_the_header_read_is_used_on_this_cpython():
    # CI runs CPython 3.11 (default build): the fast path must be the one checked above
    assert addresses._READ_HEADER
