"""``tcomp cache ls|clear|info``: the on-disk compile cache of the compiled backends.

Entries live in ``<cache folder>/<namespace>/<sha256>.bin``, one namespace per
backend store (``llvm``, ``llvm-graph``, ``cuda-binaries``); see
:mod:`tcomp.backends.cache`. The compile log (``<cache folder>/calls``, see
:mod:`tcomp.backends.compile_log`) records what each jitted function's first
call per signature found; ``tcomp cache info FILE.py:FUNC`` prints it: whether
the last call hit, and for a miss which part of the key changed.

``info`` says whether tcomp trusts the folder (owned by you, not writable by
group or others: :mod:`tcomp.backends.cache_trust`) and, when not, why and
how to fix it; ``clear`` refuses a folder it does not trust (it would delete
through links others may have planted) and reports a folder it cannot
change (read-only, no permission) as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import errno
from pathlib import Path

from tcomp.backends.compile_log import LOG_FOLDER
from tcomp.commands import CliError, subparser


def _entries(folder: Path) -> dict[str, list[Path]]:
    """Namespace -> its entry files (``*.bin`` and leftover ``.tmp-*``), sorted by name."""
    found: dict[str, list[Path]] = {}
    if not folder.is_dir():
        return found
    namespaces = (p for p in folder.iterdir()
                  if p.is_dir() and not p.is_symlink() and p.name != LOG_FOLDER)
    for namespace in sorted(namespaces):
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


def _verdict(folder: Path):
    """Whether tcomp uses ``folder`` (owner and mode): a ``cache_trust.Verdict``."""
    from tcomp.backends.cache_trust import check_cache

    return check_cache(folder)


def _logged_functions(folder: Path) -> list[Path]:
    log = folder / LOG_FOLDER
    return sorted(log.glob("*.json")) if log.is_dir() else []


def info(args: argparse.Namespace) -> int:
    from tcomp.backends.cache import CACHE_DIR_ENV

    if args.target:
        return function_info(args.target)
    folder = _folder_or_none()
    if folder is None:
        print(f"location: none (the disk cache is off: {CACHE_DIR_ENV}=off)")
        print("enabled:  no")
        return 0
    entries = _entries(folder)
    files = [f for group in entries.values() for f in group]
    print(f"location: {folder}")
    print(f"enabled:  yes (set {CACHE_DIR_ENV} to move it, {CACHE_DIR_ENV}=off to turn it off)")
    print(f"trust:    {_verdict(folder).summary()}")
    print(f"size:     {human_bytes(_size(files))}")
    print(f"entries:  {len(files)}")
    for namespace, group in entries.items():
        print(f"  {namespace:12s} {_entries_text(len(group)):>12s}  {human_bytes(_size(group))}")
    logged = _logged_functions(folder)
    print(f"compile log: {len(logged)} function{'s' if len(logged) != 1 else ''} "
          "(tcomp cache info FILE.py:FUNC says why its last call missed)")
    return 0


def function_info(target: str) -> int:
    """Prints the compile log of one function: its last call first, then earlier ones."""
    import inspect

    from tcomp.backends.compile_log import describe_outcome, function_identity, load_records
    from tcomp.commands.inspect_fn import load_callable

    value = load_callable(target, "FUNC")
    function = inspect.unwrap(getattr(value, "_fn", value))
    if getattr(function, "__code__", None) is None:
        raise CliError(f"{target}: not a Python function")
    folder = _folder_or_none()
    if folder is None:
        print("the disk cache is off (TCOMP_CACHE_DIR=off): no compile log is kept")
        return 0
    identity = function_identity(function)
    verdict = _verdict(folder)
    if not verdict.ok:
        print(f"the compile log is not read: {verdict.path}: {verdict.reason}; {verdict.fix}")
        return 0
    records = load_records(identity, folder)
    print(f"function: {identity}")
    print(f"log:      {folder / LOG_FOLDER}")
    if not records:
        print("no call of this function is on record here (it has not run with this cache "
              "folder, or the cache was cleared)")
        return 0
    for index, record in enumerate(reversed(records)):
        title = "last call" if index == 0 else "earlier"
        print()
        print(f"{title}: {_when(record.when)}  backend {record.backend}  ({record.arguments})")
        took = f", {record.seconds:.3f} s" if record.seconds is not None else ""
        print(f"  {record.outcome}: {describe_outcome(record.outcome)}{took}")
        if record.why:
            print("  why:" if record.missed else "  tcomp's key changed since the call before:")
            for line in record.why:
                print(f"    {line}")
    return 0


def _when(seconds: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def ls(args: argparse.Namespace) -> int:
    folder = _folder_or_none()
    if folder is None:
        print("the disk cache is off")
        return 0
    entries = _entries(folder)
    logged = _logged_functions(folder)
    if not any(entries.values()) and not logged:
        print(f"{folder}: empty")
        return 0
    print(f"{folder}:")
    for namespace, group in entries.items():
        print(f"{namespace:12s} {_entries_text(len(group)):>12s}  {human_bytes(_size(group))}")
    if logged:
        print(f"{LOG_FOLDER:12s} {len(logged):>4d} function{'s' if len(logged) != 1 else ' '}"
              f"  {human_bytes(_size(logged))}")
    return 0


def clear(args: argparse.Namespace) -> int:
    folder = _folder_or_none()
    if folder is None:
        print("the disk cache is off: nothing to remove")
        return 0
    _check_owned(folder)
    entries = _entries(folder)
    removed_any = False
    for namespace, group in entries.items():
        size = _size(group)
        count = _remove(group, folder / namespace)
        try:
            (folder / namespace).rmdir()  # only when empty: foreign files stay
        except OSError:
            pass
        if count:
            removed_any = True
            print(f"removed {_entries_text(count)} ({human_bytes(size)}) from {folder / namespace}")
    logged = _logged_functions(folder)
    _remove(logged, folder / LOG_FOLDER)
    if logged:
        removed_any = True
        print(f"removed the compile log of {len(logged)} function"
              f"{'s' if len(logged) != 1 else ''} from {folder / LOG_FOLDER}")
    if not removed_any:
        print(f"{folder}: nothing to remove")
    return 0


def _check_owned(folder: Path) -> None:
    """A :class:`CliError` when ``folder`` is not yours or is writable by others."""
    from tcomp.backends.cache_trust import UntrustedFolder, open_cache_folder

    try:
        open_cache_folder(folder).close()
    except UntrustedFolder as error:
        verdict = error.verdict
        raise CliError(f"not clearing {folder}: {verdict.reason}; {verdict.fix}") from None
    except OSError:
        pass  # missing (nothing to remove) or unreadable (said when removing)


def _remove(files: list[Path], where: Path) -> int:
    """Removes ``files`` (in ``where``); how many. A folder that cannot be changed
    (read-only file system, no permission) is a :class:`CliError`."""
    count = 0
    for path in files:
        try:
            path.unlink()
            count += 1
        except FileNotFoundError:
            pass
        except OSError as error:
            reason = error.strerror or errno.errorcode.get(error.errno or 0, "failed")
            raise CliError(
                f"cannot remove entries in {where}: {reason[:1].lower()}{reason[1:]}"
            ) from error
    return count


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparser(
        commands, common, "cache",
        "show or clear the on-disk compile cache (location from TCOMP_CACHE_DIR)",
        "tcomp cache info",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="{info,ls,clear}")
    for name, run, text in (
        ("info", info, "location, whether the cache is on, size, entries per namespace; "
                       "with FILE.py:FUNC, why that function's last call missed"),
        ("ls", ls, "entries and bytes per namespace (backend store)"),
        ("clear", clear, "remove every entry (asks nothing) and say what was removed"),
    ):
        action = actions.add_parser(
            name, help=text, description=text[:1].upper() + text[1:] + ".", parents=[common],
            epilog=f"example:\n  TCOMP_CACHE_DIR=/tmp/tcomp-cache tcomp cache {name}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        action.set_defaults(run=run)
        if name == "info":
            action.add_argument(
                "target", nargs="?", metavar="FILE.py:FUNC",
                help="a jitted function: where its calls found their programs, and why "
                     "the last one missed (which part of the cache key changed)",
            )
            action.epilog += "\n  tcomp cache info model.py:train_step"
