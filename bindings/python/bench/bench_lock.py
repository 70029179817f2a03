"""Uncontended lock+unlock through the Python binding against its peers in the same run:

- raw ``fcntl.flock``: open + LOCK_EX + LOCK_UN + close of the lock file (the floor: what
  the binding does underneath, without the C ABI, name hashing and directory checks);
- the ``filelock`` package (tox-dev), Python's usual file lock, when installed.

The contenders run interleaved — a block of each in turn, many rounds — and each ratio is
total time over total time, so load from other processes on a shared machine hits all of
them alike. Prints the time per lock+unlock of each and the binding's ratios.

    pip install ./bindings/python filelock    # the package (a release build inside); optional peer
    python3 bindings/python/bench/bench_lock.py
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import tempfile
import time
from typing import Callable, Dict, Optional

import werf_sync  # the installed package (its wheel carries the library)


def per_op(bodies: Dict[str, Callable[[], None]], block: int, rounds: int) -> Dict[str, float]:
    """Mean seconds per call of each body, from ``rounds`` interleaved blocks of ``block``
    calls of each."""
    totals = dict.fromkeys(bodies, 0.0)
    for body in bodies.values():
        body()  # warm up: creates the lock files and directories
    for _ in range(rounds):
        for label, body in bodies.items():
            start = time.perf_counter()
            for _ in range(block):
                body()
            totals[label] += time.perf_counter() - start
    return {label: total / (block * rounds) for label, total in totals.items()}


def raw_flock(path: str) -> Callable[[], None]:
    def body() -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    return body


def bare_ctypes(sync: werf_sync.Sync, name: str) -> Callable[[], None]:
    """The two C calls the binding makes, straight through ctypes: what the C ABI costs from
    Python before the binding's own Python code."""
    import ctypes

    from werf_sync import _abi

    lib, data = _abi.lib(), name.encode()
    guard, error = ctypes.POINTER(_abi.Guard)(), ctypes.POINTER(_abi.Error)()
    try_lock, release = lib.werf_sync_try_lock, lib.werf_sync_lock_guard_release

    def body() -> None:
        sync._use(
            lambda ptr: try_lock(
                ptr, data, len(data), _abi.MODE_EXCLUSIVE, ctypes.byref(guard), ctypes.byref(error)
            )
        )
        release(guard, ctypes.byref(error))

    return body


def filelock_peer(path: str) -> Optional[Callable[[], None]]:
    try:
        import filelock
    except ImportError:
        return None
    lock = filelock.FileLock(path)

    def body() -> None:
        with lock:
            pass

    return body


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--block", type=int, default=50, help="calls per block")
    parser.add_argument("--rounds", type=int, default=120, help="blocks of each contender")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home, werf_sync.open(home) as sync:
        name = "bench.0123abcd"
        path = sync.lock_file_path(name)

        def binding_with() -> None:
            with sync.lock(name):
                pass

        def binding_try() -> None:
            guard = sync.try_lock(name)
            assert guard is not None
            guard.release()

        bodies: Dict[str, Callable[[], None]] = {
            "binding: with sync.lock(name)": binding_with,
            "binding: try_lock + release": binding_try,
            "bare ctypes: werf_sync_try_lock + _release": bare_ctypes(sync, name),
            "raw fcntl.flock open+lock+unlock+close": raw_flock(path),
        }
        peer = filelock_peer(os.path.join(home, "filelock.lock"))
        if peer is not None:
            bodies["filelock.FileLock acquire+release"] = peer
        results = per_op(bodies, args.block, args.rounds)

    print(
        f"library {werf_sync.library_version()} from {werf_sync._abi.lib().path}; "
        f"Python {sys.version.split()[0]}; {args.rounds} interleaved rounds of {args.block} calls each"
    )
    for label, seconds in results.items():
        print(f"  {label:45s} {seconds * 1e6:8.2f} us")
    binding = results["binding: with sync.lock(name)"]
    print(
        f"ratio binding / raw fcntl.flock:  {binding / results['raw fcntl.flock open+lock+unlock+close']:.2f}x"
    )
    print(
        f"ratio binding / bare ctypes:      {binding / results['bare ctypes: werf_sync_try_lock + _release']:.2f}x"
    )
    if peer is None:
        print("filelock is not installed (python3 -m pip install filelock); its ratio is not measured")
    else:
        print(
            f"ratio binding / filelock:         {binding / results['filelock.FileLock acquire+release']:.2f}x"
        )


if __name__ == "__main__":
    main()
