"""The kernel IR: one loop nest per fused kernel, with its schedule as data.

- :mod:`tcomp.ir.kernel.expr`: scalar expressions and simplifying constructors;
- :mod:`tcomp.ir.kernel.kernel`: statements, kernels, schedules, programs;
- :mod:`tcomp.ir.kernel.printer`: the readable loop-nest text form;
- :mod:`tcomp.ir.kernel.parser`: reads that text back (``parse_program``);
- :mod:`tcomp.ir.kernel.verifier`: the kernel IR's invariants (``verify_program``);
- :mod:`tcomp.ir.kernel.analysis`: pure analyses of kernels (contraction matching,
  affine index terms, overlapping temps), read by the lowering and the renderers;
- :mod:`tcomp.ir.kernel.lowering`: graph IR to kernels, with fusion and the memory plan.
"""
