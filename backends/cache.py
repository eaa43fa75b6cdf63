"""The on-disk compile cache shared by the compiled backends.

A backend stores what it compiled (object code, a program binary, PTX) under
a key text that pins down everything the result depends on: the kernel IR
text, the target (CPU name and features, device) and the tcomp version.
Entries live in one folder:

- ``TCOMP_CACHE_DIR`` when set (``TCOMP_CACHE_DIR=off`` turns the disk
  cache off), else ``$XDG_CACHE_HOME/tcomp``, else ``~/.cache/tcomp``;
- one file per entry, ``<namespace>/<SHA-256 of its key>.bin``, holding an
  80-byte header (magic ``TCOMPC02``, the key's SHA-256, the payload's
  length, and an HMAC-SHA256 under this user's cache key of the magic, the
  namespace, the key's digest, the length and the payload) and then the
  payload.

Only what this user's tcomp wrote is loaded (:mod:`tcomp.backends.cache_trust`
has the rules): the folder and the namespace folder must be this user's and
not writable by group or others, else the cache is not used (one
:class:`TcompCacheWarning` per folder and process, counted in
``untrusted``); an entry must be a regular file of this user, opened without
following links and read up to a size limit; and its HMAC must verify under
the key in ``<cache folder>/key`` (32 random bytes, mode 0600), which
someone who cannot read that file cannot compute. An entry that fails --
truncated, corrupt, of another format version (older versions' entries
included), stored under another key (a hash collision, a copied file),
planted or copied from another user or machine, a link, a FIFO, too
large -- is never loaded: :meth:`DiskCache.load` counts it as ``rejected``,
deletes it, and reports a miss, so the caller compiles again and stores a
good entry. This does not protect against someone who runs as you or can
read your key file: they can already run code as you.

Writes go to a temporary file (mode 0600) that is renamed into place, so a
crash or two processes writing at once never leave half an entry behind,
and a failed write (a full disk) leaves no temporary file. Folders tcomp
makes are mode 0700. A cache folder that cannot be created or written makes
the cache quietly do nothing (counted in ``errors``): compiling must never
fail because of the cache. The folder stays under ``TCOMP_CACHE_MAX_MB``
(default 1024 MiB): after each store the least recently used entries go (a
hit marks an entry used), so entries of old tcomp versions, whose keys
nobody asks for any more, age out.

The folder and the limit are compile options (``CompileOptions.cache_dir`` and
``cache_max_mb``, :mod:`tcomp.backends.options`): a backend asks
:func:`options_cache` for the cache of the options a program was compiled with,
so a program keeps the folder of its options even when the environment changes
later. :func:`shared_cache` without a folder (and :class:`DiskCache` without a
limit) reads the environment at that moment: for callers that were handed no
options.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection

from tcomp.backends.cache_trust import (
    CACHE_DIR_ENV,
    MAX_ENTRY_BYTES,
    CacheFolder,
    TcompCacheWarning,
    UntrustedEntry,
    UntrustedFolder,
    Verdict,
    open_cache_folder,
    read_file,
    user_key,
    warn_untrusted,
    write_file,
)
from tcomp.backends.options import (
    CACHE_MAX_MB_ENV,
    DEFAULT_CACHE_MAX_MB,
    CompileOptions,
    cache_dir_from_environment,
    cache_max_mb_from_environment,
)

__all__ = [
    "CACHE_DIR_ENV", "CacheStats", "DiskCache", "TcompCacheWarning", "default_cache_dir",
    "key_digest", "max_cache_bytes", "options_cache", "shared_cache",
]

MAX_MB_ENV = CACHE_MAX_MB_ENV
DEFAULT_MAX_MB = DEFAULT_CACHE_MAX_MB
MAGIC = b"TCOMPC02"  # 01: a plain SHA-256 of the payload, which anyone can recompute
_HEADER = struct.Struct("<8s32sQ32s")  # magic, key digest, payload length, HMAC


def default_cache_dir() -> Path | None:
    """The cache folder the environment chooses now (None when the cache is off; see
    :func:`tcomp.backends.options.cache_dir_from_environment`)."""
    return cache_dir_from_environment()


@dataclass
class CacheStats:
    """What a cache did since it was made: hits, misses, stores, rejected and evicted
    entries, I/O errors, and loads and stores skipped because the folder is not
    trusted (``untrusted``)."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    rejected: int = 0
    errors: int = 0
    evicted: int = 0
    untrusted: int = 0


@dataclass
class DiskCache:
    """Payload bytes stored by key text in ``folder/namespace`` (see the module docstring),
    the folder kept under ``max_mb`` MiB (None: what ``TCOMP_CACHE_MAX_MB`` says when
    a store checks it)."""

    folder: Path | None
    namespace: str
    stats: CacheStats = field(default_factory=CacheStats)
    max_mb: float | None = None
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
        """The entry file of ``key`` (None when the cache is off)."""
        return self.path_for_digest(key_digest(key))

    def path_for_digest(self, digest: str) -> Path | None:
        """The entry file of the key whose :func:`key_digest` is ``digest``."""
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
        if self.folder is None:
            return None
        payload = None
        try:
            with open_cache_folder(self.folder, self.namespace) as folder:
                payload = self._load_from(folder, digest)
        except FileNotFoundError:
            pass  # no folder, no entry: a miss
        except UntrustedFolder as error:
            self._untrusted(error.verdict)
        except OSError:
            self.stats.errors += 1
        if payload is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return payload

    def _load_from(self, folder: CacheFolder, digest: str) -> bytes | None:
        name = digest + ".bin"
        try:
            data = read_file(folder.fd, name, MAX_ENTRY_BYTES + _HEADER.size)
        except UntrustedEntry:
            self._reject(folder, name)
            return None
        payload = _unpack(data, user_key(folder), self.namespace, bytes.fromhex(digest))
        if payload is None:
            self._reject(folder, name)
            return None
        try:
            # the entry was used now: eviction removes the least recently used
            os.utime(name, dir_fd=folder.fd, follow_symlinks=False)
        except OSError:
            pass
        return payload

    def _reject(self, folder: CacheFolder, name: str) -> None:
        self.stats.rejected += 1
        try:
            os.unlink(name, dir_fd=folder.fd)
        except OSError:
            self.stats.errors += 1

    def _untrusted(self, verdict: Verdict) -> None:
        self.stats.untrusted += 1
        warn_untrusted(verdict)

    def contains_digest(self, digest: str) -> bool:
        """Whether an entry file for ``digest`` is there (not checked: :meth:`load_digest`
        checks it)."""
        path = self.path_for_digest(digest)
        return path is not None and path.is_file()

    def discard_digest(self, digest: str) -> None:
        """Removes the entry of ``digest``, if any (an entry that is of no use any more;
        counted nowhere)."""
        if self.folder is None:
            return
        try:
            with open_cache_folder(self.folder, self.namespace) as folder:
                os.unlink(digest + ".bin", dir_fd=folder.fd)
        except UntrustedFolder as error:
            self._untrusted(error.verdict)
        except OSError:
            pass

    def store(self, key: str, payload: bytes, keep: Collection[Path] = ()) -> bool:
        """Writes ``payload`` under ``key`` atomically; True when it was written (errors
        are counted, never raised). ``keep``: entries this one needs, which the
        eviction that may follow keeps with it."""
        path = self.path_for(key)
        if path is None or self.folder is None:
            return False
        if len(payload) > MAX_ENTRY_BYTES:
            self.stats.errors += 1  # never written: it would not be read back
            return False
        try:
            with open_cache_folder(self.folder, self.namespace, create=True) as folder:
                data = _pack(user_key(folder), self.namespace, key, payload)
                write_file(folder.fd, path.name, data)
        except UntrustedFolder as error:
            self._untrusted(error.verdict)
            return False
        except OSError:
            self.stats.errors += 1
            return False
        self.stats.stores += 1
        if self._estimated_bytes is None:
            self._estimated_bytes = self._folder_bytes()
        else:
            self._estimated_bytes += _HEADER.size + len(payload)
        if self._estimated_bytes > max_cache_bytes(self.max_mb):
            self.evict(keep=(path, *keep))
        return True

    def _folder_bytes(self) -> int:
        total = 0
        for path in self.folder.glob("*/*.bin") if self.folder is not None else ():
            try:
                total += path.stat().st_size
            except OSError:
                continue
        return total

    def evict(self, keep: Collection[Path] = ()) -> int:
        """Removes the least recently used entries (of every namespace) but those in
        ``keep`` until the folder holds at most :attr:`max_mb` MiB (by default
        ``TCOMP_CACHE_MAX_MB``, 1024 when unset); returns how many."""
        if self.folder is None:
            return 0
        try:
            open_cache_folder(self.folder).close()
        except UntrustedFolder as error:
            self._untrusted(error.verdict)
            return 0
        except OSError:
            return 0
        limit = max_cache_bytes(self.max_mb)
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
            if path in keep:
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


def max_cache_bytes(max_mb: float | None = None) -> int:
    """The disk cache's size limit in bytes: ``max_mb`` MiB, by default what
    ``TCOMP_CACHE_MAX_MB`` says now (1024 when unset)."""
    if max_mb is None:
        max_mb = cache_max_mb_from_environment()
    return int(max(max_mb, 0) * 2**20)


_SHARED: dict[str, DiskCache] = {}


class _Unset:
    """``shared_cache``'s default folder: the environment's (None already means off)."""


_UNSET = _Unset()


def shared_cache(
    namespace: str, folder: Path | None | _Unset = _UNSET, max_mb: float | None = None
) -> DiskCache:
    """The process's cache object for ``namespace`` in ``folder`` (None: the cache is
    off), by default the folder the environment chooses now; a new one when the folder
    changed since the last call (so its statistics are those of the current folder).
    Its size limit becomes ``max_mb`` MiB (None: what ``TCOMP_CACHE_MAX_MB`` says when a
    store checks), the latest caller's: each use asks for the cache just before."""
    if isinstance(folder, _Unset):
        folder = default_cache_dir()
    cache = _SHARED.get(namespace)
    if cache is None or cache.folder != folder:
        cache = _SHARED[namespace] = DiskCache(folder, namespace)
    cache.max_mb = max_mb
    return cache


def options_cache(namespace: str, options: CompileOptions) -> DiskCache:
    """The process's cache object for ``namespace`` in the folder and under the size
    limit of ``options`` (``cache_dir``, ``cache_max_mb``), whatever the environment
    says now."""
    return shared_cache(namespace, options.cache_dir, options.cache_max_mb)


def key_digest(key: str) -> str:
    """The SHA-256 of a key text, in hex: the entry's file name."""
    return hashlib.sha256(key.encode()).hexdigest()


def _mac(secret: bytes, namespace: str, key_hash: bytes, payload: bytes) -> bytes:
    """HMAC-SHA256 under the user's cache key of what an entry's header and payload say."""
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    mac.update(MAGIC + namespace.encode() + b"\0" + key_hash + struct.pack("<Q", len(payload)))
    mac.update(payload)
    return mac.digest()


def _pack(secret: bytes, namespace: str, key: str, payload: bytes) -> bytes:
    key_hash = hashlib.sha256(key.encode()).digest()
    mac = _mac(secret, namespace, key_hash, payload)
    return _HEADER.pack(MAGIC, key_hash, len(payload), mac) + payload


def _unpack(data: bytes, secret: bytes, namespace: str, expected_key_hash: bytes) -> bytes | None:
    if len(data) < _HEADER.size:
        return None
    magic, key_hash, length, mac = _HEADER.unpack_from(data)
    payload = data[_HEADER.size :]
    if magic != MAGIC or key_hash != expected_key_hash or length != len(payload):
        return None
    if not hmac.compare_digest(mac, _mac(secret, namespace, key_hash, payload)):
        return None
    return payload
