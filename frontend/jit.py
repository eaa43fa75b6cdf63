"""``tcomp.jit``: trace once per signature, optimise, compile, and run.

A :class:`JitFunction` keeps one compiled program per *signature*: which
dynamic arguments were passed and their pytree structure, each leaf's
shape, dtype and weak-typedness, the types and values of the static
arguments, and the backend.
Calling it again with the same signature runs the compiled program without
touching the Python function; a new signature traces again and records why
in :attr:`JitFunction.retrace_reasons`.

Called while another function is being traced, a jitted function is simply
inlined into that trace.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from tcomp.backends.base import Backend, Executable
from tcomp.backends.registry import KNOWN_BACKENDS, check_backend_name, get_backend
from tcomp.frontend.array import Array
from tcomp.frontend.eager import to_backend
from tcomp.frontend.pytree import TreeDef, leaf_paths, tree_flatten, tree_unflatten
from tcomp.frontend.trace import Tracer, current_trace, new_trace
from tcomp.frontend.values import host_array, is_python_scalar, python_scalar_dtype
from tcomp.ir.errors import TcompArgumentError, TcompTypeError
from tcomp.ir.graph import Function
from tcomp.ir.kernel.kernel import Program as KernelProgram
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.passes import DEFAULT_PIPELINE, run_pipeline
from tcomp.ir.text import print_function
from tcomp.ir.types import TensorType, canonical_dtype

logger = logging.getLogger("tcomp.jit")

# Leaf signature: shape, dtype name, weakly typed (a Python scalar).
LeafSpec = tuple[tuple[int, ...], str, bool]


@dataclass(frozen=True)
class Signature:
    """What one compiled program is specialised on."""

    names: tuple[str, ...]  # the dynamic arguments passed (defaults left out are not)
    treedefs: tuple[TreeDef, ...]
    leaves: tuple[LeafSpec, ...]
    statics: tuple[tuple[str, type, Any], ...]  # (name, type, value)
    backend: str


@dataclass
class CompiledProgram:
    """The stages of one signature's program, compiled on first run."""

    signature: Signature
    traced: Function
    optimized: Function
    out_tree: TreeDef
    backend: Backend
    executable: Executable | None = None
    leaf_paths: list[str] = field(default_factory=list)
    trace_seconds: float = 0.0
    passes_seconds: float = 0.0
    compile_seconds: float | None = None  # backend.compile, once it ran
    logged: bool = False  # the first call is in the compile log

    def compiled(self) -> Executable:
        if self.executable is None:
            started = time.perf_counter()
            self.executable = self.backend.compile(self.optimized)
            self.compile_seconds = time.perf_counter() - started
            if logger.isEnabledFor(logging.INFO):
                stats = self.stats()
                details = " ".join(
                    f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in stats.items()
                    if k not in ("function", "backend_seconds", "trace_seconds", "passes_seconds")
                )
                logger.info(
                    "compiled %s: trace %.4fs, passes %.4fs, backend %s %.4fs (%s)",
                    stats["function"], self.trace_seconds, self.passes_seconds,
                    self.signature.backend, self.compile_seconds, details,
                )
        return self.executable

    def stats(self) -> dict[str, Any]:
        """Seconds spent tracing, in the graph passes and in ``backend.compile`` (None
        before the first run), then what the backend reports (``Executable.compile_info``)."""
        stats: dict[str, Any] = {
            "function": self.optimized.name,
            "trace_seconds": self.trace_seconds,
            "passes_seconds": self.passes_seconds,
            "backend_seconds": self.compile_seconds,
        }
        info = getattr(self.executable, "compile_info", None)
        if info is not None:
            stats.update(info())
        return stats


class Lowered:
    """A traced and optimised program, for reading its IR at each stage.

    Stages, in pipeline order: ``traced`` and ``optimized`` (graph IR, see
    :meth:`function`), ``kernels`` (the kernel-IR program a compiling backend
    lowered it to, see :meth:`kernel_program`) and ``source`` (the backend's
    own text: LLVM IR, OpenCL C, CUDA C). The last two compile the program.
    """

    GRAPH_STAGES = ("traced", "optimized")
    STAGES = GRAPH_STAGES + ("kernels", "source")

    def __init__(self, program: CompiledProgram) -> None:
        self._program = program

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

    def __str__(self) -> str:
        return self.as_text()


class JitFunction:
    """A function compiled per signature; see :func:`tcomp.jit`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        backend: str | None = None,
        static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (),
    ) -> None:
        if not callable(fn):
            raise TcompTypeError(f"jit: expected a function, got {type(fn).__name__}")
        if backend is not None:
            check_backend_name(backend)
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._backend_name = backend
        self._signature = _signature_of(fn)
        self._static_names = _static_names(self._signature, static_argnums, static_argnames)
        self._programs: dict[Signature, CompiledProgram] = {}
        self._last_signature: Signature | None = None
        self.trace_count = 0
        self.retrace_reasons: list[str] = []

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        # Decorating a method: bind like a plain function would.
        return self if instance is None else BoundJitMethod(self, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs, frozenset())

    def _call(self, args: tuple, kwargs: dict, extra_static: frozenset[str]) -> Any:
        if current_trace() is not None:
            return self._fn(*args, **kwargs)  # inlined into the enclosing trace
        program, leaves = self._program_for(args, kwargs, extra_static)
        backend = program.backend
        buffers = [to_backend(_as_backend_input(leaf), backend) for leaf in leaves]
        outputs = program.compiled()(buffers)
        if not program.logged:
            program.logged = True
            _log_first_call(self._fn, program)
        arrays = [
            Array(buffer, backend, value.type)
            for buffer, value in zip(outputs, program.optimized.outputs)
        ]
        return tree_unflatten(program.out_tree, arrays)

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Traces (or reuses the trace) for these arguments without running anything."""
        program, _ = self._program_for(args, kwargs, frozenset())
        return Lowered(program)

    @property
    def cache_size(self) -> int:
        """How many signatures have a program."""
        return len(self._programs)

    def compile_stats(self) -> list[dict[str, Any]]:
        """One dict per signature, in the order they were traced: see
        :meth:`Lowered.compile_info` (a program not run yet has ``backend_seconds`` None).
        The same numbers are logged at INFO on the ``tcomp.jit`` logger."""
        return [program.stats() for program in self._programs.values()]

    # ---------------------------------------------------------------------------------

    def _program_for(
        self, args: tuple, kwargs: dict, extra_static: frozenset[str]
    ) -> tuple[CompiledProgram, list[Any]]:
        bound = self._bind(args, kwargs)
        static_names = self._static_names | extra_static
        dynamic = [(n, v) for n, v in bound.arguments.items() if n not in static_names]
        # The type is part of the key: 1 == True == 1.0, but they may trace differently.
        statics = tuple(
            (n, type(v), v) for n, v in bound.arguments.items() if n in static_names
        )
        for name, _, value in statics:
            try:
                hash(value)
            except TypeError:
                raise TcompArgumentError(
                    f"{self.__name__}: static argument {name!r} must be hashable, got "
                    f"{type(value).__name__} (use a tuple instead of a list)"
                ) from None
        leaves, treedefs, paths = [], [], []
        for name, value in dynamic:
            arg_leaves, treedef = tree_flatten(value)
            leaves += arg_leaves
            treedefs.append(treedef)
            paths += [name + p for p in leaf_paths(treedef)]
        leaves = [_canonical_leaf(leaf, path, self.__name__) for leaf, path in zip(leaves, paths)]
        backend_name = self._backend_name or _default_name()
        signature = Signature(
            tuple(name for name, _ in dynamic),
            tuple(treedefs),
            tuple(_leaf_spec(leaf) for leaf in leaves),
            statics,
            backend_name,
        )
        program = self._programs.get(signature)
        if program is None:
            program = self._trace(bound, signature, dynamic, paths)
            self._programs[signature] = program
        self._last_signature = signature
        return program, leaves

    def _bind(self, args: tuple, kwargs: dict) -> inspect.BoundArguments:
        if self._signature is None:
            if kwargs:
                raise TcompArgumentError(f"{self.__name__}: keyword arguments need a Python signature")
            return _PositionalArguments(args)  # type: ignore[return-value]
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TcompArgumentError(f"{self.__name__}: {error}") from None
        # Defaults are not applied: a parameter the caller leaves out keeps its default
        # inside the function, as a constant of the trace (so `mode="sum"` needs no static).
        return bound

    def _trace(
        self,
        bound: inspect.BoundArguments,
        signature: Signature,
        dynamic: list[tuple[str, Any]],
        paths: list[str],
    ) -> CompiledProgram:
        if self._last_signature is not None:
            reason = _explain_retrace(self._last_signature, signature, paths)
            self.retrace_reasons.append(reason)
            logger.info("retracing %s: %s", self.__name__, reason)
        self.trace_count += 1
        started = time.perf_counter()
        with new_trace(_ir_name(self.__name__)) as trace:
            tracers = iter(
                trace.new_param(TensorType(shape, dtype), weak) for shape, dtype, weak in signature.leaves
            )
            for (name, _), treedef in zip(dynamic, signature.treedefs):
                bound.arguments[name] = tree_unflatten(
                    treedef, [next(tracers) for _ in range(treedef.num_leaves)]
                )
            result = self._fn(*bound.args, **bound.kwargs)
            out_leaves, out_tree = tree_flatten(result)
            outputs = [_output_tracer(trace, leaf, self.__name__) for leaf in out_leaves]
            traced = trace.finish(outputs)
        traced_at = time.perf_counter()
        optimized = run_pipeline(traced, DEFAULT_PIPELINE)
        passes_done = time.perf_counter()
        backend = get_backend(signature.backend)
        return CompiledProgram(
            signature, traced, optimized, out_tree, backend, leaf_paths=paths,
            trace_seconds=traced_at - started, passes_seconds=passes_done - traced_at,
        )


class BoundJitMethod:
    """A jitted method bound to an instance: the instance is a static argument.

    The instance is part of the cache key (by its hash, identity for plain
    objects), and the arrays it holds become constants of the trace; an
    instance that is itself a pytree (a namedtuple of arrays) is traced like
    any other argument.
    """

    def __init__(self, jitted: JitFunction, instance: Any) -> None:
        self._jitted = jitted
        self._instance = instance
        functools.update_wrapper(self, jitted._fn)
        pytree_instance = isinstance(instance, (tuple, list, dict))
        self._extra_static = frozenset() if pytree_instance else _first_parameter(jitted)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._jitted._call((self._instance,) + args, kwargs, self._extra_static)

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Like :meth:`JitFunction.lower`, with the instance bound."""
        program, _ = self._jitted._program_for((self._instance,) + args, kwargs, self._extra_static)
        return Lowered(program)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_jitted":
            raise AttributeError(name)
        return getattr(self._jitted, name)  # trace_count, retrace_reasons, cache_size


def _first_parameter(jitted: JitFunction) -> frozenset[str]:
    signature = jitted._signature
    if signature is None:
        return frozenset({"args[0]"})
    names = list(signature.parameters)
    return frozenset(names[:1])


class _PositionalArguments:
    """``inspect.BoundArguments`` look-alike for callables without a signature."""

    def __init__(self, args: tuple) -> None:
        self.arguments = {f"args[{i}]": a for i, a in enumerate(args)}

    @property
    def args(self) -> tuple:
        return tuple(self.arguments.values())

    @property
    def kwargs(self) -> dict:
        return {}


def _signature_of(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _static_names(
    signature: inspect.Signature | None,
    static_argnums: int | Sequence[int],
    static_argnames: str | Sequence[str],
) -> frozenset[str]:
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = {static_argnames} if isinstance(static_argnames, str) else set(static_argnames)
    if signature is None:
        return frozenset(f"args[{n}]" for n in nums) | frozenset(names)
    positional = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    for n in nums:
        if not -len(positional) <= n < len(positional):
            raise TcompArgumentError(
                f"static_argnums: {n} is out of range for a function of {len(positional)} "
                "positional parameters"
            )
        names.add(positional[n])
    unknown = names - set(signature.parameters)
    if unknown:
        raise TcompArgumentError(f"static_argnames: no parameter named {sorted(unknown)}")
    return frozenset(names)


def _default_name() -> str:
    from tcomp.backends.registry import default_backend_name

    return default_backend_name()


def _canonical_leaf(leaf: Any, path: str, fn_name: str) -> Any:
    """Arrays stay; Python scalars stay (weakly typed); other data becomes a host array."""
    if isinstance(leaf, Array) or is_python_scalar(leaf):
        if is_python_scalar(leaf):
            host_array(leaf, what=f"{fn_name}: argument {path}")  # int32 range check
        return leaf
    if isinstance(leaf, Tracer):
        leaf._trace.lift(leaf)  # raises the escaped-tracer error
    if isinstance(leaf, (str, bytes)) or callable(leaf):
        raise TcompTypeError(
            f"{fn_name}: argument {path} is a {type(leaf).__name__}; jit traces arrays and "
            f"numbers only. Mark it static (static_argnames=({path.split('[')[0]!r},))."
        )
    return host_array(leaf, what=f"{fn_name}: argument {path}")


def _leaf_spec(leaf: Any) -> LeafSpec:
    if isinstance(leaf, Array):
        return leaf.shape, leaf.aval.dtype, False
    if is_python_scalar(leaf):
        return (), python_scalar_dtype(leaf), True
    return tuple(leaf.shape), canonical_dtype(leaf.dtype), False


def _as_backend_input(leaf: Any) -> Any:
    if is_python_scalar(leaf):
        return np.asarray(leaf, dtype=python_scalar_dtype(leaf))
    return leaf


def _output_tracer(trace: Any, leaf: Any, fn_name: str) -> Tracer:
    if isinstance(leaf, (str, bytes)) or callable(leaf):
        raise TcompTypeError(
            f"{fn_name}: returned a {type(leaf).__name__}; a jitted function returns arrays, "
            "numbers and containers of them"
        )
    return trace.lift(leaf)


def _ir_name(name: str) -> str:
    cleaned = re.sub(r"\W", "_", name).strip("_")
    return cleaned or "fn"


def _log_first_call(fn: Callable[..., Any], program: CompiledProgram) -> None:
    """Adds the first call of a signature to the compile log (where the program came
    from and, for a miss, why: :mod:`tcomp.backends.compile_log`) and logs a miss's
    reasons at INFO on ``tcomp.jit``."""
    from tcomp.backends.cache import default_cache_dir
    from tcomp.backends.compile_log import CompileRecord, function_identity, record_call

    executable = program.executable
    parts = executable.cache_key_parts() if executable is not None else None
    if parts is None or default_cache_dir() is None:
        return
    graph = print_function(program.optimized, locations=False)
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
        seconds=(program.compile_seconds or 0.0) + float(info.get("build_s", 0.0)),
    ))
    if record.why and logger.isEnabledFor(logging.INFO):
        logger.info("%s missed the compile cache: %s", program.optimized.name,
                    "; ".join(line.strip() for line in record.why))


def arguments_text(signature: Signature, paths: list[str]) -> str:
    """``x: float32[256,784], lr: float32[] (Python scalar), n=3``: a signature as text."""
    shown = [
        f"{path}: {dtype}[{','.join(map(str, shape))}]" + (" (Python scalar)" if weak else "")
        for path, (shape, dtype, weak) in zip(paths, signature.leaves)
    ]
    shown += [f"{name}={value!r}" for name, _, value in signature.statics]
    return ", ".join(shown)


def _explain_retrace(old: Signature, new: Signature, paths: list[str]) -> str:
    """One line saying what differs between two signatures."""
    if old.backend != new.backend:
        return f"backend changed: {old.backend} -> {new.backend}"
    if old.names != new.names:
        return f"arguments passed changed: {list(old.names)} -> {list(new.names)}"
    if old.treedefs != new.treedefs:
        shown_old = ", ".join(str(t) for t in old.treedefs)
        shown_new = ", ".join(str(t) for t in new.treedefs)
        return f"argument structure changed: ({shown_old}) -> ({shown_new})"
    if old.statics != new.statics:
        old_names = [name for name, _, _ in old.statics]
        new_names = [name for name, _, _ in new.statics]
        if old_names != new_names:
            return f"static arguments passed changed: {old_names} -> {new_names}"
        changes = [
            f"{name}={a!r} -> {b!r}"
            for (name, ta, a), (_, tb, b) in zip(old.statics, new.statics)
            if (ta, a) != (tb, b)
        ]
        return "static argument changed: " + ", ".join(changes)
    changes = []
    for path, (s1, d1, w1), (s2, d2, w2) in zip(paths, old.leaves, new.leaves):
        if (s1, d1, w1) != (s2, d2, w2):
            weak = lambda w: " (Python scalar)" if w else ""
            changes.append(f"{path}: {d1}{list(s1)}{weak(w1)} -> {d2}{list(s2)}{weak(w2)}")
    return "argument types changed: " + "; ".join(changes)


def jit(
    fn: Callable[..., Any] | None = None,
    *,
    backend: str | None = None,
    static_argnums: int | Sequence[int] = (),
    static_argnames: str | Sequence[str] = (),
) -> Any:
    """Compiles ``fn`` for each signature it is called with.

    Usable as ``@jit`` or ``@jit(backend="reference", static_argnums=(1,))``.
    Arguments are pytrees of numpy arrays, Python scalars and ``tcomp.Array``;
    results are pytrees of ``tcomp.Array``. ``backend`` defaults to
    ``TCOMP_BACKEND`` or tcomp's default. Static arguments are passed to
    ``fn`` as they are and must be hashable; each new value (or type: ``1``
    and ``True`` differ) traces again. Parameters the caller leaves out keep
    their Python defaults as constants of the trace. On a method, the
    instance is static (its arrays are constants) unless it is itself a
    pytree such as a namedtuple.
    """
    if fn is None:
        return lambda f: JitFunction(f, backend, static_argnums, static_argnames)
    return JitFunction(fn, backend, static_argnums, static_argnames)
