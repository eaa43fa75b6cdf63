"""The ``tcomp`` command line.

- ``tcomp demo [--backend NAME] [--steps N]``: train the demo classifier;
- ``tcomp backends``: list the backends and which are available here.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from tcomp.errors import TcompError


def _demo(args: argparse.Namespace) -> int:
    from tcomp.demo import run_demo

    run_demo(backend=args.backend, steps=args.steps)
    return 0


def _backends(args: argparse.Namespace) -> int:
    from tcomp.backends.registry import KNOWN_BACKENDS, available_backends, default_backend_name

    available = set(available_backends())
    default = default_backend_name()
    for name in KNOWN_BACKENDS:
        status = "available" if name in available else "not available"
        marker = " (default)" if name == default else ""
        print(f"{name:10s} {status}{marker}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tcomp", description="tcomp tensor compiler")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train a small classifier and report loss, accuracy, time")
    demo.add_argument("--backend", default=None, help="backend name (default: TCOMP_BACKEND or tcomp's)")
    demo.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    demo.set_defaults(run=_demo)

    backends = commands.add_parser("backends", help="list backends and their availability")
    backends.set_defaults(run=_backends)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tcomp`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except TcompError as error:
        print(f"tcomp: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
