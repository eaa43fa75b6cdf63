"""The executable of a function split at its collectives (:mod:`tcomp.frontend.distributed_split`).

:func:`compile_split` compiles each kernel group with the backend (an ordinary
:class:`~tcomp.backends.base.Executable` each, cached by the backend like any program)
and returns a :class:`SplitExecutable`, which runs the parts in order: a kernel group on
the device buffers it reads; a host step starts its collectives non-blocking on their
inputs copied to the host; its wait (placed by the plan before the first kernel group
that reads the results) waits up to ``TCOMP_MPI_TIMEOUT`` and puts the results in the
backend's memory. Between kernel groups each step in flight gets one ``Testall`` so that
MPI moves it along. ``TCOMP_MPI_OVERLAP=0`` (read when the program is compiled) plans
each wait right after its start: the blocking schedule. On its first call every rank
checks that it runs the same collectives (the same ops, attributes, types and host
steps, started in the same order: :func:`~tcomp.frontend.distributed_agreement.agree`),
so ranks that traced different programs fail with a message naming them instead of
hanging.

A program traced for one rank (``size() == 1``) is not split: its collectives are
identities (:mod:`tcomp.frontend.distributed_single`), so it is compiled whole without
them, and runs as fast as the same program without collectives.

The reference backend runs graph IR directly, collectives included (their references
call MPI), so it needs no split: :func:`compile_split` returns None for it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import tcomp
from tcomp.backends.base import Backend, Executable
from tcomp.backends.options import (
    MPI_OVERLAP_ENV,
    CompileOptions,
    mpi_overlap_from_environment,
)
from tcomp.frontend.distributed_agreement import agree
from tcomp.frontend.distributed_single import single_rank
from tcomp.frontend.distributed_split import (
    HostStep,
    HostWait,
    KernelGroup,
    SplitPlan,
    has_collectives,
    plan_split,
)
from tcomp.frontend.distributed_traced import PendingStep, describe_collective, start_host_step
from tcomp.ir.graph import Function, Value
from tcomp.ir.kernel.kernel import Program as KernelProgram
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.primitives import get_primitive
from tcomp.ir.text import format_node

# True: split a program traced for one rank like any other (tests of the split path in
# one process, and ``as_text("kernels")`` of the plan a single process would not run).
SPLIT_AT_ONE_RANK = False


def compile_split(
    backend: Backend, function: Function, options: CompileOptions
) -> Executable | None:
    """``function`` compiled as kernel groups and host steps when it holds collectives
    and ``backend`` compiles to kernels; else None (compile it as usual). Traced for
    one rank, its collectives are identities: it is compiled whole without them
    (:func:`~tcomp.frontend.distributed_single.single_rank`)."""
    if backend.name == "reference" or not has_collectives(function):
        return None
    alone = None if SPLIT_AT_ONE_RANK else single_rank(function)
    if alone is not None:
        return backend.compile_with(alone, options)
    plan = plan_split(function, overlap=mpi_overlap_from_environment())
    return SplitExecutable(plan, backend, options)


class SplitExecutable(Executable):
    """Kernel groups and host steps, run in order (see the module docstring)."""

    def __init__(self, plan: SplitPlan, backend: Backend, options: CompileOptions) -> None:
        self.plan = plan
        self.backend = backend
        self.executables: dict[int, Executable] = {
            id(part): backend.compile_with(part.function, options)
            for part in plan.parts
            if isinstance(part, KernelGroup)
        }
        self._agreed = False
        self._free_values: dict[Value, np.ndarray] = {}
        self._host_buffers = getattr(backend, "host_view", None) is not None

    def __call__(self, buffers: Sequence[Any]) -> list[Any]:
        if not self._agreed:
            self._agree()
        env: dict[Value, Any] = dict(zip(self.plan.function.params, buffers))
        in_flight: dict[int, PendingStep] = {}
        try:
            for part in self.plan.parts:
                if isinstance(part, KernelGroup):
                    arguments = [self._buffer(env, v) for v in part.inputs]
                    outputs = self.executables[id(part)](arguments)
                    env.update(zip(part.outputs, outputs))
                    for pending in in_flight.values():
                        pending.progress()
                elif isinstance(part, HostStep):
                    hosts = [self._host(env, node.inputs[0]) for node in part.nodes]
                    in_flight[part.index] = start_host_step(part.nodes, hosts)
                else:
                    results = in_flight.pop(part.step.index).wait()
                    for node, result in zip(part.step.nodes, results):
                        env[node.output] = self._from_host(result)
        except BaseException:
            for pending in in_flight.values():  # MPI may still write into their buffers
                pending.abandon()
            raise
        return [self._buffer(env, v) for v in self.plan.function.outputs]

    def _from_host(self, result: np.ndarray) -> Any:
        """A collective's result (an array made for this call alone) as a buffer: on a
        backend whose buffers are host memory (``host_view``: llvm) the array itself,
        read-only, which the kernels read in place; else a copy to the device."""
        result = np.asarray(result, order="C")
        if self._host_buffers and result.dtype.isnative and result.flags.aligned:
            result.setflags(write=False)
            return result
        return self.backend.from_host(result)

    def _agree(self) -> None:
        plan = self.plan
        lines = [
            f"tcomp version: {tcomp.__version__}",
            f"program: {plan.function.name}",
            f"overlap: {'on' if plan.overlap else f'off ({MPI_OVERLAP_ENV}=0)'}",
        ]
        lines += [
            f"collective {i}: host step {step.index}: {describe_collective(node)}"
            for i, (step, node) in enumerate(
                (step, node) for step in plan.steps for node in step.nodes
            )
        ]
        agree(f"the collectives of {plan.function.name}", lines)
        self._agreed = True

    def _free_value(self, value: Value) -> np.ndarray:
        """A value that reads no parameter, evaluated on the host once (read-only)."""
        made = self._free_values.get(value)
        if made is None:
            node = self.plan.free[value]
            inputs = [self._free_value(v) for v in node.inputs]
            made = get_primitive(node.op).evaluate(inputs, node.attrs, value.dtype)
            made = np.array(made, copy=True).reshape(value.shape)
            made.setflags(write=False)
            self._free_values[value] = made
        return made

    def _buffer(self, env: dict[Value, Any], value: Value) -> Any:
        if value not in env:
            env[value] = self.backend.from_host(self._free_value(value))
        return env[value]

    def _host(self, env: dict[Value, Any], value: Value) -> np.ndarray:
        if value not in env:
            return self._free_value(value)
        buffer = env[value]
        return buffer if isinstance(buffer, np.ndarray) else self.backend.to_host(buffer)

    # -- reading it -----------------------------------------------------------------

    def kernel_programs(self) -> list[KernelProgram]:
        """Each kernel group's kernel-IR program, in order."""
        programs = []
        for part in self.plan.parts:
            program = getattr(self.executables.get(id(part)), "program", None)
            if isinstance(program, KernelProgram):
                programs.append(program)
        return programs

    def kernels_text(self) -> str:
        """The kernel groups' kernel IR with the host steps between them: where the
        program is split, where each host step's collectives start and where they are
        waited on."""
        lines = [self._header()]
        for part in self.plan.parts:
            if isinstance(part, KernelGroup):
                lines.append(self._group_line(part))
                program = getattr(self.executables[id(part)], "program", None)
                if isinstance(program, KernelProgram):
                    lines.append(print_program(program).rstrip("\n"))
            else:
                lines.append(self._host_text(part))
        return "\n".join(lines) + "\n"

    def _header(self) -> str:
        plan = self.plan
        how = (
            "overlap on: each host step starts non-blocking and is waited on before the "
            "first kernel group that reads it"
            if plan.overlap
            else f"overlap off ({MPI_OVERLAP_ENV}=0): each host step is waited on at once"
        )
        return (
            f"// {plan.function.name}: split at its collectives into {len(plan.groups)} kernel "
            f"groups and {len(plan.steps)} host steps (MPI), run in this order; {how}"
        )

    @staticmethod
    def _group_line(group: KernelGroup) -> str:
        return (
            f"// ---- kernel group {group.index}: {group.node_count} graph nodes, "
            f"{len(group.inputs)} inputs, {len(group.outputs)} outputs"
        )

    def _host_text(self, part: HostStep | HostWait) -> str:
        if isinstance(part, HostWait):
            step = part.step
            return f"// ---- wait for host step {step.index} ({len(step.nodes)} collectives)"
        needed = ", ".join(str(i) for i in part.needed_by) or "none"
        if not self.plan.overlap:
            waited = "at once"
        elif part.wait_before is not None:
            waited = f"before kernel group {part.wait_before}"
        else:
            waited = "at the end"
        lines = [
            f"// ---- host step {part.index}: start {len(part.nodes)} collectives, "
            f"{part.nbytes} bytes (MPI on the host, non-blocking); needed by kernel groups: "
            f"{needed}; waited on {waited}"
        ]
        lines += [f"//   {format_node(node)}" for node in part.nodes]
        return "\n".join(lines)

    def as_text(self) -> str:
        texts = [self._header()]
        for part in self.plan.parts:
            if isinstance(part, KernelGroup):
                texts.append(self._group_line(part) + "\n" + self.executables[id(part)].as_text())
            else:
                texts.append(self._host_text(part))
        return "\n".join(texts)

    def compile_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "kernel_groups": len(self.executables),
            "host_steps": len(self.plan.steps),
            "overlap": self.plan.overlap,
        }
        for executable in self.executables.values():
            for key, value in executable.compile_info().items():
                if key.endswith("_s") and isinstance(value, (int, float)):
                    info[key] = info.get(key, 0.0) + value
        return info
