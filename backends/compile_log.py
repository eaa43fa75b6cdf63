"""The compile log: what each jitted function's first call per signature found in the cache, and why a miss missed.

A compiled backend keys its cache entries by everything the result depends
on (for ``llvm``: the graph IR, the compiler's versions and sources, the CPU,
the options). When a call compiles from scratch instead of loading, the user
wants to know which of those changed. The log answers it across processes:

- :func:`record_call` runs on the first call of each jitted signature (from
  :mod:`tcomp.frontend.jit`). It stores a :class:`CompileRecord`: the backend,
  the argument types, where the program came from (``memory``, ``disk``,
  ``miss``...), the key's parts by name and the optimised graph's text.
- On a miss it compares the new record with the last one of the same
  function, backend and arguments (else the last of the same function and
  backend) and stores the reasons as lines (:func:`explain_miss`): which key
  parts changed, old and new, with a short diff when the graph changed, or,
  when nothing changed, that the entry was removed, evicted or damaged.
- ``tcomp cache info FILE.py:FUNC`` prints the records
  (:func:`load_records`).

Records live in ``<cache folder>/calls/<sha256 of the function's identity>.json``
(identity: the absolute path of the file that defines the function and its
qualified name), the newest :data:`RECORDS_PER_FUNCTION` per function, the
graph text only up to :data:`MAX_GRAPH_CHARS`. With the disk cache off
nothing is logged. The folder rules are the disk cache's
(:mod:`tcomp.backends.cache_trust`): the cache folder and ``calls`` must be
this user's and not writable by group or others (else nothing is read or
written, and a :class:`~tcomp.backends.cache_trust.TcompCacheWarning` says
why), a log file must be a regular file of this user of at most
:data:`MAX_LOG_BYTES`; ``calls`` is made mode 0700 and log files 0600.
Writing never fails a call: an unwritable folder or a damaged log file is
ignored (a damaged file is replaced), and a failed write (a full disk)
leaves no temporary file behind.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from tcomp.backends.cache import default_cache_dir
from tcomp.backends.cache_trust import (
    UntrustedEntry,
    UntrustedFolder,
    open_cache_folder,
    read_file,
    warn_untrusted,
    write_file,
)

LOG_FOLDER = "calls"
FORMAT = "tcomp compile log 1"
RECORDS_PER_FUNCTION = 16
MAX_GRAPH_CHARS = 200_000
MAX_FUNCTIONS = 512  # log files kept; the least recently written go first
MAX_LOG_BYTES = 64 * 2**20  # a larger log file is not read (nor is anything but a file)
DIFF_LINES = 12

# Outcomes that lowered and compiled nothing: the whole program came from a cache.
# (``memory-object`` and ``disk-object`` missed the graph-level key but found the
# machine code by its LLVM IR: explained like a miss.)
HITS = ("memory", "disk", "driver")

OUTCOME_WORDS = {
    "memory": "taken from this process's memory cache",
    "disk": "loaded from the disk cache",
    "driver": "built by the driver, which keeps its own binary cache (tcomp cannot see "
              "whether it hit)",
    "memory-object": "missed the graph-level cache; lowered and rendered again, and the "
                     "LLVM IR matched machine code already in memory (no LLVM compile)",
    "disk-object": "missed the graph-level cache; lowered and rendered again, and the "
                   "LLVM IR matched machine code on disk (no LLVM compile)",
    "miss": "compiled from scratch",
    "stale": "compiled from scratch (the disk entry was damaged or incomplete)",
}

# How a changed key part reads, by part name (others: "<name> changed").
PART_WORDS = {
    "versions": "tcomp, llvmlite or LLVM was upgraded",
    "sources": "tcomp's compiler sources changed (an upgrade or a local edit of tcomp)",
    "cpu": "the CPU (name or features) differs: another machine, or a container with other flags",
    "options": "the backend options changed (threads, threading runtime, unrolling)",
    "libmvec": "the vector maths library (libmvec) offers other functions",
    "format": "tcomp's cache format changed",
    "tcomp": "the tcomp version changed",
    "compiler": "the device, driver or compiler version changed",
    "kernel source": "the generated kernel source changed for the same graph (tcomp's renderer changed)",
}


@dataclass
class CompileRecord:
    """One first call of a jitted signature: what the cache did and what its key was."""

    backend: str
    arguments: str  # "x: float32[256,784], lr: float32[] (Python scalar)"
    outcome: str  # compile_info()["cache"]: memory, disk, miss, ...
    key_parts: dict[str, str]  # part name -> value (long values as digests)
    graph: str | None = None  # the optimised graph IR without locations (None: too long)
    when: float = field(default_factory=time.time)
    why: list[str] = field(default_factory=list)  # reasons, for a miss
    seconds: float | None = None  # what compiling took on this call

    @property
    def missed(self) -> bool:
        return self.outcome not in HITS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CompileRecord":
        record = cls(
            backend=str(data["backend"]),
            arguments=str(data["arguments"]),
            outcome=str(data["outcome"]),
            key_parts={str(k): str(v) for k, v in dict(data["key_parts"]).items()},
            graph=data.get("graph") if isinstance(data.get("graph"), str) else None,
            when=float(data["when"]),
            why=[str(line) for line in data.get("why", [])],
            seconds=float(data["seconds"]) if data.get("seconds") is not None else None,
        )
        return record


def function_identity(fn: Callable[..., Any]) -> str:
    """``/abs/path/file.py:qualified.name`` of a Python function (what the log is keyed by)."""
    code = getattr(fn, "__code__", None)
    filename = code.co_filename if code is not None else "<unknown>"
    if not filename.startswith("<"):
        filename = str(Path(filename).resolve())
    return f"{filename}:{getattr(fn, '__qualname__', getattr(fn, '__name__', '?'))}"


def log_path(identity: str, folder: Path | None = None) -> Path | None:
    """The log file of a function (None when the disk cache is off)."""
    folder = default_cache_dir() if folder is None else folder
    if folder is None:
        return None
    digest = hashlib.sha256(identity.encode()).hexdigest()
    return folder / LOG_FOLDER / f"{digest}.json"


def load_records(identity: str, folder: Path | None = None) -> list[CompileRecord]:
    """The records of a function, oldest first (empty when none, unreadable, or in a
    folder that is not trusted)."""
    path = log_path(identity, folder)
    if path is None:
        return []
    try:
        with open_cache_folder(path.parent.parent, LOG_FOLDER) as opened:
            text = read_file(opened.fd, path.name, MAX_LOG_BYTES)
        data = json.loads(text)
        if data.get("format") != FORMAT or data.get("function") != identity:
            return []
        return [CompileRecord.from_json(item) for item in data["records"]]
    except UntrustedFolder as error:
        warn_untrusted(error.verdict)
        return []
    except (OSError, UntrustedEntry, ValueError, KeyError, TypeError, AttributeError):
        return []


def record_call(identity: str, record: CompileRecord, folder: Path | None = None) -> CompileRecord:
    """Explains ``record`` (when it missed) against the function's earlier records,
    appends it to the log in ``folder`` (the program's ``CompileOptions.cache_dir``; by
    default the environment's now) and returns it. Never raises for a cache-folder
    problem."""
    path = log_path(identity, folder)
    if path is None:
        return record
    earlier = load_records(identity, folder)
    if record.missed:
        record.why = explain_miss(earlier, record)
    elif record.outcome == "driver":
        # the driver's own cache may have hit; say so only when tcomp's key changed
        reasons = explain_miss(earlier, record)
        record.why = reasons if _key_changed(earlier, record) else []
    if record.graph is None:
        record.graph = _same_graph_text(earlier, record)
    if record.graph is not None and len(record.graph) > MAX_GRAPH_CHARS:
        record.graph = None
    # Only the newest record of each (backend, arguments) keeps its graph text.
    for old in earlier:
        if (old.backend, old.arguments) == (record.backend, record.arguments):
            old.graph = None
    records = (earlier + [record])[-RECORDS_PER_FUNCTION:]
    data = {"format": FORMAT, "function": identity,
            "records": [item.to_json() for item in records]}
    try:
        with open_cache_folder(path.parent.parent, LOG_FOLDER, create=True) as opened:
            write_file(opened.fd, path.name, json.dumps(data).encode())
            _limit_functions(opened.fd)
    except UntrustedFolder as error:
        warn_untrusted(error.verdict)
    except OSError:
        pass
    return record


def _same_graph_text(earlier: list[CompileRecord], record: CompileRecord) -> str | None:
    """The graph text of the newest earlier record of ``record``'s backend and arguments
    whose ``graph`` key part is ``record``'s: a call that found its program by the
    traced graph never printed the optimised one, which that key part says is the same."""
    graph_part = record.key_parts.get("graph")
    for old in reversed(earlier):
        if (old.backend, old.arguments) == (record.backend, record.arguments):
            same = graph_part is not None and old.key_parts.get("graph") == graph_part
            return old.graph if same else None
    return None


def _limit_functions(folder_fd: int) -> None:
    """Removes the least recently written log files beyond :data:`MAX_FUNCTIONS`."""
    files = []
    with os.scandir(folder_fd) as entries:
        for entry in entries:
            if not entry.name.endswith(".json"):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                files.append((info.st_mtime, entry.name))
    for _, name in sorted(files)[: max(len(files) - MAX_FUNCTIONS, 0)]:
        try:
            os.unlink(name, dir_fd=folder_fd)
        except OSError:
            pass


def explain_miss(earlier: list[CompileRecord], record: CompileRecord) -> list[str]:
    """Why ``record`` compiled from scratch, as lines a user reads, by comparing it
    with the last earlier record of the same backend and arguments (else the same
    backend, whose arguments then differ)."""
    same_backend = [old for old in earlier if old.backend == record.backend]
    same_arguments = [old for old in same_backend if old.arguments == record.arguments]
    if not same_backend:
        return [f"no earlier call of this function on {record.backend} is on record "
                "(its first compile here, or the cache was cleared)"]
    if not same_arguments:
        last = same_backend[-1]
        return ["no earlier call with these argument types is on record; the last call "
                f"had ({last.arguments}), this one ({record.arguments})"]
    previous = same_arguments[-1]
    reasons = []
    for name, value in record.key_parts.items():
        old_value = previous.key_parts.get(name)
        if old_value is None or old_value == value:
            continue
        if name == "kernel source" and _changed(previous, record, "graph"):
            continue  # follows from the graph change reported above
        if name == "graph":
            reasons.append("the graph IR changed (the function's code, a constant it "
                           "captures, or tcomp's tracing and graph passes)")
            reasons += graph_diff(previous.graph, record.graph)
        else:
            reasons.append(f"{PART_WORDS.get(name, name + ' changed')}:")
            reasons.append(f"  was {_short(old_value)}")
            reasons.append(f"  now {_short(value)}")
    dropped = [name for name in previous.key_parts if name not in record.key_parts]
    if dropped:
        reasons.append(f"the key no longer has {', '.join(dropped)} (tcomp's cache key changed)")
    if reasons:
        return reasons
    if record.outcome == "stale":
        return ["the key is the same as the last call's, but the entry on disk was "
                "damaged or its object code was gone: compiled again and stored afresh"]
    return ["the key is the same as the last call's, but its entry was not on disk: "
            "removed by `tcomp cache clear`, evicted by the size limit (TCOMP_CACHE_MAX_MB), "
            "or the last call used another cache folder (TCOMP_CACHE_DIR)"]


def _key_changed(earlier: list[CompileRecord], record: CompileRecord) -> bool:
    same = [old for old in earlier
            if (old.backend, old.arguments) == (record.backend, record.arguments)]
    return bool(same) and same[-1].key_parts != record.key_parts


def _changed(old: CompileRecord, new: CompileRecord, part: str) -> bool:
    return old.key_parts.get(part, new.key_parts.get(part)) != new.key_parts.get(part)


def describe_outcome(outcome: str) -> str:
    """What an outcome means, in words."""
    return OUTCOME_WORDS.get(outcome, outcome)


def graph_diff(old: str | None, new: str | None) -> list[str]:
    """The first :data:`DIFF_LINES` changed lines of two graph texts, indented."""
    if old is None or new is None:
        return ["  (no diff: a graph text was too long to keep in the log)"]
    changed = [
        line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    shown = ["  " + line for line in changed[:DIFF_LINES]]
    if len(changed) > DIFF_LINES:
        shown.append(f"  ... {len(changed) - DIFF_LINES} more changed lines")
    return shown


def _short(value: str, limit: int = 160) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."
