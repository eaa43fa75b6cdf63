"""Which compile-cache folders and files tcomp trusts: only what this user's tcomp wrote is loaded.

The disk cache (:mod:`tcomp.backends.cache`) holds native object code that
tcomp loads and runs, and the compile log (:mod:`tcomp.backends.compile_log`)
next to it. Whoever can write the folder could make the next run execute
their code, so before anything is read or written:

- the cache folder (``TCOMP_CACHE_DIR``, after following symbolic links) and
  the folder under it (a namespace such as ``llvm``, or ``calls``; never a
  symbolic link) must be folders owned by the current user
  (``os.geteuid()``) and not writable by group or others. A folder that
  fails is not used at all, neither loaded from nor stored to: the call
  compiles in memory, and :func:`warn_untrusted` says once per process and
  folder why and how to fix it (a :class:`TcompCacheWarning`);
- an entry must be a regular file owned by the user and not writable by
  group or others, at most :data:`MAX_ENTRY_BYTES`. It is opened with
  ``O_NOFOLLOW`` (a symbolic link is refused) and ``O_NONBLOCK`` (a FIFO
  never blocks), checked with ``fstat`` on the open descriptor and read up
  to its limit only; anything else is refused (:class:`UntrustedEntry`).

Folders are opened once and everything under them goes through the open
descriptors (``dir_fd``), so a path swapped between the check and the use
is not followed. Folders tcomp creates are made mode 0700 (explicitly, so
no umask widens or narrows them) and files 0600.

The cache's per-user key (:func:`user_key`): 32 random bytes in
``<cache folder>/key``, made 0600 with ``O_EXCL`` and read only when it is a
regular file of the user that group and others can neither read nor write.
Entries carry an HMAC-SHA256 under it (see :mod:`tcomp.backends.cache`).

What this protects against: entries planted or replaced by another local
user (through a folder that is theirs, or group- or world-writable: the
folder is refused), and entries that someone who cannot read the key made
or copied (a cache copied from another machine or another account: the
HMAC does not verify, the entry is removed and rebuilt). What it does not:
anyone who runs as you, or can read your key file, can forge entries, but
they can already run code as you; the folders above the cache folder are
not checked (keep it inside a folder only you can change, as
``~/.cache`` is).
"""

from __future__ import annotations

import errno
import os
import secrets
import shlex
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tcomp.backends.options import CACHE_DIR_ENV
from tcomp.ir.user_frames import user_stacklevel

FOLDER_MODE = 0o700
FILE_MODE = 0o600
MAX_ENTRY_BYTES = 2**30  # the largest file tcomp reads from the cache folder
KEY_FILE = "key"
KEY_BYTES = 32
OWN_FOLDER_FIX = f"set {CACHE_DIR_ENV} to a folder of your own"
_GROUP_OTHER_WRITE = stat.S_IWGRP | stat.S_IWOTH
_GROUP_OTHER_ANY = stat.S_IRWXG | stat.S_IRWXO
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# open() errors that mean "not a file to read": a symbolic link (O_NOFOLLOW), a socket
_NOT_A_FILE = {errno.ELOOP, errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP}


class TcompCacheWarning(UserWarning):
    """The compile cache folder (or its key) is not trusted, so it is not used."""


@dataclass(frozen=True)
class Verdict:
    """Whether a cache folder may be used: ``ok``, else ``reason`` (why not) and ``fix``."""

    ok: bool
    path: Path
    reason: str = ""
    fix: str = ""
    mode: int | None = None  # the folder's permission bits, when it exists
    exists: bool = True

    def summary(self) -> str:
        """``ok (owned by you, mode 0700)``, or ``not used: <folder>: <reason>; <fix>``."""
        if not self.ok:
            return f"not used: {self.path}: {self.reason}; {self.fix}"
        if not self.exists:
            return f"ok (not made yet: tcomp makes it owned by you, mode {FOLDER_MODE:04o})"
        return f"ok (owned by you, mode {self.mode:04o})"

    def warning_text(self) -> str:
        """The one-line warning of a folder that is not used."""
        return f"tcomp: not using the compile cache {self.path}: {self.reason}; {self.fix}"


class UntrustedFolder(Exception):
    """A cache folder (or its key file) failed the checks; ``verdict`` says why."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.warning_text())
        self.verdict = verdict


class UntrustedEntry(Exception):
    """A file in a trusted folder that must not be read (``reason`` says why)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe_user(uid: int) -> str:
    """``alice (uid 1000)``, or ``uid 1000`` when the name is unknown."""
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def folder_verdict(path: Path, info: os.stat_result) -> Verdict:
    """The verdict on a folder from its ``stat``: a folder, owned by us, not writable
    by group or others."""
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISDIR(info.st_mode):
        return Verdict(False, path, "it is not a folder", OWN_FOLDER_FIX, mode)
    me = os.geteuid()
    if info.st_uid != me:
        return Verdict(
            False, path,
            f"it is owned by {describe_user(info.st_uid)}, not by you ({describe_user(me)})",
            OWN_FOLDER_FIX, mode,
        )
    if mode & _GROUP_OTHER_WRITE:
        return Verdict(
            False, path, f"it is writable by group/others (mode {mode:04o})",
            f"run `chmod 700 {shlex.quote(str(path))}` or {OWN_FOLDER_FIX}", mode,
        )
    return Verdict(True, path, mode=mode)


def file_problem(info: os.stat_result, secret: bool = False) -> str | None:
    """Why a file must not be read (None when it may): not a regular file, owned by
    someone else, writable (``secret``: readable or writable) by group or others."""
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_uid != os.geteuid():
        return f"it is owned by {describe_user(info.st_uid)}, not by you"
    if secret and mode & _GROUP_OTHER_ANY:
        return f"it is readable or writable by group/others (mode {mode:04o})"
    if mode & _GROUP_OTHER_WRITE:
        return f"it is writable by group/others (mode {mode:04o})"
    return None


class CacheFolder:
    """The cache folder and one folder under it, open and checked (a context manager).

    ``root`` and ``fd`` are directory descriptors (``fd`` is ``root`` when no
    subfolder was asked for); ``path`` names the subfolder, for messages.
    """

    def __init__(self, root_path: Path, root: int, path: Path, fd: int) -> None:
        self.root_path = root_path
        self.root = root
        self.path = path
        self.fd = fd

    def close(self) -> None:
        if self.fd != self.root:
            os.close(self.fd)
        os.close(self.root)

    def __enter__(self) -> "CacheFolder":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_cache_folder(root: Path, subfolder: str | None = None, create: bool = False) -> CacheFolder:
    """Opens ``root`` (following symbolic links) and ``root/subfolder`` (never a link)
    after checking both (:func:`folder_verdict`); with ``create``, makes the missing
    ones mode 0700. Raises :class:`UntrustedFolder`, ``FileNotFoundError`` (missing and
    not ``create``) or another ``OSError``."""
    if create:
        make_folders(root)
    root_fd = os.open(root, _FOLDER_FLAGS)
    try:
        verdict = folder_verdict(root, os.fstat(root_fd))
        if not verdict.ok:
            raise UntrustedFolder(verdict)
        if subfolder is None:
            return CacheFolder(root, root_fd, root, root_fd)
        path = root / subfolder
        fd = _open_subfolder(root_fd, subfolder, path, create)
    except BaseException:
        os.close(root_fd)
        raise
    return CacheFolder(root, root_fd, path, fd)


def _open_subfolder(root_fd: int, name: str, path: Path, create: bool) -> int:
    made = False
    if create:
        try:
            os.mkdir(name, FOLDER_MODE, dir_fd=root_fd)
            made = True
        except FileExistsError:
            pass
    try:
        fd = os.open(name, _FOLDER_FLAGS | os.O_NOFOLLOW, dir_fd=root_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UntrustedFolder(Verdict(
                False, path, "it is a symbolic link or not a folder",
                f"remove it (`rm {shlex.quote(str(path))}`); tcomp makes a new one",
            )) from None
        raise
    try:
        if made:
            os.fchmod(fd, FOLDER_MODE)  # exactly 0700, whatever the umask
        verdict = folder_verdict(path, os.fstat(fd))
        if not verdict.ok:
            raise UntrustedFolder(verdict)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_folders(path: Path) -> None:
    """Makes ``path`` and its missing parents, each mode 0700 (existing ones are left
    as they are)."""
    missing = []
    current = path
    while True:
        try:
            os.lstat(current)
            break
        except FileNotFoundError:
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER_MODE)
        except FileExistsError:
            continue  # made by another process meanwhile: checked when opened
        fd = os.open(folder, _FOLDER_FLAGS | os.O_NOFOLLOW)
        try:
            os.fchmod(fd, FOLDER_MODE)
        finally:
            os.close(fd)


def read_file(folder_fd: int, name: str, limit: int = MAX_ENTRY_BYTES, secret: bool = False) -> bytes:
    """The bytes of ``name`` in the open folder, when it is a regular file of ours (see
    :func:`file_problem`) of at most ``limit`` bytes. Raises ``FileNotFoundError``,
    :class:`UntrustedEntry`, or another ``OSError``."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=folder_fd)
    except OSError as error:
        if error.errno in _NOT_A_FILE:
            raise UntrustedEntry("it is a symbolic link or not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        problem = file_problem(info, secret)
        if problem is not None:
            raise UntrustedEntry(problem)
        if info.st_size > limit:
            raise UntrustedEntry(f"it holds {info.st_size} bytes, more than {limit}")
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise UntrustedEntry(f"it holds more than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_file(folder_fd: int, name: str, data: bytes) -> None:
    """Writes ``name`` in the open folder atomically, mode 0600: a temporary
    ``.tmp-*`` file renamed into place, removed again when anything fails."""
    temporary = f".tmp-{secrets.token_hex(8)}"
    fd = os.open(temporary, _NEW_FILE_FLAGS, FILE_MODE, dir_fd=folder_fd)
    try:
        try:
            os.fchmod(fd, FILE_MODE)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=folder_fd)
        except OSError:
            pass
        raise


def user_key(folder: CacheFolder) -> bytes:
    """The cache's secret key (``<cache folder>/key``), made when missing. Raises
    :class:`UntrustedFolder` when the key file is not a 0600 file of ours of
    :data:`KEY_BYTES` bytes, or ``OSError``."""
    key_path = folder.root_path / KEY_FILE
    remove = f"remove it (`rm {shlex.quote(str(key_path))}`); tcomp makes a new key and rebuilds the cache"
    try:
        key = read_file(folder.root, KEY_FILE, KEY_BYTES, secret=True)
    except FileNotFoundError:
        key = _make_key(folder.root)
    except UntrustedEntry as error:
        raise UntrustedFolder(Verdict(
            False, folder.root_path, f"its key file {key_path}: {error.reason}", remove,
        )) from None
    if len(key) != KEY_BYTES:
        raise UntrustedFolder(Verdict(
            False, folder.root_path,
            f"its key file {key_path} holds {len(key)} bytes, not {KEY_BYTES}", remove,
        ))
    return key


def _make_key(root_fd: int) -> bytes:
    """Writes a new random key to a temporary file and links it in as ``key`` (so no
    process ever reads half a key); when another process linked one first, that one."""
    key = secrets.token_bytes(KEY_BYTES)
    temporary = f".key-{secrets.token_hex(8)}"
    write_file(root_fd, temporary, key)
    try:
        os.link(temporary, KEY_FILE, src_dir_fd=root_fd, dst_dir_fd=root_fd,
                follow_symlinks=False)
    except FileExistsError:
        return read_file(root_fd, KEY_FILE, KEY_BYTES, secret=True)
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
            raise
        # a file system without hard links: rename (two processes racing may each
        # use their own key once: their entries are then rebuilt, never trusted)
        os.replace(temporary, KEY_FILE, src_dir_fd=root_fd, dst_dir_fd=root_fd)
        return key
    finally:
        try:
            os.unlink(temporary, dir_fd=root_fd)
        except OSError:
            pass
    return key


def check_cache(root: Path) -> Verdict:
    """The verdict on a whole cache folder, creating nothing (for ``tcomp cache info``):
    the folder, its key file when there is one, and each folder under it."""
    try:
        folder = open_cache_folder(root)
    except UntrustedFolder as error:
        return error.verdict
    except FileNotFoundError:
        return Verdict(True, root, exists=False)
    except OSError as error:
        return Verdict(False, root, f"it cannot be opened ({error.strerror})",
                       OWN_FOLDER_FIX)
    with folder:
        verdict = folder_verdict(root, os.fstat(folder.root))
        try:
            user_key_if_present(folder)
        except UntrustedFolder as error:
            return error.verdict
        for name in sorted(os.listdir(folder.root)):
            kind = os.lstat(name, dir_fd=folder.root).st_mode
            if not (stat.S_ISDIR(kind) or stat.S_ISLNK(kind)):
                continue  # the key, a leftover temporary file
            try:
                open_cache_folder(root, name).close()
            except UntrustedFolder as error:
                return error.verdict
            except OSError:
                continue
    return verdict


def user_key_if_present(folder: CacheFolder) -> None:
    """Checks the key file when there is one (raises :class:`UntrustedFolder`)."""
    try:
        os.lstat(KEY_FILE, dir_fd=folder.root)
    except FileNotFoundError:
        return
    user_key(folder)


_WARNED: set[str] = set()


def warn_untrusted(verdict: Verdict) -> None:
    """Warns (:class:`TcompCacheWarning`) that a folder is not used, once per process
    and folder."""
    name = str(verdict.path)
    if name in _WARNED:
        return
    _WARNED.add(name)
    warnings.warn(verdict.warning_text(), TcompCacheWarning, stacklevel=user_stacklevel())


def forget_warnings() -> None:
    """Warns again about folders already warned about (tests use it)."""
    _WARNED.clear()
