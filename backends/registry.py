"""Backend names, the default backend, and lazy construction of backends.

Backends are constructed on first use, so ``import tcomp`` never imports a
driver. The default backend is ``TCOMP_BACKEND`` when set, else
``DEFAULT_BACKEND``; the environment is read when a default is needed, never
at import time.
"""

from __future__ import annotations

from typing import Callable

from tcomp.backends.base import Backend
from tcomp.backends.options import backend_name_from_environment
from tcomp.ir.errors import TcompBackendError

KNOWN_BACKENDS: tuple[str, ...] = ("reference", "llvm", "opencl", "cuda")
DEFAULT_BACKEND = "llvm"


def _make_reference(spec: str | None) -> Backend:
    from tcomp.backends.reference.backend import ReferenceBackend

    return ReferenceBackend()


def _make_llvm(spec: str | None) -> Backend:
    from tcomp.backends.llvm.backend import LLVMBackend

    return LLVMBackend()


def _make_opencl(spec: str | None) -> Backend:
    from tcomp.backends.gpu.backend import GPUBackend
    from tcomp.backends.opencl.driver import OpenCLDriver

    return GPUBackend("opencl", "opencl", lambda: OpenCLDriver(spec))


def _make_cuda(spec: str | None) -> Backend:
    from tcomp.backends.cuda.driver import open_cuda_driver
    from tcomp.backends.gpu.backend import GPUBackend

    return GPUBackend("cuda", "cuda", lambda: open_cuda_driver(spec))


# name -> factory(device spec after "name:", or None): one per name in KNOWN_BACKENDS.
# A factory imports its backend's modules only when called; a missing driver package
# or device shows later, as the TcompBackendError of check_available() or of a run.
_FACTORIES: dict[str, Callable[[str | None], Backend]] = {
    "reference": _make_reference,
    "llvm": _make_llvm,
    "opencl": _make_opencl,
    "cuda": _make_cuda,
}
_INSTANCES: dict[str, Backend] = {}


_last_default: tuple[str, str] | None = None  # (TCOMP_BACKEND as read, the name it gave)


def default_backend_name() -> str:
    """The backend used when none is named: ``TCOMP_BACKEND`` or the built-in default.

    Read on every call (each jitted call without a backend asks); checked again only
    when the variable changed."""
    global _last_default
    text = backend_name_from_environment()
    last = _last_default
    if last is not None and last[0] == text:
        return last[1]
    name = text or DEFAULT_BACKEND
    check_backend_name(name, source="TCOMP_BACKEND")
    _last_default = (text, name)
    return name


def check_backend_name(name: str, source: str = "backend") -> None:
    """Raises a clear error for a name tcomp does not know."""
    if name.split(":", 1)[0] not in KNOWN_BACKENDS:
        raise TcompBackendError(
            f"unknown {source} {name!r}: tcomp knows {', '.join(KNOWN_BACKENDS)}"
        )


def get_backend(name: str | None = None) -> Backend:
    """The backend called ``name`` (the default when None), constructed on first use."""
    name = name or default_backend_name()
    check_backend_name(name)
    if name not in _INSTANCES:
        kind, _, spec = name.partition(":")
        _INSTANCES[name] = _FACTORIES[kind](spec or None)  # every known name has one
    return _INSTANCES[name]


def available_backends() -> list[str]:
    """The names of the backends that can run here."""
    available = []
    for name in KNOWN_BACKENDS:
        try:
            backend = get_backend(name)
            check = getattr(backend, "check_available", None)
            if check is not None:
                check()  # a GPU backend renders without a device; running needs one
        except TcompBackendError:
            continue
        available.append(name)
    return available
