"""Compiles LLVM IR text in-process with llvmlite's MCJIT and runs ``tcomp_main``.

- :func:`compile_module` parses and verifies the text, optimises it at O3
  for the host CPU with LLVM's new pass manager, JIT-compiles it and returns
  a :class:`CompiledModule` holding the engine (kept alive with it), the
  address of ``tcomp_main`` as a ctypes function and the optimised IR.
  Results are cached in memory by the IR text, so one program compiles once
  per process (while an executable holds it: entries nobody uses are freed
  with their machine code), and on disk as object code, so a new process
  skips LLVM's optimisation and code generation.
- :func:`run` calls ``tcomp_main`` once with one array of buffer pointers
  (a single ctypes call, which releases the GIL).

Symbols the IR uses from the C library (libm functions, ``pthread_create``,
``pthread_join``) are registered with LLVM from the running process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Sequence

from tcomp.backends.llvm.threads import GOMP_FLAG
from tcomp.ir.errors import TcompBackendError

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}
# IR text -> compiled module, while some executable still holds it
_CACHE: "weakref.WeakValueDictionary[str, CompiledModule]" = weakref.WeakValueDictionary()
LOOP_UNROLLING = False  # full unrolling of constant-trip loops: 2-3x compile time, no gain seen
_ENTRY_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_LIBC_SYMBOLS = ("pthread_create", "pthread_join")
_USE_GOMP = ctypes.c_int32(0)  # read by compiled code: 1 = libgomp's pool may be used
_GOMP_SYMBOLS = ("GOMP_parallel", "omp_get_thread_num", "omp_get_num_threads")
_LIBM_SYMBOLS = (
    "expf", "exp", "logf", "log", "sinf", "sin", "cosf", "cos", "tanhf", "tanh", "powf", "pow",
)


@dataclass
class CompiledModule:
    """A JIT-compiled module: keep it alive while ``entry`` may be called."""

    engine: Any
    entry: Any  # ctypes function void(void**)
    optimized_ir: str
    compile_seconds: float
    disk_hit: bool = False  # loaded from the disk cache instead of compiled


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

    for path in (ctypes.util.find_library("mvec"), "libmvec.so.1"):
        if not path:
            continue
        try:
            library = ctypes.CDLL(path)
            llvm.load_library_permanently(path)
        except (OSError, RuntimeError):
            continue
        features = llvm.get_host_cpu_features()
        return available_variants(features, lambda symbol: hasattr(library, symbol))
    return {}


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
    (``OMP_WAIT_POLICY=passive``, read by libgomp when it loads): parallel kernels
    are large (see ``render.MIN_PARALLEL_WORK``), so a wake-up costs little, while
    spinning threads slow everything else on a busy machine.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    llvm.add_symbol(GOMP_FLAG, ctypes.addressof(_USE_GOMP))
    candidates = [ctypes.util.find_library("gomp"), "libgomp.so.1"]
    for path in candidates:
        if not path:
            continue
        try:
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


def _after_fork_in_child() -> None:
    # libgomp's thread pool is gone in a forked child and entering it hangs:
    # compiled code reads this flag and creates its own threads instead
    global _LOCK
    _USE_GOMP.value = 0
    _LOCK = threading.Lock()  # a parent thread may have held it while forking


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def threading_runtime() -> str:
    """``gomp`` when libgomp's thread pool is available here, else ``pthread``."""
    with _LOCK:
        state = _initialise()
    return "gomp" if state["gomp"] is not None else "pthread"


def _register_c_symbols(llvm) -> None:
    libraries = [ctypes.CDLL(None)]
    for name in ("m", "c", "pthread"):
        path = ctypes.util.find_library(name)
        if path:
            try:
                libraries.append(ctypes.CDLL(path))
            except OSError:
                continue
    for symbol in _LIBC_SYMBOLS + _LIBM_SYMBOLS:
        for library in libraries:
            try:
                address = ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
            except AttributeError:
                continue
            llvm.add_symbol(symbol, address)
            break


def compile_module(text: str) -> CompiledModule:
    """The compiled form of the LLVM IR ``text``.

    Cached per process by the text, and on disk (:mod:`tcomp.backends.cache`)
    by the text, the host CPU and the tcomp, llvmlite and LLVM versions: a
    disk hit loads the object code and skips optimisation and code generation.
    """
    with _LOCK:
        found = _CACHE.get(text)
        if found is not None:
            return found
        state = _initialise()
        started = time.perf_counter()
        key = _disk_key(state, text)
        stored = _disk_cache().load(key)
        if stored is not None:
            object_code, optimized_ir = _unpack_entry(stored)
            disk_hit = True
        else:
            object_code, optimized_ir = _optimise_and_emit(state, text)
            _disk_cache().store(key, _pack_entry(object_code, optimized_ir))
            disk_hit = False
        engine, address = _load_object(state, object_code)
        compiled = CompiledModule(
            engine=engine,
            entry=_ENTRY_TYPE(address),
            optimized_ir=optimized_ir,
            compile_seconds=time.perf_counter() - started,
            disk_hit=disk_hit,
        )
        _CACHE[text] = compiled
        return compiled


def _optimise_and_emit(state: dict[str, Any], text: str) -> tuple[bytes, str]:
    """Parses, verifies and optimises ``text`` at O3; returns object code and optimised IR."""
    llvm, machine = state["llvm"], _target_machine(state)
    module = llvm.parse_assembly(text)
    module.triple = machine.triple
    module.data_layout = str(machine.target_data)
    module.verify()
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    options.loop_unrolling = LOOP_UNROLLING
    builder = llvm.create_pass_builder(machine, options)
    builder.getModulePassManager().run(module, builder)
    return machine.emit_object(module), str(module)


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


def _disk_cache():
    from tcomp.backends.cache import DiskCache

    if "disk" not in _STATE or _STATE["disk_dir"] != _cache_dir():
        _STATE["disk"] = DiskCache.from_environment("llvm")
        _STATE["disk_dir"] = _cache_dir()
    return _STATE["disk"]


def _cache_dir():
    from tcomp.backends.cache import default_cache_dir

    return default_cache_dir()


def disk_cache_stats():
    """Hits, misses, stores and rejected entries of the llvm disk cache in this process."""
    with _LOCK:
        return _disk_cache().stats


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


def _unpack_entry(stored: bytes) -> tuple[bytes, str]:
    (length,) = _ENTRY_HEADER.unpack_from(stored)
    start = _ENTRY_HEADER.size
    return stored[start : start + length], stored[start + length :].decode()


def run(compiled: CompiledModule, pointers: Sequence[int]) -> None:
    """Calls ``tcomp_main`` with one array of raw buffer addresses."""
    array = (ctypes.c_void_p * max(len(pointers), 1))(*pointers)
    compiled.entry(array)


def clear_cache() -> None:
    """Forgets every compiled module (tests use it to time a cold compile)."""
    with _LOCK:
        _CACHE.clear()
