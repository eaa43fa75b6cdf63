"""The compile log's record of a jitted signature's first call.

:func:`log_first_call` adds where the program came from (this process's
memory, the disk cache, a compile) and the cache key by part to the log
that ``tcomp cache info FILE.py:FUNC`` reads
(:mod:`tcomp.backends.compile_log`), and logs a miss's reasons at INFO on
the ``tcomp.jit`` logger.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any, Callable

from tcomp.ir.text import print_function

if TYPE_CHECKING:
    from tcomp.frontend.program import CompiledProgram, Signature

logger = logging.getLogger("tcomp.jit")


def log_first_call(fn: Callable[..., Any], program: CompiledProgram) -> None:
    """Adds the first call of a signature to the compile log (where the program came
    from and, for a miss, why: :mod:`tcomp.backends.compile_log`) and logs a miss's
    reasons at INFO on ``tcomp.jit``."""
    from tcomp.backends.compile_log import CompileRecord, function_identity, record_call

    executable = program.executable
    parts = executable.cache_key_parts() if executable is not None else None
    folder = program.options.cache_dir  # the folder its compile used, not today's
    if parts is None or folder is None:
        return
    # A program found by its traced graph skipped the passes: its log record takes
    # the graph text from the earlier record with the same graph key, if any.
    optimized = program.optimized_if_run
    if optimized is None and "graph" not in parts:
        optimized = program.optimized
    graph = print_function(optimized, locations=False) if optimized is not None else None
    if "graph" not in parts:
        parts = {"graph": "graph " + hashlib.sha256(graph.encode()).hexdigest(), **parts}
    info = executable.compile_info()
    outcome = "stale" if info.get("stale") else str(info.get("cache", "miss"))
    record = record_call(function_identity(fn), CompileRecord(
        backend=program.signature.backend,
        arguments=arguments_text(program.signature, program.leaf_paths),
        outcome=outcome,
        key_parts=parts,
        graph=graph,
        seconds=(program.compile_seconds or 0.0) + _deferred_build_seconds(info),
    ), folder)
    if record.why and logger.isEnabledFor(logging.INFO):
        logger.info("%s missed the compile cache: %s", program.traced.name,
                    "; ".join(line.strip() for line in record.why))


def _deferred_build_seconds(info: dict) -> float:
    """A GPU build that ran at the first call rather than in ``backend.compile`` (no
    device when compiling): not yet in ``compile_seconds``."""
    return float(info.get("build_s", 0.0)) if info.get("built_on_first_call") else 0.0


def arguments_text(signature: Signature, paths: list[str]) -> str:
    """``x: float32[256,784], lr: float32[] (Python scalar), n=3``: a signature as text."""
    shown = [
        f"{path}: {dtype}[{','.join(map(str, shape))}]" + (" (Python scalar)" if weak else "")
        for path, (shape, dtype, weak) in zip(paths, signature.leaves)
    ]
    shown += [f"{name}={value!r}" for name, _, value in signature.statics]
    return ", ".join(shown)
