"""``tcomp cache ls|clear|info``: the on-disk compile cache of the compiled backends.

Entries live in ``<cache folder>/<namespace>/<sha256>.bin``, one namespace per
backend store (``llvm``, ``llvm-graph``); see :mod:`tcomp.backends.cache`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tcomp.commands import subparser


def _entries(folder: Path) -> dict[str, list[Path]]:
    """Namespace -> its entry files (``*.bin`` and leftover ``.tmp-*``), sorted by name."""
    found: dict[str, list[Path]] = {}
    if not folder.is_dir():
        return found
    for namespace in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(
            p for p in namespace.iterdir()
            if p.is_file() and (p.suffix == ".bin" or p.name.startswith(".tmp-"))
        )
        found[namespace.name] = files
    return found


def _size(files: list[Path]) -> int:
    total = 0
    for path in files:
        try:
            total += path.stat().st_size
        except OSError:
            pass
    return total


def human_bytes(count: int) -> str:
    """``512 B``, ``1.5 KiB``, ``3.2 MiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _entries_text(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _folder_or_none() -> Path | None:
    from tcomp.backends.cache import default_cache_dir

    return default_cache_dir()


def info(args: argparse.Namespace) -> int:
    from tcomp.backends.cache import CACHE_DIR_ENV

    folder = _folder_or_none()
    if folder is None:
        print(f"location: none (the disk cache is off: {CACHE_DIR_ENV}=off)")
        print("enabled:  no")
        return 0
    entries = _entries(folder)
    files = [f for group in entries.values() for f in group]
    print(f"location: {folder}")
    print(f"enabled:  yes (set {CACHE_DIR_ENV} to move it, {CACHE_DIR_ENV}=off to turn it off)")
    print(f"size:     {human_bytes(_size(files))}")
    print(f"entries:  {len(files)}")
    for namespace, group in entries.items():
        print(f"  {namespace:12s} {_entries_text(len(group)):>12s}  {human_bytes(_size(group))}")
    return 0


def ls(args: argparse.Namespace) -> int:
    folder = _folder_or_none()
    if folder is None:
        print("the disk cache is off")
        return 0
    entries = _entries(folder)
    if not any(entries.values()):
        print(f"{folder}: empty")
        return 0
    print(f"{folder}:")
    for namespace, group in entries.items():
        print(f"{namespace:12s} {_entries_text(len(group)):>12s}  {human_bytes(_size(group))}")
    return 0


def clear(args: argparse.Namespace) -> int:
    folder = _folder_or_none()
    if folder is None:
        print("the disk cache is off: nothing to remove")
        return 0
    entries = _entries(folder)
    removed_any = False
    for namespace, group in entries.items():
        size = _size(group)
        count = 0
        for path in group:
            try:
                path.unlink()
                count += 1
            except FileNotFoundError:
                pass
        try:
            (folder / namespace).rmdir()  # only when empty: foreign files stay
        except OSError:
            pass
        if count:
            removed_any = True
            print(f"removed {_entries_text(count)} ({human_bytes(size)}) from {folder / namespace}")
    if not removed_any:
        print(f"{folder}: nothing to remove")
    return 0


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparser(
        commands, common, "cache",
        "show or clear the on-disk compile cache (location from TCOMP_CACHE_DIR)",
        "tcomp cache info",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="{info,ls,clear}")
    for name, run, text in (
        ("info", info, "location, whether the cache is on, size, entries per namespace"),
        ("ls", ls, "entries and bytes per namespace (backend store)"),
        ("clear", clear, "remove every entry (asks nothing) and say what was removed"),
    ):
        action = actions.add_parser(
            name, help=text, description=text[:1].upper() + text[1:] + ".", parents=[common],
            epilog=f"example:\n  TCOMP_CACHE_DIR=/tmp/tcomp-cache tcomp cache {name}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        action.set_defaults(run=run)
