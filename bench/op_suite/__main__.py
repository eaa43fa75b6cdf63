"""``python -m bench.op_suite --suite PATH --backend NAME``: runs the outside op suite
against tcomp and prints the tally and the non-passing tests (``--json PATH`` too)."""

from __future__ import annotations

import argparse
import re
import sys

from bench.op_suite.report import as_text, write_json
from bench.op_suite.runner import Result, run_suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.op_suite", description=__doc__)
    parser.add_argument(
        "--suite", required=True, help="path of tinygrad's test/backend/test_ops.py"
    )
    parser.add_argument(
        "--backend", default="llvm", help="tcomp backend (llvm, reference, opencl, cuda)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per test (default 60)")
    parser.add_argument(
        "-k", "--match", default="", help="run only tests whose id matches this regex"
    )
    parser.add_argument(
        "--torch-path",
        action="append",
        default=[],
        help="a folder holding torch (pip install --target), added to the path",
    )
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--quiet", action="store_true", help="no line per test while running")
    args = parser.parse_args(argv)

    pattern = re.compile(args.match)

    def progress(result: Result, done: int, total: int) -> None:
        if not args.quiet:
            print(
                f"[{done}/{total}] {result.kind:11} {result.test} ({result.seconds:.1f} s) {result.reason[:120]}",
                file=sys.stderr,
                flush=True,
            )

    results = run_suite(
        args.suite,
        args.backend,
        args.timeout,
        lambda t: bool(pattern.search(t)),
        args.torch_path,
        progress,
    )
    print(as_text(results, args.backend))
    if args.json:
        write_json(args.json, results, args.backend, args.suite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
