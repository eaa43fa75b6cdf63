"""``tcomp backends``: the backends, which are available here, how to get the others."""

from __future__ import annotations

import argparse

from tcomp.commands import subparser

INSTALL_HINTS = {
    "opencl": 'pip install "tcomp[opencl]"',
    "cuda": 'pip install "tcomp[cuda]"  (also needs an NVIDIA GPU and its driver)',
}


def run(args: argparse.Namespace) -> int:
    from tcomp.backends.registry import (
        KNOWN_BACKENDS,
        available_backends,
        built_backends,
        default_backend_name,
    )

    available = set(available_backends())
    built = set(built_backends())
    default = default_backend_name()
    for name in KNOWN_BACKENDS:
        if name in available:
            line = "available" + (" (default)" if name == default else "")
        else:
            line = "not available"
            if name not in built:
                line += " (not in this build yet)"
            if name in INSTALL_HINTS:
                line += f"; install: {INSTALL_HINTS[name]}"
        print(f"{name:10s} {line}")
    return 0


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparser(
        commands, common, "backends",
        "list backends, whether each is available, and how to install the missing ones",
        "tcomp backends",
    )
    parser.set_defaults(run=run)
