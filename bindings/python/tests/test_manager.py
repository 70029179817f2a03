"""werf's lock manager operations: werf's lock names, handles and their JSON."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

import werf_sync


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda s, **kw: s.lock_stage("proj", "0123abcd", **kw), "proj.0123abcd"),
        (lambda s, **kw: s.lock_stage_cache("proj", "0123abcd", **kw), "proj.0123abcd.cache"),
        (lambda s, **kw: s.lock_image("img", **kw), "img.image"),
        (lambda s, **kw: s.lock_stages_and_images("proj", **kw), "proj.stages_and_images"),
        (
            lambda s, **kw: s.lock_deploy_process("proj", "rel", "ctx", **kw),
            "project/proj;release/rel;kube_context/ctx",
        ),
        (lambda s, **kw: s.manager_lock("any name", **kw), "any name"),
    ],
)
def test_operations_lock_werfs_names(sync: werf_sync.Sync, call, name: str) -> None:
    handle = call(sync, timeout=5)
    assert handle.lock_name == name
    assert len(handle.uuid) == 36
    assert sync.try_lock(name) is None, "the manager holds the lock"
    with pytest.raises(werf_sync.Timeout) as caught:
        call(sync, timeout=0.05)
    assert caught.value.lock_name == name
    sync.unlock(handle)
    # Not try_lock: the timed-out wait's helper thread takes the released lock for a moment
    # before it notices nobody wants it any more (see the README's Semantics).
    with sync.lock(name, timeout=5) as guard:
        assert guard.held


def test_handle_json_is_lockgates(sync: werf_sync.Sync) -> None:
    handle = sync.lock_stage("proj", "digest")
    text = handle.to_json()
    assert json.loads(text) == {"uuid": handle.uuid, "lockName": "proj.digest"}
    assert werf_sync.LockHandle.from_json(text) == handle
    sync.unlock(werf_sync.LockHandle.from_json(text))  # a rebuilt handle unlocks the same lock
    with pytest.raises(werf_sync.NotFound):
        sync.unlock(handle)


def test_stages_and_images_shared(sync: werf_sync.Sync) -> None:
    first = sync.lock_stages_and_images("proj", shared=True, timeout=1)
    second = sync.lock_stages_and_images("proj", shared=True, timeout=1)
    with pytest.raises(werf_sync.Timeout):
        sync.lock_stages_and_images("proj", timeout=0.05)
    sync.unlock(first)
    sync.unlock(second)


def test_manager_try_lock(sync: werf_sync.Sync) -> None:
    handle = sync.manager_try_lock("m")
    assert handle is not None
    assert sync.manager_try_lock("m") is None
    assert sync.manager_try_lock("m", shared=True) is None
    sync.unlock(handle)


def test_cancel_a_manager_wait(sync: werf_sync.Sync) -> None:
    handle = sync.lock_stage("p", "d")
    token = werf_sync.CancelToken()
    threading.Timer(0.1, token.cancel).start()
    with pytest.raises(werf_sync.Cancelled) as caught:
        sync.lock_stage("p", "d", cancel=token)
    assert caught.value.lock_name == "p.d"
    sync.unlock(handle)


def test_close_releases_manager_locks(home: Path) -> None:
    with werf_sync.open(home) as first:
        first.lock_stage("p", "d")
        with werf_sync.open(home) as second:
            assert second.manager_try_lock("p.d") is None
    with werf_sync.open(home) as third:
        handle = third.manager_try_lock("p.d")
        assert handle is not None
        third.unlock(handle)


def test_manager_arguments_are_named_in_errors(sync: werf_sync.Sync) -> None:
    with pytest.raises(werf_sync.InvalidArgument, match="digest"):
        sync.lock_stage("p", "\udc80")
    with pytest.raises(werf_sync.InvalidArgument, match="lock name"):
        sync.lock_deploy_process("p", "r", "\udc80")


def test_names_are_werfs() -> None:
    names = werf_sync.names
    assert names.stage("p", "d") == "p.d"
    assert names.stage_cache("p", "d") == "p.d.cache"
    assert names.image("i") == "i.image"
    assert names.stages_and_images("p") == "p.stages_and_images"
    assert names.deploy_process("p", "r", "c") == "project/p;release/r;kube_context/c"


def test_close_ends_a_manager_wait(home: Path) -> None:
    holder = werf_sync.open(home)
    handle = holder.lock_stage("p", "d")
    waiter = werf_sync.open(home)
    outcome: list = []

    def wait() -> None:
        try:
            waiter.lock_stage("p", "d")
        except werf_sync.Cancelled as err:
            outcome.append(err)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.2)  # let it block in the library
    waiter.close()
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1 and outcome[0].lock_name == "p.d" and "closed" in str(outcome[0])
    holder.unlock(handle)
    holder.close()
