"""The subcommands of the ``tcomp`` command line, one module each.

Each module offers ``add_parser(commands, common)``, which registers its
subcommand (with an example in its ``--help``) and sets ``run`` to the
function that executes it. Problems the user can fix raise :class:`CliError`;
``tcomp.cli.main`` prints them as one line on stderr.
"""

from __future__ import annotations

import argparse


class CliError(Exception):
    """A usage problem (missing file, bad spec, unknown name): one line, no traceback."""


def subparser(
    commands: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    name: str,
    help: str,
    example: str,
) -> argparse.ArgumentParser:
    """A subcommand parser whose ``--help`` ends with an example."""
    return commands.add_parser(
        name,
        help=help,
        description=help[:1].upper() + help[1:] + ".",
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
