"""``tcomp opt``: run graph-IR passes over IR text, verifying after each.

The graph-IR passes come from :data:`tcomp.ir.passes.PASSES`. One more name,
``fuse``, ends the pipeline in kernel IR: it lowers the (optimised) graph
function with the shared fusion lowering, as the CPU (``llvm``) backend
does, so ``tcomp opt F.tir -p simplify,cse,dce,fuse`` prints the same kernel
program as ``tcomp inspect ... --stage kernels``. After ``fuse`` the output
is kernel IR, not graph IR, so no graph pass can follow it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tcomp.commands import CliError, subparser

if TYPE_CHECKING:
    from tcomp.ir.graph import Function
    from tcomp.ir.kernel.kernel import Program

FUSE = "fuse"
FUSE_SUMMARY = (
    "Lowers to kernel IR, so it must be the last pass: each materialised value (an output, "
    "a matmul operand, a value that several kernels read) gets one loop-nest kernel, and the "
    "elementwise, broadcast/reshape and reduction ops that feed it fuse into it "
    "(row softmax: one kernel; relu(x @ w + b): one kernel)."
)


def lower_to_kernels(fn: Function) -> Program:
    """The ``fuse`` step: ``fn`` lowered to the kernel-IR program the ``llvm`` backend
    compiles (fusion, memory plan, then reduction terms stored and reused), verified."""
    from tcomp.ir.kernel.lowering import lower_function
    from tcomp.ir.kernel.lowering.reuse_terms import reuse_reduction_terms
    from tcomp.ir.kernel.verifier import verify_program

    program = reuse_reduction_terms(lower_function(fn))
    verify_program(program, pass_name=FUSE)
    return program


def list_passes() -> str:
    """One line per pass: its name and the first line of its docstring (``fuse`` last)."""
    from tcomp.ir.passes import PASSES

    width = max(len(name) for name in [*PASSES, FUSE])
    lines = []
    for name, function in PASSES.items():
        doc = (function.__doc__ or "").strip().splitlines()
        lines.append(f"{name:{width}s}  {doc[0].strip() if doc else ''}".rstrip())
    lines.append(f"{FUSE:{width}s}  {FUSE_SUMMARY}")
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


def pass_names(text: str) -> list[str]:
    """``"simplify, cse"`` -> ``["simplify", "cse"]``; an unknown name, or ``fuse`` before
    another pass, fails before any input is read."""
    from tcomp.ir.passes import PASSES

    known = [*PASSES, FUSE]
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise CliError("-p: no pass named (e.g. -p simplify,cse,dce)")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise CliError(f"unknown pass {unknown[0]!r}: known passes are {', '.join(known)}")
    if FUSE in names[:-1]:
        raise CliError(
            f"{FUSE} lowers to kernel IR, so it must be the last pass: "
            f"-p {','.join(names)} has {', '.join(names[names.index(FUSE) + 1:])} after it"
        )
    return names


def run(args: argparse.Namespace) -> int:
    from tcomp.ir.errors import TcompParseError
    from tcomp.ir.kernel.printer import print_program
    from tcomp.ir.passes import DEFAULT_PIPELINE, run_pipeline
    from tcomp.ir.text import parse_function, print_function

    if args.list_passes:
        sys.stdout.write(list_passes())
        return 0
    if args.file is None:
        raise CliError("give an IR file (or - for stdin), or --list-passes")
    names = list(DEFAULT_PIPELINE) if args.passes is None else pass_names(args.passes)
    fuse = names[-1:] == [FUSE]
    text, name = read_text(args.file)
    try:
        fn = parse_function(text)
    except TcompParseError as error:
        first = str(error).splitlines()[0]
        raise CliError(f"{name}: {first}") from None
    fn = run_pipeline(fn, names[:-1] if fuse else names, verify_each=True)
    if fuse:
        sys.stdout.write(print_program(lower_to_kernels(fn)))
    else:
        sys.stdout.write(print_function(fn))
    return 0


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparser(
        commands, common, "opt",
        "run graph-IR passes over IR text (verifying after each) and print the result; "
        "a final fuse pass lowers to kernel IR and prints the fused kernels",
        "tcomp opt model.tir -p simplify,cse,dce,fuse",
    )
    parser.add_argument("file", nargs="?", help="graph IR text file, or - for stdin")
    parser.add_argument(
        "-p", "--passes", default=None, metavar="P1,P2",
        help="comma-separated passes, run in order (default: simplify,cse,dce); "
             "fuse, if given, must be last and prints kernel IR instead of graph IR",
    )
    parser.add_argument("--list-passes", action="store_true", help="list the passes and exit")
    parser.set_defaults(run=run)
