"""The kernel IR: one loop nest per fused kernel, with its schedule as data.

- :mod:`tcomp.ir.kernel.expr`: scalar expressions and simplifying constructors;
- :mod:`tcomp.ir.kernel.kernel`: statements, kernels, schedules, programs;
- :mod:`tcomp.ir.kernel.printer`: the readable loop-nest text form.
"""
