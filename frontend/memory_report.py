"""``Lowered.memory()``: what one call of a compiled program holds in memory.

:func:`memory_report` reads the program a backend compiled and its graph IR:

- ``input_bytes`` and ``output_bytes``: the parameters and results;
- ``arena_bytes``: the scratch arena the kernel program's memory plan lays
  the temporaries out in (``plan-memory``: by liveness, 64-byte aligned);
  ``peak_live_bytes``: the most temporary bytes alive at one kernel, which
  the arena can only exceed by fragmentation; ``scratch_bytes``: what a
  call allocates for temporaries (on ``llvm`` the arena plus any temporary
  outside it; ``opencl`` and ``cuda`` give each temporary its own block of
  the buffer pool instead of one arena). None on ``reference``, which runs
  graph IR one op at a time and has no plan;
- on GPU backends the device's total memory, and its free memory where the
  driver can tell (CUDA; core OpenCL cannot);
- ``residuals``: for a function with ``tcomp.grad``, ``value_and_grad`` or
  ``vjp`` inside, each value the forward pass computes and the backward pass
  reads (what reverse mode saves between the two), largest first, with its
  type, bytes, the user's line and where the compiled program keeps it
  (``arena``, ``temp``, ``output``, or ``fused``: computed inside the
  kernels that read it, never stored). Parameters and constants are not
  counted. The backward pass is the nodes the reverse pass made (their
  locations are :class:`~tcomp.ir.autodiff.BackwardLocation`); in a nested
  gradient every reverse pass's nodes count as backward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tcomp.frontend.kernel_stats import location_text
from tcomp.ir.autodiff import BackwardLocation
from tcomp.ir.graph import Function
from tcomp.ir.kernel.kernel import Program
from tcomp.ir.kernel.lowering.memory import ALIGNMENT, temp_lifetimes
from tcomp.ir.types import TensorType, numpy_dtype

GPU_BACKENDS = ("opencl", "cuda")  # a pool block per temporary instead of one arena


@dataclass(frozen=True)
class Residual:
    """A value saved from the forward pass for the backward pass (see the module docstring)."""

    value: str  # its name in the optimised graph IR (``%3``)
    op: str
    shape: tuple[int, ...]
    dtype: str
    bytes: int
    line: str | None  # the user's ``file:line``
    kept_in: str  # ``arena``, ``temp``, ``output``, ``fused`` or ``-`` (reference)


@dataclass(frozen=True)
class MemoryReport:
    """The memory of one call of a compiled program; ``str()`` is a readable table."""

    function: str
    backend: str
    input_bytes: int
    output_bytes: int
    arena_bytes: int | None
    peak_live_bytes: int | None
    scratch_bytes: int | None
    residuals: tuple[Residual, ...]
    device_free_bytes: int | None = None
    device_total_bytes: int | None = None

    @property
    def residual_bytes(self) -> int:
        """The bytes of all residuals (stored or fused)."""
        return sum(residual.bytes for residual in self.residuals)

    def table(self) -> str:
        """The report as text: the totals, then one row per residual."""
        rows = [
            ("inputs", self.input_bytes, "the arguments"),
            ("outputs", self.output_bytes, "the results"),
            ("arena", self.arena_bytes, self._arena_note()),
            ("peak live", self.peak_live_bytes, "the most temporary bytes alive at one kernel"),
            ("scratch", self.scratch_bytes, self._scratch_note()),
            ("device free", self.device_free_bytes, "as the driver reports it"),
            ("device total", self.device_total_bytes, ""),
        ]
        shown = [(name, _bytes_text(n), note) for name, n, note in rows if n is not None]
        if self.arena_bytes is None:
            shown.append(("arena", "-", f"{self.backend} runs graph IR op by op: no memory plan"))
        width = max(len(name) for name, _, _ in shown)
        size = max(len(text) for _, text, _ in shown)
        lines = [f"memory of {self.function} on {self.backend} (one call)"]
        lines += [
            f"  {name.ljust(width)}  {text.rjust(size)}  {note}".rstrip()
            for name, text, note in shown
        ]
        lines.append("")
        lines += self._residual_lines()
        return "\n".join(lines) + "\n"

    def _arena_note(self) -> str:
        if self.backend in GPU_BACKENDS:
            return "the plan's arena (unused here: temporaries get pool blocks)"
        return "temporaries, laid out by liveness"

    def _scratch_note(self) -> str:
        if self.backend in GPU_BACKENDS:
            return "what a call takes from the buffer pool: one block per temporary"
        return "what a call allocates for temporaries"

    def _residual_lines(self) -> list[str]:
        if not self.residuals:
            return ["residuals: none (no gradient in this function, or nothing saved)"]
        lines = [
            f"residuals saved by the forward pass for the backward pass, largest first: "
            f"{len(self.residuals)}, {_bytes_text(self.residual_bytes)}"
        ]
        header = ("value", "op", "type", "bytes", "kept in", "line")
        rows = [header] + [
            (
                r.value,
                r.op,
                str(TensorType(r.shape, r.dtype)),
                str(r.bytes),
                r.kept_in,
                r.line or "-",
            )
            for r in self.residuals
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            cells = [
                c.rjust(w) if i == 3 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))
            ]
            lines.append("  " + "  ".join(cells).rstrip())
        return lines

    def __str__(self) -> str:
        return self.table()


def memory_report(program: Any, kernels: Program | None) -> MemoryReport:
    """The :class:`MemoryReport` of a jitted signature's ``CompiledProgram`` (compiled),
    whose kernel-IR program is ``kernels`` (None on a backend without one)."""
    function = program.optimized
    backend = program.signature.backend
    stored = _kept_in(kernels, backend)
    arena = peak = scratch = None
    if kernels is not None:
        arena = kernels.arena_bytes
        peak = peak_live_bytes(kernels)
        scratch = scratch_bytes(kernels, backend)
    free, total = _device_memory(program.backend)
    return MemoryReport(
        function=program.traced.name,
        backend=backend,
        input_bytes=sum(type_bytes(value.type) for value in function.params),
        output_bytes=sum(type_bytes(value.type) for value in function.outputs),
        arena_bytes=arena,
        peak_live_bytes=peak,
        scratch_bytes=scratch,
        residuals=tuple(residuals(function, stored)),
        device_free_bytes=free,
        device_total_bytes=total,
    )


def residuals(function: Function, kept_in: dict[str, str] | None = None) -> list[Residual]:
    """The values of ``function`` (graph IR) computed by the forward pass and read by the
    backward pass, largest first (program order among equals); ``kept_in`` maps a value
    (``%3``) to where the compiled program keeps it (absent: ``fused``; None: ``-``)."""
    backward = [node for node in function.nodes if _is_backward(node)]
    read_by_backward = {value for node in backward for value in node.inputs}
    found = []
    for node in function.nodes:  # parameters are not nodes: never counted
        value = node.output
        if value not in read_by_backward or _is_backward(node) or node.op == "constant":
            continue
        name = f"%{value.id}"
        where = "-" if kept_in is None else kept_in.get(name, "fused")
        line = location_text(node.location) if node.location is not None else None
        found.append(
            Residual(
                name,
                node.op,
                tuple(value.type.shape),
                value.type.dtype,
                type_bytes(value.type),
                line,
                where,
            )
        )
    return sorted(found, key=lambda residual: -residual.bytes)


def peak_live_bytes(program: Program) -> int:
    """The most bytes of temporaries (each rounded up to the plan's alignment) alive at
    one kernel: a temporary lives from the first kernel that touches it to the last."""
    sizes = {
        buffer.name: _aligned(buffer.size * numpy_dtype(buffer.type.dtype).itemsize)
        for buffer in program.buffers_of_kind("temp")
    }
    lifetimes = temp_lifetimes(program)
    return max(
        (
            sum(sizes[name] for name, (first, last) in lifetimes.items() if first <= k <= last)
            for k in range(len(program.kernels))
        ),
        default=0,
    )


def scratch_bytes(program: Program, backend: str) -> int:
    """What one call allocates for temporaries: GPU backends one pool block per temporary
    (their exact bytes), ``llvm`` the arena plus every temporary without an offset."""
    temps = program.buffers_of_kind("temp")
    nbytes = {b.name: b.size * numpy_dtype(b.type.dtype).itemsize for b in temps}
    if backend in GPU_BACKENDS:
        return sum(nbytes.values())
    arena = max(program.arena_bytes, 0)
    outside = [b.name for b in temps if b.offset is None or arena == 0]
    return arena + sum(nbytes[name] for name in outside)


def type_bytes(type: TensorType) -> int:
    """The bytes of a tensor of ``type``."""
    size = 1
    for dim in type.shape:
        size *= dim
    return size * numpy_dtype(type.dtype).itemsize


def _kept_in(kernels: Program | None, backend: str) -> dict[str, str] | None:
    """Graph value name (``%3``) -> where the kernel program keeps it (buffer ``t3``):
    ``arena``, ``temp`` (a buffer of its own) or ``output``."""
    if kernels is None:
        return None
    in_arena = kernels.arena_bytes > 0 and backend not in GPU_BACKENDS
    kept = {}
    for buffer in kernels.buffers.values():
        if buffer.kind not in ("temp", "output") or not buffer.name.startswith("t"):
            continue
        place = buffer.kind
        if buffer.kind == "temp" and buffer.offset is not None and in_arena:
            place = "arena"
        kept[f"%{buffer.name[1:]}"] = place
    return kept


def _is_backward(node: Any) -> bool:
    return isinstance(node.location, BackwardLocation)


def _device_memory(backend: Any) -> tuple[int | None, int | None]:
    """(free, total) bytes of a GPU backend's device; None where it cannot tell."""
    stats = getattr(backend, "memory_stats", None)
    if stats is None:
        return None, None
    numbers = stats()
    free = numbers.get("device_free_bytes") or None  # 0: the driver cannot tell
    total = numbers.get("device_total_bytes") or None
    return free, total


def _aligned(size: int) -> int:
    return (size + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def _bytes_text(nbytes: int) -> str:
    """``448 B``, ``80,448 B (78.6 KiB)``: exact, and in a larger unit from 1 KiB."""
    text = f"{nbytes:,} B"
    scaled, unit = float(nbytes), "B"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, larger
    return text if unit == "B" else f"{text} ({scaled:.1f} {unit})"
