"""Kernel-IR ``Call`` nodes as LLVM IR: Threefry-2x32-20 as one internal helper per module.

``threefry2x32_0(k0, k1, x0, x1)`` and ``threefry2x32_1(...)`` (the two words of the
``threefry2x32`` primitive, ``ir/primitives/random_bits.py``) become calls of::

    define internal { i32, i32 } @tc.threefry2x32(i32 %k0, i32 %k1, i32 %x0, i32 %x1)
        alwaysinline nounwind readnone

followed by an ``extractvalue`` of the word. The helper is 20 rounds of ``add``,
``llvm.fshl.i32`` (a rotation: both operands the same value) and ``xor``, with the key
injections between blocks of four, all on ``i32`` without ``nsw``/``nuw`` flags, so
every addition wraps modulo 2**32 as the uint32 definition says. Inlined into the
kernel loop, it vectorises like any other elementwise code, and the two calls of one
block (word 0 and word 1 of the same operands) become one computation after GVN.
"""

from __future__ import annotations

from typing import Protocol

from llvmlite import ir

from tcomp.ir.kernel.call import Call, threefry_word
from tcomp.ir.kernel.expr import Expr
from tcomp.ir.threefry import BLOCKS, PARITY, ROTATIONS

I32 = ir.IntType(32)
PAIR = ir.LiteralStructType([I32, I32])
HELPER = "tc.threefry2x32"


class Renderer(Protocol):
    """What :func:`render_call` needs of :class:`tcomp.backends.llvm.exprs.ExprRenderer`."""

    builder: ir.IRBuilder

    def render(self, expr: Expr) -> ir.Value: ...


def render_call(renderer: Renderer, expr: Expr) -> ir.Value:
    """The value of a ``Call`` expression; a ``TypeError`` for any other node (the
    renderer's last case: a ``Reduce`` left unhoisted, say)."""
    if not isinstance(expr, Call):
        raise TypeError(f"llvm renderer: cannot render {expr!r} (Reduce must be hoisted first)")
    args = [renderer.render(arg) for arg in expr.args]
    builder = renderer.builder
    pair = builder.call(threefry_function(builder.module), args)
    return builder.extract_value(pair, threefry_word(expr.op))


def threefry_function(module: ir.Module) -> ir.Function:
    """``@tc.threefry2x32`` of ``module`` (defined on first use; see the module docstring)."""
    existing = module.globals.get(HELPER)
    if existing is not None:
        return existing
    function = ir.Function(module, ir.FunctionType(PAIR, [I32] * 4), name=HELPER)
    function.linkage = "internal"
    for attribute in ("alwaysinline", "nounwind", "readnone"):
        function.attributes.add(attribute)
    k0, k1, x0, x1 = function.args
    b = ir.IRBuilder(function.append_basic_block("entry"))
    fshl = module.globals.get("llvm.fshl.i32") or ir.Function(
        module, ir.FunctionType(I32, [I32] * 3), name="llvm.fshl.i32"
    )
    keys = (k0, k1, b.xor(b.xor(k0, k1), ir.Constant(I32, PARITY)))
    x0 = b.add(x0, keys[0])
    x1 = b.add(x1, keys[1])
    for block in range(BLOCKS):
        for r in ROTATIONS[block % 2]:
            x0 = b.add(x0, x1)
            x1 = b.xor(b.call(fshl, [x1, x1, ir.Constant(I32, r)]), x0)  # rotl(x1, r) ^ x0
        x0 = b.add(x0, keys[(block + 1) % 3])
        x1 = b.add(b.add(x1, keys[(block + 2) % 3]), ir.Constant(I32, block + 1))
    pair = b.insert_value(ir.Constant(PAIR, ir.Undefined), x0, 0)
    b.ret(b.insert_value(pair, x1, 1))
    return function
