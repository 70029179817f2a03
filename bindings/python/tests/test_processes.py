"""Exclusion across processes: Python with Python, and Python with the Rust CLI."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import werf_sync

WORKER = str(Path(__file__).with_name("_worker.py"))
NOT_ACQUIRED = 75  # the CLI's exit code for a lock held elsewhere (sysexits EX_TEMPFAIL)


def start_holder(home: Path, name: str, env: Dict[str, str]) -> subprocess.Popen:
    """A Python child that holds lock ``name`` until told to release it."""
    child = subprocess.Popen(
        [sys.executable, WORKER, str(home), "hold", name],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline() == "held\n"
    return child


def release_holder(child: subprocess.Popen) -> None:
    child.communicate("release\n", timeout=30)
    assert child.returncode == 0


def test_two_python_processes_exclude_each_other(
    sync: werf_sync.Sync, home: Path, child_env: Dict[str, str]
) -> None:
    child = start_holder(home, "shared-name", child_env)
    try:
        assert sync.try_lock("shared-name") is None
        start = time.monotonic()
        release_holder(child)
        with sync.lock("shared-name", timeout=10):
            assert time.monotonic() - start < 5
    finally:
        child.kill()
        child.wait()


def test_counter_under_lock_reaches_exactly_n(home: Path, child_env: Dict[str, str]) -> None:
    processes, increments = 4, 40
    (home / "counter").write_text("0")
    children: List[subprocess.Popen] = [
        subprocess.Popen(
            [sys.executable, WORKER, str(home), "count", "counter", str(increments)], env=child_env
        )
        for _ in range(processes)
    ]
    for child in children:
        assert child.wait(timeout=120) == 0
    assert int((home / "counter").read_text()) == processes * increments


def cli_lock(cli: Path, home: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(cli), "--home", str(home), "lock", *args], capture_output=True, text=True, timeout=timeout
    )


def test_cli_nonblock_exits_75_while_python_holds(sync: werf_sync.Sync, home: Path, cli: Path) -> None:
    with sync.lock("cli-name", timeout=5):
        run = cli_lock(cli, home, "--nonblock", "cli-name", "--", "true")
        assert run.returncode == NOT_ACQUIRED, run.stderr
        assert run.stderr == "", "quiet by default, as flock(1)"
        run = cli_lock(cli, home, "--nonblock", "--verbose", "cli-name", "--", "true")
        assert run.returncode == NOT_ACQUIRED, run.stderr
        assert "cli-name" in run.stderr
        run = cli_lock(cli, home, "--timeout", "0.2", "cli-name", "--", "true")
        assert run.returncode == NOT_ACQUIRED, run.stderr
    assert cli_lock(cli, home, "--nonblock", "cli-name", "--", "true").returncode == 0


def test_cli_shared_coexists_with_python_shared(sync: werf_sync.Sync, home: Path, cli: Path) -> None:
    with sync.lock("sh", shared=True, timeout=5):
        assert cli_lock(cli, home, "--shared", "--nonblock", "sh", "--", "true").returncode == 0
        assert cli_lock(cli, home, "--nonblock", "sh", "--", "true").returncode == NOT_ACQUIRED


def test_python_waits_for_the_cli_holder(sync: werf_sync.Sync, home: Path, cli: Path, tmp_path: Path) -> None:
    marker, release = tmp_path / "cli-holds", tmp_path / "release"
    script = f"touch {marker}; while [ ! -e {release} ]; do sleep 0.01; done"
    child = subprocess.Popen([str(cli), "--home", str(home), "lock", "from-cli", "--", "sh", "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline and child.poll() is None, "the CLI never got the lock"
            time.sleep(0.01)
        assert sync.try_lock("from-cli") is None
        release.touch()
        with sync.lock("from-cli", timeout=30):
            assert child.wait(timeout=30) == 0
    finally:
        child.kill()
        child.wait()


def test_counter_shared_by_python_and_cli_processes(home: Path, cli: Path, child_env: Dict[str, str]) -> None:
    increments = 20
    counter = home / "counter"
    counter.write_text("0")
    bump = f"n=$(cat {counter}); sleep 0.001; echo $((n + 1)) > {counter}"
    cli_loop = (
        f"for i in $(seq {increments}); do "
        f'"{cli}" --home "{home}" lock --timeout 60 counter -- sh -c \'{bump}\' || exit 1; done'
    )
    children = [
        subprocess.Popen(
            [sys.executable, WORKER, str(home), "count", "counter", str(increments)], env=child_env
        ),
        subprocess.Popen(
            [sys.executable, WORKER, str(home), "count", "counter", str(increments)], env=child_env
        ),
        subprocess.Popen(["sh", "-c", cli_loop]),
    ]
    for child in children:
        assert child.wait(timeout=120) == 0
    assert int(counter.read_text()) == 3 * increments


def test_a_forked_child_does_not_release_the_parents_locks(
    sync: werf_sync.Sync, home: Path, cli: Path
) -> None:
    guard = sync.lock("forked", timeout=5)
    sync.lock_stage("proj", "forked")
    pid = os.fork()
    if pid == 0:  # the child: must not unlock what it shares with the parent
        code = 1
        try:
            try:
                guard.release()
            except werf_sync.WerfSyncError as err:
                code = 0 if "before a fork" in str(err) else 2
            sync.close()
            del guard
            gc.collect()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    for name in ("forked", "proj.forked"):
        run = cli_lock(cli, home, "--nonblock", name, "--", "true")
        assert run.returncode == NOT_ACQUIRED, f"{name}: {run.stderr}"
    guard.release()
