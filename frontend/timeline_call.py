"""One jitted call inside ``tcomp.profile(...)``, run step by step and recorded as spans.

:func:`record_call` does what ``JitFunction.__call__`` does (find or trace
the signature's program, make the arguments the backend's buffers, compile
on the first call, run, wrap the results) and times each step; see
:mod:`tcomp.frontend.timeline` for the tracks and what each span means. The
compile steps come from the seconds ``CompiledProgram.stats()`` and the
executable's ``compile_info()`` report, laid out back to back so that the
last ends when the compile ended.
"""

from __future__ import annotations

from typing import Any, Callable

from tcomp.backends.base import Backend
from tcomp.frontend.array import Array
from tcomp.frontend.kernel_stats import kernel_lines, kernel_numbers, nodes_by_name
from tcomp.frontend.memory_report import type_bytes
from tcomp.frontend.timeline import Timeline, now_ns
from tcomp.ir.passes import DEFAULT_PIPELINE

# compile_info() keys (seconds) -> span names; others ending in _s keep their own name
STEP_NAMES = {
    "key_s": "cache key",
    "lower_s": "lower to kernels",
    "render_s": "render",
    "parse_s": "LLVM parse",
    "optimise_s": "LLVM optimise",
    "codegen_s": "LLVM codegen",
    "load_s": "load machine code",
    "store_s": "store in disk cache",
    "build_s": "device build",
}
NESTED_STEPS = {"device_build_s": ("build_s", "first launches (driver build)")}
ARGUMENTS_SHOWN = 16  # argument types the call span lists before "..."
Track = tuple[int, int]


def record_call(
    timeline: Timeline, jitted: Any, args: tuple, kwargs: dict, extra_static: frozenset
) -> Any:
    """Calls ``jitted`` on ``args``/``kwargs`` and records the call in ``timeline``."""
    host = timeline.host_track()
    started = now_ns()
    with jitted._lock:
        known = {id(program) for program in jitted._programs.values()}
    call_args: dict[str, Any] = {"function": jitted.__name__}
    try:
        program, leaves = jitted._program_for(args, kwargs, extra_static)
        resolved = now_ns()
        call_args.update(timeline.remember(program, lambda: _call_args(program)))
        call_args["compiled_now"] = program.executable is None
        if id(program) not in known and program.trace_seconds > 0:
            end = resolved
            timeline.span(
                host,
                "trace",
                "trace",
                max(end - _ns(program.trace_seconds), started),
                end,
                {"function": program.traced.name},
            )
        buffers = _inputs(timeline, host, program, leaves)
        executable = _compiled(timeline, host, program)
        outputs, ran = _run(timeline, host, program, executable, buffers)
        copies = getattr(ran, "compile_info", dict)().get("input_copies", {})
        call_args["input_copies"] = {str(k): v for k, v in copies.items()}
        return jitted._results(program, leaves, buffers, outputs)
    except BaseException as error:
        call_args["error"] = f"{type(error).__name__}: {error}"
        raise
    finally:
        call_args.setdefault("input_copies", {})
        name = call_args.get("function", jitted.__name__)
        timeline.span(host, name, "call", started, now_ns(), call_args)


def _call_args(program: Any) -> dict[str, Any]:
    """The call span's arguments that a signature fixes: function, backend, argument types."""
    arguments = [
        f"{path}: {dtype}[{','.join(map(str, shape))}]"
        for path, (shape, dtype, _) in zip(program.leaf_paths, program.signature.leaves)
    ]
    if len(arguments) > ARGUMENTS_SHOWN:
        arguments = [*arguments[:ARGUMENTS_SHOWN], f"... {len(arguments)} in all"]
    return {
        "function": program.traced.name,
        "backend": program.signature.backend,
        "arguments": ", ".join(arguments),
    }


def _inputs(timeline: Timeline, host: Track, program: Any, leaves: list[Any]) -> list[Any]:
    """The arguments as the backend's buffers, with an ``inputs`` span saying how many
    were copied (host to device on GPUs) and their bytes."""
    from tcomp.frontend.eager import to_backend
    from tcomp.frontend.jit import _as_backend_input

    backend = program.backend
    lends = getattr(backend, "borrow", None) is not None  # llvm reads host memory in place
    started = now_ns()
    buffers, copied, nbytes = [], 0, 0
    for leaf in leaves:
        value = _as_backend_input(leaf)
        buffers.append(to_backend(value, backend))
        if isinstance(value, Array) and value._backend is backend:
            continue
        if not lends or isinstance(value, Array):
            copied += 1
            nbytes += type_bytes(value.aval) if isinstance(value, Array) else int(value.nbytes)
    name = "inputs to device" if hasattr(backend, "synchronize") else "inputs"
    timeline.span(
        host,
        name,
        "transfer",
        started,
        now_ns(),
        {"arrays": len(leaves), "copied": copied, "bytes_copied": nbytes},
    )
    return buffers


def _compiled(timeline: Timeline, host: Track, program: Any) -> Any:
    """The program's executable; a compile made now is recorded with its steps."""
    if program.executable is not None:
        return program.executable
    passes_ran = program.optimized_if_run is not None
    started = now_ns()
    executable = program.compiled()
    ended = now_ns()
    stats = program.stats()
    backend_start = max(ended - _ns(stats["backend_seconds"] or 0.0), started)
    looked_up = backend_start  # before it: the look-up by the traced graph, the passes
    if not passes_ran and program.optimized_if_run is not None:
        looked_up = max(backend_start - _ns(program.passes_seconds), started)
        timeline.span(
            host,
            "graph passes",
            "passes",
            looked_up,
            backend_start,
            {"passes": ", ".join(DEFAULT_PIPELINE)},
        )
    looks_up = type(program.backend).find_by_trace is not Backend.find_by_trace
    if looks_up and stats.get("found_by") != "trace" and looked_up > started:
        timeline.span(
            host,
            "look up by traced graph",
            "compile.step",
            started,
            looked_up,
            {"seconds": (looked_up - started) / 1e9},
        )
    _compile_spans(timeline, host, program, stats, (backend_start, ended), "ordinary")
    return executable


def _compile_spans(
    timeline: Timeline,
    host: Track,
    program: Any,
    info: dict[str, Any],
    interval: tuple[int, int],
    build: str,
) -> None:
    """A ``compile`` span over ``interval`` and one span per step of ``info`` (the
    seconds keys, ending in ``_s``), back to back, the last ending with the interval."""
    started, ended = interval
    cache = str(info.get("cache", "-"))
    if info.get("found_by") == "trace":
        cache += ", found by the traced graph"
    label = "compile" if build == "ordinary" else f"{build} build"
    if "cache" in info:
        label += f" ({cache})"
    timeline.span(
        host,
        label,
        "compile",
        started,
        ended,
        {"backend": program.signature.backend, "build": build, "cache": cache},
    )
    steps = [
        (key, seconds)
        for key, seconds in info.items()
        if key.endswith("_s") and isinstance(seconds, float) and key not in NESTED_STEPS
    ]
    end = ended
    placed: dict[str, tuple[int, int]] = {}
    for key, seconds in reversed(steps):
        start = max(end - _ns(seconds), started)
        placed[key] = (start, end)
        timeline.span(
            host, STEP_NAMES.get(key, key[:-2]), "compile.step", start, end, {"seconds": seconds}
        )
        end = start
    for key, (parent, name) in NESTED_STEPS.items():
        seconds = info.get(key)
        if isinstance(seconds, float) and parent in placed:
            low, high = placed[parent]
            timeline.span(
                host,
                name,
                "compile.step",
                max(high - _ns(seconds), low),
                high,
                {"seconds": seconds},
            )


def _run(
    timeline: Timeline, host: Track, program: Any, executable: Any, buffers: list[Any]
) -> tuple[list[Any], Any]:
    """Runs the call (see the module docstring of :mod:`tcomp.frontend.timeline`); returns
    its outputs and the executable that ran."""
    backend = program.backend
    if hasattr(backend, "compile_profiled"):
        return _run_profiled(timeline, host, program, buffers)
    if hasattr(executable, "run") and hasattr(backend, "synchronize"):
        return _run_launches(timeline, host, program, executable, buffers), executable
    started = now_ns()
    outputs = executable(buffers)
    timeline.span(host, "run", "run", started, now_ns(), {"how": "graph IR, op by op"})
    return outputs, executable


def _run_profiled(
    timeline: Timeline, host: Track, program: Any, buffers: list[Any]
) -> tuple[list[Any], Any]:
    """llvm: the profiled build (made now if need be), its kernels placed from the
    native call's start."""
    from tcomp.frontend.profile import built_profiled_executable, profiled_executable

    executable = built_profiled_executable(program)
    if executable is None:
        started = now_ns()
        executable = profiled_executable(program)
        interval = (started, now_ns())
        _compile_spans(timeline, host, program, executable.compile_info(), interval, "profiled")
    started = now_ns()
    outputs, per_kernel, native_start, native_ns = executable.timed_call(buffers)
    ended = now_ns()
    timeline.span(host, "run", "run", started, ended, {"how": "one native call"})
    if not started <= native_start <= native_start + native_ns <= ended:
        native_start = max(ended - native_ns, started)  # another clock: end at the call's end
    device = timeline.device_track(f"llvm: host CPU ({executable.num_threads} threads)")
    kernels = executable.program.kernels
    how = "clock_gettime(CLOCK_MONOTONIC) around each kernel inside a profiled build"
    timeline.span(
        device,
        program.traced.name,
        "device",
        native_start,
        native_start + native_ns,
        {"kernels": len(kernels), "how": how},
    )
    at = native_start
    for kernel, seconds, args in zip(
        kernels, per_kernel, _kernel_args(timeline, program, executable.program)
    ):
        end = min(at + _ns(seconds), native_start + native_ns)
        timeline.span(device, kernel.name, "kernel", at, end, args)
        at = end
    return outputs, executable


def _run_launches(
    timeline: Timeline, host: Track, program: Any, executable: Any, buffers: list[Any]
) -> list[Any]:
    """opencl, cuda: each launch timed alone, the queue drained before and after it."""
    synchronize: Callable[[], None] = program.backend.synchronize
    times: list[tuple[int, int, int]] = []

    def around(index: int, launch: Callable[[], None]) -> None:
        synchronize()
        started = now_ns()
        launch()
        synchronize()
        times.append((index, started, now_ns()))

    with timeline.device_lock:
        started = now_ns()
        outputs = executable.run(buffers, around)
        ended = now_ns()
    timeline.span(
        host,
        "run",
        "run",
        started,
        ended,
        {"how": "each launch alone, the queue drained before and after"},
    )
    if not times:
        return outputs
    device = timeline.device_track(
        f"{program.signature.backend}: {program.backend.driver.info.describe()}"
    )
    how = "host clock around each launch, the queue drained before and after it"
    kernels = executable.program.kernels
    timeline.span(
        device,
        program.traced.name,
        "device",
        times[0][1],
        times[-1][2],
        {"kernels": len(kernels), "how": how},
    )
    described = _kernel_args(timeline, program, executable.program)
    for index, start, end in times:
        timeline.span(device, kernels[index].name, "kernel", start, end, described[index])
    return outputs


def _kernel_args(timeline: Timeline, program: Any, kernels: Any) -> list[dict[str, Any]]:
    """Each kernel span's arguments: the graph ops it fuses, the user's lines, its bytes
    and loop iterations (as ``tcomp inspect --stats`` counts them); worked out once per
    kernel program and block, so that later calls spend no time on them."""

    def describe() -> list[dict[str, Any]]:
        nodes = nodes_by_name(program.optimized)
        described = []
        for kernel in kernels.kernels:
            _, read, written, iterations = kernel_numbers(kernel)
            described.append(
                {
                    "ops": list(kernel.origin),
                    "lines": list(kernel_lines(kernel, nodes)),
                    "bytes_read": read,
                    "bytes_written": written,
                    "iterations": iterations,
                }
            )
        return described

    return timeline.remember(kernels, describe)


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))
