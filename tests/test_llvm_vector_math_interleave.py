"""float32 loops that call vector math ask LLVM to interleave their vector body.

An innermost float32 loop whose body calls a function libmvec vectorises (``exp``, ``log``,
``tanh``, ``erf`` ...) carries ``llvm.loop.interleave.count`` =
``VECTOR_MATH_INTERLEAVE`` (backends/llvm/stmts.py); loops without such a call keep LLVM's
own choice. The hint changes how the loop is cut into vector iterations and a remainder,
so the values over lengths around the interleaved width are checked against numpy too.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from llvmlite import ir  # noqa: E402

import tcomp  # noqa: E402
from tcomp.backends.llvm.stmts import VECTOR_MATH_INTERLEAVE, render_kernel  # noqa: E402
from tcomp.ir.kernel.expr import INDEX, Load, Var, binary, unary  # noqa: E402
from tcomp.ir.kernel.kernel import Kernel, KernelArg, Loop, Schedule, Store  # noqa: E402

LENGTH = 100


def _loop_hints(value_of) -> list[str]:
    """The interleave counts asked for by a one-loop float32 kernel ``t0[i] = value_of(p0[i])``."""
    index = Var("i0", INDEX, LENGTH)
    body = (Loop(index, (Store("t0", index, value_of(Load("p0", index, "float32"))),)),)
    args = (KernelArg("p0", "float32", LENGTH, "in"), KernelArg("t0", "float32", LENGTH, "out"))
    module = ir.Module()
    render_kernel(module, Kernel("k0", args, body, Schedule()), "k0")
    lines = str(module).splitlines()
    return [line for line in lines if "llvm.loop.interleave.count" in line]


def test_a_float32_loop_calling_exp_asks_for_interleaving():
    hints = _loop_hints(lambda x: unary("exp", x))
    assert len(hints) == 1 and f"i32 {VECTOR_MATH_INTERLEAVE}" in hints[0], hints


def test_a_float32_loop_of_arithmetic_keeps_llvms_choice():
    assert _loop_hints(lambda x: binary("mul", x, x)) == []


def test_a_float64_loop_calling_exp_keeps_llvms_choice():
    index = Var("i0", INDEX, LENGTH)
    value = unary("exp", Load("p0", index, "float64"))
    args = (KernelArg("p0", "float64", LENGTH, "in"), KernelArg("t0", "float64", LENGTH, "out"))
    module = ir.Module()
    kernel = Kernel("k0", args, (Loop(index, (Store("t0", index, value),)),), Schedule())
    render_kernel(module, kernel, "k0")
    assert "llvm.loop.interleave.count" not in str(module)


@pytest.mark.parametrize("length", [1, 7, 63, 64, 65, 129, 1000])
def test_interleaved_math_loops_match_numpy_at_every_remainder(length):
    rng = np.random.default_rng(length)
    x = rng.uniform(-5.0, 5.0, length).astype(np.float32)
    positive = np.abs(x) + np.float32(0.5)

    def f(a, b):
        return tcomp.exp(a), tcomp.tanh(a), tcomp.log(b), tcomp.log1p(b)

    got = tcomp.jit(f, backend="llvm")(x, positive)
    want = (np.exp(x), np.tanh(x), np.log(positive), np.log1p(positive))
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=4e-6, atol=1e-7)
