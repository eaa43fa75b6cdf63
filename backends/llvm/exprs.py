"""Kernel-IR scalar expressions rendered as LLVM IR (llvmlite.ir only).

Types: ``float16/32/64`` are ``half/float/double``, ``int8``/``uint8`` are ``i8``,
``int32``/``uint32`` ``i32``, ``int64`` and ``index`` ``i64`` (integer casts:
:mod:`tcomp.backends.llvm.int_casts`), ``bool`` is ``i1`` in registers and ``i8`` in memory,
``bfloat16`` is ``float`` in registers (always a value bfloat16 can hold) and
``i16`` in memory (the upper half of the float bits; see
:mod:`tcomp.backends.llvm.halves`).

Semantics follow the numpy references that the kernel interpreter uses:

- float16 arithmetic is computed in float and rounded back to half after
  every elementary operation (numpy's half loops do the same);
- bfloat16 arithmetic likewise: computed in float, rounded to bfloat16
  (nearest, ties to even, NaN to the quiet NaN of its sign) after every
  elementary operation, as the reference executor does;
  ``Select`` and comparisons are exact on the float values;
- bfloat16 casts: to float32 exact, to float64 ``fpext``, to float16 one
  ``fptrunc``; to bfloat16 one rounding from the exact value (tcomp's rule,
  :mod:`tcomp.ir.bfloat16`): from float32 directly, from float16 and bool
  through float (exact), from float64 through a round-to-odd float (see
  :mod:`tcomp.backends.llvm.halves`), from int32 and index through float64
  (exact) likewise; to int32 as from float; to bool ``!= 0`` (NaN is true);
- ``max``/``min`` are ``llvm.maximum``/``llvm.minimum`` (NaN propagates as in
  ``np.maximum``); ``sign`` keeps NaN and maps -0.0 to 0.0;
- integer ``floordiv``/``mod`` floor as Python does, give 0 for a zero
  divisor (as numpy does) and never trap on ``INT_MIN // -1`` (it wraps);
  float ``floordiv``/``mod`` are numpy's ``npy_divmod`` step by step
  (``frem`` for fmod, ``llvm.floor``, ``llvm.copysign``; see
  ``ir/primitives/elementwise.py``), so they equal numpy's bit for bit;
- int32 ``pow`` is exact (:mod:`tcomp.backends.llvm.int_power`), float ``pow`` libm's;
- float -> int32/int64 gives numpy's x86 result: truncation in range, ``INT_MIN``
  for NaN and out-of-range values (``llvm.fptosi.sat`` plus a select, so
  never poison); to int8/uint8 through int32, to uint32 through int64 (wrapping);
- ``Select`` and ``and``/``or`` evaluate both sides with one ``select`` when
  every load inside them is provably in range; otherwise they branch, so a
  guarded load is never executed speculatively.

Calls to libm intrinsics carry their libmvec vector variants when the
runtime found any (see :mod:`tcomp.backends.llvm.vecmath`); float32 ``exp``
(and so ``logistic``) and ``tanh`` are inline IR instead
(:mod:`tcomp.backends.llvm.inline_math`). The other C math functions (``floor``
... ``erf`` ... ``atan``) and the bitwise ops and shifts (numpy's for every shift
amount) are :mod:`tcomp.backends.llvm.scalar_ops`; ``Call`` (Threefry) :mod:`~.threefry`.
Each ``Unary`` and ``Binary`` op's code is found in ``UNARY_CODE`` / ``BINARY_CODE`` of
:mod:`tcomp.backends.llvm.op_code`, keyed like :data:`tcomp.ir.kernel.op_table.KERNEL_OPS`.

No fast-math flags are used here except ``reassoc`` on accumulator updates
(see :mod:`tcomp.backends.llvm.stmts`); NaN and infinity behave as in IEEE.
"""

from __future__ import annotations

from typing import Callable

from llvmlite import ir

from tcomp.backends.llvm.halves import (
    I16,
    arithmetic_operand,
    bfloat16_constant,
    canonical_nan,
    exact_on_bfloat16,
    load_bfloat16,
    round_arithmetic_to_bfloat16,
    round_to_bfloat16,
    store_bfloat16,
)
from tcomp.backends.llvm.int_casts import float_to_int, int_to_float, int_to_int
from tcomp.backends.llvm.op_code import BINARY_CODE, UNARY_CODE
from tcomp.backends.llvm.threefry import render_call
from tcomp.backends.llvm.vecmath import VariantTable, declare_variants, variant_attribute
from tcomp.ir.errors import TcompBackendError
from tcomp.ir.kernel.expr import (
    INDEX,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Number,
    Select,
    Unary,
    Var,
    value_range,
    walk,
)

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F16 = ir.HalfType()
F32 = ir.FloatType()
F64 = ir.DoubleType()
PTR = ir.PointerType()

_REGISTER_TYPES: dict[str, ir.Type] = {
    "float16": F16,
    "float32": F32,
    "float64": F64,
    "bfloat16": F32,  # a bfloat16 value in a float (i16 in memory)
    "int8": I8,
    "uint8": I8,
    "int32": I32,
    "uint32": I32,
    "int64": I64,
    "bool": I1,
    INDEX: I64,
}
FLOATS = ("float16", "bfloat16", "float32", "float64")
_MEMORY_TYPES: dict[str, ir.Type] = {"bool": I8, "bfloat16": I16}


def _unsupported(what: str) -> TcompBackendError:
    """An op/type pair the kernel-IR verifier rejects and lowering never emits."""
    return TcompBackendError(f"llvm backend: no rendering for {what} (a tcomp bug: please report)")


def register_type(dtype: str) -> ir.Type:
    """The LLVM type of a value of ``dtype`` in a register."""
    return _REGISTER_TYPES[dtype]


def memory_type(dtype: str) -> ir.Type:
    """The LLVM type of an element of ``dtype`` in a buffer (bool is one byte,
    bfloat16 an ``i16``)."""
    return _MEMORY_TYPES.get(dtype) or _REGISTER_TYPES[dtype]


def constant(value: Number, dtype: str) -> ir.Constant:
    """An LLVM constant of ``dtype`` (floats rounded to the type, as numpy does)."""
    if dtype == "bool":
        return ir.Constant(I1, int(bool(value)))
    if dtype == "bfloat16":
        return bfloat16_constant(value)
    if dtype in FLOATS:
        return ir.Constant(register_type(dtype), float(value))  # llvmlite rounds to the type
    bits = register_type(dtype).width
    wrapped = int(value) & ((1 << bits) - 1)
    return ir.Constant(register_type(dtype), wrapped)


def intrinsic(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    """The declaration of ``name`` in ``module`` (declared on first use)."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ir.Function(module, ir.FunctionType(ret, args), name=name)


def _suffix(ty: ir.Type) -> str:
    return {F16: "f16", F32: "f32", F64: "f64", I8: "i8", I32: "i32", I64: "i64", I1: "i1"}[ty]


class ExprRenderer:
    """Renders expressions at a builder's position.

    ``pointers`` maps buffer names to ``(pointer, dtype, size)``; ``scope``
    maps variable names to SSA values (loop variables) or allocas (locals).
    ``cache`` holds values already computed in the current statement;
    :meth:`fresh` starts a new one (loads must not outlive a store).
    """

    def __init__(
        self,
        builder: ir.IRBuilder,
        pointers: dict[str, tuple[ir.Value, str, int]],
        scope: dict[str, tuple[ir.Value, bool]],
        vector_functions: VariantTable | None = None,
    ) -> None:
        self.builder = builder
        self.module = builder.module
        self.pointers = pointers
        self.scope = scope
        self.vector_functions = vector_functions or {}
        self.cache: dict[Expr, ir.Value] = {}

    def fresh(self) -> None:
        """Forgets cached values (call before each statement)."""
        self.cache = {}

    # -- entry point ----------------------------------------------------------

    def render(self, expr: Expr) -> ir.Value:
        """The value of ``expr`` (in its register type)."""
        found = self.cache.get(expr)
        if found is not None:
            return found
        value = self._render(expr)
        self.cache[expr] = value
        return value

    def _render(self, expr: Expr) -> ir.Value:
        b = self.builder
        if isinstance(expr, Const):
            return constant(expr.value, expr.dtype)
        if isinstance(expr, Var):
            value, is_slot = self.scope[expr.name]
            return b.load(value, typ=register_type(expr.dtype)) if is_slot else value
        if isinstance(expr, Load):
            return self.load(expr.buffer, self.render(expr.index), expr.dtype)
        if isinstance(expr, Select):
            return self._select(expr)
        if isinstance(expr, Cast):
            return self.cast(self.render(expr.x), expr.x.dtype, expr.dtype)
        if isinstance(expr, Unary):
            return self._unary(expr.op, self.render(expr.x), expr.x.dtype)
        if isinstance(expr, Binary):
            if expr.op in ("and", "or"):
                return self._logical(expr)
            return self.binary(expr.op, self.render(expr.a), self.render(expr.b), expr.a.dtype)
        return render_call(self, expr)  # Call nodes (threefry2x32); raises for others

    # -- memory ---------------------------------------------------------------

    def address(self, buffer: str, index: ir.Value) -> ir.Value:
        pointer, dtype, _ = self.pointers[buffer]
        return self.builder.gep(pointer, [index], inbounds=True, source_etype=memory_type(dtype))

    def load(self, buffer: str, index: ir.Value, dtype: str) -> ir.Value:
        """Element ``index`` of ``buffer`` as a register value."""
        value = self.builder.load(self.address(buffer, index), typ=memory_type(dtype))
        return from_memory(self.builder, value, dtype)

    def store(self, buffer: str, index: ir.Value, value: ir.Value, dtype: str) -> None:
        """Writes a register value to element ``index`` of ``buffer``."""
        self.builder.store(to_memory(self.builder, value, dtype), self.address(buffer, index))

    # -- speculation ----------------------------------------------------------

    def speculatable(self, expr: Expr) -> bool:
        """True when evaluating ``expr`` eagerly cannot load out of bounds."""
        for node in walk(expr):
            if isinstance(node, Load):
                lo, hi = value_range(node.index)
                if lo < 0 or hi >= self.pointers[node.buffer][2]:
                    return False
        return True

    def _branch(self, cond: ir.Value, then: Callable[[], ir.Value], other: Callable[[], ir.Value]):
        """``then()`` if ``cond`` else ``other()``, each computed only on its own path."""
        b = self.builder
        saved = self.cache
        with b.if_else(cond) as (on_true, on_false):
            with on_true:
                self.cache = dict(saved)
                value_true = then()
                block_true = b.block
            with on_false:
                self.cache = dict(saved)
                value_false = other()
                block_false = b.block
        self.cache = saved
        phi = b.phi(value_true.type)
        phi.add_incoming(value_true, block_true)
        phi.add_incoming(value_false, block_false)
        return phi

    def _select(self, expr: Select) -> ir.Value:
        cond = self.render(expr.cond)
        if self.speculatable(expr.a) and self.speculatable(expr.b):
            return self.builder.select(cond, self.render(expr.a), self.render(expr.b))
        return self._branch(cond, lambda: self.render(expr.a), lambda: self.render(expr.b))

    def _logical(self, expr: Binary) -> ir.Value:
        a = self.render(expr.a)
        if self.speculatable(expr.b):
            return self.binary(expr.op, a, self.render(expr.b), "bool")
        false, true = ir.Constant(I1, 0), ir.Constant(I1, 1)
        if expr.op == "and":
            return self._branch(a, lambda: self.render(expr.b), lambda: false)
        return self._branch(a, lambda: true, lambda: self.render(expr.b))

    # -- float16/bfloat16 helper ----------------------------------------------

    def _in_float(self, dtype: str, values: list[ir.Value], fn) -> ir.Value:
        """``fn`` on ``values``, computed in float and rounded back for float16 and
        bfloat16 (whose register values are floats already)."""
        if dtype == "bfloat16":
            values = [arithmetic_operand(self.builder, v) for v in values]  # see halves.py
            result = fn(values, "float32")
            if exact_on_bfloat16(result, values):  # max, min, abs, neg: only NaNs change
                return canonical_nan(self.builder, result)
            arithmetic = round_arithmetic_to_bfloat16(self.builder, result, values)
            if arithmetic is not None:  # add, sub, mul, div: a shorter rounding
                return arithmetic
            return round_to_bfloat16(self.builder, result)
        if dtype != "float16":
            return fn(values, dtype)
        wide = [self.builder.fpext(v, F32) for v in values]
        return self.builder.fptrunc(fn(wide, "float32"), F16)

    def _call(self, name: str, ty: ir.Type, args: list[ir.Value]) -> ir.Value:
        full = f"llvm.{name}.{_suffix(ty)}"
        call = self.builder.call(intrinsic(self.module, full, ty, [ty] * len(args)), args)
        variants = self.vector_functions.get(full)
        if variants:
            declare_variants(self.module, ty, len(args), variants)
            # llvmlite knows no string attributes: add it to the set directly
            set.add(call.attributes, variant_attribute(full, len(args), variants))
        return call

    # -- unary and binary: through UNARY_CODE / BINARY_CODE (op_code.py) -------

    def _unary(self, op: str, x: ir.Value, dtype: str) -> ir.Value:
        code = UNARY_CODE.get(op)
        if code is None:
            raise _unsupported(f"unary {op} on {dtype}")
        return code(self, op, x, dtype)

    def binary(self, op: str, a: ir.Value, c: ir.Value, dtype: str) -> ir.Value:
        """``op(a, c)`` where both operands have ``dtype``; ``flags`` on float arithmetic."""
        return self.binary_flags(op, a, c, dtype, ())

    def binary_flags(
        self, op: str, a: ir.Value, c: ir.Value, dtype: str, flags: tuple[str, ...]
    ) -> ir.Value:
        """As :meth:`binary`, with fast-math ``flags`` on float add/mul (accumulators)."""
        code = BINARY_CODE.get(op)
        if code is None:
            raise _unsupported(f"{op} on {dtype}")
        return code(self, op, a, c, dtype, flags)

    # -- casts ----------------------------------------------------------------

    def cast(self, x: ir.Value, source: str, target: str) -> ir.Value:
        """``x`` converted from ``source`` to ``target`` as numpy's ``astype`` does."""
        b = self.builder
        if source == target:
            return x
        ty = register_type(target)
        if target == "bool":
            if source in FLOATS:
                return b.fcmp_unordered("!=", x, ir.Constant(x.type, 0.0))  # NaN -> True
            return b.icmp_signed("!=", x, ir.Constant(x.type, 0))
        if "bfloat16" in (source, target):
            return self._bfloat16_cast(x, source, target)
        if source in FLOATS and target in FLOATS:
            if source == "float64" and target == "float16":
                return b.fptrunc(self._round_to_odd_float(x), F16)
            widths = {"float16": 16, "float32": 32, "float64": 64}
            return b.fpext(x, ty) if widths[target] > widths[source] else b.fptrunc(x, ty)
        if target in FLOATS:
            if target == "float16":
                # via float: ints that float rounds are far beyond half's range (inf either way)
                return b.fptrunc(int_to_float(b, x, source, F32), F16)
            return int_to_float(b, x, source, ty)
        if source in FLOATS:
            return self._float_to_int(x, source, target)
        return int_to_int(b, x, source, ty)  # integer <-> integer (bool is unsigned)

    def _bfloat16_cast(self, x: ir.Value, source: str, target: str) -> ir.Value:
        """Casts from or to bfloat16 (not to bool); to bfloat16 one rounding of the exact
        value (tcomp's rule, :mod:`tcomp.ir.bfloat16`)."""
        b = self.builder
        if source == "bfloat16":
            if target == "float32":
                return x  # exact: the register holds the float already
            if target == "float64":
                return b.fpext(x, F64)
            if target == "float16":
                return b.fptrunc(x, F16)  # one rounding of an exact float
            return self._float_to_int(x, "float32", target)
        if source == "float16":
            x = b.fpext(x, F32)  # exact
        elif source == "bool":
            x = b.uitofp(x, F32)  # exact
        elif source != "float32":
            if source != "float64":
                x = int_to_float(b, x, source, F64)  # int32 exact; int64 exact below 2**53
            # round-to-odd to float keeps the bits bf16's rounding needs: one rounding in all
            x = self._round_to_odd_float(x)
        return round_to_bfloat16(b, x)

    def _float_to_int(self, x: ir.Value, source: str, target: str) -> ir.Value:
        if source == "float16":
            x = self.builder.fpext(x, F32)
        declare = lambda name, ret, args: intrinsic(self.module, name, ret, args)  # noqa: E731
        return float_to_int(self.builder, declare, x, target, register_type(target))

    def _round_to_odd_float(self, x: ir.Value) -> ir.Value:
        """``x`` (double) rounded to float with round-to-odd, so that a second rounding
        to half or bfloat16 is the correctly rounded double -> half (no ``__truncdfhf2``
        needed) or double -> bfloat16: float's 24 bits hold their 11 or 8, a rounding
        bit and more, and the odd last bit stands for everything dropped."""
        b = self.builder
        t = b.fptrunc(x, F32)
        back = b.fpext(t, F64)
        inexact = b.fcmp_ordered("!=", back, x)  # false for NaN
        bits = b.bitcast(t, I32)
        # toward zero: step the magnitude down when rounding went away from zero
        away = b.fcmp_ordered(">", self._call("fabs", F64, [back]), self._call("fabs", F64, [x]))
        bits = b.sub(bits, b.zext(away, I32))
        odd = b.bitcast(b.or_(bits, ir.Constant(I32, 1)), F32)
        return b.select(inexact, odd, t)


def from_memory(builder: ir.IRBuilder, value: ir.Value, dtype: str) -> ir.Value:
    """A value loaded from a buffer of ``dtype`` as its register value."""
    if dtype == "bool":
        return builder.icmp_unsigned("!=", value, ir.Constant(I8, 0))
    if dtype == "bfloat16":
        return load_bfloat16(builder, value)
    return value


def to_memory(builder: ir.IRBuilder, value: ir.Value, dtype: str) -> ir.Value:
    """A register value of ``dtype`` as the value a buffer of ``dtype`` holds."""
    if dtype == "bool":
        return builder.zext(value, I8)
    if dtype == "bfloat16":
        return store_bfloat16(builder, value)
    return value
