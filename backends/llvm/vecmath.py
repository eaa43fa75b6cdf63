"""Vector variants of libm functions (glibc's libmvec), so loops with exp/log/... vectorise.

LLVM's loop vectoriser widens a call to ``llvm.exp.f32`` only when the call
names a vector variant in its ``vector-function-abi-variant`` attribute
(what clang's ``-fveclib=libmvec`` adds). The runtime finds which variants
this machine has (:func:`available_variants` over the symbols libmvec
exports and the CPU's ISA); the renderer marks each libm intrinsic call with
them (:func:`variant_attribute`) and declares them (:func:`declare_variants`).
Functions LLVM has no intrinsic for (``erf``, ``log1p`` ...: ``LIBRARY_FUNCTIONS``)
are direct calls to libm, declared without side effects, and marked the same way;
their table entries are keyed by the libm name (``erff``) instead of the intrinsic's.
A call without a variant stays a scalar call per element, as correct, only slower.
Both tables come from the kernel op table (``ir/kernel/op_table.py`` ``KERNEL_OPS``):
every op whose C math function libmvec has (:data:`LIBMVEC`), keyed by its LLVM
intrinsic when it has one (``FUNCTIONS``), else by its C name (``LIBRARY_FUNCTIONS``),
so a new math op in the table is vectorised where libmvec can.

libmvec's results are within 4 ulp of the scalar functions (glibc's
documented bound), with NaN, infinities and overflow handled as libm does.
Names follow the x86 vector ABI: ``_ZGV<isa>N<lanes><v per arg>_<name>``,
isa ``b`` (SSE4), ``d`` (AVX2), ``e`` (AVX-512).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from llvmlite import ir

from tcomp.ir.kernel.op_table import KERNEL_OPS

# the libm functions glibc's libmvec has vector variants of (x86_64, glibc 2.35); which
# of them this machine has is found at run time (available_variants)
LIBMVEC = frozenset(
    "acos acosh asin asinh atan atan2 atanh cbrt cos cosh erf erfc exp exp10 exp2 expm1 hypot "
    "log log10 log1p log2 pow sin sinh tan tanh".split()
)


def _libmvec_ops(intrinsic: bool) -> dict[str, tuple[str, str, int]]:
    """The kernel ops whose C math function libmvec has, with an LLVM intrinsic
    (``intrinsic``) or without: called name -> (libm name for float, for double, arity)."""
    table = {}
    for info in KERNEL_OPS.values():
        if info.c_math not in LIBMVEC or (info.llvm_intrinsic is not None) != intrinsic:
            continue
        base = info.llvm_intrinsic if info.llvm_intrinsic is not None else info.c_math
        table[base] = (f"{info.c_math}f", info.c_math, info.arity)
    return table


# intrinsic base name -> (libm name for float, for double, number of arguments)
FUNCTIONS: dict[str, tuple[str, str, int]] = _libmvec_ops(intrinsic=True)
# libm functions without an LLVM intrinsic, called by name: base name -> the same fields
LIBRARY_FUNCTIONS: dict[str, tuple[str, str, int]] = _libmvec_ops(intrinsic=False)
# isa letter -> (LLVM feature it needs, vector bits)
ISAS: dict[str, tuple[str, int]] = {"e": ("avx512f", 512), "d": ("avx2", 256), "b": ("sse4.2", 128)}

# intrinsic name ("llvm.exp.f32") or library function name ("erff") -> [(lanes, vector
# symbol), ...]
VariantTable = Mapping[str, Sequence[tuple[int, str]]]


def candidate_variants(features: Mapping[str, bool]) -> dict[str, list[tuple[int, str]]]:
    """Every libmvec variant the CPU's ``features`` can run, by the called function's name."""
    table: dict[str, list[tuple[int, str]]] = {}
    for functions, intrinsic in ((FUNCTIONS, True), (LIBRARY_FUNCTIONS, False)):
        for base, (float_name, double_name, arity) in functions.items():
            for suffix, libm, bits in (("f32", float_name, 32), ("f64", double_name, 64)):
                callee = f"llvm.{base}.{suffix}" if intrinsic else libm
                for isa, (feature, width) in ISAS.items():
                    if not features.get(feature, False):
                        continue
                    lanes = width // bits
                    symbol = f"_ZGV{isa}N{lanes}{'v' * arity}_{libm}"
                    table.setdefault(callee, []).append((lanes, symbol))
    return table


def available_variants(
    features: Mapping[str, bool], has_symbol: Callable[[str], bool]
) -> dict[str, list[tuple[int, str]]]:
    """The candidate variants whose symbol ``has_symbol`` finds (in the loaded libmvec)."""
    table = {}
    for name, variants in candidate_variants(features).items():
        found = [(lanes, symbol) for lanes, symbol in variants if has_symbol(symbol)]
        if found:
            table[name] = found
    return table


def variant_attribute(callee: str, arity: int, variants: Sequence[tuple[int, str]]) -> str:
    """The ``"vector-function-abi-variant"="..."`` attribute for a call of ``callee`` (an
    intrinsic's name or a library function's)."""
    mangled = ",".join(
        f"_ZGV_LLVM_N{lanes}{'v' * arity}_{callee}({symbol})" for lanes, symbol in variants
    )
    return f'"vector-function-abi-variant"="{mangled}"'


def declare_variants(
    module: ir.Module, scalar: ir.Type, arity: int, variants: Sequence[tuple[int, str]]
) -> list[ir.Function]:
    """Declares the vector functions in ``module`` (once each) and returns them."""
    declared = []
    for lanes, symbol in variants:
        function = module.globals.get(symbol)
        if function is None:
            vector = ir.VectorType(scalar, lanes)
            function = ir.Function(module, ir.FunctionType(vector, [vector] * arity), name=symbol)
        declared.append(function)
    return declared


def keep_declarations(module: ir.Module) -> None:
    """Lists the declared vector functions in ``llvm.compiler.used`` so that no pass
    drops them before the vectoriser looks for them."""
    used = [g for name, g in module.globals.items() if name.startswith("_ZGV")]
    if not used:
        return
    ptr = ir.PointerType()
    ty = ir.ArrayType(ptr, len(used))
    variable = ir.GlobalVariable(module, ty, name="llvm.compiler.used")
    variable.linkage = "appending"
    variable.section = "llvm.metadata"
    variable.initializer = ir.Constant(ty, [g for g in used])
