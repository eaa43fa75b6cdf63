"""The ``tcomp`` command line.

- ``tcomp demo [--backend NAME] [--steps N]``: train the demo classifier;
- ``tcomp backends``: list the backends and which are available here;
- ``tcomp bench [OPTIONS]``: the benchmarks of ``bench/`` (``python -m bench``), from a
  source checkout only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
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


def _bench(argv: list[str]) -> int:
    """Runs ``bench/__main__.py`` of the checkout this tcomp was installed from (editable).

    The benchmarks stay out of the installed package: they compare against
    optional frameworks and write their results into the source tree.
    """
    root = Path(__file__).resolve().parent.parent
    if not all((root / "bench" / name).is_file() for name in ("__main__.py", "workloads.py")):
        print(
            "tcomp bench: the benchmarks run from a source checkout of tcomp (its bench/ folder); "
            "this installation has none. Clone the repository, `pip install -e .`, and run "
            "`tcomp bench` or `python -m bench` from its root.",
            file=sys.stderr,
        )
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench.__main__ import main as bench_main

    return bench_main(argv, prog="tcomp bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tcomp", description="tcomp tensor compiler")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train a small classifier and report loss, accuracy, time")
    demo.add_argument("--backend", default=None, help="backend name (default: TCOMP_BACKEND or tcomp's)")
    demo.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    demo.set_defaults(run=_demo)

    backends = commands.add_parser("backends", help="list backends and their availability")
    backends.set_defaults(run=_backends)

    # Listed for --help; main() hands everything after "bench" to the runner's own parser.
    commands.add_parser("bench", add_help=False, help="benchmarks against numpy, PyTorch, JAX "
                        "(source checkout; tcomp bench --help)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tcomp`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except TcompError as error:
        print(f"tcomp: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
