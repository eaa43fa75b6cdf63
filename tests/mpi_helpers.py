"""Launching the scripts of tests/mpi_scripts with ``mpiexec`` from the tests."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "mpi_scripts"


def find_mpiexec() -> str | None:
    """The ``mpiexec`` next to this Python (the mpich wheel's, in a virtual environment),
    else the first on ``PATH``."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def skip_reason() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install -e '.[mpi]')"
    if find_mpiexec() is None:
        return "no mpiexec (pip install -e '.[mpi]' brings MPICH's)"
    return None


needs_mpi = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


def launch(
    script: str,
    *args: str,
    ranks: int = 2,
    launcher_options: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess:
    """Runs ``mpiexec -n RANKS python tests/mpi_scripts/SCRIPT ARGS`` and returns it,
    failing the test if it does not finish within ``timeout`` seconds (a hang)."""
    command = [find_mpiexec(), *launcher_options, "-n", str(ranks), sys.executable, str(SCRIPTS / script), *args]
    environment = dict(os.environ, TCOMP_NUM_THREADS="1", **(env or {}))
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=environment, cwd=SCRIPTS
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{' '.join(command)} did not finish within {timeout} s (a hang?):\n{error.stderr}")


def check_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"mpiexec failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie has exited
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
