"""Small inline C helpers that give C the kernel interpreter's (numpy's) semantics.

A program's source starts with the helpers its expressions use, e.g.
(CUDA, float32)::

    static __device__ __forceinline__ float tc_max_f32(float a, float b) {
      return (a >= b || isnan(a)) ? a : b;  /* np.maximum */
    }

Helpers are keyed by ``(kind, dtype)`` and written once per program, in a
fixed order, so rendered sources are deterministic.
"""

from __future__ import annotations

from tcomp.backends.cfamily.dialect import Dialect
from tcomp.backends.cfamily.threefry import KIND as THREEFRY
from tcomp.backends.cfamily.threefry import render_threefry

SUFFIX = {
    "float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64", "int32": "i32",
    "index": "i64", "bool": "b",
}

HELPER_KINDS = (
    "from_f16", "to_f16", "round_f16", "round_f16_f64", "from_bf16", "to_bf16", "round_bf16",
    "round_bf16_f64", "round_bf16_int",
    "max", "min", "sign", "logistic", "tanh", "neg", "abs", "floordiv", "mod", "div", "to_i32", "to_i64",
    "shl", "shr", "pow", "threefry2x32",
)
HALF_HELPERS = ("from_f16", "to_f16", "round_f16")  # keyed with dtype float16
BF16_HELPERS = ("from_bf16", "to_bf16", "round_bf16")  # keyed with dtype bfloat16
# double and integer (int32, index) values rounded once to bfloat16; keyed with bfloat16
BF16_ROUNDINGS = ("round_bf16_f64", "round_bf16_int")
# double values rounded once to float16; keyed with float16. (Integers need no helper:
# (float)i is exact below 2**24 and rounds i >= 2**24 to a float >= 2**24, and every
# value from 65520 on is float16 inf, so (float)i then tc_round_f16 rounds once.)
F16_ROUNDINGS = ("round_f16_f64",)
HALF_TYPES = ("float16", "bfloat16")  # 16 bits in memory, float in registers
# per 16-bit float: its (from bits, to bits, round) helpers
CONVERSIONS = {"float16": HALF_HELPERS, "bfloat16": BF16_HELPERS}


def c_type(dtype: str, dialect: Dialect) -> str:
    """The C type of a register value of ``dtype`` (float16 and bfloat16 compute in
    float: each operation's result is rounded to the 16-bit format, as numpy's float16
    arithmetic and ml_dtypes' bfloat16 arithmetic are). int8 is ``char`` / ``signed
    char``, uint8 ``uchar`` / ``unsigned char``, uint32 ``uint`` / ``unsigned int``,
    int64 ``long`` / ``long long`` (OpenCL / CUDA)."""
    types = {
        "float16": "float", "bfloat16": "float", "float32": "float", "float64": "double",
        "int32": "int", "bool": "bool", "int8": dialect.signed_byte_type,
        "uint8": dialect.byte_type, "uint32": dialect.uint_type,
    }
    return dialect.index_type if dtype in ("index", "int64") else types[dtype]


def c_name(name: str) -> str:
    """``name`` with every character C does not allow in an identifier replaced by ``_``."""
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "program"
    return cleaned if not cleaned[0].isdigit() else f"_{cleaned}"


def bare(text: str) -> str:
    """``text`` without one pair of parentheses that wraps all of it."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for position, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and position < len(text) - 1:
            return text
    return text[1:-1]


def helper_name(kind: str, dtype: str) -> str:
    named = HALF_HELPERS + F16_ROUNDINGS + BF16_HELPERS + BF16_ROUNDINGS  # no dtype suffix
    return f"tc_{kind}" if kind in named else f"tc_{kind}_{SUFFIX[dtype]}"


def _unsigned(dtype: str, dialect: Dialect) -> str:
    return "unsigned int" if dtype == "int32" else dialect.unsigned_index_type


def _tanh_limit(dtype: str) -> str:
    """The C literal of ``|x|`` from which the ``tanh`` helper returns +-1 itself."""
    return "20.0" if dtype == "float64" else "10.0f"


def _bits(dtype: str) -> int:
    """The width of a computing integer type: 32 for int32, 64 for index (and int64)."""
    return 32 if dtype == "int32" else 64


def memory_type(dtype: str, dialect: Dialect) -> str:
    """The C type of one element of a ``dtype`` buffer (bool as a byte, float16 and
    bfloat16 as their bits)."""
    if dtype == "bool":
        return dialect.byte_type
    if dtype in HALF_TYPES:
        return dialect.half_type
    return c_type(dtype, dialect)


def render_half_helper(kind: str, dialect: Dialect) -> str:
    """float16 <-> float conversions in plain integer C (IEEE half, round to nearest even),
    so no dialect needs a half type or extension."""
    head = f"{dialect.helper_prefix} "
    u, h = dialect.uint_type, dialect.half_type
    bits, real = dialect.float_as_uint, dialect.uint_as_float
    if kind == "from_f16":
        return (
            f"{head}float tc_from_f16({h} v) {{\n"
            f"  {u} sign = (({u})v & 0x8000u) << 16, exponent = (v >> 10) & 0x1fu, mantissa = v & 0x3ffu;\n"
            "  if (exponent == 0) {  /* zero and subnormals: mantissa * 2^-24, exact */\n"
            "    float magnitude = (float)mantissa * 5.9604644775390625e-8f;\n"
            "    return sign ? -magnitude : magnitude;\n"
            "  }\n"
            f"  if (exponent == 31) return {real}(sign | 0x7f800000u | (mantissa << 13));\n"
            f"  return {real}(sign | ((exponent + 112u) << 23) | (mantissa << 13));\n"
            "}\n"
        )
    if kind == "to_f16":
        return (
            f"{head}{h} tc_to_f16(float f) {{\n"
            f"  {u} x = {bits}(f);\n"
            f"  {u} sign = (x >> 16) & 0x8000u, mantissa = x & 0x7fffffu;\n"
            "  int exponent = (int)((x >> 23) & 0xffu) - 112;  /* rebased for half */\n"
            "  if (exponent == 143) {  /* inf, or NaN keeping its top payload bits (as numpy) */\n"
            f"    {u} top = mantissa >> 13;\n"
            f"    return ({h})(sign | 0x7c00u | (mantissa && !top ? 1u : top));\n"
            "  }\n"
            f"  if (exponent >= 31) return ({h})(sign | 0x7c00u);  /* overflow: inf */\n"
            "  if (exponent <= 0) {  /* a half subnormal, or zero */\n"
            f"    if (exponent < -10) return ({h})sign;\n"
            "    mantissa |= 0x800000u;\n"
            f"    {u} shift = (({u})(14 - exponent)), value = mantissa >> shift;\n"
            f"    {u} rest = mantissa & ((1u << shift) - 1u), tie = 1u << (shift - 1u);\n"
            "    if (rest > tie || (rest == tie && (value & 1u))) value += 1u;\n"
            f"    return ({h})(sign | value);\n"
            "  }\n"
            f"  {u} result = sign | (({u})exponent << 10) | (mantissa >> 13), rest = mantissa & 0x1fffu;\n"
            "  if (rest > 0x1000u || (rest == 0x1000u && (result & 1u))) result += 1u;  /* may carry to inf */\n"
            f"  return ({h})result;\n"
            "}\n"
        )
    return (  # round_f16: a float rounded to the nearest half, kept as a float
        f"{head}float tc_round_f16(float f) {{\n  return tc_from_f16(tc_to_f16(f));\n}}\n"
    )


def render_bf16_helper(kind: str, dialect: Dialect) -> str:
    """bfloat16 <-> float conversions in integer C: a bfloat16 is the upper half of a
    float's bits; rounding is to nearest, ties to even (carrying into inf on overflow),
    and a NaN becomes the quiet NaN of its sign, tcomp's rule (:mod:`tcomp.ir.bfloat16`).
    Doubles and integers are rounded once too (:data:`BF16_ROUNDINGS`)."""
    if kind in BF16_ROUNDINGS:
        return _render_bf16_rounding(kind, dialect)
    head = f"{dialect.helper_prefix} "
    u, h = dialect.uint_type, dialect.half_type
    bits, real = dialect.float_as_uint, dialect.uint_as_float
    if kind == "from_bf16":
        return f"{head}float tc_from_bf16({h} v) {{\n  return {real}(({u})v << 16);  /* exact */\n}}\n"
    if kind == "to_bf16":
        return (
            f"{head}{h} tc_to_bf16(float f) {{\n"
            f"  {u} x = {bits}(f);\n"
            f"  if ((x & 0x7fffffffu) > 0x7f800000u) return ({h})(((x >> 16) & 0x8000u) | 0x7fc0u);  /* NaN */\n"
            f"  return ({h})((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);  /* nearest even; may carry to inf */\n"
            "}\n"
        )
    return (  # round_bf16: a float rounded to the nearest bfloat16, kept as a float
        f"{head}float tc_round_bf16(float f) {{\n  return tc_from_bf16(tc_to_bf16(f));\n}}\n"
    )


def _render_bf16_rounding(kind: str, dialect: Dialect) -> str:
    """A double (``round_bf16_f64``) or a 64-bit integer (``round_bf16_int``) rounded once
    to the nearest bfloat16, as a float (through ``tc_round_bf16``).

    A double goes to float with round-to-odd: toward zero, the last bit set when
    inexact. float's 24 bits keep bfloat16's 8, its rounding bit and a sticky bit, so
    the float's rounding to bfloat16 is the double's. An integer of 2**24 or more has
    its bits below bit ``k`` (the float's exponent - 23) ORed into bit ``k``: the sticky
    bit stays below bfloat16's rounding bit and the float conversion is exact (no double
    needed, so no fp64 extension)."""
    if kind == "round_bf16_f64":
        return _render_f64_rounding("bf16", dialect)
    head = f"{dialect.helper_prefix} "
    u, bits = dialect.uint_type, dialect.float_as_uint
    ul, il = dialect.unsigned_index_type, dialect.index_type
    return (
        f"{head}float tc_round_bf16_int({il} v) {{\n"
        f"  {ul} u = v < 0 ? ({ul})0 - ({ul})v : ({ul})v;\n"
        f"  if (u >= ({ul})0x1000000) {{  /* fold the bits below k into bit k (sticky) */\n"
        f"    {u} k = (({bits}((float)u) >> 23) & 0xffu) - 150u;  /* exponent - 23 */\n"
        f"    {ul} low = u & ((({ul})1 << k) - ({ul})1);\n"
        f"    u = (u - low) | (({ul})(low != 0) << k);\n"
        "  }\n"
        "  float f = (float)u;  /* exact: at most 24 significant bits */\n"
        "  return tc_round_bf16(v < 0 ? -f : f);\n"
        "}\n"
    )


def _render_f64_rounding(suffix: str, dialect: Dialect) -> str:
    """``tc_round_<suffix>_f64``: a double rounded once to the nearest float16 (``f16``)
    or bfloat16 (``bf16``), as a float (through ``tc_round_<suffix>``).

    The double goes to float with round-to-odd: toward zero, the last bit set when
    inexact. float's 24 bits keep the 11 (float16) or 8 (bfloat16) significant bits,
    the rounding bit and a sticky bit, and its exponent range covers float16's
    subnormals (2**-24) and bfloat16's, so the float's rounding is the double's
    (``(float)d`` alone would round twice: 1 + 2**-11 + 2**-40 would tie to 1.0).
    Beyond float's range the toward-zero step gives the largest float, which both
    formats round to inf, as the double does."""
    head = f"{dialect.helper_prefix} "
    u, bits, real = dialect.uint_type, dialect.float_as_uint, dialect.uint_as_float
    fabs = dialect.math("fabs", "float64")
    return (
        f"{head}float tc_round_{suffix}_f64(double d) {{\n"
        "  float f = (float)d;  /* nearest; then round-to-odd, NaN and exact values kept */\n"
        "  if (d == d && (double)f != d) {\n"
        f"    {u} x = {bits}(f);\n"
        f"    if ({fabs}((double)f) > {fabs}(d)) x -= 1u;  /* toward zero (inf -> max float) */\n"
        f"    f = {real}(x | 1u);  /* the sticky bit */\n"
        "  }\n"
        f"  return tc_round_{suffix}(f);\n"
        "}\n"
    )


def render_helper(kind: str, dtype: str, dialect: Dialect) -> str:
    """The C definition of helper ``kind`` on ``dtype`` (see :data:`HELPER_KINDS`)."""
    if kind in HALF_HELPERS:
        return render_half_helper(kind, dialect)
    if kind in F16_ROUNDINGS:
        return _render_f64_rounding("f16", dialect)
    if kind in BF16_HELPERS + BF16_ROUNDINGS:
        return render_bf16_helper(kind, dialect)
    if kind == THREEFRY:
        return render_threefry(dialect)
    t = c_type(dtype, dialect)
    name = helper_name(kind, dtype)
    head = f"{dialect.helper_prefix} "
    if kind in ("to_i32", "to_i64"):
        # float -> int as numpy on x86: truncate in range, INT_MIN for NaN and out of range
        target = "int32" if kind == "to_i32" else "index"
        r = c_type(target, dialect)
        bits = 31 if target == "int32" else 63
        lit = "f" if dtype == "float32" else ""
        limit = f"{float(2 ** bits)!r}{lit}"
        return (
            f"{head}{r} {name}({t} x) {{\n"
            f"  return (x >= -{limit} && x < {limit}) ? ({r})x : (-({r}){2 ** bits - 1} - 1);\n"
            "}\n"
        )
    if kind in ("floordiv", "mod") and dtype in ("float32", "float64"):
        return f"{head}{t} {name}({_float_division_body(kind, dtype, dialect)}}}\n"
    if kind in ("max", "min") and dtype not in ("float32", "float64"):
        cmp = ">" if kind == "max" else "<"
        return f"{head}{t} {name}({t} a, {t} b) {{\n  return a {cmp} b ? a : b;\n}}\n"
    one = f"({t})1"
    zero = f"({t})0"
    u = _unsigned(dtype, dialect) if dtype in ("int32", "index") else ""
    # unsigned literals: the shift width and 1 (int32 as ever; 64-bit ones cast)
    width = "32u" if dtype == "int32" else f"({u})64"
    unsigned_one = "1u" if dtype == "int32" else f"({u})1"
    body = {
        "max": f"{t} a, {t} b) {{\n  return (a >= b || isnan(a)) ? a : b;  /* np.maximum */\n",
        "min": f"{t} a, {t} b) {{\n  return (a <= b || isnan(a)) ? a : b;  /* np.minimum */\n",
        "sign": (
            f"{t} x) {{\n  /* NaN stays NaN, -0.0 -> 0.0 */\n"
            f"  return x > {zero} ? {one} : (x < {zero} ? -{one} : (x == {zero} ? {zero} : x));\n"
        ),
        # numpy's float32 tanh is exactly +-1 from |x| = 10 on (float64: from about 19.1), but
        # an OpenCL tanh may stop at 1 - 2**-24 (PoCL's does, even at 1e6), and 1 - tanh**2
        # then stays 1.2e-7 where it should be 0: tanh's and the tanh GELU's gradients went
        # wrong by up to 0.4 at large |x|. Past the limit the helper gives +-1 itself.
        "tanh": (
            f"{t} x) {{\n  /* +-1 from |x| >= {_tanh_limit(dtype)}, as numpy; NaN stays NaN */\n"
            f"  return {dialect.math('fabs', dtype)}(x) >= {_tanh_limit(dtype)} ? "
            f"{dialect.math('copysign', dtype)}({one}, x) : {dialect.math('tanh', dtype)}(x);\n"
        ),
        "logistic": (
            f"{t} x) {{\n  {t} z = {dialect.math('exp', dtype)}(-{dialect.math('fabs', dtype)}(x));\n"
            f"  return (x >= {zero} ? {one} : z) / ({one} + z);\n"
        ),
        "neg": f"{t} x) {{\n  return ({t})(0 - ({_unsigned(dtype, dialect)})x);  /* wraps */\n",
        "abs": f"{t} x) {{\n  return x < 0 ? ({t})(0 - ({_unsigned(dtype, dialect)})x) : x;\n",
        "floordiv": (
            f"{t} a, {t} b) {{\n  /* floors as Python; x // 0 = 0 as numpy; never traps */\n"
            f"  if (b == 0) return 0;\n"
            f"  if (b == -1) return ({t})(0 - ({_unsigned(dtype, dialect)})a);\n"
            f"  {t} q = a / b, r = a % b;\n"
            "  return (r != 0 && ((r ^ b) < 0)) ? q - 1 : q;\n"
        ),
        "mod": (
            f"{t} a, {t} b) {{\n  /* the sign of b, as Python; x % 0 = 0 as numpy */\n"
            "  if (b == 0 || b == -1) return 0;\n"
            f"  {t} r = a % b;\n"
            "  return (r != 0 && ((r ^ b) < 0)) ? r + b : r;\n"
        ),
        # numpy's shifts for every amount (ir/primitives/bitwise.py): C's are undefined for
        # amounts >= 32 or < 0 (unsigned, those are >= 32), and for a negative a << b
        "shl": (
            f"{t} a, {t} b) {{\n  /* numpy's: 0 for amounts outside 0..{_bits(dtype) - 1}; wraps */\n"
            f"  return (({u})b < {width}) ? ({t})(({u})a << b) : 0;\n"
        ),
        "shr": (
            f"{t} a, {t} b) {{\n  /* numpy's: the sign fills; a >> {_bits(dtype) - 1} outside 0..{_bits(dtype) - 1} */\n"
            f"  return a >> ((({u})b < {width}) ? b : {_bits(dtype) - 1});\n"
        ),
        # int32 pow, exact (ir/primitives/elementwise.py integer_power): binary
        # exponentiation in unsigned arithmetic, which wraps as numpy's does
        "pow": (
            f"{t} a, {t} b) {{\n  /* exact, wrapping; b < 0: 1 / a**-b truncated toward 0 */\n"
            "  if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);\n"
            f"  {u} r = {unsigned_one}, p = ({u})a;\n"
            "  for (; b != 0; b >>= 1) {\n"
            "    if (b & 1) r *= p;\n"
            "    p *= p;\n"
            "  }\n"
            f"  return ({t})r;\n"
        ),
        "div": (
            f"{t} a, {t} b) {{\n  /* truncating; x / 0 = 0 */\n"
            "  if (b == 0) return 0;\n"
            f"  if (b == -1) return ({t})(0 - ({_unsigned(dtype, dialect)})a);\n"
            "  return a / b;\n"
        ),
    }[kind]
    return f"{head}{t} {name}({body}}}\n"


def _float_division_body(kind: str, dtype: str, dialect: Dialect) -> str:
    """numpy's floor_divide (``floordiv``) or remainder (``mod``) of floats: its
    ``npy_divmod`` as ``ir/primitives/elementwise.py`` states it (``!=`` is true for
    NaN, ``<`` and ``>`` false, as there)."""
    t = c_type(dtype, dialect)
    fmod, floor, copysign = (dialect.math(f, dtype) for f in ("fmod", "floor", "copysign"))
    zero, one, half = f"({t})0", f"({t})1", "0.5f" if dtype == "float32" else "0.5"
    if kind == "mod":
        return (
            f"{t} a, {t} b) {{\n  /* numpy's remainder: fmod moved to b's sign */\n"
            f"  {t} mod = {fmod}(a, b);  /* NaN for b == 0, kept */\n"
            f"  if (mod == {zero}) return {copysign}({zero}, b);\n"
            f"  return ((b < {zero}) != (mod < {zero})) ? mod + b : mod;\n"
        )
    return (
        f"{t} a, {t} b) {{\n  /* numpy's floor_divide: (a - fmod(a, b)) / b, corrected */\n"
        f"  {t} mod = {fmod}(a, b), div, floored;\n"
        f"  if (b == {zero}) return a / b;\n"
        f"  div = (a - mod) / b;\n"
        f"  if (mod != {zero} && ((b < {zero}) != (mod < {zero}))) div -= {one};\n"
        f"  if (div == {zero}) return {copysign}({zero}, a / b);\n"
        f"  floored = {floor}(div);  /* snapped to the nearest integer */\n"
        f"  return (div - floored > {half}) ? floored + {one} : floored;\n"
    )


def render_helpers(used: set[tuple[str, str]], dialect: Dialect) -> str:
    """The definitions of the ``(kind, dtype)`` helpers in ``used``, in a fixed order."""
    used = set(used)
    if any((kind, "bfloat16") in used for kind in BF16_ROUNDINGS):
        used.add(("round_bf16", "bfloat16"))  # they finish with it
    if ("round_f16_f64", "float16") in used:
        used.add(("round_f16", "float16"))  # it finishes with it
    for dtype, (from_bits, to_bits, rounding) in CONVERSIONS.items():
        if (rounding, dtype) in used:
            used |= {(from_bits, dtype), (to_bits, dtype)}  # the rounding calls both
    order = {kind: n for n, kind in enumerate(HELPER_KINDS)}
    dtypes = list(SUFFIX)
    ordered = sorted(used, key=lambda kd: (order[kd[0]], dtypes.index(kd[1])))
    return "".join(render_helper(kind, dtype, dialect) for kind, dtype in ordered)
