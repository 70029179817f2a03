"""werf-sync for Python: werf's ``--synchronization=:local`` mode — named ``flock(2)`` locks
that exclude Go werf (lockgate) on the very same files — over the crate's C ABI.

    import werf_sync

    with werf_sync.open() as sync:                       # $WERF_HOME, else ~/.werf
        with sync.lock("myproject.0123abcd", timeout=30):
            ...                                          # build the stage

The shared library ``libwerf_sync.so`` comes inside the package (the wheel carries it);
``$WERF_SYNC_LIB`` names another build to use instead.
"""

from __future__ import annotations

from . import names
from ._library import LibraryNotFound
from .address import Address, AddressMode, parse_address
from .cache import StageId, StagesStorageCache
from .cancel import CancelToken
from .errors import (
    Cancelled,
    Closed,
    Corrupt,
    Deadlock,
    InternalError,
    InvalidArgument,
    IoError,
    LostLease,
    NotFound,
    ShouldResetCache,
    Timeout,
    Unavailable,
    Unsupported,
    WerfSyncError,
    WouldBlock,
    WrongFileType,
)
from .guard import LockGuard
from .manager import LockHandle
from .sync import Sync, open

__all__ = [
    "Address",
    "AddressMode",
    "Cancelled",
    "CancelToken",
    "Closed",
    "Corrupt",
    "Deadlock",
    "InternalError",
    "InvalidArgument",
    "IoError",
    "LostLease",
    "LibraryNotFound",
    "LockGuard",
    "LockHandle",
    "LostLease",
    "NotFound",
    "ShouldResetCache",
    "StageId",
    "StagesStorageCache",
    "Sync",
    "Timeout",
    "Unavailable",
    "Unsupported",
    "WerfSyncError",
    "WouldBlock",
    "WrongFileType",
    "library_version",
    "names",
    "open",
    "parse_address",
]


def library_version() -> str:
    """The version of the loaded shared library, ``"MAJOR.MINOR.PATCH"``."""
    from ._abi import lib

    return str(lib().werf_sync_version().decode("ascii"))
