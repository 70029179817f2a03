"""Status codes map to the right exception classes, with the message from the same call
naming the argument, path or lock that was wrong."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

import werf_sync
from werf_sync import _abi, _library
from werf_sync._call import call
from werf_sync.errors import _BY_STATUS


def test_every_class_matches_the_librarys_status_name() -> None:
    names = {
        werf_sync.WouldBlock: "WOULD_BLOCK",
        werf_sync.Timeout: "TIMEOUT",
        werf_sync.Cancelled: "CANCELLED",
        werf_sync.InvalidArgument: "INVALID_ARGUMENT",
        werf_sync.NotFound: "NOT_FOUND",
        werf_sync.IoError: "IO",
        werf_sync.Corrupt: "CORRUPT",
        werf_sync.Unsupported: "UNSUPPORTED",
        werf_sync.Deadlock: "DEADLOCK",
        werf_sync.InternalError: "PANIC",
        werf_sync.WrongFileType: "WRONG_FILE_TYPE",
        werf_sync.ShouldResetCache: "SHOULD_RESET_CACHE",
        werf_sync.LostLease: "LOST_LEASE",
        werf_sync.Unavailable: "UNAVAILABLE",
    }
    assert set(names) == set(_BY_STATUS.values())
    for cls, name in names.items():
        assert _abi.lib().werf_sync_status_name(cls.STATUS) == f"WERF_SYNC_STATUS_{name}".encode()
        assert issubclass(cls, werf_sync.WerfSyncError)
    # The library knows no status beyond these, so none can arrive unmapped.
    assert _abi.lib().werf_sync_status_name(len(names) + 1) == b"WERF_SYNC_STATUS_UNKNOWN"


def test_python_builtin_bases() -> None:
    assert issubclass(werf_sync.Timeout, TimeoutError)
    assert issubclass(werf_sync.InvalidArgument, ValueError)
    assert issubclass(werf_sync.NotFound, LookupError)
    assert issubclass(werf_sync.IoError, OSError)
    assert issubclass(werf_sync.Unavailable, ConnectionError)


def test_invalid_utf8_from_c_names_the_argument(sync: werf_sync.Sync) -> None:
    # Python text cannot hold invalid UTF-8; call the C function directly with such bytes.
    guard = ctypes.POINTER(_abi.Guard)()
    bad = b"caf\xff"
    with pytest.raises(werf_sync.InvalidArgument) as caught:
        sync._use(lambda ptr: call(_abi.lib().werf_sync_try_lock, ptr, bad, len(bad), 0, ctypes.byref(guard)))
    assert "lock name" in str(caught.value) and "UTF-8" in str(caught.value)
    assert caught.value.status == werf_sync.InvalidArgument.STATUS


def test_out_of_range_mode_from_c_names_the_argument(sync: werf_sync.Sync) -> None:
    guard = ctypes.POINTER(_abi.Guard)()
    with pytest.raises(werf_sync.InvalidArgument, match="lock mode"):
        sync._use(lambda ptr: call(_abi.lib().werf_sync_try_lock, ptr, b"x", 1, 7, ctypes.byref(guard)))


def test_lone_surrogate_name_is_rejected_naming_the_argument(sync: werf_sync.Sync) -> None:
    with pytest.raises(werf_sync.InvalidArgument, match="lock name"):
        sync.lock("bad\udcff")


def test_non_string_name_is_rejected(sync: werf_sync.Sync) -> None:
    with pytest.raises(werf_sync.InvalidArgument, match="lock name.*int"):
        sync.try_lock(42)  # type: ignore[arg-type]


def test_nul_byte_in_home_names_the_werf_home() -> None:
    with pytest.raises(werf_sync.InvalidArgument, match="werf home"):
        werf_sync.open("/tmp/a\0b")


@pytest.mark.parametrize("timeout", [-1, -0.5, float("nan"), "5"])
def test_bad_timeout_names_the_timeout(sync: werf_sync.Sync, timeout: object) -> None:
    with pytest.raises(werf_sync.InvalidArgument, match="timeout"):
        sync.lock("x", timeout=timeout)  # type: ignore[arg-type]


def test_symlinked_locks_directory_is_wrong_file_type(
    sync: werf_sync.Sync, home: Path, tmp_path: Path
) -> None:
    (home / "service").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", home / "service" / "locks")
    with pytest.raises(werf_sync.WrongFileType) as caught:
        sync.lock("x", timeout=1)
    assert str(home / "service" / "locks") in str(caught.value)
    assert "symlink" in str(caught.value)


def test_unlocking_an_unknown_handle_is_not_found(sync: werf_sync.Sync) -> None:
    handle = werf_sync.LockHandle(uuid="00000000-0000-4000-8000-000000000000", lock_name="p.d")
    with pytest.raises(werf_sync.NotFound, match="p.d"):
        sync.unlock(handle)


def test_malformed_handle_json_is_invalid() -> None:
    with pytest.raises(werf_sync.InvalidArgument, match="JSON|json"):
        werf_sync.LockHandle.from_json("{not json")


def test_a_missing_entry_point_is_unsupported_naming_it() -> None:
    libc = _abi.Library(ctypes.CDLL(None), Path("libc"))  # has no werf_sync_* functions
    with pytest.raises(werf_sync.Unsupported, match="libc has no function werf_sync_version"):
        libc.werf_sync_version()


def test_library_not_found_says_where_it_looked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WERF_SYNC_LIB", str(tmp_path / "nope.so"))
    with pytest.raises(werf_sync.LibraryNotFound, match="WERF_SYNC_LIB.*nope.so"):
        _library.find_library()
    monkeypatch.delenv("WERF_SYNC_LIB")
    monkeypatch.setattr(_library, "bundled_path", lambda: tmp_path / "a.so")
    with pytest.raises(werf_sync.LibraryNotFound, match="a.so.*pip install"):
        _library.find_library()


def test_the_installed_package_loads_its_own_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WERF_SYNC_LIB", raising=False)
    bundled = _library.find_library()
    assert bundled == Path(werf_sync.__file__).resolve().parent / _library.library_file_name()
    if "WERF_SYNC_LIB" not in os.environ:
        assert _abi.lib().path == bundled


def test_library_not_found_in_a_fresh_process(child_env: dict, tmp_path: Path) -> None:
    child_env["WERF_SYNC_LIB"] = str(tmp_path / "missing.so")
    run = subprocess.run(
        [sys.executable, "-c", "import werf_sync; werf_sync.open()"],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode != 0
    assert "LibraryNotFound" in run.stderr and "missing.so" in run.stderr
