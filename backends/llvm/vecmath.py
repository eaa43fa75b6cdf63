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

libmvec's results are within 4 ulp of the scalar functions (glibc's
documented bound), with NaN, infinities and overflow handled as libm does.
Names follow the x86 vector ABI: ``_ZGV<isa>N<lanes><v per arg>_<name>``,
isa ``b`` (SSE4), ``d`` (AVX2), ``e`` (AVX-512).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from llvmlite import ir

# intrinsic base name -> (libm name for float, for double, number of arguments)
FUNCTIONS: dict[str, tuple[str, str, int]] = {
    "exp": ("expf", "exp", 1),
    "log": ("logf", "log", 1),
    "sin": ("sinf", "sin", 1),
    "cos": ("cosf", "cos", 1),
    "tanh": ("tanhf", "tanh", 1),
    "pow": ("powf", "pow", 2),
    "sinh": ("sinhf", "sinh", 1),
    "cosh": ("coshf", "cosh", 1),
    "asin": ("asinf", "asin", 1),
    "acos": ("acosf", "acos", 1),
    "atan": ("atanf", "atan", 1),
}
# libm functions without an LLVM intrinsic, called by name: base name -> the same fields
LIBRARY_FUNCTIONS: dict[str, tuple[str, str, int]] = {
    name: (f"{name}f", name, 1) for name in ("erf", "log1p", "expm1", "asinh", "acosh", "atanh")
}
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
