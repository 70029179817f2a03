"""The exception hierarchy: one class per C status code, all under :class:`WerfSyncError`.

Each exception carries the message that came back from the same C call (it names the lock,
path or argument involved), the numeric ``status`` and its C name. Where a Python built-in
exception means the same thing, the class also derives from it, so ``except TimeoutError``
and ``except ValueError`` work as a Python programmer expects.
"""

from __future__ import annotations

from typing import Dict, Optional, Type


class WerfSyncError(Exception):
    """Base class of every error raised by werf-sync.

    Attributes:
        status: the C status code (``WERF_SYNC_STATUS_*``), or None for errors raised by the
            Python layer itself before any C call.
        message: the human-readable message.
    """

    #: The C status code this class stands for (None: not a C status).
    STATUS: Optional[int] = None

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = self.STATUS if status is None else status

    def __str__(self) -> str:
        return self.message


class WouldBlock(WerfSyncError, BlockingIOError):
    """A non-blocking attempt found the lock held elsewhere (``try_lock`` returns None
    instead of raising this; the lock manager's ``manager_try_lock`` likewise)."""

    STATUS = 1


class _LockWaitError(WerfSyncError):
    """A wait for a lock that ended without it; ``lock_name`` names the lock."""

    def __init__(self, message: str, status: Optional[int] = None, lock_name: Optional[str] = None) -> None:
        super().__init__(message, status)
        self.lock_name = lock_name


class Timeout(_LockWaitError, TimeoutError):
    """A wait with a timeout ran out of time. ``lock_name`` is the lock waited for."""

    STATUS = 2


class Cancelled(_LockWaitError):
    """A wait was ended through its :class:`~werf_sync.CancelToken`."""

    STATUS = 3


class InvalidArgument(WerfSyncError, ValueError):
    """An argument was rejected; the message names it and says why."""

    STATUS = 4


class NotFound(WerfSyncError, LookupError):
    """The thing asked for does not exist (e.g. unlocking a handle that is not held)."""

    STATUS = 5


class IoError(WerfSyncError, OSError):
    """A system call failed; the message names the path and the operating system's error.
    Also raised for a status code this package does not know (as the header advises)."""

    STATUS = 6


class Corrupt(WerfSyncError):
    """Stored data could not be read as the expected format."""

    STATUS = 7


class Unsupported(WerfSyncError):
    """Not supported: a filesystem without flock(2), an address this crate does not
    implement, or a library built before the function existed."""

    STATUS = 8


class Deadlock(WerfSyncError, RuntimeError):
    """Not raised any more: the library no longer refuses a wait on a lock the waiting thread
    acquired itself (the holder may have moved to another thread); such a wait waits, like
    lockgate's. Kept for the status code it stands for."""

    STATUS = 9


class InternalError(WerfSyncError):
    """werf-sync panicked (a bug; please report it). The process is fine."""

    STATUS = 10


class WrongFileType(WerfSyncError, OSError):
    """A directory or file werf-sync manages has the wrong type (e.g. a symlink)."""

    STATUS = 11


class ShouldResetCache(WerfSyncError):
    """The stages storage cache named a stage the stages storage no longer has: reset the
    project's cache (``sync.cache.delete_all_stages(project)``) and retry, as werf does.
    The message ends with werf's marker ``should reset storage cache``."""

    STATUS = 12


class LostLease(WerfSyncError):
    """A lock held on a synchronization server lost its lease (the server restarted, or
    renewals failed until the lease could have expired): it protects nothing any more. The
    message names the lock, the lease, the server and the reason. See ``Sync.lost``."""

    STATUS = 13


class Unavailable(WerfSyncError, ConnectionError):
    """The synchronization server or cluster could not be reached, refused the request or
    answered something that is not its protocol; the message names the address."""

    STATUS = 14


class Closed(WerfSyncError, ValueError):
    """The :class:`~werf_sync.Sync` (or lock guard) was already closed (released)."""


_BY_STATUS: Dict[int, Type[WerfSyncError]] = {
    cls.STATUS: cls
    for cls in (
        WouldBlock,
        Timeout,
        Cancelled,
        InvalidArgument,
        NotFound,
        IoError,
        Corrupt,
        Unsupported,
        Deadlock,
        InternalError,
        WrongFileType,
        ShouldResetCache,
        LostLease,
        Unavailable,
    )
}


def from_status(status: int, message: str, lock_name: Optional[str] = None) -> WerfSyncError:
    """The exception for a failed C call's ``status`` and ``message``."""
    cls = _BY_STATUS.get(status, IoError)
    if issubclass(cls, _LockWaitError):
        return cls(message, status, lock_name=lock_name)
    return cls(message, status)
