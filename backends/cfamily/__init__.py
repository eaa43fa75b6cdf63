"""The C-family renderer: kernel-IR programs as OpenCL C or CUDA C source.

Pure (imports no driver), so it is golden-tested anywhere; the OpenCL and
CUDA runtimes compile and launch what it writes, following
:func:`launch_plan`. How each kernel runs on a GPU is decided once by the
``map-gpu`` pass (:func:`map_gpu`, :mod:`tcomp.backends.cfamily.schedule`) and kept
in its schedule. The two dialects differ only in
:mod:`tcomp.backends.cfamily.dialect`.
"""

from tcomp.backends.cfamily.dialect import CUDA, DIALECTS, OPENCL, Dialect
from tcomp.backends.cfamily.render import render_program
from tcomp.backends.cfamily.schedule import KernelLaunch, launch_plan, map_gpu

__all__ = [
    "CUDA", "DIALECTS", "OPENCL", "Dialect", "KernelLaunch", "launch_plan", "map_gpu",
    "render_program",
]
