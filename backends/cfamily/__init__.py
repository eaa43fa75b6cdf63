"""The C-family renderer: kernel-IR programs as OpenCL C or CUDA C source.

Pure (imports no driver), so it is golden-tested anywhere; the OpenCL and
CUDA runtimes compile and launch what it writes, following
:func:`launch_plan`. The two dialects differ only in
:mod:`tcomp.backends.cfamily.dialect`.
"""

from tcomp.backends.cfamily.dialect import CUDA, DIALECTS, OPENCL, Dialect
from tcomp.backends.cfamily.render import KernelLaunch, launch_plan, render_program

__all__ = ["CUDA", "DIALECTS", "OPENCL", "Dialect", "KernelLaunch", "launch_plan", "render_program"]
