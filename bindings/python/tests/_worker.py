"""A child process for the multi-process tests.

python _worker.py HOME count NAME N   increment the integer in file HOME/counter N times,
                                      each time under lock NAME (read, pause, write)
python _worker.py HOME hold NAME      hold lock NAME, print "held", release on a line on stdin
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import werf_sync


def count(sync: werf_sync.Sync, home: Path, name: str, times: int) -> None:
    counter = home / "counter"
    for _ in range(times):
        with sync.lock(name, timeout=60):
            value = int(counter.read_text() or "0")
            time.sleep(0.0005)  # widen the race window a missing lock would lose updates in
            counter.write_text(str(value + 1))


def hold(sync: werf_sync.Sync, name: str) -> None:
    with sync.lock(name, timeout=60):
        print("held", flush=True)
        sys.stdin.readline()


def main() -> None:
    home, command, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    with werf_sync.open(home) as sync:
        if command == "count":
            count(sync, home, name, int(sys.argv[4]))
        elif command == "hold":
            hold(sync, name)
        else:
            sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
