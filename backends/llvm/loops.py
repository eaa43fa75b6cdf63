"""The llvm backend's one counted loop, and the interrupt poll loops use.

:func:`counted_loop` emits ``for (index = start; index < stop; index += step)`` in the
canonical form LLVM's loop passes and vectoriser expect::

    name.header:  %name = phi i64 [start, %pre], [%name.next, %latch]
                  br (icmp slt %name, stop), %name.body, %name.exit
    name.body:    (check the interrupt flag)  ...  body ...
                  %name.next = add nuw nsw i64 %name, step ; br %name.header
    name.exit:

Every counted loop of the backend goes through it: a kernel's loops (``stmts.py``),
the column-reduction blocks (``column_reduce.py``), the blocked matmul's block and
epilogue loops (``contraction.py``) and packing loops (``contraction_packing.py``) and a scan's repeat loop in
``tcomp_main`` (``render.py``). Loops of other shapes stay where they are: a
work queue that takes items from an atomic counter and the spin-wait on it
(``contraction.py`` ``_take``/``_wait``), the micro-kernel's depth loop, which carries
its accumulators in phis, and a while_loop's flag-tested loop (``render.py``).
:func:`i64`, :func:`smin` and :func:`round_up` are the index arithmetic of loop bounds.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from llvmlite import ir

from tcomp.backends.llvm.exprs import I32, I64
from tcomp.backends.llvm.interrupt import FLAG_SYMBOL


@contextmanager
def counted_loop(
    b: ir.IRBuilder,
    start: ir.Value | int,
    stop: ir.Value | int,
    name: str,
    step: int = 1,
    interruptible: bool = False,
    interleave: int = 0,
) -> Iterator[ir.Value]:
    """``for index in start ..< stop step step`` (signed i64; ``start`` and ``stop`` are
    values or ints); the ``with`` body renders the loop body at ``b``'s position and
    gets ``index``; after the block, ``b`` is at the loop's exit. ``interruptible``:
    each iteration first polls the interrupt flag and leaves the loop once it is set
    (:func:`check_interrupt`). The indices never wrap (``step`` > 0, ``stop`` at most
    an i64 extent), so the increment is ``nuw nsw``. ``interleave`` > 1 asks the
    vectoriser to interleave that many vector iterations (:func:`interleave_hint`)."""
    preheader = b.block
    header = b.append_basic_block(f"{name}.header")
    inside = b.append_basic_block(f"{name}.body")
    exit_block = b.append_basic_block(f"{name}.exit")
    b.branch(header)
    b.position_at_end(header)
    index = b.phi(I64, name=name)
    index.add_incoming(i64(start), preheader)
    b.cbranch(b.icmp_signed("<", index, i64(stop)), inside, exit_block)
    b.position_at_end(inside)
    if interruptible:
        check_interrupt(b, exit_block)
    yield index
    following = b.add(index, i64(step), name=f"{name}.next", flags=("nuw", "nsw"))
    index.add_incoming(following, b.block)
    latch = b.branch(header)
    if interleave > 1:
        latch.set_metadata("llvm.loop", interleave_hint(b.module, interleave))
    b.position_at_end(exit_block)


def interleave_hint(module: ir.Module, count: int) -> ir.MDValue:
    """A loop ID (``!llvm.loop``) asking the vectoriser to interleave ``count`` vector
    iterations (``llvm.loop.interleave.count``); the ID refers to itself, as loop IDs
    must, so each call makes a new one."""
    hint = module.add_metadata(
        [ir.MetaDataString(module, "llvm.loop.interleave.count"), ir.Constant(I32, count)]
    )
    # a placeholder first operand unique in the module (add_metadata shares equal nodes),
    # then replaced by the node itself
    placeholder = ir.MetaDataString(module, f"tcomp.loop.{len(module.metadata)}")
    loop_id = module.add_metadata([placeholder, hint])
    loop_id.operands = (loop_id, hint)
    return loop_id


def check_interrupt(b: ir.IRBuilder, leave: ir.Block) -> None:
    """Branches to ``leave`` when the runtime's interrupt flag is set (Ctrl-C during a
    long call, see :mod:`tcomp.backends.llvm.interrupt`); goes on at a new block.

    The flag is read with a monotonic atomic load, which LLVM neither hoists out of the
    loop nor merges with the previous iteration's read.
    """
    flag = b.module.globals.get(FLAG_SYMBOL)
    if flag is None:
        flag = ir.GlobalVariable(b.module, I32, name=FLAG_SYMBOL)
        flag.linkage = "external"
    value = b.load_atomic(flag, "monotonic", 4, typ=I32)
    go_on = b.append_basic_block("running")  # llvmlite makes each name unique
    stop = b.icmp_signed("!=", value, ir.Constant(I32, 0))
    b.cbranch(stop, leave, go_on)
    b.position_at_end(go_on)


def i64(value: ir.Value | int) -> ir.Value:
    """``value`` as an i64 value (a constant when it is an int)."""
    return ir.Constant(I64, value) if isinstance(value, int) else value


def smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """The smaller of two signed i64 values (a loop bound clipped to an extent)."""
    return b.select(b.icmp_signed("<", x, y), x, y)


def round_up(b: ir.IRBuilder, value: ir.Value, multiple: int) -> ir.Value:
    """``value`` rounded up to a multiple of ``multiple`` (a positive constant)."""
    added = b.add(value, i64(multiple - 1))
    return b.mul(b.sdiv(added, i64(multiple)), i64(multiple))
