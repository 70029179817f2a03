"""The lock file is werf's: ``<home>/service/locks/<hex MurmurHash3_x86_32(name)>``, checked
against an independent MurmurHash3 here and by locking the file with fcntl.flock."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

import werf_sync


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3_x86_32 after Austin Appleby's reference implementation."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & mask

    def mix(k: int) -> int:
        return (rotl((k * c1) & mask, 15) * c2) & mask

    h = seed
    whole = len(data) // 4 * 4
    for i in range(0, whole, 4):
        h = rotl(h ^ mix(int.from_bytes(data[i : i + 4], "little")), 13)
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[whole:]
    if tail:
        h ^= mix(int.from_bytes(tail, "little"))
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    return h ^ (h >> 16)


def test_reference_vectors() -> None:
    assert murmur3_x86_32(b"") == 0
    assert murmur3_x86_32(b"", 1) == 0x514E28B7
    assert murmur3_x86_32(b"hello") == 0x248BFA47
    assert murmur3_x86_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a",
        "myproject.0123abcd",
        "myproject.0123abcd.cache",
        "project/p;release/r;kube_context/c",
        "ünïcödé ☃",
    ],
)
def test_lock_file_path_is_werfs(sync: werf_sync.Sync, home: Path, name: str) -> None:
    expected = home / "service" / "locks" / format(murmur3_x86_32(name.encode()), "x")
    assert sync.lock_file_path(name) == str(expected)


def test_the_lock_is_a_flock_on_that_file(sync: werf_sync.Sync) -> None:
    name = "myproject.0123abcd"
    path = sync.lock_file_path(name)
    with sync.lock(name, timeout=5):
        fd = os.open(path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert sync.try_lock(name) is None, "a raw flock holder must exclude the binding"
    finally:
        os.close(fd)


def test_home_is_absolute(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(home.parent)
    with werf_sync.open(home.name) as sync:
        assert sync.home == str(home)
    monkeypatch.setenv("WERF_HOME", str(home))
    with werf_sync.open() as sync:
        assert sync.home == str(home)
