"""Compiled programs found by the graph IR as traced: a warm start runs no graph pass.

:mod:`tcomp.backends.llvm.compile_cache` keys a compiled program by the
*optimised* graph, so finding it needs the graph passes (simplify, cse, dce),
which on a transformer's train step cost about as much as tracing it. The
passes are deterministic functions of the traced graph and of tcomp's sources,
so this module adds a second key that points at the first:

- the trace key: this cache's format, everything of
  :func:`~tcomp.backends.llvm.compile_cache.backend_options` (versions, the
  sources digest, which covers the passes' code, CPU, options), the names of
  the graph passes in order, and the SHA-256 of
  ``print_function(traced, locations=False)``;
- its value: the parts of the graph key (:func:`graph_key_parts`) the
  passes and the compile produced for it, as JSON.

:func:`record_trace` stores that link after a compile whose graph entry is on
disk (namespace ``llvm-trace`` of the same disk cache, in the folder of the
compile's options, same checks) and in a
per-process table. :func:`find_by_trace` follows it: the value must be a dict
of the graph key's part names to strings, agree with this process's backend
options (a link is never trusted to name another compiler or CPU), and lead
to a graph entry whose run plan fits the traced function's parameter and
result types (the passes keep them). Anything else is removed and the caller
runs the passes and looks up or compiles as before, so a stale or damaged
link costs one lookup, never a wrong program.
"""

from __future__ import annotations

import hashlib
import json
import time
import weakref
from typing import Any

from tcomp.backends.cache import DiskCache, key_digest, options_cache
from tcomp.backends.llvm import compile_cache
from tcomp.backends.options import CompileOptions
from tcomp.ir.fork_safe import ForkSafeLock
from tcomp.ir.graph import Function
from tcomp.ir.passes import DEFAULT_PIPELINE

FORMAT = "tcomp llvm trace cache 1"
NAMESPACE = "llvm-trace"
GRAPH_PART_NAMES = ("format", "versions", "sources", "cpu", "options", "libmvec", "graph")
MEMORY_LINKS = 4096  # links kept per process (the oldest go first)

_LOCK = ForkSafeLock()
_LINKS: dict[str, dict[str, str]] = {}  # trace-key digest -> graph key parts
# the last trace key made, by function object: find_by_trace's miss is followed by
# record_trace of the same function (printing a transformer's traced graph: ~50 ms)
_LAST_KEY: tuple[Any, int, str] | None = None  # (weak reference, threads, key text)


def trace_key_parts(traced: Function, num_threads: int) -> dict[str, str]:
    """The lines of the trace key by name (see the module docstring)."""
    from tcomp.ir.text import print_function

    text = print_function(traced, locations=False).encode()
    return {
        "format": FORMAT,
        **compile_cache.backend_options(num_threads),
        "passes": "passes " + ",".join(DEFAULT_PIPELINE),
        "traced": "traced " + hashlib.sha256(text).hexdigest(),
    }


def _trace_key(traced: Function, num_threads: int) -> str:
    """The trace key text of ``traced`` (:func:`trace_key_parts` joined), kept for the
    function object last asked about."""
    global _LAST_KEY
    last = _LAST_KEY
    if last is not None and last[0]() is traced and last[1] == num_threads:
        return last[2]
    key = "\n".join(trace_key_parts(traced, num_threads).values())
    _LAST_KEY = (weakref.ref(traced), num_threads, key)
    return key


def find_by_trace(traced: Function, options: CompileOptions) -> Any:
    """The executable that the graph passes and the compile made of ``traced`` earlier
    with ``options`` (this process or, through the disk cache of ``options``, another),
    or None. Its ``compile_info`` has ``found_by: "trace"`` besides the graph cache's
    ``cache`` and seconds."""
    num_threads = options.num_threads
    disk = _disk_cache(options)
    started = time.perf_counter()
    digest = key_digest(_trace_key(traced, num_threads))
    with _LOCK:
        graph_parts = _LINKS.get(digest)
    from_disk = graph_parts is None
    if from_disk:
        graph_parts = _decode(disk.load_digest(digest))
    if graph_parts is None or not _fits_this_process(graph_parts, num_threads):
        if from_disk and graph_parts is not None:
            disk.discard_digest(digest)
        return None
    graph_digest = key_digest("\n".join(graph_parts.values()))
    info = {"found_by": "trace", "key_s": time.perf_counter() - started}
    executable, _ = compile_cache.load_by_digest(
        graph_digest, traced, options, info, note_stale=True
    )
    if executable is None:  # the graph entry is gone or of no use: so is the link
        with _LOCK:
            _LINKS.pop(digest, None)
        disk.discard_digest(digest)
        return None
    _remember(digest, graph_parts)
    executable.key_parts = dict(graph_parts)  # read by cache_key_parts() for the compile log
    return executable


def record_trace(traced: Function, executable: Any, options: CompileOptions) -> None:
    """Links ``traced`` to the graph entry ``executable`` was compiled or loaded as with
    ``options``: in this process always, on disk (the cache of ``options``) when that
    entry is on disk (a link to nothing would only cost a lookup). A profiled
    executable is never linked (its own entries)."""
    graph_parts = getattr(executable, "key_parts", None)
    if not isinstance(graph_parts, dict) or tuple(graph_parts) != GRAPH_PART_NAMES:
        return
    if graph_parts["options"].endswith("; profile"):
        return
    key = _trace_key(traced, options.num_threads)
    _remember(key_digest(key), graph_parts)
    graph_digest = key_digest("\n".join(graph_parts.values()))
    keep = compile_cache.disk_paths(graph_digest, executable, options)
    if keep:
        payload = {"format": FORMAT, "graph_parts": graph_parts}
        data = json.dumps(payload, separators=(",", ":")).encode()
        _disk_cache(options).store(key, data, keep=keep)


def clear_memory() -> None:
    """Forgets this process's links (tests: a warm start from disk alone)."""
    with _LOCK:
        _LINKS.clear()


def _remember(digest: str, graph_parts: dict[str, str]) -> None:
    with _LOCK:
        _LINKS.pop(digest, None)
        _LINKS[digest] = dict(graph_parts)
        while len(_LINKS) > MEMORY_LINKS:
            del _LINKS[next(iter(_LINKS))]


def _decode(payload: bytes | None) -> dict[str, str] | None:
    """The graph key parts a disk link holds, or None for anything else."""
    if payload is None:
        return None
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    parts = data.get("graph_parts")
    if not isinstance(parts, dict) or tuple(parts) != GRAPH_PART_NAMES:
        return None
    if not all(isinstance(value, str) for value in parts.values()):
        return None
    return parts


def _fits_this_process(graph_parts: dict[str, str], num_threads: int) -> bool:
    """Whether every part but the graph's is what this process would key a compile by."""
    expected = {"format": compile_cache.FORMAT, **compile_cache.backend_options(num_threads)}
    graph = graph_parts["graph"]
    return (
        all(graph_parts[name] == value for name, value in expected.items())
        and graph.startswith("graph ")
        and len(graph) == len("graph ") + 64
        and not graph[len("graph "):].strip("0123456789abcdef")
    )


def _disk_cache(options: CompileOptions) -> DiskCache:
    return options_cache(NAMESPACE, options)
