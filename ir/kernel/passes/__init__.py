"""Kernel-IR passes: named ``Program -> Program`` steps and the pipelines backends run.

The graph-IR passes (:mod:`tcomp.ir.passes`) rewrite a function; these work
on its kernel-IR program. ``fuse`` is the bridge: it lowers a graph-IR
function to kernels (fusion plan, one loop nest per materialised value, its
reductions and shared lets hoisted while the kernel is built:
:func:`tcomp.ir.kernel.lowering.program.fuse_function`). Every other step is a
pass over a whole program, registered by name in :data:`KERNEL_PASSES`; the
implementations live in :mod:`tcomp.ir.kernel.lowering`. A pass may take
integer options, written ``name{key=value}`` (``split-reductions{parts=8}``).

Each backend's pipeline is data here (:data:`PIPELINES`)::

    from tcomp.ir.kernel.passes import LLVM_PIPELINE, lower, run_kernel_pipeline
    program = lower(fn, LLVM_PIPELINE)              # fuse, then the kernel passes
    program = run_kernel_pipeline(program, "reuse-reduction-terms", verify_each=True)

With ``verify_each`` the kernel verifier
(:func:`tcomp.ir.kernel.verifier.verify_program`) runs after each step, so
an error names the pass that broke the IR. Like :mod:`tcomp.ir.passes` this
package reads no environment: the backends pass ``TCOMP_VERIFY_PASSES``
(``tcomp.backends.options``), ``tcomp opt`` always verifies. A pass may change the program it
is given (the pipelines hand each pass the previous one's result) and must
leave a program that verifies.
"""

from __future__ import annotations

import inspect
import re
from typing import Callable, Sequence

from tcomp.ir.errors import TcompArgumentError
from tcomp.ir.graph import Function
from tcomp.ir.kernel.kernel import Program
from tcomp.ir.kernel.lowering.contraction import (
    DEFAULT_VECTOR_BITS,
    VECTOR_BITS,
    schedule_contractions,
)
from tcomp.ir.kernel.lowering.flatten_contraction import flatten_contractions
from tcomp.ir.kernel.lowering.memory import plan_memory
from tcomp.ir.kernel.lowering.program import MIN_RECURSION_LIMIT, fuse_function
from tcomp.ir.kernel.lowering.reuse_terms import reuse_reduction_terms
from tcomp.ir.kernel.lowering.schedule_cpu import MIN_PARALLEL_WORK, schedule_cpu
from tcomp.ir.kernel.lowering.split_contraction import split_contractions
from tcomp.ir.kernel.lowering.split_reduction import GPU_PARTS, PARTS, split_reductions
from tcomp.ir.kernel.lowering.split_regions import split_regions
from tcomp.ir.kernel.verifier import verify_cpu_schedule, verify_program
from tcomp.ir.recursion import deep_recursion

KernelPass = Callable[..., Program]

FUSE = "fuse"


def fuse(fn: Function) -> Program:
    """Lowers graph IR to kernel IR: a loop-nest kernel per materialised value, its inputs fused.

    A materialised value is an output, a matmul operand or a value several
    kernels read; elementwise, broadcast/reshape and reduction ops that feed
    it are inlined, reductions and shared lets hoisted (row softmax: one
    kernel; relu(x @ w + b): one kernel). Schedules are the defaults
    (parallel outermost loop, vector innermost); temps have no arena yet::

        func @f(%0: f32[4,3]) -> (f32[4]) {
          %1: f32[4,3] = exp(%0)
          %2: f32[4] = reduce_sum(%1) {axes=(1,)}
          return %2
        }
        ->
        kernel k0(in %p0: f32[12], out %t2: f32[4]) {  // %1 exp, %2 reduce_sum
          schedule {parallel=i0, vector={i0: 16}}
          for i0 in 0..4 {
            let acc0: f32 = 0.0:f32
            for r0 in 0..3 {
              acc0 = acc0 + exp(%p0[(i0 * 3) + r0])
            }
            %t2[i0] = acc0
          }
        }
    """
    return fuse_function(fn)


def schedule_contractions_pass(program: Program, vector_bits: int = DEFAULT_VECTOR_BITS) -> Program:
    """Records the CPU's matmul blocking (register tile, row and depth blocks) in big matmuls.

    Only the schedule changes (the blocking per vector width is in
    ``lowering/contraction.py``; kernels under ``MIN_WORK`` are left alone).
    ``vector_bits``: the SIMD register width, 512 (AVX-512), 256 (AVX2) or 128;
    the llvm backend runs it with its host's (:func:`llvm_pipeline`).
    The llvm renderer draws a packed micro-kernel from it; the GPU renderer
    takes it as the sign that a kernel is a matmul it may tile::

        schedule {parallel=i0, vector={i1: 16}}            // f32 256x784 @ 784x512
        ->
        schedule {parallel=i0, vector={i1: 16}, unroll={i0: 12, i1: 32},
                  tile={i0: 36, r0: 196}}
    """
    if vector_bits not in VECTOR_BITS:
        raise TcompArgumentError(
            f"schedule-contractions: vector_bits must be one of {VECTOR_BITS}, not {vector_bits!r}"
        )
    return schedule_contractions(program, vector_bits)


def flatten_contractions_pass(program: Program) -> Program:
    """Turns a contraction over several loops (a convolution) into two copies and a matmul.

    The factor read by one group of output loops is copied to ``[M, K]``, the
    other (im2col) to ``[B, K, P]``; the matmul between them has one loop per
    role, so ``schedule-contractions`` blocks it (details and a worked example:
    ``lowering/flatten_contraction.py``)::

        for i0, i1, i2, i3 { acc = sum over r0, r1, r2 of x[..] * w[..]; out[..] = acc }
        ->
        %tflat0 = copy of w as [16, 150]; %tflat1 = copy of x as [32, 150, 100]
        for i0 { for f0 in 0..16 { for f1 in 0..100 {
          acc = sum over f2 in 0..150 of %tflat1[..] * %tflat0[..]; out[..] = acc }}}
    """
    return flatten_contractions(program)


def split_contractions_pass(program: Program) -> Program:
    """Splits a contraction with a small output and a long contracted loop along that loop.

    A kernel matched as a contraction without batch loops, with ``M * N`` at most
    ``MAX_OUTPUT`` and ``K`` at least ``MIN_K`` (a convolution's weight gradient: 16 x 144
    outputs over 32768 batch-and-image positions) becomes a partial contraction over
    ``PARTS`` chunks of ``K``, parallel over the chunks (``schedule-contractions`` blocks
    each), and a final kernel that adds the partials and runs the epilogue
    (``lowering/split_contraction.py``)::

        for f0 in 0..16 { for f1 in 0..144 { acc = sum over f2 in 0..32768; out[..] = acc }}
        ->
        for s0 in 0..16 { for f0, f1 { acc = sum over f2 in 0..2048 at s0 * 2048 + f2;
                                       %tsplitk0[(s0 * 16 + f0) * 144 + f1] = acc }}
        for f0, f1 { acc = sum over s0 of %tsplitk0[..]; out[..] = acc }
    """
    return split_contractions(program)


def split_reductions_pass(program: Program, parts: int = PARTS) -> Program:
    """Splits a long reduction to one element into `parts` parallel partials and a final kernel.

    Only kernels with no output loop whose first loop reduces with add, max
    or min over at least ``MIN_SPLIT_ELEMENTS`` iterations; kernels are
    renumbered. ``parts``: 16 on the CPU, 1024 on GPUs::

        kernel k0(in %p0: f32[1000003], out %t1: f32[1]) {
          let acc0: f32 = 0.0:f32
          for r0 in 0..1000003 { acc0 = acc0 + %p0[r0] }
          %t1[0] = acc0
        }
        -> {parts=16}
        kernel k0(in %p0: f32[1000003], out %tsplit0: f32[16]) {
          schedule {parallel=s0}
          for s0 in 0..16 {
            let acc0: f32 = 0.0:f32
            for r0 in 0..62500 { acc0 = acc0 + %p0[(s0 * 62500) + r0] }
            %tsplit0[s0] = acc0
          }
        }
        kernel k1(in %tsplit0: f32[16], in %p0: f32[1000003], out %t1: f32[1]) {
          let acc0: f32 = 0.0:f32
          for s0 in 0..16 { acc0 = acc0 + %tsplit0[s0] }
          for r0 in 0..3 { acc0 = acc0 + %p0[r0 + 1000000] }
          %t1[0] = acc0
        }
    """
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise TcompArgumentError(f"split-reductions: parts must be a count >= 1, not {parts!r}")
    return split_reductions(program, parts)


def plan_memory_pass(program: Program) -> Program:
    """Gives temps offsets in one arena; temps never alive together share bytes.

    First fit by kernel order, 64-byte aligned; ``arena_bytes`` covers them.
    k0 writes %t1, k1 reads it and writes %t2, k2 reads %t2 and writes
    %t3 (400 bytes each)::

        program @chain(%p0: f32[100]) -> (%t4) {
          temp %t1: f32[100]
          temp %t2: f32[100]
          temp %t3: f32[100]
          ...
        ->
        program @chain(%p0: f32[100]) -> (%t4) arena_bytes=896 {
          temp %t1: f32[100] offset=0
          temp %t2: f32[100] offset=448
          temp %t3: f32[100] offset=0
          ...
    """
    return plan_memory(program)


def reuse_reduction_terms_pass(program: Program) -> Program:
    """Stores a reduction's terms in the output that recomputes them (row softmax: exp once).

    The output becomes ``inout``; kernels with a blocked contraction are
    left alone. Run by the CPU pipeline only (on a GPU an inout buffer
    costs a long reduction its work-group)::

        let acc1: f32 = 0.0:f32
        for r1 in 0..8 { acc1 = acc1 + exp(%p0[(i0 * 8) + r1] - acc0) }
        for i1 in 0..8 { %t9[(i0 * 8) + i1] = exp(%p0[(i0 * 8) + i1] - acc0) / acc1 }
        ->
        let acc1: f32 = 0.0:f32
        for r1 in 0..8 {
          let v1: f32 = exp(%p0[(i0 * 8) + r1] - acc0)
          %t9[(i0 * 8) + r1] = v1
          acc1 = acc1 + v1
        }
        for i1 in 0..8 { %t9[(i0 * 8) + i1] = %t9[(i0 * 8) + i1] / acc1 }
    """
    return reuse_reduction_terms(program)


def schedule_cpu_pass(program: Program, min_work: int = MIN_PARALLEL_WORK) -> Program:
    """Records the CPU thread split: keeps `parallel` only on big kernels whose loop splits.

    ``fuse`` names a candidate parallel loop in every kernel (a GPU maps it to
    work-items); on a CPU the llvm renderer splits exactly the kernels whose
    schedule still names it after this pass: the loop is the body's last
    statement after lets only, of two or more iterations, and the kernel does
    at least ``min_work`` scalar operations (``kernel_work``, a blocked matmul's divided by
    ``BLOCKED_SPEEDUP``; about 150 us of one core by default: ``MIN_PARALLEL_WORK``).
    Only ``parallel`` changes. Last in the llvm pipeline::

        kernel k0(in %p0: f32[256], out %t1: f32[256]) {   // exp of f32[8,32]
          schedule {parallel=i0, vector={i1: 16}}
        ->
          schedule {vector={i1: 16}}                         // too little work: one thread
        kernel k0(in %p0: f32[4194304], out %t1: f32[4194304]) {
          schedule {parallel=i0, vector={i1: 16}}          // unchanged: split on threads
    """
    if isinstance(min_work, bool) or not isinstance(min_work, int) or min_work < 0:
        raise TcompArgumentError(f"schedule-cpu: min_work must be a count >= 0, not {min_work!r}")
    return schedule_cpu(program, min_work)


def split_regions_pass(program: Program) -> Program:
    """Cuts a loop where a select's condition on it changes: a concatenate's or pad's pieces.

    A sum of pads (the gradient of slices: an LSTM's four gates) or a concatenate
    evaluates every source per element through clamped loads; each piece of the
    cut loop folds its conditions and clamps away (``lowering/split_regions.py``).
    Same values bit for bit; only loops without a reduction and not the parallel
    loop; at most ``MAX_PIECES`` pieces. In the llvm pipeline, before ``schedule-cpu`` (which
    then measures the cheaper pieces)::

        for i1 in 0..256 { %t[i1] = select(i1 < 128, %a[min(i1, 127)],
                                           %b[min(max(i1 + -128, 0), 127)]) }
        ->
        for i1 in 0..128 { %t[i1] = %a[i1] }
        for i1 in 0..128 { %t[i1 + 128] = %b[i1] }
    """
    return split_regions(program)


KERNEL_PASSES: dict[str, KernelPass] = {
    "flatten-contractions": flatten_contractions_pass,
    "split-contractions": split_contractions_pass,
    "schedule-contractions": schedule_contractions_pass,
    "split-reductions": split_reductions_pass,
    "plan-memory": plan_memory_pass,
    "reuse-reduction-terms": reuse_reduction_terms_pass,
    "schedule-cpu": schedule_cpu_pass,
    "split-regions": split_regions_pass,
}
# passes whose result also satisfies a backend's own invariants from then on: the
# verifier checks them after that pass and every later one (with verify_each)
SCHEDULE_CHECKS = {"schedule-cpu": verify_cpu_schedule}

# The pipelines of the compiled backends, in the order their compile runs the steps.
# The GPU backends then run map-gpu (backends/cfamily/schedule.py: the launch of each
# kernel for their dialect, recorded in its schedule), a backend pass because it knows
# the dialect; no CPU blocking runs for a GPU.
LLVM_PIPELINE: tuple[str, ...] = (
    FUSE, "flatten-contractions", "split-contractions", "schedule-contractions",
    "split-reductions", "plan-memory", "reuse-reduction-terms", "split-regions", "schedule-cpu",
)


def llvm_pipeline(vector_bits: int = DEFAULT_VECTOR_BITS) -> tuple[str, ...]:
    """:data:`LLVM_PIPELINE` for a CPU with ``vector_bits``-wide SIMD registers (the
    contraction blocking is the only step that depends on it)."""
    if vector_bits == DEFAULT_VECTOR_BITS:
        return LLVM_PIPELINE
    return tuple(
        f"{name}{{vector_bits={vector_bits}}}" if name == "schedule-contractions" else name
        for name in LLVM_PIPELINE
    )


GPU_PIPELINE: tuple[str, ...] = (FUSE, f"split-reductions{{parts={GPU_PARTS}}}", "plan-memory")
PIPELINES: dict[str, tuple[str, ...]] = {"llvm": LLVM_PIPELINE, "gpu": GPU_PIPELINE}

_SPEC = re.compile(r"^\s*([A-Za-z][\w-]*)\s*(?:\{(.*)\})?\s*$", re.S)
_OPTION = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(-?\d+)\s*$")


def split_names(text: str) -> list[str]:
    """``"fuse, split-reductions{parts=8}"`` -> ``["fuse", "split-reductions{parts=8}"]``:
    split at the commas outside braces, blanks dropped."""
    names, depth, start = [], 0, 0
    for at, char in enumerate(text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            names.append(text[start:at])
            start = at + 1
    names.append(text[start:])
    return [name.strip() for name in names if name.strip()]


def pass_name(spec: str) -> str:
    """The pass name of a spec (``"split-reductions{parts=8}"`` -> ``"split-reductions"``),
    or the spec itself when it does not parse."""
    match = _SPEC.match(spec)
    return match.group(1) if match else spec.strip()


def parse_pass(spec: str) -> tuple[str, dict[str, int]]:
    """``"split-reductions{parts=8}"`` -> ``("split-reductions", {"parts": 8})``; raises
    :class:`TcompArgumentError` for an unknown kernel pass or an option it does not take."""
    match = _SPEC.match(spec)
    if match is None:
        raise TcompArgumentError(f"cannot read kernel pass {spec!r} (form: name or name{{key=N}})")
    name, body = match.group(1), match.group(2)
    if name not in KERNEL_PASSES:
        raise TcompArgumentError(
            f"unknown kernel pass {name!r}: known kernel passes are {', '.join(KERNEL_PASSES)}"
        )
    taken = _options_of(KERNEL_PASSES[name])
    options: dict[str, int] = {}
    for item in (body or "").split(","):
        if not item.strip():
            continue
        option = _OPTION.match(item)
        if option is None:
            raise TcompArgumentError(f"{spec}: cannot read option {item.strip()!r} (form: key=N)")
        key, value = option.group(1), int(option.group(2))
        if key not in taken:
            known = ", ".join(taken) if taken else "none"
            raise TcompArgumentError(f"{spec}: {name} takes no option {key!r} (options: {known})")
        options[key] = value
    return name, options


def _options_of(function: KernelPass) -> list[str]:
    """The option names of a pass: its parameters after the program."""
    return list(inspect.signature(function).parameters)[1:]


def _names(names: Sequence[str] | str) -> list[str]:
    return split_names(names) if isinstance(names, str) else list(names)


def _parsed(names: list[str]) -> list[tuple[str, str, dict[str, int]]]:
    """(spec, name, options) per pass, all checked before any runs."""
    found = []
    for spec in names:
        if pass_name(spec) == FUSE:
            raise TcompArgumentError(
                f"{FUSE} lowers graph IR to kernel IR: it comes first, in lower(fn, pipeline)"
            )
        found.append((spec, *parse_pass(spec)))
    return found


def _run(program: Program, passes, verify_each: bool) -> Program:
    checks = []
    for spec, name, options in passes:
        program = KERNEL_PASSES[name](program, **options)
        if name in SCHEDULE_CHECKS and SCHEDULE_CHECKS[name] not in checks:
            checks.append(SCHEDULE_CHECKS[name])
        if verify_each:
            verify_program(program, pass_name=spec)
            for check in checks:
                check(program, pass_name=spec)
    return program


def run_kernel_pipeline(
    program: Program, names: Sequence[str] | str, verify_each: bool = False
) -> Program:
    """Runs the named kernel passes in order (``names`` may be one string
    ``"split-reductions{parts=8},plan-memory"``). Every name is checked before any pass
    runs (:class:`TcompArgumentError`). With ``verify_each`` the input is verified, then
    each pass's result, so a :class:`~tcomp.ir.errors.TcompVerifyError` names the pass
    that broke the IR."""
    passes = _parsed(_names(names))
    if verify_each:
        verify_program(program)
    return _run(program, passes, verify_each)


def lower(fn: Function, pipeline: Sequence[str] | str, verify_each: bool = False) -> Program:
    """``fn`` through a kernel pipeline that starts with ``fuse`` (``LLVM_PIPELINE``,
    ``GPU_PIPELINE`` or any other), verified after each step as in
    :func:`run_kernel_pipeline`; the backends' compile entry point."""
    names = _names(pipeline)
    if not names or pass_name(names[0]) != FUSE or names[0].strip() != FUSE:
        raise TcompArgumentError(f"a kernel pipeline starts with {FUSE}: got {', '.join(names)}")
    passes = _parsed(names[1:])
    with deep_recursion(MIN_RECURSION_LIMIT):  # passes and the verifier recurse too
        program = fuse(fn)
        if verify_each:
            verify_program(program, pass_name=FUSE)
        return _run(program, passes, verify_each)


def summary(function: Callable) -> str:
    """The first line of a pass's docstring (what ``tcomp opt --list-passes`` prints)."""
    doc = (function.__doc__ or "").strip().splitlines()
    return doc[0].strip() if doc else ""


__all__ = [
    "FUSE", "GPU_PIPELINE", "KERNEL_PASSES", "LLVM_PIPELINE", "PIPELINES", "KernelPass", "fuse",
    "llvm_pipeline", "lower", "parse_pass", "pass_name", "run_kernel_pipeline", "split_names", "summary",
]
