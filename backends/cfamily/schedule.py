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

:func:`launch_for` is what the renderer and :func:`launch_plan` read: the recorded
launch, checked against this kernel on this dialect (a program whose text was edited
by hand may change a tiled matmul's register tile, nothing else), or the decision made
now for a program that has not been through ``map-gpu`` (kernel IR from the CPU
pipeline, or parsed from text).
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
from tcomp.backends.cfamily.mapping import KernelMapping, map_kernel
from tcomp.backends.cfamily.tensor_core import tensor_core_contraction, tensor_core_launch
from tcomp.backends.cfamily.vector_nest import LANES, vector_plan
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.kernel.analysis import overlapping_temps as aliased_args
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
    if mapping.local_size is not None:
        return GpuLaunch("group_reduction", mapping.global_size, mapping.local_size)
    per_item = coarsening(mapping)
    if per_item > 1:
        plan = vector_plan(kernel, mapping, aliased_args(program, kernel)) if d.vector_load else None
        kind = "vector" if plan is not None and per_item == len(LANES) else "coarsened"
        return GpuLaunch(kind, -(-mapping.global_size // per_item), None, coarsen=per_item)
    return GpuLaunch("nest" if mapping.nest else "single", mapping.global_size)


def launch_for(program: Program, kernel: Kernel, dialect: str | Dialect) -> GpuLaunch:
    """The launch of ``kernel`` on ``dialect``: its schedule's, when ``map-gpu`` recorded
    one that this kernel can run as on this dialect, else the decision made now.

    A recorded tiled matmul may name another register tile (powers of two up to
    :data:`MAX_REGISTER_TILE`; its global size must match that tile); any other
    difference from the decision raises ``TcompBackendError`` naming both."""
    decided = gpu_launch(program, kernel, dialect)
    recorded = kernel.schedule.gpu
    if recorded is None or recorded == decided:
        return decided
    if recorded.kind == decided.kind == "tiled_matmul" and _valid_tile(recorded):
        contraction = gpu_contraction(kernel)
        assert contraction is not None  # the decision was tiled_matmul
        tile = TileShape(recorded.tm, recorded.tn)
        global_size, local_size = contraction_launch(contraction, tile)
        retiled = GpuLaunch("tiled_matmul", global_size, local_size, tm=tile.tm, tn=tile.tn)
        if recorded == retiled:
            return recorded
    raise TcompBackendError(
        f"kernel {kernel.name}: its schedule says gpu={{{format_gpu_launch(recorded)}}}, but "
        f"on {_dialect(dialect).name} it runs as gpu={{{format_gpu_launch(decided)}}} "
        "(only a tiled_matmul's tm and tn may be chosen by hand, with the global size "
        "they give)"
    )


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
