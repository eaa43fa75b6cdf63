"""The executable of a function split at its collectives (:mod:`tcomp.frontend.distributed_split`).

:func:`compile_split` compiles each kernel group with the backend (an ordinary
:class:`~tcomp.backends.base.Executable` each, cached by the backend like any program)
and returns a :class:`SplitExecutable`, which runs the parts in order: a kernel group on
the device buffers it reads, a host step on its collectives' inputs copied to the host
(the results go back to the backend's memory). On its first call every rank checks that
it runs the same collectives (the same ops, attributes and types, in the same order:
:func:`~tcomp.frontend.distributed_agreement.agree`), so ranks that traced different
programs fail with a message naming them instead of hanging.

The reference backend runs graph IR directly, collectives included (their references
call MPI), so it needs no split: :func:`compile_split` returns None for it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

import tcomp
from tcomp.backends.base import Backend, Executable
from tcomp.backends.options import CompileOptions
from tcomp.frontend.distributed_agreement import agree
from tcomp.frontend.distributed_split import (
    HostStep,
    KernelGroup,
    SplitPlan,
    has_collectives,
    plan_split,
)
from tcomp.frontend.distributed_traced import describe_collective, run_host_step
from tcomp.ir.graph import Function, Value
from tcomp.ir.kernel.kernel import Program as KernelProgram
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.primitives import get_primitive
from tcomp.ir.text import format_node


def compile_split(
    backend: Backend, function: Function, options: CompileOptions
) -> Executable | None:
    """``function`` compiled as kernel groups and host steps when it holds collectives
    and ``backend`` compiles to kernels; else None (compile it as usual)."""
    if backend.name == "reference" or not has_collectives(function):
        return None
    return SplitExecutable(plan_split(function), backend, options)


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

    def __call__(self, buffers: Sequence[Any]) -> list[Any]:
        if not self._agreed:
            self._agree()
        env: dict[Value, Any] = dict(zip(self.plan.function.params, buffers))
        for part in self.plan.parts:
            if isinstance(part, KernelGroup):
                outputs = self.executables[id(part)]([self._buffer(env, v) for v in part.inputs])
                env.update(zip(part.outputs, outputs))
            else:
                hosts = [self._host(env, node.inputs[0]) for node in part.nodes]
                results = run_host_step(part.nodes, hosts)
                for node, result in zip(part.nodes, results):
                    env[node.output] = self.backend.from_host(np.asarray(result, order="C"))
        return [self._buffer(env, v) for v in self.plan.function.outputs]

    def _agree(self) -> None:
        lines = [f"tcomp version: {tcomp.__version__}", f"program: {self.plan.function.name}"]
        lines += [
            f"collective {i}: {describe_collective(n)}" for i, n in enumerate(self.plan.collectives)
        ]
        agree(f"the collectives of {self.plan.function.name}", lines)
        self._agreed = True

    def _free_value(self, value: Value) -> np.ndarray:
        node = self.plan.free[value]
        return get_primitive(node.op).evaluate([], node.attrs, value.dtype).reshape(value.shape)

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
        program is split."""
        groups = sum(isinstance(p, KernelGroup) for p in self.plan.parts)
        steps = len(self.plan.parts) - groups
        lines = [
            f"// {self.plan.function.name}: split at its collectives into {groups} kernel "
            f"groups and {steps} host steps (MPI), run in this order"
        ]
        for part in self.plan.parts:
            if isinstance(part, KernelGroup):
                lines.append(
                    f"// ---- kernel group {part.index}: {part.node_count} graph nodes, "
                    f"{len(part.inputs)} inputs, {len(part.outputs)} outputs"
                )
                program = getattr(self.executables[id(part)], "program", None)
                if isinstance(program, KernelProgram):
                    lines.append(print_program(program).rstrip("\n"))
            else:
                lines.append(self._host_step_text(part))
        return "\n".join(lines) + "\n"

    def _host_step_text(self, step: HostStep) -> str:
        lines = [f"// ---- host step {step.index}: {len(step.nodes)} collectives (MPI on the host)"]
        lines += [f"//   {format_node(node)}" for node in step.nodes]
        return "\n".join(lines)

    def as_text(self) -> str:
        texts = []
        for part in self.plan.parts:
            if isinstance(part, KernelGroup):
                texts.append(
                    f"// ---- kernel group {part.index}\n" + self.executables[id(part)].as_text()
                )
            else:
                texts.append(self._host_step_text(part))
        return "\n".join(texts)

    def compile_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "kernel_groups": len(self.executables),
            "host_steps": len(self.plan.parts) - len(self.executables),
        }
        for executable in self.executables.values():
            for key, value in executable.compile_info().items():
                if key.endswith("_s") and isinstance(value, (int, float)):
                    info[key] = info.get(key, 0.0) + value
        return info
