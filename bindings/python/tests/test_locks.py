"""Locks within one process: lock/unlock, shared vs exclusive, timeout, try_lock,
cancellation from another thread, guards and the Sync lifetime."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import werf_sync


def test_lock_and_unlock(sync: werf_sync.Sync) -> None:
    with sync.lock("myproject.0123", timeout=5) as guard:
        assert guard.held and guard.name == "myproject.0123" and not guard.shared
        assert sync.try_lock("myproject.0123") is None
    assert not guard.held
    again = sync.try_lock("myproject.0123")
    assert again is not None
    again.release()


def test_shared_locks_coexist_and_exclusive_excludes(sync: werf_sync.Sync) -> None:
    first = sync.lock("s", shared=True, timeout=1)
    second = sync.try_lock("s", shared=True)
    assert second is not None and second.shared
    assert sync.try_lock("s") is None, "exclusive must wait for shared holders"
    first.release()
    assert sync.try_lock("s") is None, "one shared holder is still there"
    second.release()
    with sync.lock("s", timeout=1):
        assert sync.try_lock("s", shared=True) is None, "shared must wait for the exclusive holder"


def test_timeout_raises_quickly_and_names_the_lock(sync: werf_sync.Sync) -> None:
    with sync.lock("busy"):
        start = time.monotonic()
        with pytest.raises(werf_sync.Timeout) as caught:
            sync.lock("busy", timeout=0.2)
        waited = time.monotonic() - start
    assert 0.19 <= waited < 1.5, waited
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.lock_name == "busy"
    assert '"busy"' in str(caught.value)
    assert caught.value.status == werf_sync.Timeout.STATUS


def test_zero_timeout_is_one_attempt(sync: werf_sync.Sync) -> None:
    with sync.lock("z"):
        with pytest.raises(werf_sync.Timeout):
            sync.lock("z", timeout=0)
    sync.lock("z", timeout=0).release()


def test_try_lock_returns_none_while_held(sync: werf_sync.Sync) -> None:
    guard = sync.try_lock("t")
    assert guard is not None
    assert sync.try_lock("t") is None
    assert sync.try_lock("t", shared=True) is None
    guard.release()
    with sync.try_lock("t") as again:  # type: ignore[union-attr]
        assert again.held


def test_waiter_gets_the_lock_when_released(sync: werf_sync.Sync) -> None:
    guard = sync.lock("handover")
    got = threading.Event()

    def waiter() -> None:
        with sync.lock("handover", timeout=5):
            got.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not got.wait(0.2), "the waiter must not get a held lock"
    guard.release()
    assert got.wait(5)
    thread.join()


def test_cancel_from_another_thread(sync: werf_sync.Sync) -> None:
    token = werf_sync.CancelToken()
    outcome: list = []

    def waiter() -> None:
        try:
            sync.lock("c", cancel=token)
        except werf_sync.Cancelled as err:
            outcome.append(err)

    with sync.lock("c"):
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.1)
        assert thread.is_alive(), "the waiter must be waiting"
        start = time.monotonic()
        token.cancel()
        thread.join(5)
        assert not thread.is_alive()
        assert time.monotonic() - start < 1
    assert token.cancelled
    assert len(outcome) == 1 and outcome[0].lock_name == "c"
    with pytest.raises(werf_sync.Cancelled):
        sync.lock("c", cancel=token)  # cancellation is permanent, even for a free lock


def test_same_thread_relock_waits_like_lockgate(sync: werf_sync.Sync) -> None:
    # Not re-entrant: the second acquisition waits for the first (every wait carries a
    # cancel token for close(), so the library's same-thread deadlock check does not apply).
    with sync.lock("d"):
        with pytest.raises(werf_sync.Timeout) as caught:
            sync.lock("d", timeout=0.05)
    assert caught.value.lock_name == "d"


def test_close_ends_a_wait_without_timeout(home: Path) -> None:
    """close() while another thread waits forever: the wait ends at once with Cancelled
    and close() returns (it used to wait for the waiter, forever)."""
    holder = werf_sync.open(home)
    guard = holder.lock("w")
    waiter_sync = werf_sync.open(home)
    outcome: list = []

    def waiter() -> None:
        try:
            waiter_sync.lock("w")
        except werf_sync.Cancelled as err:
            outcome.append(err)

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.2)
    assert thread.is_alive(), "the waiter must be waiting"
    start = time.monotonic()
    closer = threading.Thread(target=waiter_sync.close)
    closer.start()
    closer.join(5)
    thread.join(5)
    assert not closer.is_alive() and not thread.is_alive()
    assert time.monotonic() - start < 1
    assert len(outcome) == 1 and outcome[0].lock_name == "w" and "closed" in str(outcome[0])
    with pytest.raises(werf_sync.Closed):
        waiter_sync.lock("w")
    guard.release()
    holder.close()


def test_a_caller_token_and_close_both_end_a_wait(home: Path) -> None:
    with werf_sync.open(home) as holder, holder.lock("both"):
        with werf_sync.open(home) as sync:
            token = werf_sync.CancelToken()
            threading.Timer(0.1, token.cancel).start()
            with pytest.raises(werf_sync.Cancelled) as caught:
                sync.lock("both", cancel=token)
            assert "closed" not in str(caught.value)
            # The caller's token is not cancelled by close(), so it may serve other waits.
            other = werf_sync.CancelToken()
            threading.Timer(0.1, sync.close).start()
            with pytest.raises(werf_sync.Cancelled, match="closed"):
                sync.lock("both", cancel=other)
            assert not other.cancelled


def test_guard_release_twice_and_release_inside_with(sync: werf_sync.Sync) -> None:
    with sync.lock("g") as guard:
        guard.release()  # the with block then does nothing
        with pytest.raises(werf_sync.Closed):
            guard.release()
    again = sync.try_lock("g")
    assert again is not None
    again.release()


def test_unreleased_guard_is_released_by_gc_with_a_warning(sync: werf_sync.Sync) -> None:
    guard = sync.lock("leak")
    with pytest.warns(ResourceWarning, match="leak"):
        del guard
    lock = sync.try_lock("leak")
    assert lock is not None
    lock.release()


def test_guard_outlives_closed_sync(home) -> None:
    sync = werf_sync.open(home)
    guard = sync.lock("outlive")
    sync.close()
    assert sync.closed
    with werf_sync.open(home) as other:
        assert other.try_lock("outlive") is None
        guard.release()
        again = other.try_lock("outlive")
        assert again is not None
        again.release()


def test_closed_sync_raises_closed(home) -> None:
    sync = werf_sync.open(home)
    sync.close()
    sync.close()  # harmless
    with pytest.raises(werf_sync.Closed, match="closed"):
        sync.lock("x")


def test_threads_of_one_process_exclude_each_other(sync: werf_sync.Sync) -> None:
    # Each acquisition opens its own descriptor, so threads exclude each other like processes.
    threads, increments = 4, 100
    counter = [0]

    def work() -> None:
        for _ in range(increments):
            with sync.lock("threads", timeout=30):
                value = counter[0]
                time.sleep(0)  # let another thread run between read and write
                counter[0] = value + 1

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert counter[0] == threads * increments
