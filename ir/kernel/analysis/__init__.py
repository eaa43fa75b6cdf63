"""Pure analyses over kernel IR, shared by the lowering and the renderers.

Nothing here builds or rewrites kernels, and nothing here imports
:mod:`tcomp.ir.kernel.lowering`: a renderer imports these analyses to read
what a lowered program means, without pulling the graph-to-kernel lowering
into its process. Modules:

- :mod:`.affine`: an index expression as coefficients of loop variables
  (:func:`affine_terms`);
- :mod:`.columns`: reductions down columns that the CPU renders a block of columns at
  a time (:func:`~.columns.column_plan`; ``schedule-cpu`` records them);
- :mod:`.contraction`: recognising matmul-like loop nests
  (:func:`match_contraction`, :func:`blocked_contraction`, with
  :class:`Contraction` and :class:`Operand`);
- :mod:`.gpu_nest`: a kernel's parallel nest on a GPU (how many loops may fold into
  the grid, :func:`~.gpu_nest.collapse_limit`) and whether a recorded launch fits the
  kernel (:func:`~.gpu_nest.launch_problem`);
- :mod:`.overlap`: arena temporaries whose byte ranges overlap
  (:func:`overlapping_temps`), which a renderer must not mark as non-aliasing;
- :mod:`.parallel`: the loop a schedule runs in parallel (:func:`parallel_loop`), and
  why a CPU thread split of it is impossible (:func:`split_problem`);
- :mod:`.same_code`: kernels that are the same code on other buffers
  (:func:`code_key`), which a renderer emits once;
- :mod:`.work`: a kernel's rough count of scalar operations (:func:`kernel_work`).
"""

from __future__ import annotations

from tcomp.ir.kernel.analysis.affine import affine_terms
from tcomp.ir.kernel.analysis.contraction import (
    FLOAT_ACCUMULATORS,
    MIN_WORK,
    Contraction,
    Operand,
    blocked_contraction,
    match_contraction,
    worth_blocking,
)
from tcomp.ir.kernel.analysis.overlap import overlapping_temps
from tcomp.ir.kernel.analysis.parallel import (
    CPU_MIN_EXTENT,
    GPU_MIN_EXTENT,
    parallel_loop,
    split_problem,
)
from tcomp.ir.kernel.analysis.same_code import code_key
from tcomp.ir.kernel.analysis.work import kernel_work

__all__ = [
    "FLOAT_ACCUMULATORS",
    "MIN_WORK",
    "Contraction",
    "Operand",
    "affine_terms",
    "blocked_contraction",
    "code_key",
    "kernel_work",
    "match_contraction",
    "overlapping_temps",
    "parallel_loop",
    "split_problem",
    "CPU_MIN_EXTENT",
    "GPU_MIN_EXTENT",
    "worth_blocking",
]
