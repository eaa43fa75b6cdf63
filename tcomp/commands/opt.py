"""``tcomp opt``: run graph-IR passes, then kernel-IR passes, over IR text, verifying after each.

The graph-IR passes come from :data:`tcomp.ir.passes.PASSES`, the kernel
passes from :data:`tcomp.ir.kernel.passes.KERNEL_PASSES`. ``fuse`` is the
bridge: it lowers the (optimised) graph function to kernel IR with the
shared fusion lowering, so graph passes come before it and kernel passes
after it (``-p simplify,cse,dce,fuse,split-reductions{parts=8},plan-memory``).
``fuse`` with nothing after it runs the rest of the ``llvm`` backend's
pipeline (:data:`~tcomp.ir.kernel.passes.LLVM_PIPELINE`), so
``tcomp opt F.tir -p simplify,cse,dce,fuse`` prints the same kernel program
as ``tcomp inspect ... --stage kernels``; kernel passes named after it run
instead, exactly as given. The GPU backends' own last pass, ``map-gpu-opencl`` or
``map-gpu-cuda`` (:func:`tcomp.backends.cfamily.map_gpu` for that dialect: each
kernel's launch in its schedule), may end a kernel pipeline:
``-p fuse,split-reductions{parts=1024},plan-memory,map-gpu-cuda`` prints what
``tcomp inspect ... --backend cuda --stage kernels`` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tcomp.commands import CliError, subparser

# The GPU backends' map-gpu pass per dialect: backend passes, run last (they know the device)
BACKEND_PASSES = {
    "map-gpu-opencl": "map-gpu for OpenCL: each kernel's launch (kind, sizes, tile) in its schedule",
    "map-gpu-cuda": "map-gpu for CUDA (tensor cores for 16-bit matmuls): the launch in the schedule",
}


def list_passes() -> str:
    """The graph passes, then the kernel passes (``fuse`` first), one line each: the name
    and the first line of its docstring; then the backends' kernel pipelines."""
    from tcomp.ir.kernel.passes import FUSE, KERNEL_PASSES, PIPELINES, fuse, summary
    from tcomp.ir.passes import PASSES

    kernel = {FUSE: fuse, **KERNEL_PASSES}
    width = max(len(name) for name in [*PASSES, *kernel, *PIPELINES, *BACKEND_PASSES])
    lines = ["graph passes (graph IR -> graph IR):"]
    lines += [f"  {name:{width}s}  {summary(function)}".rstrip() for name, function in PASSES.items()]
    lines.append(f"kernel passes ({FUSE} lowers graph IR to kernel IR; the others follow it):")
    lines += [f"  {name:{width}s}  {summary(function)}".rstrip() for name, function in kernel.items()]
    lines.append("backend passes (last in a kernel pipeline):")
    lines += [f"  {name:{width}s}  {text}" for name, text in BACKEND_PASSES.items()]
    lines.append(f"kernel pipelines (-p ...,{FUSE} with nothing after it runs llvm's):")
    lines += [f"  {name:{width}s}  {','.join(names)}" for name, names in PIPELINES.items()]
    lines.append(f"  {'':{width}s}  (opencl and cuda then run map-gpu-opencl / map-gpu-cuda)")
    return "\n".join(lines) + "\n"


def read_text(path: str) -> tuple[str, str]:
    """The text of ``path`` (``-``: stdin) and the name to use in messages."""
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        return Path(path).read_text(), path
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except OSError as error:
        raise CliError(f"{path}: cannot read it ({error.strerror or error})") from None


def pass_names(text: str) -> tuple[list[str], list[str] | None]:
    """``"simplify,cse,fuse,plan-memory"`` -> ``(["simplify", "cse"], ["fuse",
    "plan-memory"])``: the graph passes and the kernel pipeline (None without ``fuse``;
    ``fuse`` alone: the ``llvm`` pipeline). An unknown name, a pass on the wrong side of
    ``fuse`` or a bad option fails before any input is read."""
    from tcomp.ir.errors import TcompArgumentError
    from tcomp.ir.kernel.passes import (
        FUSE,
        KERNEL_PASSES,
        LLVM_PIPELINE,
        parse_pass,
        pass_name,
        split_names,
    )
    from tcomp.ir.passes import PASSES

    names = split_names(text)
    if not names:
        raise CliError("-p: no pass named (e.g. -p simplify,cse,dce)")
    known = (f"graph passes are {', '.join(PASSES)}; kernel passes are {FUSE}, "
             f"{', '.join(KERNEL_PASSES)}; backend passes are {', '.join(BACKEND_PASSES)}")
    fused = False
    for spec in names:
        name = pass_name(spec)
        if name == FUSE:
            if fused:
                raise CliError(f"{FUSE} is named twice in -p {text}")
            if spec.strip() != FUSE:
                raise CliError(f"{FUSE} takes no options: {spec!r}")
            fused = True
        elif name in PASSES:
            if fused:
                raise CliError(f"graph pass {name!r} works on graph IR: put it before {FUSE}")
            if spec.strip() != name:
                raise CliError(f"graph pass {name!r} takes no options: {spec!r}")
        elif name in BACKEND_PASSES:
            if not fused or spec is not names[-1]:
                raise CliError(f"{name} is a backend pass: it ends a kernel pipeline (-p ...,{FUSE},...,{name})")
            if spec.strip() != name:
                raise CliError(f"{name} takes no options: {spec!r}")
        elif name in KERNEL_PASSES:
            if not fused:
                raise CliError(
                    f"kernel pass {name!r} works on kernel IR: put it after {FUSE} "
                    f"(-p ...,{FUSE},{spec})"
                )
            try:
                parse_pass(spec)
            except TcompArgumentError as error:
                raise CliError(str(error)) from None
        else:
            raise CliError(f"unknown pass {name!r}: {known}")
    if not fused:
        return names, None
    at = [pass_name(spec) for spec in names].index(FUSE)
    kernel = names[at:]
    return names[:at], (list(LLVM_PIPELINE) if kernel == [FUSE] else kernel)


def run(args: argparse.Namespace) -> int:
    from tcomp.ir.errors import TcompParseError
    from tcomp.ir.passes import DEFAULT_PIPELINE, run_pipeline
    from tcomp.ir.text import parse_function, print_function

    if args.list_passes:
        sys.stdout.write(list_passes())
        return 0
    if args.file is None:
        raise CliError("give an IR file (or - for stdin), or --list-passes")
    if args.passes is None:
        graph, kernel = list(DEFAULT_PIPELINE), None
    else:
        graph, kernel = pass_names(args.passes)
    text, name = read_text(args.file)
    try:
        fn = parse_function(text)
    except TcompParseError as error:
        first = str(error).splitlines()[0]
        raise CliError(f"{name}: {first}") from None
    fn = run_pipeline(fn, graph, verify_each=True)
    if kernel is None:
        sys.stdout.write(print_function(fn))
        return 0
    from tcomp.ir.kernel.passes import lower
    from tcomp.ir.kernel.printer import print_program

    backend_pass = kernel[-1] if kernel[-1] in BACKEND_PASSES else None
    program = lower(fn, kernel[:-1] if backend_pass else kernel, verify_each=True)
    if backend_pass is not None:
        from tcomp.backends.cfamily import map_gpu
        from tcomp.ir.kernel.verifier import verify_program

        program = map_gpu(program, backend_pass.removeprefix("map-gpu-"))
        verify_program(program, backend_pass)
    sys.stdout.write(print_program(program))
    return 0


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparser(
        commands, common, "opt",
        "run graph-IR passes, then kernel-IR passes, over IR text (verifying after each) "
        "and print the result; fuse lowers to kernel IR between the two",
        "tcomp opt model.tir -p simplify,cse,dce,fuse,reuse-reduction-terms",
    )
    parser.add_argument("file", nargs="?", help="graph IR text file, or - for stdin")
    parser.add_argument(
        "-p", "--passes", default=None, metavar="P1,P2",
        help="comma-separated passes, run in order (default: simplify,cse,dce): graph "
             "passes, then optionally fuse and kernel passes (name or name{key=N}), which "
             "print kernel IR; fuse alone runs the llvm kernel pipeline",
    )
    parser.add_argument(
        "--list-passes", action="store_true",
        help="list the graph and kernel passes and the kernel pipelines, and exit",
    )
    parser.set_defaults(run=run)
