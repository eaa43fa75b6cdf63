"""The process that runs the suite's tests, one at a time, for the runner.

Started by :mod:`bench.op_suite.runner` as ``python -m bench.op_suite.worker SUITE
BACKEND``. It imports the suite with the fake ``tinygrad`` on ``sys.path``, writes the
test ids as its first JSON line, then reads a test id per line from stdin and answers
each with one JSON line (:class:`~bench.op_suite.classify.Outcome` fields and seconds).
Anything the suite prints goes to stderr, so stdout carries only these lines.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import unittest
import warnings
from typing import Any

SHIM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim")


class _Recorder(unittest.TestResult):
    """Keeps the one outcome of one test: its exception and traceback, or its skip."""

    def __init__(self) -> None:
        super().__init__()
        self.exc: BaseException | None = None
        self.tb: Any = None
        self.skip_reason: str | None = None

    def _keep(self, err: Any) -> None:
        if self.exc is None:
            self.exc, self.tb = err[1], err[2]

    def addError(self, test: Any, err: Any) -> None:  # noqa: N802 -- unittest's name
        self._keep(err)

    def addFailure(self, test: Any, err: Any) -> None:  # noqa: N802
        self._keep(err)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:  # noqa: N802
        if err is not None:
            self._keep(err)

    def addSkip(self, test: Any, reason: str) -> None:  # noqa: N802
        self.skip_reason = reason


_EXPECTED: dict[str, str | None] = {"error": None}

#: This test's bad-input checks that a tcomp error met in place of torch's exception
#: class, as ``"TcompShapeError for RuntimeError"``.
STOOD_IN: list[str] = []


class _WatchRaises:
    """Wraps ``assertRaises``'s context.

    Where the suite expects torch's exception class (RuntimeError, IndexError, ...) for
    bad input and tcomp refuses the same input with one of its own errors, the check is
    met: the error stands in for torch's class, is noted in :data:`STOOD_IN`, and the
    test goes on. Any other escaping error ends the test as before, with the expected
    class noted for the refusal's reason.
    """

    def __init__(self, context: Any, expected: Any) -> None:
        self.context, self.expected = context, expected

    def __enter__(self) -> Any:
        return self.context.__enter__()

    def __exit__(self, kind: Any, value: Any, tb: Any) -> Any:
        from tcomp.ir.errors import TcompError

        if value is not None and not issubclass(kind, self.expected):
            names = self.expected if isinstance(self.expected, tuple) else (self.expected,)
            expected = " or ".join(e.__name__ for e in names)
            if isinstance(value, TcompError):
                STOOD_IN.append(f"{kind.__name__} for {expected}")
                self.context.exception = value.with_traceback(None)
                return True
            _EXPECTED["error"] = expected
        return self.context.__exit__(kind, value, tb)


def _watch_assert_raises() -> None:
    original = unittest.TestCase.assertRaises

    def assert_raises(self: Any, expected: Any, *args: Any, **kwargs: Any) -> Any:
        if args:
            with _WatchRaises(original(self, expected), expected):
                return args[0](*args[1:], **kwargs)
        return _WatchRaises(original(self, expected, **kwargs), expected)

    unittest.TestCase.assertRaises = assert_raises  # type: ignore[method-assign]


def load_suite(path: str) -> dict[str, unittest.TestCase]:
    """The suite's test cases by id (``Class.test_name``), the fake tinygrad importable."""
    sys.path.insert(0, SHIM_DIR)
    spec = importlib.util.spec_from_file_location("outside_test_ops", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["outside_test_ops"] = module
    spec.loader.exec_module(module)
    tests: dict[str, unittest.TestCase] = {}
    stack: list[Any] = [unittest.TestLoader().loadTestsFromModule(module)]
    while stack:
        item = stack.pop()
        if isinstance(item, unittest.TestSuite):
            stack.extend(reversed(list(item)))
        else:
            tests[".".join(item.id().split(".")[-2:])] = item
    return tests


def run_one(test: unittest.TestCase, suite_path: str, test_id: str = "") -> dict[str, Any]:
    from bench.op_suite.classify import classify, frames_of

    recorder = _Recorder()
    _EXPECTED["error"] = None
    STOOD_IN.clear()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test.run(recorder)
    seconds = time.perf_counter() - start
    outcome = classify(
        recorder.exc,
        frames_of(recorder.tb),
        suite_path,
        recorder.skip_reason,
        expected_error=_EXPECTED["error"],
        stood_in=tuple(STOOD_IN),
        test_id=test_id,
    )
    return {
        "kind": outcome.kind,
        "reason": outcome.reason,
        "where": outcome.where,
        "seconds": round(seconds, 3),
    }


def main(argv: list[str]) -> None:
    suite_path, backend = argv[0], argv[1]
    results = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the suite's and tcomp's prints go to stderr
    sys.stdout = sys.stderr
    from bench.op_suite import graph

    graph.BACKEND["name"] = backend
    _watch_assert_raises()
    tests = load_suite(suite_path)
    results.write(json.dumps({"tests": list(tests)}) + "\n")
    for line in sys.stdin:
        name = line.strip()
        if name:
            results.write(json.dumps(run_one(tests[name], suite_path, name)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
