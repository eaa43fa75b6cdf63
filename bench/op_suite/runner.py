"""Runs every test of the suite in a worker process, with a per-test time limit.

A test that runs past the limit, or kills its worker (a signal), is recorded and a
fresh worker goes on with the next test.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Result:
    """One test's outcome as the runner reports it."""

    test: str
    kind: str
    reason: str = ""
    where: str = ""
    seconds: float = 0.0


class _Worker:
    def __init__(self, suite: str, backend: str, extra_path: list[str]) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [REPO_ROOT, *extra_path, env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.op_suite.worker", suite, backend],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=REPO_ROOT,
            env=env,
            text=True,
            start_new_session=True,
        )
        first = self.read(600.0)
        if first is None:
            self.stop()
            raise RuntimeError(
                f"the worker could not load the suite {suite} (run bench.op_suite.worker by hand)"
            )
        self.tests: list[str] = first["tests"]

    def read(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def ask(self, test: str, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(test + "\n")
        self.proc.stdin.flush()
        return self.read(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def run_suite(
    suite: str,
    backend: str,
    timeout: float,
    select_names: Callable[[str], bool],
    extra_path: list[str],
    progress: Callable[[Result, int, int], None] | None = None,
) -> list[Result]:
    """Runs the tests whose id ``select_names`` accepts; a :class:`Result` for each."""
    worker = _Worker(suite, backend, extra_path)
    names = [t for t in worker.tests if select_names(t)]
    results: list[Result] = []
    for i, name in enumerate(names):
        start = time.perf_counter()
        answer = worker.ask(name, timeout)
        if answer is None:
            alive = worker.proc.poll() is None
            worker.stop()
            code = worker.proc.returncode
            if alive:
                result = Result(name, "timeout", f"ran past {timeout:.0f} s", seconds=timeout)
            else:
                result = Result(
                    name,
                    "crash",
                    f"the process died (exit status {code})",
                    seconds=time.perf_counter() - start,
                )
            worker = _Worker(suite, backend, extra_path)
        else:
            result = Result(name, **answer)
        results.append(result)
        if progress is not None:
            progress(result, i + 1, len(names))
    worker.stop()
    return results
