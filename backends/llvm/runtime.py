"""Compiles LLVM IR text in-process with llvmlite's MCJIT and runs ``tcomp_main``.

- :func:`compile_module` parses and verifies the text, optimises it at O3
  for the host CPU with LLVM's new pass manager, JIT-compiles it and returns
  a :class:`CompiledModule` holding the engine (kept alive with it), the
  address of ``tcomp_main`` as a ctypes function and the optimised IR.
  Results are cached in memory by the IR text, so one program compiles once
  per process (while an executable holds it: entries nobody uses are freed
  with their machine code), and on disk as object code, so a new process
  skips LLVM's optimisation and code generation.
- :func:`load_module` finds a compiled module by its ``key_digest`` alone
  (in memory or on disk, never compiling): the graph-level cache
  (:mod:`tcomp.backends.llvm.compile_cache`) uses it to skip lowering and
  rendering too.
- The disk cache is the ``llvm`` namespace of :mod:`tcomp.backends.cache` in the
  folder of the caller's compile options (:func:`object_cache`); a caller that
  passes no cache gets the one the environment chooses at that moment.
- :func:`run` calls ``tcomp_main`` once with one array of buffer pointers
  (a single ctypes call, which releases the GIL).

Symbols the IR uses from the C library (libm functions, ``pthread_create``,
``pthread_join``) are registered with LLVM from the running process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from tcomp.backends.llvm import compile_worker, interrupt
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.kernel.op_table import KERNEL_OPS

if TYPE_CHECKING:
    from tcomp.backends.cache import DiskCache
    from tcomp.backends.options import CompileOptions

# held by every use of LLVM here, and across os.fork (see _before_fork); reentrant, so
# that a fork from inside a compile (a callback) cannot deadlock on it
_LOCK = threading.RLock()
_STATE: dict[str, Any] = {}
# key digest (of the IR text and target) -> compiled module, while some executable holds it
_CACHE: "weakref.WeakValueDictionary[str, CompiledModule]" = weakref.WeakValueDictionary()
LOOP_UNROLLING = False  # full unrolling of constant-trip loops: 2-3x compile time, no gain seen
_ENTRY_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
# the i32 global that threads.py renders (threads.GOMP_FLAG; not imported from there, which
# would import the renderer into a process that only loads cached code)
GOMP_FLAG = "tcomp_use_gomp"
# malloc: contraction.py; clock_gettime: a profiled tcomp_main (render.py); sched_yield,
# nanosleep: a thread team waiting for work (team.py)
_LIBC_SYMBOLS = (
    "pthread_create", "pthread_join", "malloc", "free", "clock_gettime", "sched_yield",
    "nanosleep",
    "prctl",
)
# the counters of a profiled module (render.PROFILE_SYMBOL; not imported from there, which
# would import the renderer into a process that only loads cached code)
PROFILE_SYMBOL = "tcomp_profile"
PROFILE_HEADER = 2  # render.PROFILE_HEADER: the slots before the kernels' (calls, ns of calls)
_USE_GOMP = ctypes.c_int32(0)  # read by compiled code: 1 = libgomp's pool may be used
# the i32 global team.py renders (team.TEAM_FLAG): 1 = a program with several parallel
# kernels runs them in one thread team per call; TCOMP_THREAD_TEAM=0 turns it off
TEAM_FLAG = "tcomp_use_team"
TEAM_ENV = "TCOMP_THREAD_TEAM"
_USE_TEAM = ctypes.c_int32(0 if os.environ.get(TEAM_ENV, "1").strip() == "0" else 1)
_GOMP_SYMBOLS = ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads")
# the libm functions compiled code may call, float and double, from the op table: each op
# with a C math function, by its LLVM intrinsic's name when it has one (what LLVM makes of
# the intrinsic where the CPU has no instruction: roundeven, floor, ceil and trunc without
# SSE4.1; exp, sin ... always), else by its C name (llvm/scalar_ops.py calls it by name)
_LIBM_SYMBOLS = tuple(
    f"{info.llvm_intrinsic or info.c_math}{suffix}"
    for info in KERNEL_OPS.values()
    if info.c_math is not None
    for suffix in ("f", "")
)


@dataclass
class CompiledModule:
    """A JIT-compiled module: keep it alive while ``entry`` may be called."""

    engine: Any
    entry: Any  # ctypes function void(void**)
    optimized_ir: str
    compile_seconds: float
    disk_hit: bool = False  # loaded from the disk cache instead of compiled
    key_digest: str = ""  # names the entry in memory and on disk (see load_module)
    # seconds of each LLVM step this process ran: parse_s, optimise_s, codegen_s, load_s
    timings: dict[str, float] = field(default_factory=dict)
    created: float = field(default_factory=time.perf_counter)  # perf_counter when made


def _binding():
    try:
        import llvmlite.binding as llvm
    except ImportError as error:  # pragma: no cover - llvmlite is a dependency
        raise TcompBackendError(
            "the llvm backend needs llvmlite: pip install llvmlite"
        ) from error
    return llvm


def _initialise() -> dict[str, Any]:
    """LLVM's native target, the host target machine and the C symbols (once)."""
    if _STATE:
        return _STATE
    llvm = _binding()
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    _register_c_symbols(llvm)
    _STATE.update(
        llvm=llvm,
        target=llvm.Target.from_default_triple(),
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        gomp=_register_gomp(llvm),
    )
    _STATE["vector_functions"] = _load_libmvec(llvm)
    return _STATE


def _load_libmvec(llvm) -> dict[str, list[tuple[int, str]]]:
    """The libmvec variants this machine has (loaded for the JIT), or none."""
    from tcomp.backends.llvm.vecmath import available_variants

    for path in _library_paths("mvec", "libmvec.so.1"):
        try:
            library = ctypes.CDLL(path)
            llvm.load_library_permanently(path)
        except (OSError, RuntimeError):
            continue
        features = llvm.get_host_cpu_features()
        return available_variants(features, lambda symbol: hasattr(library, symbol))
    return {}


def target_state() -> dict[str, Any]:
    """LLVM, the host CPU name and features, libgomp and libmvec as loaded (initialises them)."""
    with _LOCK:
        return _initialise()


def host_vector_bits() -> int:
    """The width of the SIMD registers LLVM compiles for here: 512 with AVX-512F, 256 with
    AVX2, else 128 (what the contraction blocking is chosen for)."""
    features = set(target_state()["features"].split(","))
    if "+avx512f" in features:
        return 512
    if "+avx2" in features:
        return 256
    return 128


def vector_functions() -> dict[str, list[tuple[int, str]]]:
    """The libmvec variants the renderer may name (empty without libmvec)."""
    with _LOCK:
        return _initialise()["vector_functions"]


def _target_machine(state: dict[str, Any]) -> Any:
    """A new host target machine (an MCJIT engine owns, and frees, the one it is given)."""
    return state["target"].create_target_machine(
        cpu=state["cpu"], features=state["features"], opt=3, jit=True
    )


def _register_gomp(llvm) -> Any:
    """Loads libgomp (kept loaded for the process) and registers its entry points.

    Unless the user chose otherwise, idle pool threads sleep instead of spinning
    (``OMP_WAIT_POLICY=passive``): parallel kernels are large (see the ``schedule-cpu``
    pass's ``MIN_PARALLEL_WORK``), so a wake-up costs little, while spinning threads
    slow everything else on a busy machine, tcomp's own calls first. Measured on this
    2-core machine with other processes running: the autoencoder's train step took
    8-9.5 ms with ``GOMP_SPINCOUNT=10000`` (a 0.1 ms spin) and 2.1-3.6 ms passive
    (on an idle machine the spin had saved 50-80 us per parallel kernel). libgomp has no call that sets the wait
    policy (only ``OMP_WAIT_POLICY``/``GOMP_SPINCOUNT``, read once by its constructor
    when it loads), so the variable is set only while it loads and removed right
    after (:func:`_passive_wait_while_loading`): the user's environment is left as
    it was. A libgomp already loaded by something else keeps the policy it has.
    """
    llvm.add_symbol(GOMP_FLAG, ctypes.addressof(_USE_GOMP))
    llvm.add_symbol(TEAM_FLAG, ctypes.addressof(_USE_TEAM))
    llvm.add_symbol(interrupt.FLAG_SYMBOL, ctypes.addressof(interrupt.FLAG))
    for path in _library_paths("gomp", "libgomp.so.1"):
        try:
            with _passive_wait_while_loading():
                library = ctypes.CDLL(path)
            addresses = {s: ctypes.cast(getattr(library, s), ctypes.c_void_p).value
                         for s in _GOMP_SYMBOLS}
        except (OSError, AttributeError):
            continue
        for symbol, address in addresses.items():
            llvm.add_symbol(symbol, address)
        _USE_GOMP.value = 1
        return library
    return None


@contextlib.contextmanager
def _passive_wait_while_loading() -> Iterator[None]:
    """``OMP_WAIT_POLICY=passive`` in the process environment (the C one libgomp's
    constructor reads) for the duration of the block only, unless the user set it:
    then theirs is left untouched. Afterwards ``os.environ`` is exactly as before."""
    if "OMP_WAIT_POLICY" in os.environ:
        yield
        return
    os.environ["OMP_WAIT_POLICY"] = "passive"
    try:
        yield
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)


def _llvmlite_lock() -> Any:
    """llvmlite's own lock around every call into LLVM (an RLock), if llvmlite is loaded."""
    ffi = sys.modules.get("llvmlite.binding.ffi")
    lock = getattr(getattr(getattr(ffi, "lib", None), "_lock", None), "_lock", None)
    return lock if hasattr(lock, "acquire") and hasattr(lock, "release") else None


def _before_fork() -> None:
    # Fork only while no thread is inside LLVM: a child would inherit llvmlite's lock
    # (and LLVM's own state) held by a thread it does not have, and hang at its first
    # compile. Holding tcomp's lock waits for a compile in progress to finish; llvmlite's
    # covers LLVM calls outside it (an engine freed by the garbage collector).
    _LOCK.acquire()
    llvmlite_lock = _llvmlite_lock()
    if llvmlite_lock is not None:
        llvmlite_lock.acquire()
    _FORK_HELD.append(llvmlite_lock)


def _release_after_fork() -> None:
    llvmlite_lock = _FORK_HELD.pop() if _FORK_HELD else None
    if llvmlite_lock is not None:
        llvmlite_lock.release()
    _LOCK.release()


def _after_fork_in_child() -> None:
    # libgomp's thread pool is gone in a forked child and entering it hangs:
    # compiled code reads this flag and creates its own threads instead
    _USE_GOMP.value = 0
    _release_after_fork()  # the forking thread, which holds both locks, lives on here


_FORK_HELD: list[Any] = []  # llvmlite's lock while a fork is under way

if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_release_after_fork,
        after_in_child=_after_fork_in_child,
    )


def threading_runtime() -> str:
    """``gomp`` when libgomp's thread pool is available here, else ``pthread``."""
    with _LOCK:
        state = _initialise()
    return "gomp" if state["gomp"] is not None else "pthread"


def _library_paths(name: str, soname: str):
    """``soname``, then what ``ctypes.util.find_library`` finds (asked only when needed:
    it runs ``ldconfig``, about 3 ms a library)."""
    yield soname
    import ctypes.util

    found = ctypes.util.find_library(name)
    if found and found != soname:
        yield found


def _c_libraries():
    """The process itself, then libm, libc and libpthread (each loaded only when needed)."""
    yield ctypes.CDLL(None)
    for name, soname in (("m", "libm.so.6"), ("c", "libc.so.6"), ("pthread", "libpthread.so.0")):
        for path in _library_paths(name, soname):
            try:
                yield ctypes.CDLL(path)
                break
            except OSError:
                continue


def _register_c_symbols(llvm) -> None:
    pending = list(_LIBC_SYMBOLS + _LIBM_SYMBOLS)
    for library in _c_libraries():
        missing = []
        for symbol in pending:
            try:
                address = ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
            except AttributeError:
                missing.append(symbol)
                continue
            llvm.add_symbol(symbol, address)
        pending = missing
        if not pending:
            break


def compile_module(text: str, cache: "DiskCache | None" = None) -> CompiledModule:
    """The compiled form of the LLVM IR ``text``.

    Cached per process by the text, and on disk (``cache``, by default
    :func:`object_cache` of the environment now) by the text, the host CPU and the
    tcomp, llvmlite and LLVM versions: a disk hit loads the object code and skips
    optimisation and code generation.
    """
    from tcomp.backends.cache import key_digest

    with _LOCK:
        state = _initialise()
        key = _disk_key(state, text)
        digest = key_digest(key)
        found = _CACHE.get(digest)
        if found is not None:
            return found
        if cache is None:
            cache = object_cache()
        started = time.perf_counter()
        compiled = _load_stored(state, digest, started, cache)
        if compiled is None:
            from tcomp.backends.llvm.compile_cache import COUNTERS

            COUNTERS.llvm_compiles += 1
            object_code, optimized_ir, timings = compile_worker.optimise(
                text, lambda text: optimise_and_emit(state, text)
            )
            cache.store(key, _pack_entry(object_code, optimized_ir))
            compiled = _make_module(state, digest, object_code, optimized_ir, started, timings)
        _CACHE[digest] = compiled
        return compiled


def load_module(digest: str, cache: "DiskCache | None" = None) -> CompiledModule | None:
    """The module whose :attr:`CompiledModule.key_digest` is ``digest``, from memory or
    the disk cache ``cache`` (by default :func:`object_cache` of the environment now);
    None when neither has it (this never compiles)."""
    with _LOCK:
        found = _CACHE.get(digest)
        if found is not None:
            return found
        state = _initialise()
        compiled = _load_stored(state, digest, time.perf_counter(), cache or object_cache())
        if compiled is not None:
            _CACHE[digest] = compiled
        return compiled


def _load_stored(
    state: dict[str, Any], digest: str, started: float, cache: "DiskCache"
) -> CompiledModule | None:
    stored = cache.load_digest(digest)
    if stored is None:
        return None
    unpacked = _unpack_entry(stored)
    if unpacked is None:
        return None
    object_code, optimized_ir = unpacked
    compiled = _make_module(state, digest, object_code, optimized_ir, started, {})
    compiled.disk_hit = True
    return compiled


def _make_module(
    state: dict[str, Any],
    digest: str,
    object_code: bytes,
    optimized_ir: str,
    started: float,
    timings: dict[str, float],
) -> CompiledModule:
    loading = time.perf_counter()
    engine, address = _load_object(state, object_code)
    now = time.perf_counter()
    return CompiledModule(
        engine=engine,
        entry=_ENTRY_TYPE(address),
        optimized_ir=optimized_ir,
        compile_seconds=now - started,
        key_digest=digest,
        timings={**timings, "load_s": now - loading},
    )


def optimise_and_emit(state: dict[str, Any], text: str) -> tuple[bytes, str, dict[str, float]]:
    """Parses, verifies and optimises ``text`` at O3; returns object code, optimised IR
    and the seconds of each step (in this process; :mod:`compile_worker` runs it in a
    helper process once this one has run it many times)."""
    llvm, machine = state["llvm"], _target_machine(state)
    started = time.perf_counter()
    module = llvm.parse_assembly(text)
    module.triple = machine.triple
    module.data_layout = str(machine.target_data)
    module.verify()
    parsed = time.perf_counter()
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    options.loop_unrolling = LOOP_UNROLLING
    builder = llvm.create_pass_builder(machine, options)
    builder.getModulePassManager().run(module, builder)
    optimised = time.perf_counter()
    object_code = machine.emit_object(module)
    done = time.perf_counter()
    timings = {"parse_s": parsed - started, "optimise_s": optimised - parsed,
               "codegen_s": done - optimised}
    return object_code, str(module), timings


def _load_object(state: dict[str, Any], object_code: bytes) -> tuple[Any, int]:
    """An MCJIT engine holding ``object_code``, and the address of its ``tcomp_main``."""
    llvm = state["llvm"]
    empty = llvm.parse_assembly("")
    engine = llvm.create_mcjit_compiler(empty, _target_machine(state))
    engine.add_object_file(llvm.ObjectFileRef.from_data(object_code))
    engine.finalize_object()
    address = engine.get_function_address("tcomp_main")
    if not address:
        raise TcompBackendError("llvm backend: tcomp_main was not compiled")
    return engine, address


NAMESPACE = "llvm"  # the object-code entries' folder in the disk cache


def object_cache(options: "CompileOptions | None" = None) -> "DiskCache":
    """The disk cache of object code in the folder and under the size limit of
    ``options``; with None, those the environment sets now (a caller handed no options)."""
    from tcomp.backends.cache import options_cache, shared_cache

    return shared_cache(NAMESPACE) if options is None else options_cache(NAMESPACE, options)


def object_entry_path(digest: str, cache: "DiskCache | None" = None) -> Any:
    """The file of ``cache`` (by default :func:`object_cache` of the environment now)
    holding the object code of :attr:`CompiledModule.key_digest` ``digest`` when there
    is one (a ``Path``), else None: never stored, not storable (a full disk, an
    untrusted folder, the cache off), or evicted. The graph-level cache stores an entry
    naming this one only while it is there."""
    if cache is None:
        cache = object_cache()
    return cache.path_for_digest(digest) if cache.contains_digest(digest) else None


def disk_cache_stats(options: "CompileOptions | None" = None):
    """Hits, misses, stores and rejected entries of the llvm disk cache in this process
    (the cache of ``options``' folder; with None, of the environment's now)."""
    with _LOCK:
        return object_cache(options).stats


def _disk_key(state: dict[str, Any], text: str) -> str:
    import llvmlite

    from tcomp import __version__

    llvm = state["llvm"]
    version = ".".join(map(str, llvm.llvm_version_info))
    return "\n".join(
        [
            f"tcomp {__version__}; llvmlite {llvmlite.__version__}; LLVM {version}",
            f"cpu {state['cpu']} {state['features']}",
            f"unroll {LOOP_UNROLLING}",
            text,
        ]
    )


_ENTRY_HEADER = struct.Struct("<Q")


def _pack_entry(object_code: bytes, optimized_ir: str) -> bytes:
    return _ENTRY_HEADER.pack(len(object_code)) + object_code + optimized_ir.encode()


def _unpack_entry(stored: bytes) -> tuple[bytes, str] | None:
    try:
        (length,) = _ENTRY_HEADER.unpack_from(stored)
        start = _ENTRY_HEADER.size
        if start + length > len(stored):
            return None
        return stored[start : start + length], stored[start + length :].decode()
    except (struct.error, UnicodeDecodeError):
        return None


def run(compiled: CompiledModule, pointers: Sequence[int], work: int = 0) -> None:
    """Calls ``tcomp_main`` with one array of raw buffer addresses (interruptibly when
    ``work``, its scalar operations, makes it a long call: see
    :mod:`tcomp.backends.llvm.interrupt`)."""
    array = (ctypes.c_void_p * max(len(pointers), 1))(*pointers)
    interrupt.call(compiled.entry, array, work)


def profile_counters(compiled: CompiledModule, slots: int) -> Any:
    """The ``slots`` i64 counters of a module rendered with ``profile=True`` (a ctypes
    array over the module's own memory: ``[calls, ns of whole calls, ns per kernel...]``,
    see :mod:`tcomp.backends.llvm.render`); valid while ``compiled`` lives."""
    with _LOCK:
        address = compiled.engine.get_global_value_address(PROFILE_SYMBOL)
    if not address:
        raise TcompBackendError("llvm backend: this module was not compiled with profiling")
    return (ctypes.c_int64 * slots).from_address(address)


def clear_cache() -> None:
    """Forgets every compiled module (tests use it to time a cold compile)."""
    with _LOCK:
        _CACHE.clear()
