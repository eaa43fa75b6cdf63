"""Compiled programs found by their graph IR: a cache hit neither lowers, renders nor runs LLVM.

:func:`compile_function` is what ``LLVMBackend.compile`` runs. It keys the
optimised graph-IR function, before any lowering, by :func:`graph_key`:

- this cache's format, the tcomp, llvmlite and LLVM versions, and a digest
  of the compiler's own sources (every ``.py`` file of ``tcomp.ir`` and
  ``tcomp.backends``: lowering or rendering code that changes without a
  version bump never reuses an old entry);
- the host CPU name and feature string;
- the options rendering and LLVM read: threads, threading runtime (libgomp
  or pthreads), the libmvec variants found, loop unrolling, and for a
  profiled compile (``profile=True``: a timestamp around each kernel) the
  word ``profile``, so that it never shares an entry with the plain one
  (constants such as ``schedule_cpu.MIN_PARALLEL_WORK`` are covered by the
  sources digest);
- the SHA-256 of ``print_function(fn, locations=False)`` (exact: constants
  are printed bit for bit, value ids included; source locations left out,
  so moving code in a file does not miss).

Two levels answer it. In memory (per process, while an executable holds the
entry) a hit shares the compiled module. On disk, in the ``llvm-graph``
namespace of :class:`tcomp.backends.cache.DiskCache` in the folder of the
compile's :class:`~tcomp.backends.options.CompileOptions` (same folder as the
object code, same
checks: a damaged entry is rejected, deleted and rebuilt, never loaded), an
entry holds JSON: the :class:`~tcomp.backends.llvm.backend.RunPlan` (what a
call allocates and returns), the kernel-IR program as text (``.program`` and
``as_text("kernels")`` parse it back only when asked) and the digest of the
runtime's object-code entry (:func:`tcomp.backends.llvm.runtime.load_module`),
which holds the machine code and the optimised LLVM IR once for both levels.
A graph entry is stored only once its object-code entry is on disk, and
eviction keeps the object entry with it; an entry whose object code is gone
anyway (evicted later, removed) or whose run plan does not fit the function
(checked field by field and against the function's parameter and result
types: :mod:`tcomp.backends.llvm.plan_check`) counts as ``stale``, is
removed and compiled again, and both entries are stored afresh.
:data:`COUNTERS` counts hits, misses, lowerings and renders (tests use it to
check that a warm start does neither).
"""

from __future__ import annotations

import hashlib
import json
import time
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tcomp.backends.cache import DiskCache, key_digest, options_cache, shared_cache
from tcomp.backends.options import CompileOptions
from tcomp.ir.fork_safe import ForkSafeLock
from tcomp.ir.graph import Function
from tcomp.ir.kernel.kernel import Program

FORMAT = "tcomp llvm graph cache 1"
NAMESPACE = "llvm-graph"


@dataclass
class CompileCounters:
    """What this process's graph-level cache did, and how often the slow steps ran."""

    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    stale: int = 0  # disk entries that did not decode or whose object code was gone
    lowerings: int = 0
    renders: int = 0
    llvm_compiles: int = 0  # LLVM optimisation and code generation runs

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


COUNTERS = CompileCounters()


@dataclass(eq=False)
class _Entry:
    """One compiled function, shared by every executable made from it."""

    plan: Any  # RunPlan
    compiled: Any  # runtime.CompiledModule (holds the machine code alive)
    program: Program | None = None
    program_text: str | None = None


_LOCK = ForkSafeLock()  # a forked child gets its own
_MEMORY: "weakref.WeakValueDictionary[str, _Entry]" = weakref.WeakValueDictionary()
_NOTED_STALE: set[str] = set()  # digests whose entry a lookup by trace removed as of no use
_STATE: dict[str, Any] = {}


def compile_function(function: Function, options: CompileOptions, profile: bool = False):
    """The executable of ``function`` compiled with ``options`` (``num_threads``; the
    disk cache in ``cache_dir`` under ``cache_max_mb``; the kernel pipeline verified
    after each pass when ``verify_passes``; see the module docstring); its
    ``compile_info()`` says which level answered and the seconds of each step that ran.
    ``profile``: the program rendered with a timestamp around each kernel (a separate
    entry)."""
    from tcomp.backends.llvm.backend import LLVMExecutable
    from tcomp.backends.llvm.runtime import object_cache

    num_threads = options.num_threads
    started = time.perf_counter()
    parts = graph_key_parts(function, num_threads, profile)
    key = "\n".join(parts.values())
    digest = key_digest(key)
    keyed = time.perf_counter()
    info: dict[str, Any] = {"key_s": keyed - started}
    restored, stale = load_by_digest(digest, function, options, info, profile)
    stale = _take_noted_stale(digest) or stale
    if restored is not None:
        return _with_key(restored, parts)
    if stale:
        with _LOCK:
            COUNTERS.stale += 1
    with _LOCK:
        COUNTERS.misses += 1
    from tcomp.backends.llvm.runtime import host_vector_bits
    from tcomp.ir.kernel.passes import llvm_pipeline, lower

    pipeline = llvm_pipeline(host_vector_bits())
    program = lower(function, pipeline, verify_each=options.verify_passes)
    lowered = time.perf_counter()
    with _LOCK:
        COUNTERS.lowerings += 1
    executable = LLVMExecutable(
        program, num_threads, profiled=profile, object_cache=object_cache(options)
    )
    entry = _Entry(executable.plan, executable._compiled, program=program)
    executable._cache_entry = entry  # keeps the memory-level entry alive
    executable.info = {"cache": executable.info.pop("cache"), **info,
                       "lower_s": lowered - keyed, **executable.info}
    if stale:
        executable.info["stale"] = True  # the disk entry was damaged or incomplete
    with _LOCK:
        _MEMORY[digest] = entry
    if _disk_cache(options).enabled:
        storing = time.perf_counter()
        _store(key, entry, function, options)
        executable.info["store_s"] = time.perf_counter() - storing
    return _with_key(executable, parts)


def load_by_digest(
    digest: str, function: Function, options: CompileOptions, info: dict[str, Any],
    profile: bool = False, note_stale: bool = False,
) -> tuple[Any, bool]:
    """(the executable of the graph entry ``digest`` from memory or the disk cache of
    ``options``, made for ``options.num_threads``, or None;
    whether a disk entry was there but of no use: damaged, its plan not fitting
    ``function``, or its object code gone -- such an entry is removed). ``info``
    (seconds so far) goes into the executable's ``compile_info``. ``note_stale``
    (a lookup by the traced graph): a removed entry is remembered, so that the
    :func:`compile_function` of ``digest`` that follows reports itself ``stale``."""
    from tcomp.backends.llvm.runtime import load_module, object_cache

    num_threads = options.num_threads
    disk = _disk_cache(options)
    looking = time.perf_counter()
    with _LOCK:
        entry = _MEMORY.get(digest)
        if entry is not None:
            COUNTERS.memory_hits += 1
    if entry is not None:
        return _restore(entry, num_threads, {"cache": "memory", **info}, profile), False
    rejected = disk.stats.rejected
    payload = disk.load_digest(digest)
    stale = disk.stats.rejected > rejected
    if payload is None:
        if stale and note_stale:
            _note_stale(digest)
        return None, stale
    decoded = _decode(payload, function)
    compiled = load_module(decoded[0], object_cache(options)) if decoded is not None else None
    if decoded is None or compiled is None:
        # a plan that does not fit the function, or object code gone (evicted, never
        # stored): of no use, so removed; the caller compiles and stores it afresh
        disk.discard_digest(digest)
        if note_stale:
            _note_stale(digest)
        return None, True
    _, plan, program_text = decoded
    entry = _Entry(plan, compiled, program_text=program_text)
    with _LOCK:
        COUNTERS.disk_hits += 1
        _MEMORY[digest] = entry
    loaded = {"cache": "disk", **info, "load_s": time.perf_counter() - looking}
    return _restore(entry, num_threads, loaded, profile), False


def _note_stale(digest: str) -> None:
    with _LOCK:
        _NOTED_STALE.add(digest)


def _take_noted_stale(digest: str) -> bool:
    """Whether a lookup by the traced graph removed ``digest``'s entry (then forgotten)."""
    with _LOCK:
        noted = digest in _NOTED_STALE
        _NOTED_STALE.discard(digest)
    return noted


def disk_paths(digest: str, executable: Any, options: CompileOptions) -> tuple[Path, ...]:
    """The files of the graph entry ``digest`` and of ``executable``'s object code, when
    both are in the disk cache of ``options`` now (what a link to that entry must keep
    when its own store evicts); () otherwise."""
    from tcomp.backends.llvm.runtime import object_cache, object_entry_path

    entry = getattr(executable, "_cache_entry", None)
    graph_path = _disk_cache(options).path_for_digest(digest)
    if entry is None or graph_path is None or not graph_path.is_file():
        return ()
    object_path = object_entry_path(entry.compiled.key_digest, object_cache(options))
    return (graph_path, object_path) if object_path is not None else ()


def _store(key: str, entry: _Entry, function: Function, options: CompileOptions) -> bool:
    """Stores the graph entry of ``entry`` only when its object-code entry is on disk (a
    full disk or the size limit may have kept it out), and keeps that one with it when
    the store evicts: a graph entry never outlives its machine code by this store.
    A plan that would not pass the load-time check is not stored either."""
    from tcomp.backends.llvm.runtime import object_cache, object_entry_path

    object_path = object_entry_path(entry.compiled.key_digest, object_cache(options))
    if object_path is None or entry.plan.problem_with(function) is not None:
        return False
    return _disk_cache(options).store(key, _encode(entry), keep=(object_path,))


def _with_key(executable, parts: dict[str, str]):
    executable.key_parts = parts  # read by cache_key_parts() for the compile log
    return executable


def _restore(entry: _Entry, num_threads: int, info: dict[str, Any], profile: bool = False):
    from tcomp.backends.llvm.backend import LLVMExecutable

    executable = LLVMExecutable.restore(
        entry.plan, entry.compiled, num_threads, entry.program_text, info, entry.program,
        profiled=profile,
    )
    executable._cache_entry = entry
    return executable


def graph_key(function: Function, num_threads: int, profile: bool = False) -> str:
    """The key text of ``function`` compiled with ``num_threads`` on this machine
    (``profile``: the profiled compile's, see :func:`compile_function`)."""
    return "\n".join(graph_key_parts(function, num_threads, profile).values())


def graph_key_parts(
    function: Function, num_threads: int, profile: bool = False
) -> dict[str, str]:
    """The lines of :func:`graph_key` by name (``format``, ``versions``, ``sources``,
    ``cpu``, ``options``, ``libmvec``, ``graph``), so that the compile log
    (:mod:`tcomp.backends.compile_log`) can say which one changed."""
    from tcomp.ir.text import print_function

    graph = print_function(function, locations=False).encode()
    return {
        "format": FORMAT,
        **backend_options(num_threads, profile),
        "graph": "graph " + hashlib.sha256(graph).hexdigest(),
    }


def backend_options(num_threads: int, profile: bool = False) -> dict[str, str]:
    """The parts of :func:`graph_key` that describe the compiler and target, not the graph
    (a profiled compile's ``options`` end in ``; profile``)."""
    import llvmlite

    from tcomp import __version__
    from tcomp.backends.llvm import runtime

    state = runtime.target_state()
    threading_name = runtime.threading_runtime() if num_threads > 1 else "pthread"
    version = ".".join(map(str, state["llvm"].llvm_version_info))
    variants = sorted((name, sorted(map(tuple, table)))
                      for name, table in state["vector_functions"].items())
    return {
        "versions": f"tcomp {__version__}; llvmlite {llvmlite.__version__}; LLVM {version}",
        "sources": f"sources {sources_digest()}",
        "cpu": f"cpu {state['cpu']} {state['features']}",
        "options": f"threads {num_threads}; threading {threading_name}; "
                   f"unroll {runtime.LOOP_UNROLLING}" + ("; profile" if profile else ""),
        "libmvec": f"libmvec {variants}",
    }


def sources_digest() -> str:
    """SHA-256 of the ``.py`` files of ``tcomp.ir`` and ``tcomp.backends`` (once a process)."""
    digest = _STATE.get("sources")
    if digest is None:
        import tcomp.backends
        import tcomp.ir

        hasher = hashlib.sha256()
        for package in (tcomp.ir, tcomp.backends):
            root = Path(package.__path__[0])
            for path in sorted(_python_files(root)):
                hasher.update(f"{package.__name__}/{path.relative_to(root)}\0".encode())
                hasher.update(path.read_bytes())
        digest = _STATE["sources"] = hasher.hexdigest()
    return digest


def _python_files(folder: Path) -> list[Path]:
    found = []
    for child in folder.iterdir():
        if child.is_dir():
            if child.name != "__pycache__":
                found += _python_files(child)
        elif child.suffix == ".py":
            found.append(child)
    return found


def _disk_cache(options: CompileOptions | None = None) -> DiskCache:
    """The graph-level disk cache in the folder of ``options``; with None, in the one the
    environment chooses now (tests and tools that were handed no options)."""
    if options is None:
        return shared_cache(NAMESPACE)
    return options_cache(NAMESPACE, options)


def disk_cache_stats(options: CompileOptions | None = None):
    """Hits, misses, stores and rejected entries of the graph-level disk cache (of the
    folder of ``options``; with None, of the environment's now)."""
    return _disk_cache(options).stats


def _encode(entry: _Entry) -> bytes:
    from tcomp.ir.kernel.printer import print_program

    if entry.program_text is None and entry.program is not None:
        entry.program_text = print_program(entry.program)
    data = {
        "format": FORMAT,
        "object": entry.compiled.key_digest,
        "plan": entry.plan.to_json(),
        "program": entry.program_text,
    }
    return json.dumps(data, separators=(",", ":")).encode()


def _decode(payload: bytes, function: Function) -> tuple[str, Any, str | None] | None:
    """(object-code digest, RunPlan, program text), or None for an entry that does not
    read as this format or whose plan does not run ``function`` (its parameters and
    results of other types: :meth:`RunPlan.problem_with`). Never trusted: for None the
    caller compiles again."""
    try:
        data = json.loads(payload)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        digest, plan, program = data["object"], data["plan"], data["program"]
        if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
            return None
        if not isinstance(plan, dict) or not (program is None or isinstance(program, str)):
            return None
        from tcomp.backends.llvm.backend import RunPlan

        run_plan = RunPlan.from_json(plan)
        if run_plan.problem_with(function) is not None:
            return None
        return digest, run_plan, program
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def clear_memory() -> None:
    """Forgets the in-memory level and the trace links that lead to it (tests use it to
    act like a fresh process)."""
    from tcomp.backends.llvm import trace_cache

    with _LOCK:
        _MEMORY.clear()
    trace_cache.clear_memory()
