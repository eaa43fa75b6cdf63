"""nvcc for the tests that compile rendered CUDA C: device code for several GPUs in one call.

``nvcc -fatbin`` with one ``--generate-code`` per architecture runs the front
end once and ``ptxas`` once per architecture: the same device-code checks as
one ``-cubin`` call per architecture, without parsing the source again for
each, and without the host-compiler pass that ``nvcc -c`` adds (the CUDA
backend compiles device code only, with NVRTC).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence

ARCHES = ("sm_80", "sm_90")


def nvcc_fatbin(
    source: Path, options: Sequence[str], arches: Sequence[str] = ARCHES, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Compiles ``source`` to machine code for each of ``arches`` (``sm_80`` ...), in one call."""
    flags = [f"--generate-code=arch=compute_{a[3:]},code={a}" for a in arches]
    return subprocess.run(
        ["nvcc", "-fatbin", *options, *flags, "-o", str(source.with_suffix(".fatbin")), str(source)],
        capture_output=True, text=True, timeout=timeout,
    )
