"""``Lowered``: one traced signature of a jitted function, read stage by stage.

``f.lower(*args)`` returns it (see :meth:`tcomp.frontend.jit.JitFunction.lower`):
the graph IR as traced and optimised, the kernel IR and the backend's source,
compile timings, per-kernel profiles and a memory report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tcomp.backends.registry import KNOWN_BACKENDS
from tcomp.ir.errors import TcompArgumentError
from tcomp.ir.graph import Function
from tcomp.ir.kernel.kernel import Program as KernelProgram
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.text import print_function

if TYPE_CHECKING:
    from tcomp.frontend.program import CompiledProgram


class Lowered:
    """A traced and optimised program, for reading its IR at each stage.

    Stages, in pipeline order: ``traced`` and ``optimized`` (graph IR, see
    :meth:`function`), ``kernels`` (the kernel-IR program a compiling backend
    lowered it to, see :meth:`kernel_program`) and ``source`` (the backend's
    own text: LLVM IR, OpenCL C, CUDA C). The last two compile the program.
    """

    GRAPH_STAGES = ("traced", "optimized")
    STAGES = GRAPH_STAGES + ("kernels", "source")

    def __init__(self, program: CompiledProgram, owner: Any = None) -> None:
        self._program, self._owner = program, owner  # owner: the jitted function (profile)

    def function(self, stage: str = "traced") -> Function:
        """The graph-IR function of ``stage`` (``"traced"`` or ``"optimized"``)."""
        if stage == "traced":
            return self._program.traced
        if stage == "optimized":
            return self._program.optimized
        if stage in self.STAGES:
            raise TcompArgumentError(
                f"stage {stage!r} is not graph IR: read it with as_text({stage!r}); "
                f"the graph-IR stages are {', '.join(self.GRAPH_STAGES)}"
            )
        raise TcompArgumentError(
            f"unknown stage {stage!r}: this build offers {', '.join(self.STAGES)}"
        )

    def compile_info(self) -> dict[str, Any]:
        """Compiles the program if need be, and says what that took: ``trace_seconds``,
        ``passes_seconds``, ``backend_seconds`` and the backend's own details (for
        ``llvm``: ``cache`` -- ``memory``, ``disk``, ``disk-object`` or ``miss`` -- and
        seconds per step such as ``lower_s``, ``render_s``, ``optimise_s``)."""
        self._program.compiled()
        return self._program.stats()

    def kernel_program(self) -> KernelProgram:
        """The kernel-IR program the backend compiled (compiles it first if need be)."""
        executable = self._program.compiled()
        program = getattr(executable, "program", None)
        if not isinstance(program, KernelProgram):
            raise TcompArgumentError(self._no_stage("kernel"))
        return program

    def as_text(self, stage: str = "traced", locations: bool = True) -> str:
        """The IR of ``stage`` as text (``locations`` adds each graph node's file:line)."""
        if stage == "kernels":
            split = getattr(self._program.compiled(), "kernels_text", None)
            if split is not None:  # split at collectives: kernel groups and host steps
                return split()
            return print_program(self.kernel_program())
        if stage == "source":
            text = self._program.compiled().as_text()
            if not text:
                raise TcompArgumentError(self._no_stage("source"))
            return text
        return print_function(self.function(stage), locations=locations)

    def _no_stage(self, what: str) -> str:
        name = getattr(self._program.backend, "name", self._program.signature.backend)
        compiling = ", ".join(b for b in KNOWN_BACKENDS if b != "reference")
        return (
            f"the backend {name!r} has no {what} stage: it runs graph IR directly; "
            f"the backends with kernels and source are {compiling} "
            f"(tcomp.jit(f, backend='llvm'))"
        )

    def profile(self, *args: Any, repeats: int = 10, **kwargs: Any) -> Any:
        """Runs the program on ``args`` (the arguments it was lowered for) ``repeats``
        times and returns each kernel's time with the graph ops and user lines it fuses
        (a :class:`tcomp.frontend.profile.Profile`; see that module)."""
        from tcomp.frontend.profile import lowered_profile

        return lowered_profile(self, *args, repeats=repeats, **kwargs)

    def memory(self) -> Any:
        """What one call holds in memory (compiles the program first if need be): inputs,
        outputs, the scratch arena and its peak, and for a function with a gradient the
        values the forward pass saves for the backward pass, largest first (a
        :class:`tcomp.frontend.memory_report.MemoryReport`; ``print()`` it for a table)."""
        from tcomp.frontend.memory_report import memory_report

        executable = self._program.compiled()
        kernels = getattr(executable, "program", None)
        return memory_report(self._program, kernels if isinstance(kernels, KernelProgram) else None)

    def __str__(self) -> str:
        return self.as_text()
