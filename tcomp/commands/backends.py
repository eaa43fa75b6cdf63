"""``tcomp backends``: the backends, which are available here, how to get the others."""

from __future__ import annotations

import argparse

from tcomp.commands import subparser

INSTALL_HINTS = {
    "opencl": 'pip install "tcomp[opencl]"',
    "cuda": 'pip install "tcomp[cuda]"  (also needs an NVIDIA GPU and its driver)',
}
# the Python package each hint installs: no hint when it is there (the reason is elsewhere)
HINTED_MODULES = {"opencl": "pyopencl", "cuda": "pycuda"}


def install_hint(name: str) -> str | None:
    """How to install what the backend ``name`` lacks, when its package is missing."""
    import importlib.util

    module = HINTED_MODULES.get(name)
    if module is not None and importlib.util.find_spec(module) is not None:
        return None
    return INSTALL_HINTS.get(name)


def device_lines(name: str) -> list[str]:
    """The device a GPU backend runs on and, for opencl, every device with its number
    (``opencl:N``); nothing for the CPU backends."""
    from tcomp.backends.registry import get_backend

    driver = getattr(get_backend(name), "driver", None)
    if driver is None:
        return []
    lines = [f"uses {driver.info.describe()}"]
    if name == "opencl":
        from tcomp.backends.opencl.driver import list_devices

        for index, device in enumerate(list_devices()):
            platform = device.platform.name.strip()
            lines.append(f"opencl:{index} = {device.name.strip()} ({platform})")
    return lines


def unavailable_reason(name: str) -> str:
    """The first line of the error that keeps a backend from running here."""
    from tcomp.backends.registry import get_backend
    from tcomp.ir.errors import TcompBackendError

    try:
        backend = get_backend(name)
        check = getattr(backend, "check_available", None)
        if check is not None:
            check()
    except TcompBackendError as error:
        return str(error).splitlines()[0]
    return ""


def run(args: argparse.Namespace) -> int:
    from tcomp.backends.registry import KNOWN_BACKENDS, available_backends, default_backend_name

    available = set(available_backends())
    default = default_backend_name()
    for name in KNOWN_BACKENDS:
        details: list[str] = []
        if name in available:
            line = "available" + (" (default)" if name == default else "")
            details = device_lines(name)
        else:
            line = "not available"
            hint = install_hint(name)
            if hint:
                line += f"; install: {hint}"
            reason = unavailable_reason(name)
            if reason:
                details = [f"why: {reason}"]
        print(f"{name:10s} {line}")
        for detail in details:
            print(f"{'':10s}   {detail}")
    return 0


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparser(
        commands, common, "backends",
        "list backends, whether each is available, and how to install the missing ones",
        "tcomp backends",
    )
    parser.set_defaults(run=run)
