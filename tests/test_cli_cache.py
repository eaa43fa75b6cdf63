"""``tcomp cache``: info (with the folder's trust verdict), ls, clear, and the cache turned off."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, in_fixtures, run  # noqa: F401 (autouse fixture)

from tcomp.backends.cache import DiskCache


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(folder))
    return folder


def test_cache_info_ls_clear(capsys, cache_dir):
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and f"location: {cache_dir}\n" in out and "entries:  0\n" in out
    assert run(capsys, "cache", "ls")[1] == f"{cache_dir}: empty\n"

    DiskCache(cache_dir, "llvm").store("a", b"x" * 100)
    DiskCache(cache_dir, "llvm").store("b", b"y" * 100)
    DiskCache(cache_dir, "llvm-graph").store("c", b"z")
    header = 80  # magic, key digest, payload length, payload digest
    entry, small = header + 100, header + 1
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and "enabled:  yes" in out and "entries:  3\n" in out
    assert f"size:     {2 * entry + small} B\n" in out
    code, out, _ = run(capsys, "cache", "ls")
    assert out == (
        f"{cache_dir}:\n"
        f"llvm            2 entries  {2 * entry} B\n"
        f"llvm-graph        1 entry  {small} B\n"
    )
    code, out, _ = run(capsys, "cache", "clear")
    assert code == 0 and out == (
        f"removed 2 entries ({2 * entry} B) from {cache_dir / 'llvm'}\n"
        f"removed 1 entry ({small} B) from {cache_dir / 'llvm-graph'}\n"
    )
    assert not list(cache_dir.rglob("*.bin"))
    assert run(capsys, "cache", "clear")[1] == f"{cache_dir}: nothing to remove\n"


def test_cache_info_says_whether_the_folder_is_trusted(capsys, cache_dir):
    DiskCache(cache_dir, "llvm").store("a", b"x")
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and "trust:    ok (owned by you, mode 0700)\n" in out
    cache_dir.chmod(0o777)
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and (
        f"trust:    not used: {cache_dir}: it is writable by group/others (mode 0777); "
        f"run `chmod 700 {cache_dir}` or set TCOMP_CACHE_DIR to a folder of your own\n"
    ) in out
    # clear deletes nothing in a folder others can change (they could plant links)
    code, _, err = run(capsys, "cache", "clear")
    assert_one_line_error(code, err, f"not clearing {cache_dir}: it is writable by group/others")
    assert list(cache_dir.rglob("*.bin"))


def test_cache_clear_on_a_read_only_folder_is_one_line(capsys, cache_dir, monkeypatch):
    import errno

    DiskCache(cache_dir, "llvm").store("a", b"x")

    def read_only(self, missing_ok=False):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "unlink", read_only)
    code, out, err = run(capsys, "cache", "clear")
    assert out == ""
    assert err == (f"tcomp cache: error: cannot remove entries in {cache_dir / 'llvm'}: "
                   "read-only file system\n")
    assert_one_line_error(code, err)


def test_cache_off(capsys, monkeypatch):
    monkeypatch.setenv("TCOMP_CACHE_DIR", "off")
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and "enabled:  no" in out
    assert run(capsys, "cache", "clear")[1] == "the disk cache is off: nothing to remove\n"


