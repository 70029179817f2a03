"""``http(s)://`` synchronization against lockgate v0.1.1's server (built from
tests/remote/lockgate, as the Rust and Go suites do; needs Go): exclusion with lockgate's own
DistributedLocker, client IDs, a lost lease after a server restart, a dead server."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Iterator, Tuple

import pytest

import werf_sync

from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def lockgate(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    out = tmp_path_factory.mktemp("lockgate-bin")
    subprocess.run(
        ["go", "build", "-o", f"{out}/", "./server", "./peer"],
        cwd=REPO_ROOT / "tests" / "remote" / "lockgate",
        check=True,
    )
    return out / "server", out / "peer"


class Server:
    def __init__(self, binary: Path, addr: str = "127.0.0.1:0") -> None:
        self.proc = subprocess.Popen([str(binary), "-addr", addr], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        assert line.startswith("LISTENING "), line
        self.url = line.split()[1]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def server(lockgate: Tuple[Path, Path]) -> Iterator[Server]:
    running = Server(lockgate[0])
    yield running
    running.stop()


def peer_try(peer: Path, url: str, client_id: str, lock: str) -> bool:
    """One non-blocking acquire by lockgate's DistributedLocker (werf's client code)."""
    done = subprocess.run(
        [str(peer), "-url", url, "-client-id", client_id, "-lock", lock, "-try"], stdin=subprocess.DEVNULL
    )
    assert done.returncode in (0, 3), done
    return done.returncode == 0


def test_http_locks_exclude_lockgate_and_report_a_lost_lease(
    home: Path, server: Server, lockgate: Tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WERF_SYNC_CLIENT_ID", raising=False)
    peer = lockgate[1]
    with werf_sync.open(home, address=server.url, client_id="py-binding") as sync:
        assert sync.client_id() == "py-binding"
        handle = sync.lock_stage("p", "d")
        assert not peer_try(peer, server.url, "py-binding", "p.d")
        assert peer_try(peer, server.url, "another-client", "p.d")
        assert sync.lost(handle) is None
        sync.unlock(handle)
        assert peer_try(peer, server.url, "py-binding", "p.d")

        handle = sync.lock_stage("p", "restart")
        addr = server.url[len("http://") :]
        server.stop()
        restarted = Server(lockgate[0], addr)
        try:
            deadline = time.monotonic() + 8
            while sync.lost(handle) is None:
                assert time.monotonic() < deadline, "the lost lease was never reported"
                time.sleep(0.1)
            lost = sync.lost(handle)
            assert isinstance(lost, werf_sync.LostLease) and "p.restart" in str(lost)
            with pytest.raises(werf_sync.LostLease):
                sync.unlock(handle)
            with pytest.raises(werf_sync.Unsupported):
                sync.try_lock("n")
        finally:
            restarted.stop()
    # Without a client ID the server hands out a fresh one.
    fresh = Server(lockgate[0])
    try:
        with werf_sync.open(home, address=fresh.url) as sync:
            client_id = sync.client_id()
            assert client_id and len(client_id) == 36
    finally:
        fresh.stop()


def test_a_dead_server_is_unavailable_naming_it(home: Path) -> None:
    with werf_sync.open(home, address="http://user:pw@127.0.0.1:1", client_id="c") as sync:
        with pytest.raises(werf_sync.Unavailable) as caught:
            sync.lock_stage("p", "d")
        assert isinstance(caught.value, ConnectionError)
        assert "http://127.0.0.1:1" in str(caught.value) and "pw" not in str(caught.value)
