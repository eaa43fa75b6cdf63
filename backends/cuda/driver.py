"""Which CUDA driver layer runs ``backend="cuda"``: pycuda when installed, else libcuda.

``"cuda"`` is device 0, ``"cuda:N"`` device N. ``TCOMP_CUDA_DRIVER=pycuda``
or ``=libcuda`` forces a layer. ``import tcomp`` never touches either:
this runs when a program must run on the GPU.
"""

from __future__ import annotations

import importlib.util
import os

from tcomp.backends.gpu.driver import Driver
from tcomp.ir.errors import TcompBackendError

DRIVER_ENV = "TCOMP_CUDA_DRIVER"


def open_cuda_driver(spec: str | None) -> Driver:
    """The driver for device ``spec`` (an index as text; None is device 0)."""
    try:
        index = int(spec) if spec else 0
    except ValueError:
        raise TcompBackendError(f"cuda device {spec!r}: expected a device number, as in 'cuda:1'") from None
    choice = os.environ.get(DRIVER_ENV, "").strip().lower()
    if choice not in ("", "pycuda", "libcuda"):
        raise TcompBackendError(f"{DRIVER_ENV}={choice!r}: expected pycuda or libcuda")
    if choice == "pycuda" or (not choice and importlib.util.find_spec("pycuda") is not None):
        from tcomp.backends.cuda.libcuda import load_libcuda

        load_libcuda()  # the clear "no NVIDIA driver" error before pycuda's own
        from tcomp.backends.cuda.pycuda_driver import PyCudaDriver

        return PyCudaDriver(index)
    from tcomp.backends.cuda.libcuda import LibCudaDriver

    return LibCudaDriver(index)
