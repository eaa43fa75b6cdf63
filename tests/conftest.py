"""Shared test configuration: hypothesis profiles and the backend parameter.

Profiles (choose with ``HYPOTHESIS_PROFILE``, default ``dev``; CI sets ``ci``):

- ``ci``: few examples, derandomised (a fixed seed), no deadline, so CI is
  fast and repeatable;
- ``dev``: the default for local runs, more examples;
- ``thorough``: many examples, for a long local soak.

Every test that takes the ``backend`` fixture runs once per backend that is
available here (``TCOMP_TEST_BACKENDS=reference,llvm`` narrows the list), so
a new backend runs the whole shared suite against the reference executor.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

# Every pipeline that jit runs in the tests verifies the IR after each pass,
# so a pass that breaks the IR fails the test that triggered it, by name.
os.environ.setdefault("TCOMP_VERIFY_PASSES", "1")
# Compiled backends cache to disk; the tests use a fresh folder of their own
# so they neither read a user's cache nor leave entries in it.
if "TCOMP_CACHE_DIR" not in os.environ:
    os.environ["TCOMP_CACHE_DIR"] = tempfile.mkdtemp(prefix="tcomp-test-cache-")
    atexit.register(shutil.rmtree, os.environ["TCOMP_CACHE_DIR"], ignore_errors=True)

# TCOMP_RECORD_KERNELS=FILE: every lowered program goes to FILE for the CUDA
# compile check (tests/compile_recorded_cuda.py; see tests/kernel_recorder.py).
if os.environ.get("TCOMP_RECORD_KERNELS"):
    from kernel_recorder import install_kernel_recorder

    install_kernel_recorder(os.environ["TCOMP_RECORD_KERNELS"])

settings.register_profile(
    "ci",
    max_examples=15,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def backends_under_test() -> list[str]:
    """The backends the shared suite runs on: ``TCOMP_TEST_BACKENDS`` or every available one."""
    from tcomp.backends.registry import available_backends

    requested = os.environ.get("TCOMP_TEST_BACKENDS")
    if requested:
        return [name.strip() for name in requested.split(",") if name.strip()]
    return available_backends()


@pytest.fixture(params=backends_under_test())
def backend(request: pytest.FixtureRequest) -> str:
    """The name of a backend to run the test on (each available one in turn)."""
    return request.param
