"""The ``tcomp`` command line (also ``python -m tcomp``).

- ``tcomp demo [--backend NAME] [--steps N] [--optimizer sgd|adam] [--data-parallel]``: train
  the demo classifier (``--data-parallel``: over MPI, ``mpiexec -n 2 tcomp demo --data-parallel``);
- ``tcomp backends``: list the backends, which are available, how to install the others;
- ``tcomp inspect FILE.py:FUNC``: a jitted function's IR at one stage (``--stage grad``:
  the traced forward and backward program of ``tcomp.grad(FUNC)``);
- ``tcomp check FILE.py:FUNC``: run it on every backend and compare with the reference
  backend (``--grad``: its gradient too); exit status 1 when a backend differs;
- ``tcomp opt FILE.tir -p simplify,cse,dce``: run graph-IR passes over IR text;
- ``tcomp cache info|ls|clear``: the on-disk compile cache;
- ``tcomp bench [OPTIONS]``: the benchmarks of ``bench/`` (``python -m bench``), from a
  source checkout only.

Errors print as one line on stderr (``tcomp CMD: error: ...``) with exit
status 2; ``--traceback`` shows the Python traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Sequence

from tcomp.commands import CliError, subparser
from tcomp.errors import TcompError


def _demo(args: argparse.Namespace) -> int:
    if args.data_parallel:
        from tcomp.demo_distributed import run_data_parallel_demo

        run_data_parallel_demo(backend=args.backend, steps=args.steps, optimizer=args.optimizer)
        return 0
    from tcomp.demo import run_demo

    run_demo(backend=args.backend, steps=args.steps, optimizer=args.optimizer)
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
    from tcomp.commands import backends, cache, check, inspect_fn, opt

    # --traceback is accepted before or after the command name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--traceback", action="store_true", default=argparse.SUPPRESS,
        help="on an error, show the Python traceback",
    )
    parser = argparse.ArgumentParser(
        prog="tcomp", description="tcomp tensor compiler", parents=[common],
        epilog="example:\n  tcomp inspect model.py:loss --args model.py:make_args --stage kernels",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = subparser(
        commands, common, "demo", "train a small classifier and report loss, accuracy, time",
        "tcomp demo --backend reference --steps 100",
    )
    demo.add_argument("--backend", default=None, help="backend name (default: TCOMP_BACKEND or tcomp's)")
    demo.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    demo.add_argument(
        "--optimizer", choices=("sgd", "adam"), default=None,
        help="take the update from tcomp.optim: sgd (learning rate 0.5) or adam (0.01); "
        "by default the demo's own SGD step",
    )
    demo.add_argument(
        "--data-parallel", action="store_true",
        help="train over the MPI ranks (tcomp.distributed; needs tcomp[mpi]): "
        "mpiexec -n 2 tcomp demo --data-parallel",
    )
    demo.set_defaults(run=_demo)

    backends.add_parser(commands, common)
    inspect_fn.add_parser(commands, common)
    check.add_parser(commands, common)
    opt.add_parser(commands, common)
    cache.add_parser(commands, common)

    # Listed for --help; main() hands everything after "bench" to the runner's own parser.
    commands.add_parser("bench", add_help=False, help="benchmarks against numpy, PyTorch, JAX "
                        "(source checkout; tcomp bench --help)")
    return parser


def _one_line(error: BaseException) -> str:
    """The error as one line: a parse error's first line (its caret picture is dropped),
    other messages with their lines joined (keeping ``at file:line``)."""
    from tcomp.errors import TcompParseError

    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if isinstance(error, TcompParseError):
        lines = lines[:1]
    text = " ".join(lines)
    if isinstance(error, (CliError, TcompError)):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tcomp`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BrokenPipeError:
        # the reader went away (`tcomp ... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        if getattr(args, "traceback", False):
            traceback.print_exc()
        else:
            print(f"tcomp {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
