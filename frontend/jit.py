"""``tcomp.jit``: trace once per signature, optimise, compile, and run.

A :class:`JitFunction` keeps one compiled program per *signature*: which
dynamic arguments were passed and their pytree structure, each leaf's
shape, dtype and weak-typedness, the types and values of the static
arguments, and the backend.
Calling it again with the same signature runs the compiled program without
touching the Python function; a new signature traces again and records why
in :attr:`JitFunction.retrace_reasons`.

Memory stays bounded: a jitted function keeps the programs of its
``TCOMP_JIT_CACHE_SIZE`` most recently used signatures (64 by default, see
:func:`tcomp.frontend.retrace.jit_cache_size`) and forgets the least recently used beyond that; its
programs (and their machine code) go with it when it is collected. The
:data:`RETRACE_WARNING_AT`-th trace of one function, and each doubling of
that count, warns with :class:`~tcomp.ir.errors.TcompRetraceWarning`
naming the argument that keeps changing.

Threads may share a jitted function: each signature is traced and compiled
by one thread while the others that need it wait (see :class:`JitFunction`).

Called while another function is being traced, a jitted function is simply
inlined into that trace.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import os
import re
import threading
import time
import warnings
from collections import deque
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tcomp.backends.options import CompileOptions
from tcomp.backends.registry import check_backend_name, get_backend
from tcomp.frontend.array import Array
from tcomp.frontend.buckets import (
    attach_lengths,
    bucket_arguments,
    check_buckets,
    describe_buckets,
    length_arguments,
)
from tcomp.frontend.debug_effects import collect_effects, finish_effects, run_effects
from tcomp.frontend.eager import own_results, to_backend
from tcomp.frontend.finite_check import check_call
from tcomp.frontend.first_call_log import log_first_call
from tcomp.frontend.lowered import Lowered
from tcomp.frontend.precision import narrow_float64, warn_float64_arguments
from tcomp.frontend.program import CompiledProgram, LeafSpec, Signature
from tcomp.frontend.pytree import leaf_paths, tree_flatten, tree_unflatten
from tcomp.frontend.retrace import (
    explain_retrace,
    retrace_warning_text,
)
from tcomp.frontend.timeline import recording
from tcomp.frontend.trace import Tracer, current_trace, new_trace
from tcomp.frontend.values import host_array, is_python_scalar, python_scalar_dtype
from tcomp.ir.errors import (
    TcompArgumentError,
    TcompCallError,
    TcompRetraceWarning,
    TcompTypeError,
)
from tcomp.ir.fork_safe import ForkSafeLock
from tcomp.ir.types import TensorType, canonical_dtype
from tcomp.ir.user_frames import user_stacklevel

logger = logging.getLogger("tcomp.jit")

RETRACE_WARNING_AT = 8  # the trace count that first warns; then 16, 32 ...
RETRACE_REASONS_KEPT = 100  # JitFunction.retrace_reasons keeps the newest ones

class JitFunction:
    """A function compiled per signature; see :func:`tcomp.jit`.

    It keeps the programs of the most recently used signatures, up to
    :func:`jit_cache_size`. ``trace_count`` counts traces (a signature forgotten
    and met again traces again) and ``retrace_reasons`` holds the newest
    :data:`RETRACE_REASONS_KEPT` reasons.

    Threads: the first call of a signature traces and compiles it on the thread
    that made it; other threads calling with that signature meanwhile wait, then
    run the same program. If the trace (or compile) raises, the error goes to the
    thread that ran it, and each waiting thread then tries again itself, getting
    its own error with its own traceback. Different signatures trace in parallel.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        backend: str | None = None,
        static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (),
        check_finite: bool | None = None,
        buckets: Mapping[str, Mapping[int, Sequence[int]]] | None = None,
    ) -> None:
        if not callable(fn):
            raise TcompTypeError(f"jit: expected a function, got {type(fn).__name__}")
        if backend is not None:
            check_backend_name(backend)
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._backend_name = backend
        self._check_finite = check_finite  # None: TCOMP_CHECK_FINITE, read when tracing
        self._signature = _signature_of(fn)
        self._static_names = _static_names(self._signature, static_argnums, static_argnames)
        self._buckets = check_buckets(self.__name__, buckets, self._signature, self._static_names)
        self._programs: dict[Signature, CompiledProgram] = {}
        self._uses = itertools.count(1)  # stamps CompiledProgram.last_used
        self._tracing: dict[Signature, _PendingTrace] = {}
        self._lock = ForkSafeLock()  # guards the fields above and below
        self._last_signature: Signature | None = None
        self._recent: deque[tuple[Signature, list[str]]] = deque(maxlen=RETRACE_WARNING_AT)
        self._next_warning = RETRACE_WARNING_AT
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
        timeline = recording()
        if timeline is not None:  # inside tcomp.profile(...): each step timed and recorded
            return timeline.record_call(self, args, kwargs, extra_static)
        program, leaves = self._program_for(args, kwargs, extra_static)
        backend = program.backend
        buffers = [to_backend(_as_backend_input(leaf), backend) for leaf in leaves]
        return self._results(program, leaves, buffers, program.compiled()(buffers))

    def _results(
        self, program: CompiledProgram, leaves: list[Any], buffers: list[Any], outputs: list[Any]
    ) -> Any:
        """A call's ``outputs`` (run on ``buffers``, made of ``leaves``) as Arrays in the
        function's output tree; the signature's first call goes to the compile log."""
        backend = program.backend
        if program.effects is not None or program.finite_check is not None:
            if program.effects is not None:  # tcomp.debug.print/callback, after the kernels
                run_effects(program.effects, outputs, backend)
            if program.finite_check is not None:  # raises on a NaN or infinity
                outputs = check_call(program, buffers, outputs)
            outputs = outputs[: program.out_tree.num_leaves]  # hidden outputs stay here
        outputs = own_results(outputs, leaves, buffers, backend)
        if not program.logged and program.claim_first_call():
            log_first_call(self._fn, program)
        arrays = [
            Array(buffer, backend, value.type)
            for buffer, value in zip(outputs, program.traced.outputs)
        ]
        return tree_unflatten(program.out_tree, arrays)

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Traces (or reuses the trace) for these arguments without running anything."""
        return Lowered(self._program_for(args, kwargs, frozenset())[0], self)

    @property
    def cache_size(self) -> int:
        """How many signatures have a program now (at most :func:`jit_cache_size`)."""
        return len(self._programs)

    def compile_stats(self) -> list[dict[str, Any]]:
        """One dict per signature kept, in the order they were traced: see
        :meth:`Lowered.compile_info` (a program not run yet has ``backend_seconds`` None).
        The same numbers are logged at INFO on the ``tcomp.jit`` logger."""
        with self._lock:
            programs = list(self._programs.values())
        return [program.stats() for program in programs]

    # ---------------------------------------------------------------------------------

    def _program_for(
        self, args: tuple, kwargs: dict, extra_static: frozenset[str]
    ) -> tuple[CompiledProgram, list[Any]]:
        bound = self._bind(args, kwargs)
        static_names = self._static_names | extra_static
        bucketed = bucket_arguments(self.__name__, self._buckets, bound.arguments) if self._buckets else []
        dynamic = [(n, v) for n, v in bound.arguments.items() if n not in static_names]
        dynamic += length_arguments(bucketed)  # the true lengths, traced int32 scalars
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
        leaves, treedefs = [], []
        for _, value in dynamic:
            arg_leaves, treedef = tree_flatten(value)
            leaves += arg_leaves
            treedefs.append(treedef)
        paths = _LazyPaths(dynamic, treedefs)  # readable names, made only when needed
        leaves = [
            leaf if _is_ready(leaf) else _canonical_leaf(leaf, paths[i], self.__name__)
            for i, leaf in enumerate(leaves)
        ]
        leaves = narrow_float64(leaves)  # float32 under tcomp.config.enable_x64 = False
        backend_name = self._backend_name or _default_name()
        signature = Signature(
            tuple(name for name, _ in dynamic),
            tuple(treedefs),
            tuple(_leaf_spec(leaf) for leaf in leaves),
            statics,
            backend_name,
        )
        program = self._programs.get(signature)  # the common case needs no lock
        if program is None:
            warn_float64_arguments(self.__name__, signature.leaves, paths.all())
            program = self._trace_once(signature, bound, dynamic, paths.all())
        program.last_used = next(self._uses)
        self._last_signature = signature
        return program, leaves

    def _trace_once(
        self,
        signature: Signature,
        bound: inspect.BoundArguments,
        dynamic: list[tuple[str, Any]],
        paths: list[str],
    ) -> CompiledProgram:
        """Traces ``signature`` on this thread, unless another thread is tracing it:
        then waits for that one and takes its program (or, when it raised, tries)."""
        me = threading.get_ident()
        while True:
            with self._lock:
                program = self._programs.get(signature)
                if program is not None:
                    return program
                pending = self._tracing.get(signature)
                if pending is None or pending.abandoned():
                    pending = self._tracing[signature] = _PendingTrace(me)
                    break
            if pending.owner == me:
                raise TcompArgumentError(
                    f"{self.__name__}: called (or lowered) with the signature it is tracing, "
                    "from inside that trace"
                )
            pending.done.wait()  # then look again: the program, or trace it ourselves
        # Whatever happens below (user code, warnings turned into errors), the finally
        # clause lets the waiting threads go: under the lock there are only dict updates.
        program, limit = None, None
        try:
            # The configuration of this signature's compile, read once here (the API edge)
            options = CompileOptions.from_environment()
            if self._check_finite is not None:  # jit(check_finite=...) overrides the variable
                options = options.with_changes(check_finite=self._check_finite)
            warning = self._count_trace(
                signature, paths, options.jit_cache_size, describe_buckets(dynamic)
            )
            if warning is not None:
                warnings.warn(warning, TcompRetraceWarning, stacklevel=user_stacklevel())
            traced = self._trace(bound, signature, dynamic, paths, options)
            limit = options.jit_cache_size
            program = traced
        finally:
            with self._lock:
                del self._tracing[signature]
                if program is not None:
                    self._keep(signature, program, limit)
            pending.done.set()
        return program

    def _count_trace(
        self, signature: Signature, paths: list[str], limit: int | None, note: str | None = None
    ) -> str | None:
        """Records a trace of ``signature`` (count, reason, recent history); returns the
        retrace warning's text when this count warns (each doubling from
        :data:`RETRACE_WARNING_AT`). ``note``: said after the reason (the buckets)."""
        with self._lock:
            reason = None
            if self._last_signature is not None:
                reason = explain_retrace(self._last_signature, signature, paths)
                reason = f"{reason} ({note})" if note else reason
                self.retrace_reasons.append(reason)
                del self.retrace_reasons[:-RETRACE_REASONS_KEPT]
            self._last_signature = signature
            self.trace_count += 1
            self._recent.append((signature, paths))
            count, recent = self.trace_count, list(self._recent)
            warns = count >= self._next_warning
            if warns:
                self._next_warning *= 2
        if reason is not None:
            logger.info("retracing %s: %s", self.__name__, reason)
        if not warns:
            return None
        return retrace_warning_text(
            self.__name__, count, recent, [reason] if reason else [], limit=limit
        )

    def _keep(self, signature: Signature, program: CompiledProgram, limit: int | None) -> None:
        """Caches ``program``, forgetting the least recently used beyond ``limit`` (None:
        no bound). The caller holds the lock; a new signature is rare, so a scan is cheap."""
        program.last_used = next(self._uses)
        self._programs[signature] = program
        while limit is not None and len(self._programs) > limit:
            oldest = min(self._programs, key=lambda s: self._programs[s].last_used)
            del self._programs[oldest]

    def _bind(self, args: tuple, kwargs: dict) -> inspect.BoundArguments:
        if self._signature is None:
            if kwargs:
                raise TcompCallError(f"{self.__name__}: keyword arguments need a Python signature")
            return _PositionalArguments(args)  # type: ignore[return-value]
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TcompCallError(f"{self.__name__}: {error}") from None
        # Defaults are not applied: a parameter the caller leaves out keeps its default
        # inside the function, as a constant of the trace (so `mode="sum"` needs no static).
        return bound

    def _trace(
        self,
        bound: inspect.BoundArguments,
        signature: Signature,
        dynamic: list[tuple[str, Any]],
        paths: list[str],
        options: CompileOptions,
    ) -> CompiledProgram:
        started = time.perf_counter()
        with new_trace(_ir_name(self.__name__)) as trace:
            collect_effects(trace)
            tracers = iter(
                trace.new_param(TensorType(shape, dtype), weak) for shape, dtype, weak in signature.leaves
            )
            for (name, _), treedef in zip(dynamic, signature.treedefs):
                bound.arguments[name] = tree_unflatten(
                    treedef, [next(tracers) for _ in range(treedef.num_leaves)]
                )
            attach_lengths(trace, bound.arguments)  # jit(buckets=...): tcomp.valid_length
            result = self._fn(*bound.args, **bound.kwargs)
            out_leaves, out_tree = tree_flatten(result)
            outputs = [_output_tracer(trace, leaf, self.__name__) for leaf in out_leaves]
            effects, effect_outputs = finish_effects(trace, len(outputs))
            traced = trace.finish(outputs + effect_outputs)
        traced_at = time.perf_counter()
        backend = get_backend(signature.backend)
        return CompiledProgram(
            signature, traced, out_tree, backend, leaf_paths=paths,
            trace_seconds=traced_at - started, options=options, effects=effects,
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
        return Lowered(program, self)

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


class _PendingTrace:
    """A signature being traced: the tracing thread, and an event set when it is done.

    ``process``: the process it was made in. A forked child inherits the pending traces
    of its parent's other threads, which it does not have: nobody would ever set them.
    """

    def __init__(self, owner: int) -> None:
        self.owner = owner
        self.process = os.getpid()
        self.done = threading.Event()

    def abandoned(self) -> bool:
        """Whether the tracing thread is in another process (we are a forked child)."""
        return self.process != os.getpid()


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


# numpy dtypes a host array may have as it is (native byte order), by tcomp name: the
# arrays _canonical_leaf would return unchanged
_READY_DTYPES = {
    np.dtype(name): name
    for name in ("float32", "float64", "float16", "int8", "uint8", "int32", "uint32", "bool")
}


def _is_ready(leaf: Any) -> bool:
    """Whether ``leaf`` is already what :func:`_canonical_leaf` makes of it: an Array, or a
    numpy array of a tcomp dtype in this machine's byte order (the fast path of a call)."""
    return isinstance(leaf, Array) or (type(leaf) is np.ndarray and leaf.dtype in _READY_DTYPES)


class _LazyPaths:
    """The readable path of each leaf (``params['w1']``), computed on first use: a call
    whose signature is known and whose arguments need no conversion never names them."""

    def __init__(self, dynamic: list[tuple[str, Any]], treedefs: list[Any]) -> None:
        self._dynamic, self._treedefs = dynamic, treedefs
        self._paths: list[str] | None = None

    def all(self) -> list[str]:
        if self._paths is None:
            self._paths = [
                name + path
                for (name, _), treedef in zip(self._dynamic, self._treedefs)
                for path in leaf_paths(treedef)
            ]
        return self._paths

    def __getitem__(self, index: int) -> str:
        return self.all()[index]


def _leaf_spec(leaf: Any) -> LeafSpec:
    if isinstance(leaf, Array):
        return leaf.shape, leaf.aval.dtype, False
    if is_python_scalar(leaf):
        return (), python_scalar_dtype(leaf), True
    name = _READY_DTYPES.get(leaf.dtype)
    return tuple(leaf.shape), name or canonical_dtype(leaf.dtype), False


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


def jit(
    fn: Callable[..., Any] | None = None,
    *,
    backend: str | None = None,
    static_argnums: int | Sequence[int] = (),
    static_argnames: str | Sequence[str] = (),
    check_finite: bool | None = None,
    buckets: Mapping[str, Mapping[int, Sequence[int]]] | None = None,
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

    ``check_finite=True`` compiles a checked variant (its own program; the
    unchecked one is unchanged): after each call, if a kernel wrote a NaN or an
    infinity, :class:`~tcomp.ir.errors.TcompFloatingPointError` names the op
    that made the first one, its ``file:line`` and pass (forward or backward),
    the kernel, the shapes and the op's input ranges (or the argument that
    already held one). ``None`` (the default) follows ``TCOMP_CHECK_FINITE``,
    read when a signature is traced; ``False`` never checks. See
    :mod:`tcomp.frontend.finite_check`.

    ``buckets={"tokens": {1: (64, 128, 256)}}`` pads argument ``tokens`` along axis 1
    with zeros to the smallest bucket that holds it, so all lengths of a bucket share
    one program; inside ``fn``, ``tcomp.valid_length(tokens, 1)`` is the true length
    (a traced int32). See :mod:`tcomp.frontend.buckets`.
    """
    if fn is None:
        return lambda f: JitFunction(
            f, backend, static_argnums, static_argnames, check_finite, buckets
        )
    return JitFunction(fn, backend, static_argnums, static_argnames, check_finite, buckets)
