"""The on-disk compile cache: hits, misses, and never loading a bad entry."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    import os

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
