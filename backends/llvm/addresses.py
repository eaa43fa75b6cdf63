"""The data address of a numpy array, fast: what a call of compiled code passes per buffer.

``array.ctypes.data`` builds a ctypes helper object on every use (about 3 us on this
project's 2-core test machine); a jitted call passes one address per input, output and
arena, so for a train step of a dozen parameters that alone was tens of microseconds.

numpy's C struct ``PyArrayObject_fields`` starts with the Python object header and then
``char *data`` (numpy's public ABI, unchanged since numpy 1.0); in CPython ``id(array)``
is the object's address. So the data pointer is the pointer-sized word right after the
header. This module measures the header size once at import on real arrays (a
contiguous one, a view with an offset, an empty one) and checks the word against
``array.ctypes.data``; if any disagrees (another interpreter, a debug or free-threaded
build with a larger header), :func:`data_address` is ``array.ctypes.data`` itself.
"""

from __future__ import annotations

import ctypes
import sys

import numpy as np

_HEADER_BYTES = object.__basicsize__  # ob_refcnt and ob_type in a default CPython build


def _word_after_header(array: np.ndarray) -> int:
    return ctypes.c_void_p.from_address(id(array) + _HEADER_BYTES).value or 0


def _header_read_works() -> bool:
    if sys.implementation.name != "cpython":
        return False
    base = np.arange(64, dtype=np.float32)
    samples = [base, base[3:], base.reshape(8, 8)[2:, 1:], np.empty(0, np.int32)]
    try:
        return all(_word_after_header(a) == (a.ctypes.data or 0) for a in samples)
    except (ValueError, OverflowError):
        return False


_READ_HEADER = _header_read_works()
_from_address = ctypes.c_void_p.from_address


def data_address(array: np.ndarray) -> int:
    """The address of ``array``'s first element: ``array.ctypes.data``, read from the
    array object when this interpreter's layout was confirmed at import."""
    if _READ_HEADER:
        return _from_address(id(array) + _HEADER_BYTES).value or 0
    return array.ctypes.data
