"""What counts as an array for tcomp, and how host data is brought to tcomp's dtypes.

tcomp's dtypes are float32, float64, float16, bfloat16 (ml_dtypes.bfloat16),
int8, uint8, int32, uint32, int64 and bool. Host data is converted on the way
in, the same way for jit arguments, closed-over constants and eager calls:

- float32, float64, float16, bfloat16, int8, uint8, int32, uint32 and bool
  arrays keep their dtype (so uint8 images wrap as numpy's do);
- arrays in the other byte order (``>f4`` on a little-endian machine, as
  read from some files) are converted to this machine's order first;
- int64 arrays, numpy's default integer (``np.arange(3)``, ``np.array([1, 2])``),
  become int32 when every value fits, as before tcomp had int64, and raise
  :class:`TcompTypeError` naming the range otherwise; int64 is kept only when
  asked for: ``tcomp.astype(x, "int64")``, an int64 ``tcomp.Array``, or
  ``x.astype("int64")`` in the function. int16, uint16 and uint64 arrays become
  int32 by the same rule;
- Python ``bool``/``int``/``float`` become 0-d bool/int32/float32 arrays
  that are *weakly typed*: they take the dtype of the array they meet
  (``x * 2.0`` stays float32, like numpy 2 and JAX);
- complex, object, string and datetime data raise :class:`TcompTypeError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcomp.ir.errors import TcompTypeError
from tcomp.ir.types import DTYPE_NAMES, canonical_dtype, numpy_dtype

BFLOAT16 = numpy_dtype("bfloat16")

_INT32 = np.iinfo(np.int32)
# integer dtypes a host array keeps (int64 is numpy's default: narrowed, see above)
_KEPT_INTS = frozenset(np.dtype(t) for t in (np.int8, np.uint8, np.int32, np.uint32))


def python_scalar_dtype(x: bool | int | float) -> str:
    """The dtype a Python scalar takes when nothing else decides (bool, int32, float32)."""
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, int):
        return "int32"
    return "float32"


def is_python_scalar(x: Any) -> bool:
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


def host_array(x: Any, what: str = "value") -> np.ndarray:
    """``x`` as a numpy array in one of tcomp's dtypes (see the module docstring)."""
    from tcomp.frontend.array import Array

    if isinstance(x, Array):
        return x.numpy()
    if is_python_scalar(x):
        dtype = python_scalar_dtype(x)
        if dtype == "int32" and not _INT32.min <= x <= _INT32.max:
            raise TcompTypeError(f"{what}: the integer {x} does not fit in int32")
        return np.asarray(x, dtype=dtype)
    if isinstance(x, (complex, str, bytes)) or x is None:
        raise TcompTypeError(
            f"{what}: a {type(x).__name__} is not an array; tcomp supports {', '.join(DTYPE_NAMES)}"
        )
    try:
        array = np.asarray(x)
    except Exception as error:  # ragged lists and other non-arrays
        raise TcompTypeError(f"{what}: cannot be made an array ({error})") from None
    return canonical_host_array(array, what)


def canonical_host_array(array: np.ndarray, what: str = "value") -> np.ndarray:
    """Converts a numpy array to tcomp's dtype for it (ints to int32 with a range check)."""
    array = native_byte_order(array)
    kind = array.dtype.kind
    if kind in "iu" and array.dtype not in _KEPT_INTS:
        if array.size and (array.min() < _INT32.min or array.max() > _INT32.max):
            raise TcompTypeError(
                f"{what}: {array.dtype} values in [{array.min()}, {array.max()}] do not fit "
                "in int32, the dtype tcomp gives numpy's default integer arrays; to keep "
                "int64, pass tcomp.astype(x, 'int64')"
            )
        return array.astype(np.int32)
    if kind not in "iufb" and array.dtype != BFLOAT16:
        raise TcompTypeError(
            f"{what}: dtype {_dtype_text(array.dtype)} is not supported; "
            f"tcomp supports {', '.join(DTYPE_NAMES)}"
        )
    canonical_dtype(array.dtype)  # raises for float128 and the like
    return array


def native_byte_order(array: np.ndarray) -> np.ndarray:
    """``array`` itself, or a copy in this machine's byte order when it is a number
    (or bool) array stored in the other one (``>f4`` on a little-endian machine)."""
    dtype = array.dtype
    if dtype.isnative or dtype.kind not in "iufb":
        return array
    return array.astype(dtype.newbyteorder("="))


def _dtype_text(dtype: np.dtype) -> str:
    """``complex64``, or ``complex64 (big-endian, >c8)`` for a non-native byte order."""
    if dtype.isnative:
        return str(dtype)
    order = "big-endian" if dtype.byteorder == ">" else "little-endian"
    return f"{dtype.name} ({order}, {dtype.str})"
