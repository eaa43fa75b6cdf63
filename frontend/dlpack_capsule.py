"""DLPack capsules made with ctypes: a pointer, a shape and a dtype handed to a consumer.

``tcomp.Array.__dlpack__`` exports through :func:`export_capsule` what numpy's
own exporter cannot: ``cuda`` device memory and bfloat16 host arrays. It builds
the structs of ``dlpack.h`` (DLPack 1.0): a ``DLManagedTensorVersioned`` in a
``"dltensor_versioned"`` capsule for a consumer that asked for version 1 or
newer (flagged read-only: tcomp arrays are immutable), else a legacy
``DLManagedTensor`` in a ``"dltensor"`` capsule.

Lifetime: :data:`_ALIVE` holds the structs, the memory's owner and the capsule
until the consumer calls the deleter. The capsule has no destructor, because
one written in Python cannot run while a consumer that failed has an exception
set (any Python call then loses that exception); instead each export first
drops the entries of capsules nobody else holds that were never consumed
(:func:`_sweep`).
"""

from __future__ import annotations

import ctypes
import sys
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

KDL_CPU, KDL_CUDA, KDL_OPENCL = 1, 2, 4
FLAG_READ_ONLY, FLAG_IS_COPIED = 1, 2
VERSION = (1, 0)

_INT, _UINT, _FLOAT, _BFLOAT, _BOOL = 0, 1, 2, 4, 6


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


_DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER)]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", _DELETER),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", DLTensor),
    ]


# The Python C API through functions of our own (setting argtypes on ctypes.pythonapi's
# shared function objects would change them for every other user in the process).
_api = ctypes.pythonapi
_capsule_new = ctypes.PYFUNCTYPE(
    ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p
)(("PyCapsule_New", _api))
_capsule_is_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_IsValid", _api)
)

LEGACY_NAME, VERSIONED_NAME = b"dltensor", b"dltensor_versioned"


@dataclass
class _Export:
    """What must live until the consumer calls the deleter."""

    managed: Any  # the DLManagedTensor(Versioned) struct
    arrays: tuple[Any, ...]  # its shape and strides
    owner: Any  # whatever keeps the memory alive
    capsule: Any
    name: bytes


# address of a managed tensor -> its export
_ALIVE: dict[int, _Export] = {}
_ALIVE_LOCK = threading.Lock()


def _delete(address: int) -> None:
    """The deleter a consumer calls (once) when it no longer needs the memory."""
    with _ALIVE_LOCK:
        entry = _ALIVE.pop(address, None)
    del entry  # outside the lock: dropping the owner may release another export


_DELETER_FN = _DELETER(_delete)


def _references(export: _Export) -> int:
    return sys.getrefcount(export.capsule)


def _held_elsewhere(export: _Export) -> bool:
    """Whether anything but its :class:`_Export` refers to the export's capsule (compared
    with a probe held the same way, so what the count includes never matters)."""
    return _references(export) > _BASELINE


def _sweep() -> None:
    """Forgets the exports whose capsule only :data:`_ALIVE` holds and no consumer took
    (still under its first name): nobody can consume them any more."""
    with _ALIVE_LOCK:
        dead = [
            address
            for address, export in _ALIVE.items()
            if not _held_elsewhere(export) and _capsule_is_valid(export.capsule, export.name)
        ]
        entries = [_ALIVE.pop(address) for address in dead]
    del entries


_BASELINE = _references(_Export(None, (), None, object(), b""))


def dl_dtype(dtype: np.dtype) -> DLDataType:
    """The DLPack type of one of tcomp's dtypes (bfloat16 is ``kDLBfloat``, bool ``kDLBool``)."""
    dtype = np.dtype(dtype)
    if dtype.name == "bfloat16":
        code = _BFLOAT
    elif dtype.kind == "b":
        code = _BOOL
    else:
        code = {"i": _INT, "u": _UINT, "f": _FLOAT}[dtype.kind]
    return DLDataType(code, dtype.itemsize * 8, 1)


def export_capsule(
    pointer: int,
    shape: tuple[int, ...],
    dtype: np.dtype,
    device: tuple[int, int],
    owner: Any,
    versioned: bool,
    read_only: bool,
    copied: bool = False,
) -> Any:
    """A DLPack capsule for the C-contiguous array of ``shape`` and ``dtype`` at
    ``pointer`` on ``device`` (``(kDLCPU, 0)``, ``(kDLCUDA, n)``); ``owner`` is kept alive
    until the consumer is done. ``read_only`` and ``copied`` set the version-1 flags
    (a legacy capsule has none)."""
    ndim = len(shape)
    shape_array = (ctypes.c_int64 * max(ndim, 1))(*shape)
    strides, step = [0] * ndim, 1
    for axis in reversed(range(ndim)):
        strides[axis], step = step, step * max(shape[axis], 1)
    strides_array = (ctypes.c_int64 * max(ndim, 1))(*strides)
    tensor = DLTensor(
        ctypes.c_void_p(pointer or None),
        DLDevice(*device),
        ndim,
        dl_dtype(dtype),
        ctypes.cast(shape_array, ctypes.POINTER(ctypes.c_int64)),
        ctypes.cast(strides_array, ctypes.POINTER(ctypes.c_int64)),
        0,
    )
    if versioned:
        flags = (FLAG_READ_ONLY if read_only else 0) | (FLAG_IS_COPIED if copied else 0)
        managed: Any = DLManagedTensorVersioned(
            DLPackVersion(*VERSION), None, _DELETER_FN, flags, tensor
        )
        name = VERSIONED_NAME
    else:
        managed = DLManagedTensor(tensor, None, _DELETER_FN)
        name = LEGACY_NAME
    _sweep()
    address = ctypes.addressof(managed)
    capsule = _capsule_new(address, name, None)
    with _ALIVE_LOCK:
        _ALIVE[address] = _Export(managed, (shape_array, strides_array), owner, capsule, name)
    return capsule


def live_exports() -> int:
    """How many exported tensors are still held, after a sweep (for tests: a consumer that
    is done, or a capsule dropped unconsumed, releases its tensor)."""
    _sweep()
    with _ALIVE_LOCK:
        return len(_ALIVE)
