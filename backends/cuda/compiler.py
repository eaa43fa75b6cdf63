"""CUDA C to a cubin for one GPU architecture: NVRTC in-process, else ``nvcc``.

NVRTC (``libnvrtc.so``, from the CUDA toolkit or the ``nvidia-cuda-nvrtc``
wheel) compiles in the process in a fraction of a second; ``nvcc`` is the
fallback where NVRTC is missing (a process per program, about a second).
Both get the dialect's options (``--fmad=false``: each operation rounds on
its own, as numpy's do) and the device's architecture (``sm_90`` on an
H100), so the cubin holds machine code for that chip and nothing is
compiled again when the module loads. Needs no GPU: the CI machine compiles
every generated kernel this way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from tcomp.backends.cfamily.dialect import CUDA
from tcomp.backends.gpu.driver import build_error_message
from tcomp.ir.errors import TcompBackendError


def nvrtc_candidates() -> list[str]:
    """Where libnvrtc may be: the loader's search path, CUDA_HOME, /usr/local/cuda, and
    NVIDIA's pip wheels in this interpreter's site-packages."""
    names = [ctypes.util.find_library("nvrtc") or ""]
    roots = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", ""), "/usr/local/cuda"]
    for root in filter(None, roots):
        names += sorted(glob.glob(os.path.join(root, "lib64", "libnvrtc.so*")), reverse=True)
    for site in sys.path:
        names += sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib", "libnvrtc.so*")), reverse=True)
        names += sorted(glob.glob(os.path.join(site, "nvidia", "*", "*", "lib", "libnvrtc.so*")), reverse=True)
    names += ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"]
    return [name for name in names if name]


@lru_cache(maxsize=1)
def load_nvrtc() -> ctypes.CDLL | None:
    """The NVRTC library, or None where it cannot be found (``TCOMP_CUDA_COMPILER=nvcc``
    skips it)."""
    if os.environ.get("TCOMP_CUDA_COMPILER", "").strip().lower() == "nvcc":
        return None
    for name in nvrtc_candidates():
        try:
            library = ctypes.CDLL(name)
            library.nvrtcGetCUBIN  # noqa: B018 - a library old enough to lack it is no use
        except (OSError, AttributeError):
            continue
        library.nvrtcGetErrorString.restype = ctypes.c_char_p
        return library
    return None


def compiler_version() -> str:
    """The compiler that :func:`compile_cuda` uses and its version (part of cache keys)."""
    library = load_nvrtc()
    if library is not None:
        major, minor = ctypes.c_int(), ctypes.c_int()
        library.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
        return f"nvrtc {major.value}.{minor.value}"
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return "none"
    output = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    return "nvcc " + (output.strip().splitlines() or ["?"])[-1]


def compile_cuda(source: str, name: str, arch: str) -> bytes:
    """The cubin of ``source`` for ``arch`` (``"sm_90"``); a rejected source raises a
    TcompBackendError with the log and the numbered source."""
    options = [f"--gpu-architecture={arch}", *CUDA.compile_options]
    library = load_nvrtc()
    if library is not None:
        return _compile_nvrtc(library, source, name, options)
    return _compile_nvcc(source, name, options)


def _compile_nvrtc(library: ctypes.CDLL, source: str, name: str, options: list[str]) -> bytes:
    program = ctypes.c_void_p()
    _check_nvrtc(library, library.nvrtcCreateProgram(
        ctypes.byref(program), source.encode(), f"{name}.cu".encode(), 0, None, None
    ))
    try:
        encoded = [option.encode() for option in options]
        array = (ctypes.c_char_p * len(encoded))(*encoded)
        status = library.nvrtcCompileProgram(program, len(encoded), array)
        if status != 0:
            size = ctypes.c_size_t()
            library.nvrtcGetProgramLogSize(program, ctypes.byref(size))
            log = ctypes.create_string_buffer(size.value + 1)
            library.nvrtcGetProgramLog(program, log)
            raise TcompBackendError(
                build_error_message("cuda", name, log.value.decode(errors="replace"), source)
            )
        size = ctypes.c_size_t()
        _check_nvrtc(library, library.nvrtcGetCUBINSize(program, ctypes.byref(size)))
        cubin = ctypes.create_string_buffer(size.value)
        _check_nvrtc(library, library.nvrtcGetCUBIN(program, cubin))
        return cubin.raw
    finally:
        library.nvrtcDestroyProgram(ctypes.byref(program))


def _check_nvrtc(library: ctypes.CDLL, status: int) -> None:
    if status != 0:
        message = library.nvrtcGetErrorString(status).decode(errors="replace")
        raise TcompBackendError(f"cuda: NVRTC failed: {message}")


def _compile_nvcc(source: str, name: str, options: list[str]) -> bytes:
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise TcompBackendError(
            "the cuda backend needs a CUDA compiler: neither NVRTC (libnvrtc.so; "
            "pip install nvidia-cuda-nvrtc) nor nvcc (the CUDA toolkit) was found"
        )
    with tempfile.TemporaryDirectory(prefix="tcomp-nvcc-") as folder:
        source_path = Path(folder) / f"{name}.cu"
        cubin_path = Path(folder) / f"{name}.cubin"
        source_path.write_text(source)
        result = subprocess.run(
            [nvcc, "-cubin", *options, "-o", str(cubin_path), str(source_path)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise TcompBackendError(
                build_error_message("cuda", name, result.stderr + result.stdout, source)
            )
        return cubin_path.read_bytes()
