"""werf's stages storage cache through the binding: round trips, misses, werf's record
format on disk, the reset status, and werf's cache lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import werf_sync
from werf_sync import StageId

DIGEST = "a" * 56
OTHER = "b" * 56


def cache_root(home: Path) -> Path:
    return home / "shared_context" / "storage" / "stages_storage_cache" / "1"


def test_round_trip(sync: werf_sync.Sync) -> None:
    stages = [StageId(DIGEST, 1647350000123), StageId("c" * 56, 1647350000999)]
    sync.cache.store_stages_by_digest("proj", DIGEST, stages)
    got = sync.cache.get_stages_by_digest("proj", DIGEST)
    assert got == stages and all(isinstance(s, StageId) for s in got)
    sync.cache.store_stages_by_digest("proj", OTHER, [(OTHER, 7)])  # plain pairs work too
    assert sync.cache.get_all_stages("proj") == stages + [StageId(OTHER, 7)]  # digest order
    sync.cache.delete_stages_by_digest("proj", DIGEST)
    assert sync.cache.get_stages_by_digest("proj", DIGEST) is None
    assert sync.cache.get_all_stages("proj") == [StageId(OTHER, 7)]
    sync.cache.delete_all_stages("proj")
    assert sync.cache.get_all_stages("proj") is None


def test_miss_is_none_and_empty_record_is_empty_list(sync: werf_sync.Sync) -> None:
    assert sync.cache.get_all_stages("proj") is None
    assert sync.cache.get_stages_by_digest("proj", DIGEST) is None
    sync.cache.store_stages_by_digest("proj", DIGEST, [])
    assert sync.cache.get_stages_by_digest("proj", DIGEST) == []
    assert sync.cache.get_all_stages("proj") == []
    sync.cache.delete_stages_by_digest("proj", OTHER)  # deleting a missing record is fine


def test_records_are_werfs_bytes(sync: werf_sync.Sync, home: Path) -> None:
    sync.cache.store_stages_by_digest("proj", DIGEST, [StageId(DIGEST, 1647350000123)])
    record = cache_root(home) / "proj" / DIGEST
    assert (
        record.read_bytes()
        == b'{"stages":[{"digest":"' + DIGEST.encode() + b'","uniqueID":1647350000123}]}\n'
    )
    # A record werf wrote (empty form, and the older string uniqueID is a miss, not an error).
    (cache_root(home) / "proj" / OTHER).write_bytes(b'{"stages":null}\n')
    assert sync.cache.get_stages_by_digest("proj", OTHER) == []
    (cache_root(home) / "proj" / OTHER).write_bytes(b"{torn")
    assert sync.cache.get_stages_by_digest("proj", OTHER) is None


def test_stage_id_string_form() -> None:
    assert str(StageId(DIGEST, 1647350000123)) == f"{DIGEST}-1647350000123"


def test_bad_arguments_name_what_was_wrong(sync: werf_sync.Sync) -> None:
    with pytest.raises(werf_sync.InvalidArgument, match="project"):
        sync.cache.get_all_stages("../escape")
    with pytest.raises(werf_sync.InvalidArgument, match="digest"):
        sync.cache.get_stages_by_digest("proj", "a/b")
    with pytest.raises(werf_sync.InvalidArgument, match="unique ID of stage 1"):
        sync.cache.store_stages_by_digest("proj", DIGEST, [StageId(DIGEST, 1), StageId(DIGEST, 2**63)])
    with pytest.raises(werf_sync.InvalidArgument, match="stage 0"):
        sync.cache.store_stages_by_digest("proj", DIGEST, ["not a pair"])  # type: ignore[list-item]
    assert sync.cache.get_stages_by_digest("proj", DIGEST) is None, "nothing was stored"


def test_store_waits_for_werfs_cache_lock(sync: werf_sync.Sync, home: Path) -> None:
    # werf <= v1.2.76 takes the cache root's absolute path as an exclusive lock to write.
    root = str(cache_root(home))
    stored = threading.Event()
    with sync.lock(root, timeout=5):
        writer = threading.Thread(
            target=lambda: (sync.cache.store_stages_by_digest("proj", DIGEST, [(DIGEST, 1)]), stored.set())
        )
        writer.start()
        assert not stored.wait(0.3), "a store must wait for werf's cache lock"
    assert stored.wait(10)
    writer.join()
    assert sync.cache.get_stages_by_digest("proj", DIGEST) == [StageId(DIGEST, 1)]


def test_should_reset_cache_maps_to_its_exception() -> None:
    err = werf_sync.errors.from_status(
        werf_sync.ShouldResetCache.STATUS, "stage gone: should reset storage cache"
    )
    assert isinstance(err, werf_sync.ShouldResetCache) and "should reset storage cache" in str(err)


def test_closed_sync_cache_raises_closed(home: Path) -> None:
    sync = werf_sync.open(home)
    cache = sync.cache
    sync.close()
    with pytest.raises(werf_sync.Closed):
        cache.get_all_stages("proj")
