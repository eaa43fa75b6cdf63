"""``Lowered`` stages ``kernels`` and ``source``, with a fake compiling backend standing in for LLVM.

The fake backend "compiles" ``f(x) = x + 1`` to a kernel-IR program (run by
the kernel interpreter) and a made-up source text, the way a compiling
backend's executable carries ``.program`` and returns its source from
``as_text()``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pytest

import tcomp
from tcomp.backends import registry
from tcomp.backends.base import Backend, Executable
from tcomp.backends.reference.kernel_interpreter import run_program
from tcomp.ir.errors import TcompArgumentError
from tcomp.ir.graph import Function
from tcomp.ir.kernel.expr import INDEX, Binary, Const, Load, Var
from tcomp.ir.kernel.kernel import Kernel, KernelArg, Loop, Program, ProgramBuffer, Store
from tcomp.ir.kernel.parser import parse_program
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.kernel.verifier import verify_program

SOURCE = "; ModuleID = 'fake'\ndefine void @k0(float* %p0, float* %t1) {\n  ret void\n}\n"


def _lower_add_one(function: Function) -> Program:
    """``out[i] = in[i] + 1`` over the one parameter's elements."""
    param_type = function.params[0].type
    size, dtype = param_type.size, param_type.dtype
    i0 = Var("i0", INDEX, size)
    value = Binary("add", Load("p0", i0, dtype), Const(1.0, dtype), dtype)
    args = (KernelArg("p0", dtype, size, "in"), KernelArg("t1", dtype, size, "out"))
    kernel = Kernel("k0", args, (Loop(i0, (Store("t1", i0, value),)),), origin=("add %1",))
    buffers = {
        "p0": ProgramBuffer("p0", param_type, "param"),
        "t1": ProgramBuffer("t1", function.outputs[0].type, "output"),
    }
    return Program(function.name, buffers, ["p0"], ["t1"], [kernel])


class FakeExecutable(Executable):
    def __init__(self, program: Program) -> None:
        self.program = program
        self.llvm_ir = SOURCE

    def __call__(self, buffers: Sequence[Any]) -> list[Any]:
        return run_program(self.program, list(buffers))

    def as_text(self) -> str:
        return self.llvm_ir


class FakeBackend(Backend):
    name = "llvm"

    def __init__(self) -> None:
        self.compiled = 0

    def compile(self, function: Function) -> Executable:
        self.compiled += 1
        return FakeExecutable(_lower_add_one(function))

    def from_host(self, array: np.ndarray) -> Any:
        return np.array(array, copy=True)

    def to_host(self, buffer: Any) -> np.ndarray:
        return np.array(buffer, copy=True)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    backend = FakeBackend()
    monkeypatch.setitem(registry._FACTORIES, "llvm", lambda: backend)
    monkeypatch.setitem(registry._INSTANCES, "llvm", backend)
    return backend


def _add_one(x):
    return x + 1.0


X = np.arange(3, dtype=np.float32)


def test_the_stages_in_pipeline_order() -> None:
    assert tcomp.jit(_add_one).lower(X).STAGES == ("traced", "optimized", "kernels", "source")


def test_kernels_stage_prints_the_backends_kernel_program(fake: FakeBackend) -> None:
    lowered = tcomp.jit(_add_one, backend="llvm").lower(X)
    assert fake.compiled == 0, "lower() only traces"
    text = lowered.as_text("kernels")
    assert fake.compiled == 1, "the kernels stage compiles the program"
    program = lowered.kernel_program()
    assert text == print_program(program)
    assert "kernel k0(in %p0: f32[3], out %t1: f32[3]) {  // add %1" in text
    assert "%t1[i0] = %p0[i0] + 1.0:f32" in text
    verify_program(parse_program(text))


def test_source_stage_is_the_executables_text(fake: FakeBackend) -> None:
    jitted = tcomp.jit(_add_one, backend="llvm")
    lowered = jitted.lower(X)
    assert lowered.as_text("source") == SOURCE
    assert lowered.as_text("kernels").startswith("program @")
    np.testing.assert_array_equal(np.asarray(jitted(X)), X + 1)
    assert fake.compiled == 1, "stages and calls share one compiled program"


def test_graph_stages_still_print_graph_ir(fake: FakeBackend) -> None:
    lowered = tcomp.jit(_add_one, backend="llvm").lower(X)
    assert lowered.as_text("optimized").startswith("func @")
    with pytest.raises(TcompArgumentError, match="stage 'kernels' is not graph IR.*as_text"):
        lowered.function("kernels")


def test_reference_backend_has_no_kernel_or_source_stage() -> None:
    lowered = tcomp.jit(_add_one, backend="reference").lower(X)
    with pytest.raises(TcompArgumentError) as info:
        lowered.as_text("kernels")
    message = str(info.value)
    assert "the backend 'reference' has no kernel stage" in message
    assert "llvm, opencl, cuda" in message
    with pytest.raises(TcompArgumentError, match="'reference' has no source stage"):
        lowered.as_text("source")
    with pytest.raises(TcompArgumentError, match="'reference' has no kernel stage"):
        lowered.kernel_program()


def test_unknown_stage_names_every_stage() -> None:
    lowered = tcomp.jit(_add_one).lower(X)
    with pytest.raises(
        TcompArgumentError, match="unknown stage 'llvm': this build offers traced, optimized, "
        "kernels, source"
    ):
        lowered.as_text("llvm")


def test_llvm_backend_stages_when_it_is_here() -> None:
    """With the real LLVM backend: kernels round-trip and verify, source is LLVM IR."""
    if "llvm" not in registry.available_backends():
        pytest.skip("the llvm backend is not available here")
    lowered = tcomp.jit(lambda x: tcomp.exp(x) * 2.0, backend="llvm").lower(X)
    text = lowered.as_text("kernels")
    parsed = parse_program(text)
    verify_program(parsed)
    assert print_program(parsed) == text
    assert "define" in lowered.as_text("source")
