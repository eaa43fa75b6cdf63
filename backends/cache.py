"""The on-disk compile cache shared by the compiled backends.

A backend stores what it compiled (object code, a program binary, PTX) under
a key text that pins down everything the result depends on: the kernel IR
text, the target (CPU name and features, device) and the tcomp version.
Entries live in one folder:

- ``TCOMP_CACHE_DIR`` when set (``TCOMP_CACHE_DIR=off`` turns the disk
  cache off), else ``$XDG_CACHE_HOME/tcomp``, else ``~/.cache/tcomp``;
- one file per entry, named by the SHA-256 of its key, holding a header
  (magic, format version, the key's digest, the payload's length and
  SHA-256) and then the payload.

A file that is truncated, corrupt, written by another format version or
stored under another key (a hash collision, a copied file) is never loaded:
:meth:`DiskCache.load` counts it as ``rejected``, deletes it, and reports a
miss, so the caller compiles again and stores a good entry. Writes go to a
temporary file that is renamed into place, so a crash or two processes
writing at once never leave half an entry behind. A cache folder that
cannot be created or written makes the cache quietly do nothing (counted in
``errors``): compiling must never fail because of the cache. The folder
stays under ``TCOMP_CACHE_MAX_MB`` (default 1024 MiB): after each store the
least recently used entries go (a hit marks an entry used), so entries of
old tcomp versions, whose keys nobody asks for any more, age out.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CACHE_DIR_ENV = "TCOMP_CACHE_DIR"
MAX_MB_ENV = "TCOMP_CACHE_MAX_MB"
DEFAULT_MAX_MB = 1024
MAGIC = b"TCOMPC01"
_HEADER = struct.Struct("<8s32sQ32s")  # magic, key digest, payload length, payload digest


def default_cache_dir() -> Path | None:
    """The cache folder the environment chooses (None when the cache is off)."""
    configured = os.environ.get(CACHE_DIR_ENV, "").strip()
    if configured.lower() in ("off", "0", "none", "disabled"):
        return None
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "tcomp"


@dataclass
class CacheStats:
    """What a cache did since it was made: hits, misses, stores, rejected and evicted
    entries, I/O errors."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    rejected: int = 0
    errors: int = 0
    evicted: int = 0


@dataclass
class DiskCache:
    """Payload bytes stored by key text in ``folder/namespace`` (see the module docstring)."""

    folder: Path | None
    namespace: str
    stats: CacheStats = field(default_factory=CacheStats)
    # the folder's size as last scanned plus what this object stored since: the
    # folder is scanned again only when this passes the limit, not on every store
    _estimated_bytes: int | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, namespace: str) -> "DiskCache":
        return cls(default_cache_dir(), namespace)

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def path_for(self, key: str) -> Path | None:
        return self._path(key_digest(key))

    def _path(self, digest: str) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / self.namespace / (digest + ".bin")

    def load(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None (a miss, or a bad entry now removed)."""
        return self.load_digest(key_digest(key))

    def load_digest(self, digest: str) -> bytes | None:
        """Like :meth:`load`, for the key whose :func:`key_digest` is ``digest``
        (an entry stored under another key is rejected the same way)."""
        if len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise ValueError(f"not a key digest: {digest!r}")
        path = self._path(digest)
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.stats.misses += 1
            return None
        except OSError:
            self.stats.errors += 1
            self.stats.misses += 1
            return None
        payload = _unpack(data, bytes.fromhex(digest))
        if payload is None:
            self.stats.rejected += 1
            self.stats.misses += 1
            try:
                path.unlink()
            except OSError:
                self.stats.errors += 1
            return None
        self.stats.hits += 1
        try:
            os.utime(path)  # the entry was used now: eviction removes the least recently used
        except OSError:
            pass
        return payload

    def store(self, key: str, payload: bytes) -> None:
        """Writes ``payload`` under ``key`` atomically (errors are counted, never raised)."""
        path = self.path_for(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(_pack(key, payload))
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError:
            self.stats.errors += 1
            return
        self.stats.stores += 1
        if self._estimated_bytes is None:
            self._estimated_bytes = self._folder_bytes()
        else:
            self._estimated_bytes += _HEADER.size + len(payload)
        if self._estimated_bytes > max_cache_bytes():
            self.evict(keep=path)

    def _folder_bytes(self) -> int:
        total = 0
        for path in self.folder.glob("*/*.bin") if self.folder is not None else ():
            try:
                total += path.stat().st_size
            except OSError:
                continue
        return total

    def evict(self, keep: Path | None = None) -> int:
        """Removes the least recently used entries (of every namespace) until the
        folder holds at most ``TCOMP_CACHE_MAX_MB`` (default 1024); returns how many."""
        if self.folder is None:
            return 0
        limit = max_cache_bytes()
        entries = []
        for path in self.folder.glob("*/*.bin"):
            try:
                info = path.stat()
            except OSError:
                continue
            entries.append((info.st_mtime, info.st_size, path))
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, path in sorted(entries, key=lambda entry: entry[0]):
            if total <= limit:
                break
            if path == keep:
                continue
            try:
                path.unlink()
            except OSError:
                self.stats.errors += 1
                continue
            total -= size
            removed += 1
        self.stats.evicted += removed
        self._estimated_bytes = total
        return removed


def max_cache_bytes() -> int:
    """The disk cache's size limit: ``TCOMP_CACHE_MAX_MB`` (MiB), default 1024."""
    configured = os.environ.get(MAX_MB_ENV, "").strip()
    try:
        megabytes = float(configured) if configured else DEFAULT_MAX_MB
    except ValueError:
        megabytes = DEFAULT_MAX_MB
    return int(max(megabytes, 0) * 2**20)


_SHARED: dict[str, DiskCache] = {}


def shared_cache(namespace: str) -> DiskCache:
    """The process's cache object for ``namespace`` in the folder the environment
    chooses now; a new one when ``TCOMP_CACHE_DIR`` changed since the last call
    (so its statistics are those of the current folder)."""
    folder = default_cache_dir()
    cache = _SHARED.get(namespace)
    if cache is None or cache.folder != folder:
        cache = _SHARED[namespace] = DiskCache(folder, namespace)
    return cache


def key_digest(key: str) -> str:
    """The SHA-256 of a key text, in hex: the entry's file name."""
    return hashlib.sha256(key.encode()).hexdigest()


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _pack(key: str, payload: bytes) -> bytes:
    header = _HEADER.pack(MAGIC, _digest(key.encode()), len(payload), _digest(payload))
    return header + payload


def _unpack(data: bytes, expected_key_digest: bytes) -> bytes | None:
    if len(data) < _HEADER.size:
        return None
    magic, stored_key_digest, length, payload_digest = _HEADER.unpack_from(data)
    payload = data[_HEADER.size :]
    if magic != MAGIC or stored_key_digest != expected_key_digest or length != len(payload):
        return None
    if _digest(payload) != payload_digest:
        return None
    return payload
