"""tinygrad's ``dtypes`` namespace, mapped onto tcomp's dtype names.

Each :class:`DType` carries tinygrad's name and, where tcomp has the type, tcomp's
name (``tcomp_name``). A dtype tcomp lacks still exists (the suite names them at import
time) and raises :class:`~bench.op_suite.errors.Unsupported` when a tensor would use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.op_suite.errors import Unsupported

#: tcomp's dtypes (tcomp/__init__.py names these).
TCOMP_DTYPES = frozenset(
    {
        "float32",
        "float64",
        "float16",
        "bfloat16",
        "int8",
        "uint8",
        "int32",
        "uint32",
        "int64",
        "bool",
    }
)


@dataclass(frozen=True, eq=True)
class DType:
    """A tinygrad dtype: ``name`` (numpy's name, ``bfloat16`` for bf16), size in bytes."""

    name: str
    itemsize: int

    def __repr__(self) -> str:
        return f"dtypes.{self.name}"

    @property
    def tcomp_name(self) -> str:
        """tcomp's name for this dtype; :class:`Unsupported` where tcomp has none."""
        if self.name not in TCOMP_DTYPES:
            raise Unsupported(f"dtype {self.name}")
        return self.name

    @property
    def np(self) -> Any:
        """The numpy dtype (``ml_dtypes.bfloat16`` for bfloat16)."""
        if self.name == "bfloat16":
            import ml_dtypes

            return np.dtype(ml_dtypes.bfloat16)
        return np.dtype(self.name)

    @property
    def max(self) -> Any:
        return np.iinfo(self.name).max if self.is_int else float(np.finfo(self.np).max)

    @property
    def min(self) -> Any:
        return np.iinfo(self.name).min if self.is_int else float(np.finfo(self.np).min)

    @property
    def is_int(self) -> bool:
        return self.name.startswith(("int", "uint"))

    @property
    def is_float(self) -> bool:
        return self.name.startswith(("float", "bfloat"))

    def vec(self, count: int) -> DType:
        raise Unsupported("vector dtypes", f"{self.name}.vec({count})")


class _DTypes:
    """The ``dtypes`` namespace: every tinygrad scalar type, and tinygrad's predicates."""

    bool = DType("bool", 1)
    int8 = char = DType("int8", 1)
    uint8 = uchar = DType("uint8", 1)
    int16 = short = DType("int16", 2)
    uint16 = ushort = DType("uint16", 2)
    int32 = int = DType("int32", 4)
    uint32 = uint = DType("uint32", 4)
    int64 = long = DType("int64", 8)
    uint64 = ulong = DType("uint64", 8)
    float16 = half = DType("float16", 2)
    bfloat16 = DType("bfloat16", 2)
    float32 = float = DType("float32", 4)
    float64 = double = DType("float64", 8)
    fp8e4m3 = DType("float8_e4m3fn", 1)
    fp8e5m2 = DType("float8_e5m2", 1)
    default_float = float32
    default_int = int32

    @staticmethod
    def is_float(dtype: DType) -> bool:
        return dtype.is_float

    @staticmethod
    def is_int(dtype: DType) -> bool:
        return dtype.is_int

    @staticmethod
    def is_unsigned(dtype: DType) -> bool:
        return dtype.name.startswith("uint")

    @staticmethod
    def from_py(value: Any) -> DType:
        if isinstance(value, (list, tuple)):
            return _widest([dtypes.from_py(v) for v in value]) if value else dtypes.default_float
        if isinstance(value, bool):
            return dtypes.bool
        if isinstance(value, int):
            return dtypes.default_int
        return dtypes.default_float

    @property
    def floats(self) -> tuple[DType, ...]:
        return (self.float16, self.bfloat16, self.float32, self.float64)

    @property
    def ints(self) -> tuple[DType, ...]:
        return (
            self.int8,
            self.uint8,
            self.int16,
            self.uint16,
            self.int32,
            self.uint32,
            self.int64,
            self.uint64,
        )

    @property
    def all(self) -> tuple[DType, ...]:
        return (self.bool,) + self.ints + self.floats


dtypes = _DTypes()

_BY_NAME = {value.name: value for value in vars(_DTypes).values() if isinstance(value, DType)}


def _widest(kinds: list[DType]) -> DType:
    if any(k.is_float for k in kinds):
        return dtypes.default_float
    if any(k.is_int for k in kinds):
        return dtypes.default_int
    return dtypes.bool


def to_dtype(value: Any) -> DType:
    """A :class:`DType` from a DType, a name (``"int32"``), a numpy dtype or a torch dtype."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        if value in _BY_NAME:
            return _BY_NAME[value]
        if hasattr(_DTypes, value) and isinstance(getattr(_DTypes, value), DType):
            return getattr(_DTypes, value)
        raise AttributeError(f"no dtype named {value!r}")
    name = str(value).replace("torch.", "")
    if name in _BY_NAME:
        return _BY_NAME[name]
    if hasattr(_DTypes, name) and isinstance(getattr(_DTypes, name), DType):
        return getattr(_DTypes, name)
    return _BY_NAME[np.dtype(value).name]


def from_tcomp(name: str) -> DType:
    """The :class:`DType` of a tcomp dtype name."""
    return _BY_NAME[name]


def to_np_dtype(dtype: Any) -> Any:
    """tinygrad's ``_to_np_dtype``: the numpy dtype of a DType."""
    return to_dtype(dtype).np
