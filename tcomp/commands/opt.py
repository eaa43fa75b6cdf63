"""``tcomp opt``: run graph-IR passes over IR text, verifying after each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tcomp.commands import CliError, subparser


def list_passes() -> str:
    """One line per pass: its name and the first line of its docstring."""
    from tcomp.ir.passes import PASSES

    width = max(len(name) for name in PASSES)
    lines = []
    for name, function in PASSES.items():
        doc = (function.__doc__ or "").strip().splitlines()
        lines.append(f"{name:{width}s}  {doc[0].strip() if doc else ''}".rstrip())
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
    """``"simplify, cse"`` -> ``["simplify", "cse"]``; an unknown name fails before any input
    is read."""
    from tcomp.ir.passes import PASSES

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise CliError("-p: no pass named (e.g. -p simplify,cse,dce)")
    unknown = [name for name in names if name not in PASSES]
    if unknown:
        raise CliError(f"unknown pass {unknown[0]!r}: known passes are {', '.join(PASSES)}")
    return names


def run(args: argparse.Namespace) -> int:
    from tcomp.ir.errors import TcompParseError
    from tcomp.ir.passes import DEFAULT_PIPELINE, run_pipeline
    from tcomp.ir.text import parse_function, print_function

    if args.list_passes:
        sys.stdout.write(list_passes())
        return 0
    if args.file is None:
        raise CliError("give an IR file (or - for stdin), or --list-passes")
    names = list(DEFAULT_PIPELINE) if args.passes is None else pass_names(args.passes)
    text, name = read_text(args.file)
    try:
        fn = parse_function(text)
    except TcompParseError as error:
        first = str(error).splitlines()[0]
        raise CliError(f"{name}: {first}") from None
    fn = run_pipeline(fn, names, verify_each=True)
    sys.stdout.write(print_function(fn))
    return 0


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparser(
        commands, common, "opt",
        "run graph-IR passes over IR text (verifying after each) and print the result",
        "tcomp opt model.tir -p simplify,cse,dce",
    )
    parser.add_argument("file", nargs="?", help="graph IR text file, or - for stdin")
    parser.add_argument(
        "-p", "--passes", default=None, metavar="P1,P2",
        help="comma-separated passes, run in order (default: simplify,cse,dce)",
    )
    parser.add_argument("--list-passes", action="store_true", help="list the passes and exit")
    parser.set_defaults(run=run)
