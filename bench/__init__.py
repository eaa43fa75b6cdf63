"""tcomp's benchmark runner: ``python -m bench`` from the repository root (or ``tcomp bench``).

Not part of the installed package: it compares against optional frameworks
(PyTorch, JAX, matplotlib for the chart) and writes its results into the
source tree. See ``bench/__main__.py`` for the options.
"""
