"""The on-disk compile cache: hits, misses, and never loading a bad entry -- nor one
that this user's tcomp did not write (a folder others can write, an entry planted
with recomputed digests, a link, a FIFO, a huge file, a key others could read)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tcomp.backends import cache_trust
from tcomp.backends.cache import CACHE_DIR_ENV, DiskCache, default_cache_dir


def make_cache(tmp_path: Path) -> DiskCache:
    return DiskCache(tmp_path, "test")


def test_store_then_load_in_a_new_cache_object(tmp_path):
    make_cache(tmp_path).store("kernel text A", b"object code A")
    cache = make_cache(tmp_path)
    assert cache.load("kernel text A") == b"object code A"
    assert cache.load("kernel text B") is None
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_different_keys_do_not_collide(tmp_path):
    cache = make_cache(tmp_path)
    cache.store("a", b"1")
    cache.store("b", b"2")
    assert cache.load("a") == b"1" and cache.load("b") == b"2"


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],  # truncated payload
        lambda data: data[:10],  # truncated header
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # a flipped bit in the payload
        lambda data: b"XXXXXXXX" + data[8:],  # another format
        lambda data: b"",  # empty file
    ],
)
def test_a_damaged_entry_is_rejected_removed_and_rebuilt(tmp_path, damage):
    cache = make_cache(tmp_path)
    cache.store("key", b"payload bytes")
    path = cache.path_for("key")
    path.write_bytes(damage(path.read_bytes()))
    assert cache.load("key") is None
    assert cache.stats.rejected == 1 and not path.exists()
    cache.store("key", b"payload bytes")
    assert cache.load("key") == b"payload bytes"


def test_an_entry_copied_under_another_key_is_rejected(tmp_path):
    cache = make_cache(tmp_path)
    cache.store("key one", b"payload one")
    cache.path_for("key two").write_bytes(cache.path_for("key one").read_bytes())
    assert cache.load("key two") is None
    assert cache.stats.rejected == 1


def test_an_unwritable_folder_makes_the_cache_do_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = DiskCache(blocker, "test")
    cache.store("key", b"payload")
    assert cache.load("key") is None
    assert cache.stats.errors >= 1 and cache.stats.stores == 0


def test_the_environment_chooses_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.setenv(CACHE_DIR_ENV, "off")
    assert default_cache_dir() is None
    assert not DiskCache.from_environment("x").enabled
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "tcomp"


def test_load_by_digest_checks_the_entry_like_load(tmp_path):
    from tcomp.backends.cache import key_digest

    cache = make_cache(tmp_path)
    cache.store("key", b"payload")
    assert cache.load_digest(key_digest("key")) == b"payload"
    assert cache.load_digest(key_digest("other")) is None  # a miss
    cache.path_for("other").write_bytes(cache.path_for("key").read_bytes())
    assert cache.load_digest(key_digest("other")) is None  # stored under another key
    assert cache.stats.rejected == 1
    with pytest.raises(ValueError):
        cache.load_digest("../../etc/passwd")


def test_the_least_recently_used_entries_go_when_the_folder_is_over_its_limit(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("TCOMP_CACHE_MAX_MB", str(2.5 * 1024 / 2**20))  # room for two entries
    cache = make_cache(tmp_path)
    payload = b"x" * 1000
    for age, key in enumerate(["old", "used", "middle"]):
        cache.store(key, payload)
        os.utime(cache.path_for(key), (1000 + age, 1000 + age))
    assert cache.load("used") == payload  # a hit makes "used" the most recent
    cache.store("new", payload)
    assert cache.load("old") is None and cache.load("middle") is None
    assert cache.load("used") == payload and cache.load("new") == payload
    assert cache.stats.evicted >= 2


# ---------------------------------------------------------------- only what this user's tcomp wrote

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534


@pytest.fixture(autouse=True)
def _warn_afresh():
    cache_trust.forget_warnings()  # each test sees its folder's one warning
    yield
    cache_trust.forget_warnings()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _forge_with_recomputed_digests(path: Path, payload: bytes) -> None:
    """What anyone who can write the folder could always do: keep the header's layout
    and key digest, put in their payload and recompute its length and SHA-256."""
    from tcomp.backends.cache import MAGIC

    key_hash = bytes.fromhex(path.stem)
    header = struct.pack("<8s32sQ32s", MAGIC, key_hash, len(payload),
                         hashlib.sha256(payload).digest())
    path.write_bytes(header + payload)


def test_an_entry_planted_with_recomputed_digests_is_rejected_and_removed(tmp_path):
    cache = make_cache(tmp_path)
    cache.store("key", b"the real object code")
    path = cache.path_for("key")
    _forge_with_recomputed_digests(path, b"code that calls system()")
    assert cache.load("key") is None
    assert cache.stats.rejected == 1 and not path.exists()
    # a new store is good again
    cache.store("key", b"the real object code")
    assert make_cache(tmp_path).load("key") == b"the real object code"


def test_an_entry_from_another_cache_folder_is_rejected(tmp_path):
    """Each cache folder has its own key: a copied entry (another machine, another
    user's cache) does not verify."""
    mine, theirs = DiskCache(tmp_path / "mine", "test"), DiskCache(tmp_path / "theirs", "test")
    mine.store("warm-up", b"x")
    theirs.store("key", b"their payload")
    mine.path_for("key").write_bytes(theirs.path_for("key").read_bytes())
    assert mine.load("key") is None and mine.stats.rejected == 1


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_folder_writable_by_group_or_others_is_not_used(tmp_path, mode):
    folder = tmp_path / "shared"
    cache = DiskCache(folder, "test")
    cache.store("key", b"payload")  # stored while the folder was still 0700
    folder.chmod(mode)
    with pytest.warns(cache_trust.TcompCacheWarning) as caught:
        assert cache.load("key") is None  # not loaded, whatever it holds
        cache.store("other", b"payload")
        assert cache.load("other") is None
    (warning,) = caught  # one warning for the folder, however often it is asked
    text = str(warning.message)
    assert "\n" not in text
    assert text == (f"tcomp: not using the compile cache {folder}: it is writable by "
                    f"group/others (mode {mode:04o}); run `chmod 700 {folder}` or set "
                    "TCOMP_CACHE_DIR to a folder of your own")
    assert not cache.path_for("other").exists()
    assert cache.stats.untrusted == 3 and cache.stats.hits == 0
    folder.chmod(0o700)  # fixed as the warning says: used again
    assert cache.load("key") == b"payload"


def test_a_writable_namespace_folder_is_not_used(tmp_path):
    cache = make_cache(tmp_path)
    cache.store("key", b"payload")
    (tmp_path / "test").chmod(0o777)
    with pytest.warns(cache_trust.TcompCacheWarning, match="writable by group/others"):
        assert cache.load("key") is None


@pytest.mark.parametrize("how", ["geteuid", "chown"])
def test_a_folder_owned_by_another_user_is_not_used(tmp_path, monkeypatch, how):
    folder = tmp_path / "theirs"
    cache = DiskCache(folder, "test")
    cache.store("key", b"payload")
    if how == "chown":
        if not IS_ROOT:
            pytest.skip("only root can give a folder away")
        os.chown(folder, NOBODY, NOBODY)
        owner, me = NOBODY, os.geteuid()
    else:
        me, owner = 4242, os.geteuid()
        monkeypatch.setattr(os, "geteuid", lambda: me)
    with pytest.warns(cache_trust.TcompCacheWarning) as caught:
        assert cache.load("key") is None
        cache.store("key2", b"payload")
    (warning,) = caught
    assert f"it is owned by {cache_trust.describe_user(owner)}, not by you" in str(warning.message)
    assert f"(uid {me})" in str(warning.message)
    assert not cache.path_for("key2").exists()


def _replace_entry(path: Path, kind: str, tmp_path: Path) -> None:
    good = path.read_bytes()
    path.unlink()
    if kind == "link to a good entry":
        target = tmp_path / "elsewhere.bin"
        target.write_bytes(good)
        target.chmod(0o600)
        path.symlink_to(target)
    elif kind == "folder":
        path.mkdir()
    elif kind == "writable by others":
        path.write_bytes(good)
        path.chmod(0o666)
    elif kind == "owned by another user":
        path.write_bytes(good)
        os.chown(path, NOBODY, NOBODY)


@pytest.mark.parametrize(
    "kind", ["link to a good entry", "folder", "writable by others", "owned by another user"]
)
def test_an_entry_that_is_not_a_regular_file_of_ours_is_rejected(tmp_path, kind):
    if kind == "owned by another user" and not IS_ROOT:
        pytest.skip("only root can give a file away")
    cache = make_cache(tmp_path)
    cache.store("key", b"payload")
    path = cache.path_for("key")
    _replace_entry(path, kind, tmp_path)
    assert cache.load("key") is None
    assert cache.stats.rejected == 1
    if kind != "folder":
        assert not os.path.lexists(path)  # removed (a link, not what it points to)
    if kind == "link to a good entry":
        assert (tmp_path / "elsewhere.bin").exists()


# Loads one entry in a child process whose address space is capped (so reading a
# link to /dev/zero or a huge file ends in MemoryError, not a swapping machine) and
# under a timeout (so a FIFO that blocks the open fails the test instead of hanging).
CHILD = r"""
import json, resource, sys
from pathlib import Path
from tcomp.backends.cache import DiskCache

with open("/proc/self/status") as status:
    used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (used + 512 * 2**20, resource.RLIM_INFINITY))
cache = DiskCache(Path(sys.argv[1]), "test")
payload = cache.load("key")
print(json.dumps({"payload": payload is not None, "rejected": cache.stats.rejected}))
"""


@pytest.mark.parametrize("kind", ["fifo", "link to /dev/zero", "oversized"])
def test_a_fifo_a_device_link_or_a_huge_entry_is_rejected_quickly(tmp_path, kind):
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux's /proc")
    cache = make_cache(tmp_path)
    cache.store("key", b"payload")
    path = cache.path_for("key")
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    else:
        with open(path, "wb") as stream:  # sparse: takes no disk space
            stream.truncate(cache_trust.MAX_ENTRY_BYTES + 2**20)
        path.chmod(0o600)
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], env=environment,
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading a {kind} entry hung")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"payload": False, "rejected": 1}
    assert not os.path.lexists(path)


@pytest.mark.parametrize("damage", ["mode", "owner", "size"])
def test_a_key_file_that_is_not_secret_makes_the_cache_unused(tmp_path, damage):
    if damage == "owner" and not IS_ROOT:
        pytest.skip("only root can give a file away")
    cache = make_cache(tmp_path)
    cache.store("key", b"payload")
    key = tmp_path / cache_trust.KEY_FILE
    assert _mode(key) == 0o600 and len(key.read_bytes()) == cache_trust.KEY_BYTES
    if damage == "mode":
        key.chmod(0o644)  # others may have read it: entries could be forged
    elif damage == "owner":
        os.chown(key, NOBODY, NOBODY)
    else:
        key.write_bytes(b"short")
    with pytest.warns(cache_trust.TcompCacheWarning, match=f"its key file {key}") as caught:
        assert cache.load("key") is None
        cache.store("other", b"payload")
    assert "rm " in str(caught[0].message)
    assert not cache.path_for("other").exists() and cache.stats.untrusted == 2
    key.unlink()  # the fix the warning gives: a new key, and old entries are rebuilt
    assert cache.load("key") is None and cache.stats.rejected == 1
    cache.store("key", b"payload")
    assert cache.load("key") == b"payload"


def test_folders_are_made_0700_and_files_0600_whatever_the_umask(tmp_path, monkeypatch):
    from tcomp.backends import compile_log

    root = tmp_path / "new" / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(root))
    previous = os.umask(0)
    try:
        DiskCache(root, "test").store("key", b"payload")
        compile_log.record_call("file.py:f", compile_log.CompileRecord(
            "llvm", "x: float32[4]", "miss", {"graph": "graph a"}, "graph text"))
    finally:
        os.umask(previous)
    for folder in (tmp_path / "new", root, root / "test", root / compile_log.LOG_FOLDER):
        assert _mode(folder) == 0o700, folder
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == 3  # the key, the entry, the log
    assert all(_mode(p) == 0o600 for p in files), {str(p): oct(_mode(p)) for p in files}


# Stores with files capped at a few KiB (RLIMIT_FSIZE: a write past it fails with EFBIG,
# as a full disk fails with ENOSPC): nothing may be left behind.
FULL_DISK = r"""
import resource, signal, sys
from pathlib import Path
from tcomp.backends import compile_log
from tcomp.backends.cache import DiskCache

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
cache = DiskCache(Path(sys.argv[1]), "test")
assert not cache.store("key", b"x" * 100_000)
assert cache.stats.errors == 1
compile_log.record_call("file.py:f", compile_log.CompileRecord(
    "llvm", "x: float32[4]", "miss", {"graph": "graph a"}, "graph text " * 10_000))
"""


def test_a_full_disk_leaves_no_temporary_file(tmp_path):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), CACHE_DIR_ENV: str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], env=environment,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob(".tmp-*"))
    assert left == []
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.json"))


def test_the_verdict_says_why_and_how_to_fix(tmp_path, monkeypatch):
    folder = tmp_path / "c"
    verdict = cache_trust.check_cache(folder)
    assert verdict.ok and not verdict.exists and "not made yet" in verdict.summary()
    DiskCache(folder, "test").store("key", b"payload")
    assert cache_trust.check_cache(folder).summary() == "ok (owned by you, mode 0700)"
    (folder / "test").chmod(0o775)
    verdict = cache_trust.check_cache(folder)
    assert not verdict.ok and verdict.path == folder / "test"
    assert verdict.summary() == (f"not used: {folder / 'test'}: it is writable by group/others "
                                 f"(mode 0775); run `chmod 700 {folder / 'test'}` or set "
                                 "TCOMP_CACHE_DIR to a folder of your own")
    (folder / "test").chmod(0o700)
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    assert "not by you" in cache_trust.check_cache(folder).reason

