"""Records every kernel-IR program the test session lowers, for the CUDA compile check.

With ``TCOMP_RECORD_KERNELS=FILE`` set, ``tests/conftest.py`` wraps the
lowering entry point (``tcomp.ir.kernel.passes.lower``, which the compiled
backends import when they compile to run their kernel pipeline, and which
``lower_function`` calls) so that each distinct
program's text is appended to ``FILE.<process id>`` (one file per test
process: pytest-xdist runs several), separated by ``# ---`` lines. ``python tests/compile_recorded_cuda.py FILE`` then
renders every one as CUDA and compiles it with nvcc for sm_80 and sm_90
(CI runs both steps), so a generated kernel that nvcc rejects fails CI even
though CI has no GPU.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

SEPARATOR = "# ---\n"


def install_kernel_recorder(path: str) -> None:
    """Wraps the lowering entry point so that it appends each new program to ``path``."""
    import tcomp.ir.kernel.passes as passes
    from tcomp.ir.kernel.printer import print_program

    original = passes.lower
    seen: set[str] = set()
    target = Path(f"{path}.{os.getpid()}")

    def recording_lower(function, *args, **kwargs):
        program = original(function, *args, **kwargs)
        try:
            text = print_program(program)
        except Exception:  # noqa: BLE001 - a program that cannot print is the tests' to report
            return program
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            with target.open("a") as out:
                out.write(SEPARATOR + text)
        return program

    passes.lower = recording_lower


def read_recorded(path: str) -> list[str]:
    """The distinct program texts recorded under ``path`` by any number of processes."""
    base = Path(path)
    texts: list[str] = []
    for part in sorted(base.parent.glob(base.name + ".*")):
        texts += part.read_text().split(SEPARATOR)
    return list(dict.fromkeys(text for text in texts if text.strip()))
