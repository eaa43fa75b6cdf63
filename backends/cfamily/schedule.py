"""The GPU schedule as data: the ``map-gpu`` pass and the launch plan that reads it.

:func:`map_gpu` decides, once per kernel and per dialect, how a GPU runs it and
records the decision in the kernel's schedule (:class:`~tcomp.ir.kernel.kernel.GpuLaunch`,
printed as ``gpu={kind: ..., global: ..., ...}``); the CPU's blocking marks
(``vector``, ``unroll``, ``tile``), which no GPU renderer reads, are dropped. The
kinds, in the order they are tried:

- ``tensor_core``: a 16-bit float contraction where the dialect has tensor cores
  (:mod:`~tcomp.backends.cfamily.tensor_core`);
- ``tiled_matmul``: a float32/float64 contraction big enough to tile, with its
  register tile ``tm x tn`` (:mod:`~tcomp.backends.cfamily.contraction`);
- ``group_reduction``: a body with a long reduction, one work-group per index
  (:mod:`~tcomp.backends.cfamily.mapping`);
- ``vector`` / ``coarsened``: a big collapsed nest, ``coarsen`` indices per work-item,
  as one vector access per buffer when every access allows it
  (:mod:`~tcomp.backends.cfamily.vector_nest`), else strided by the group;
- ``nest``: the collapsed nest, one work-item per index; ``single``: no parallel loop.

Each launch holds the decisions, not what follows from them: how many loops of the
parallel nest fold into the grid (``collapse``), a work-group reduction's group size
(``local``), a tiled matmul's register tile (``tm``, ``tn``), the indices per work-item
of a coarsened nest and the vector width of a vector one (``coarsen``); tensor cores are
the kind. The renderer rebuilds the rest from them (the group steps, the vector plan,
the contraction's staging: :func:`launch_mapping`).

:func:`launch_for` is what the renderer and :func:`launch_plan` read: the recorded
launch, checked against this kernel on this dialect (:func:`launch_problem`), or the
decision made now for a program that has not been through ``map-gpu`` (kernel IR from
the CPU pipeline, or parsed from text without launches). A launch edited by hand in a
program's text is rendered as it says when the kernel can run that way: another
register tile, fewer collapsed loops, another group size, ``coarsened`` for ``vector``,
a ``nest`` for a tensor-core matmul, each with the global size it gives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tcomp.backends.cfamily.contraction import (
    MAX_REGISTER_TILE,
    TileShape,
    contraction_launch,
    contraction_tile,
    gpu_contraction,
)
from tcomp.backends.cfamily.dialect import Dialect, get_dialect
from tcomp.backends.cfamily.helpers import c_name
from tcomp.backends.cfamily.mapping import (
    MAX_GROUP_SIZE,
    KernelMapping,
    build_mapping,
    group_steps,
    map_kernel,
)
from tcomp.backends.cfamily.tensor_core import tensor_core_contraction, tensor_core_launch
from tcomp.backends.cfamily.vector_nest import LANES, vector_plan
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.kernel.analysis import overlapping_temps as aliased_args
from tcomp.ir.kernel.analysis.gpu_nest import launch_problem as loop_problem
from tcomp.ir.kernel.analysis.gpu_nest import reads_what_it_writes
from tcomp.ir.kernel.kernel import GpuLaunch, Kernel, Program, Schedule
from tcomp.ir.kernel.schedule_text import format_gpu_launch

COARSEN = 4  # indices per work-item of a big collapsed nest (several loads in flight)
COARSEN_MIN = 1 << 16  # from this many indices on


@dataclass(frozen=True)
class KernelLaunch:
    """How a runtime launches one rendered kernel: ``function(*buffers)`` over a 1-d
    range of ``global_size`` work-items. ``local_size`` None: any work-group size (the
    kernel checks its own bound); an int: work-groups of exactly that size (the kernel
    declares it), ``global_size`` being a multiple of it."""

    kernel: str  # the kernel-IR name (k0, k1...)
    function: str  # the C function name
    buffers: tuple[str, ...]  # program buffer names, in argument order
    global_size: int
    local_size: int | None = None


def coarsening(mapping: KernelMapping) -> int:
    """How many indices of the parallel nest each work-item takes: :data:`COARSEN` for a
    big nest run one work-item per index (its loads then overlap: a GPU needs several
    memory requests in flight per thread to reach its bandwidth), else 1."""
    if mapping.local_size is None and mapping.nest and mapping.outer >= COARSEN_MIN:
        return COARSEN
    return 1


def function_name(program: Program, kernel: Kernel) -> str:
    return f"{c_name(program.name)}_{c_name(kernel.name)}"


def kernel_mapping(program: Program, kernel: Kernel) -> KernelMapping:
    """Where ``kernel``'s loops run (:func:`tcomp.backends.cfamily.mapping.map_kernel`)."""
    return map_kernel(kernel, aliased_args(program, kernel))


def _dialect(dialect: str | Dialect) -> Dialect:
    return get_dialect(dialect) if isinstance(dialect, str) else dialect


def gpu_launch(program: Program, kernel: Kernel, dialect: str | Dialect) -> GpuLaunch:
    """The launch ``map-gpu`` decides for ``kernel`` on ``dialect`` (see the module
    docstring for the kinds and their order)."""
    d = _dialect(dialect)
    tensor = tensor_core_contraction(kernel, d.tensor_cores)
    if tensor is not None:
        global_size, local_size = tensor_core_launch(tensor)
        return GpuLaunch("tensor_core", global_size, local_size)
    contraction = gpu_contraction(kernel)
    if contraction is not None:
        tile = contraction_tile(contraction)
        global_size, local_size = contraction_launch(contraction, tile)
        return GpuLaunch("tiled_matmul", global_size, local_size, tm=tile.tm, tn=tile.tn)
    mapping = kernel_mapping(program, kernel)
    collapse = len(mapping.nest)
    if mapping.local_size is not None:
        return GpuLaunch(
            "group_reduction", mapping.global_size, mapping.local_size, collapse=collapse
        )
    per_item = coarsening(mapping)
    if per_item > 1:
        plan = (
            vector_plan(kernel, mapping, aliased_args(program, kernel)) if d.vector_load else None
        )
        kind = "vector" if plan is not None and per_item == len(LANES) else "coarsened"
        return GpuLaunch(
            kind, -(-mapping.global_size // per_item), None, coarsen=per_item, collapse=collapse
        )
    if mapping.nest:
        return GpuLaunch("nest", mapping.global_size, collapse=collapse)
    return GpuLaunch("single", mapping.global_size)


def launch_mapping(kernel: Kernel, launch: GpuLaunch) -> KernelMapping:
    """The mapping the renderer writes for ``kernel`` run as ``launch`` (a nest kind or a
    work-group reduction): rebuilt from the recorded ``collapse`` and group size."""
    group = launch.local_size if launch.kind == "group_reduction" else None
    return build_mapping(kernel, launch.collapse, group)


def launch_for(program: Program, kernel: Kernel, dialect: str | Dialect) -> GpuLaunch:
    """The launch of ``kernel`` on ``dialect``: its schedule's, when ``map-gpu`` recorded
    one (checked: :func:`launch_problem`), else the decision made now.

    Raises ``TcompBackendError`` naming the kernel, the recorded launch and why the
    kernel cannot run as it says."""
    recorded = kernel.schedule.gpu
    if recorded is None:
        return gpu_launch(program, kernel, dialect)
    problem = launch_problem(program, kernel, recorded, dialect)
    if problem is None:
        return recorded
    raise TcompBackendError(
        f"kernel {kernel.name}: its schedule says gpu={{{format_gpu_launch(recorded)}}}, but "
        f"on {_dialect(dialect).name} it cannot run so: {problem} (map-gpu would choose "
        f"gpu={{{format_gpu_launch(gpu_launch(program, kernel, dialect))}}})"
    )


def launch_problem(
    program: Program, kernel: Kernel, launch: GpuLaunch, dialect: str | Dialect
) -> str | None:
    """Why ``kernel`` cannot run as ``launch`` says on ``dialect``, in words (None: it
    can): the loops' check the kernel verifier makes
    (:func:`tcomp.ir.kernel.analysis.gpu_nest.launch_problem`), then the kind's own: a
    tensor-core or tiled contraction with the sizes its tile gives, a work-group reduction
    of at most :data:`~tcomp.backends.cfamily.mapping.MAX_GROUP_SIZE` over a body a group
    can run, vector accesses the nest allows."""
    d = _dialect(dialect)
    aliased = aliased_args(program, kernel)
    problem = loop_problem(kernel, launch, aliased)
    if problem is not None:
        return problem
    kind = launch.kind
    sizes = (launch.global_size, launch.local_size)
    if kind == "tensor_core":
        tensor = tensor_core_contraction(kernel, d.tensor_cores)
        if tensor is None:
            return f"no 16-bit contraction for tensor cores (tensor_cores={d.tensor_cores})"
        if sizes != tensor_core_launch(tensor):
            return f"a tensor-core launch has global and local {tensor_core_launch(tensor)}"
    elif kind == "tiled_matmul":
        contraction = gpu_contraction(kernel)
        if contraction is None:
            return "no float32/float64 contraction to tile"
        if not _valid_tile(launch):
            return (
                f"tm x tn = {launch.tm} x {launch.tn}: each a power of two up to "
                f"{MAX_REGISTER_TILE}"
            )
        expected = contraction_launch(contraction, TileShape(launch.tm, launch.tn))
        if sizes != expected:
            return f"a {launch.tm} x {launch.tn} register tile gives global and local {expected}"
    elif kind == "group_reduction":
        assert launch.local_size is not None  # loop_problem's rule
        if launch.local_size > MAX_GROUP_SIZE:
            return f"group size {launch.local_size} is above {MAX_GROUP_SIZE}"
        if reads_what_it_writes(kernel, aliased):
            return "it reads what it writes, so its work-items cannot share an index"
        steps = group_steps(launch_mapping(kernel, launch).body)
        if not steps or not any(step.kind == "reduce" for step in steps):
            return "no reduction a work-group can share (or a store inside a serial loop)"
    elif kind == "vector":
        if launch.coarsen != len(LANES):
            return f"a vector launch takes {len(LANES)} indices per work-item"
        if not d.vector_load:
            return "the dialect has no vector loads"
        if vector_plan(kernel, launch_mapping(kernel, launch), aliased) is None:
            return (
                "its nest is not lets and stores whose accesses are the nest's flat index "
                "or free of it, on 32-bit buffers"
            )
    return None


def _valid_tile(launch: GpuLaunch) -> bool:
    sizes = [1 << e for e in range(MAX_REGISTER_TILE.bit_length())]
    return launch.tm in sizes and launch.tn in sizes


def map_gpu(program: Program, dialect: str | Dialect) -> Program:
    """The ``map-gpu`` pass: ``program`` with each kernel's schedule holding its GPU
    launch on ``dialect`` (:func:`gpu_launch`) and no CPU blocking marks; ``parallel``,
    which the mapping reads, stays. Kernels keep everything else.

    Before -> after (a 256 x 256 matmul, CUDA)::

        schedule {parallel=i0, vector={i1: 16}, unroll={i0: 12, i1: 32}, tile={...}}
        schedule {parallel=i0, gpu={kind: tiled_matmul, global: 65536, local: 256, tm: 1, tn: 1}}
    """
    kernels = []
    for kernel in program.kernels:
        launch = launch_for(program, kernel, dialect)
        schedule = Schedule(parallel=kernel.schedule.parallel, gpu=launch)
        kernels.append(dataclasses.replace(kernel, schedule=schedule))
    return dataclasses.replace(program, kernels=kernels)


def launch_plan(program: Program, dialect: str | Dialect = "opencl") -> list[KernelLaunch]:
    """Per kernel, in program order: what a runtime needs to launch it (see the module
    docstring of :mod:`tcomp.backends.cfamily.render`), read from each kernel's
    :func:`launch_for`."""
    plan = []
    for kernel in program.kernels:
        launch = launch_for(program, kernel, dialect)
        plan.append(
            KernelLaunch(
                kernel=kernel.name,
                function=function_name(program, kernel),
                buffers=tuple(arg.name for arg in kernel.args),
                global_size=launch.global_size,
                local_size=launch.local_size,
            )
        )
    return plan
