"""Compiles every recorded kernel-IR program as CUDA with nvcc, for sm_80 and sm_90.

Usage: ``python tests/compile_recorded_cuda.py FILE`` after a test run with
``TCOMP_RECORD_KERNELS=FILE`` (see ``tests/kernel_recorder.py``). Programs
are parsed back; those that render to the same CUDA under one name (the
same kernels recorded from differently named functions) are compiled once;
the rest are renamed so that their functions are unique, rendered as CUDA,
each wrapped in its own namespace (their static helpers repeat), and
compiled in batches (``nvcc -fatbin`` with machine code for both
architectures: the PTX passes ``ptxas`` too). Device code only, as NVRTC
compiles it at run time: ``nvcc -c`` also ran the host compiler, about 40%
of the time, on stubs the runtime never uses. A batch that fails is compiled
again program by program so the report names the programs nvcc rejects,
with its errors; a program the renderer cannot render is reported the same
way. Exit status 1 on any rejected program; 0 with a notice when nvcc is not
installed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernel_recorder import read_recorded  # noqa: E402

from tcomp.backends.cfamily import CUDA, render_program  # noqa: E402
from tcomp.ir.errors import TcompBackendError  # noqa: E402
from tcomp.ir.kernel.parser import parse_program  # noqa: E402

ARCHES = ("80", "90")
BATCH = 150


def nvcc_command(nvcc: str, source: Path, output: Path) -> list[str]:
    arch_flags = [f"--generate-code=arch=compute_{a},code=sm_{a}" for a in ARCHES]
    return [nvcc, "-fatbin", *CUDA.compile_options, *arch_flags, "-o", str(output), str(source)]


def compile_units(nvcc: str, units: list[str], folder: Path) -> str | None:
    """nvcc's errors for one translation unit made of ``units``, or None when it compiles."""
    handle, name = tempfile.mkstemp(suffix=".cu", dir=folder)
    os.close(handle)
    source = Path(name)
    source.write_text("\n".join(units))
    result = subprocess.run(
        nvcc_command(nvcc, source, source.with_suffix(".fatbin")), capture_output=True, text=True
    )
    return None if result.returncode == 0 else (result.stderr + result.stdout)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        print("CUDA compile check skipped: nvcc (the CUDA toolkit) is not installed here")
        return 0
    started = time.perf_counter()
    texts = read_recorded(argv[0])
    units: list[tuple[str, str]] = []  # (program text, namespaced CUDA source)
    failures: list[tuple[str, str]] = []  # (program text, what went wrong)
    seen: set[str] = set()
    for index, text in enumerate(texts):
        program = parse_program(text)
        try:
            anonymous = render_program(dataclasses.replace(program, name="tc_program"), "cuda")
            if anonymous in seen:
                continue
            seen.add(anonymous)
            program = dataclasses.replace(program, name=f"{program.name}_{index}")
            source = render_program(program, "cuda")
        except TcompBackendError as error:
            failures.append((text, f"the renderer refused it: {error}"))
            continue
        units.append((text, f"namespace tc_program_{index} {{\n{source}\n}}\n"))
    batches = [units[i : i + BATCH] for i in range(0, len(units), BATCH)]
    with tempfile.TemporaryDirectory(prefix="tcomp-cuda-check-") as folder, ThreadPoolExecutor(
        max_workers=os.cpu_count() or 2
    ) as pool:
        errors = list(pool.map(lambda b: compile_units(nvcc, [s for _, s in b], Path(folder)), batches))
        for batch, error in zip(batches, errors):
            if error is None:
                continue
            for text, source in batch:
                single = compile_units(nvcc, [source], Path(folder))
                if single is not None:
                    failures.append((text, single))
    seconds = time.perf_counter() - started
    print(
        f"CUDA compile check: {len(texts)} programs recorded, {len(units)} distinct compiled for "
        f"{', '.join('sm_' + a for a in ARCHES)} in {len(batches)} batches, {seconds:.1f} s; "
        f"{len(failures)} rejected"
    )
    for text, error in failures[:10]:
        print("--- rejected program ---\n" + text + "--- why ---\n" + error[-3000:])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
