"""A held lock: release it explicitly, with ``with``, or (as a safety net) by garbage
collection."""

from __future__ import annotations

import os
import threading
import warnings
from types import TracebackType
from typing import Any, Optional, Type

from . import _abi
from ._call import call
from .errors import Closed, WerfSyncError


class LockGuard:
    """A lock acquired by :meth:`Sync.lock` or :meth:`Sync.try_lock`, held until
    :meth:`release` (or the end of a ``with`` block).

    Releasing unlocks and closes the lock file's descriptor, as werf does. A guard does not
    depend on its :class:`Sync`, which may be closed first. It may be released from another
    thread than the one that acquired it. A guard dropped while held is released by the
    garbage collector with a ``ResourceWarning``, like an unclosed file.

    After ``os.fork()`` the child shares the lock's open file description with the parent,
    so unlocking there would release the parent's lock: a guard inherited by a forked child
    refuses :meth:`release` and is never unlocked by the child's garbage collector.
    """

    __slots__ = ("_ptr", "_mutex", "_pid", "name", "shared")

    def __init__(self, ptr: Any, name: str, shared: bool) -> None:
        self._ptr: Any = ptr  # POINTER(WerfSyncLockGuard); NULL-ish once released
        self._mutex = threading.Lock()
        self._pid = os.getpid()  # the process that may unlock it (see the fork note above)
        #: The lock name.
        self.name = name
        #: Whether the lock is held shared (else exclusive).
        self.shared = shared

    @property
    def held(self) -> bool:
        """True until the guard is released."""
        return bool(self._ptr)

    def release(self) -> None:
        """Releases the lock. Raises :class:`~werf_sync.IoError` if unlocking failed (the
        descriptor is closed anyway, which releases the lock in the kernel) and
        :class:`~werf_sync.Closed` if the guard was already released."""
        if self._pid != os.getpid():
            raise WerfSyncError(
                f'lock "{self.name}" was acquired by process {self._pid} before a fork; '
                f"this process ({os.getpid()}) shares it and must not release it"
            )
        with self._mutex:
            ptr, self._ptr = self._ptr, None
        if not ptr:
            raise Closed(f'lock "{self.name}" was already released')
        call(_abi.lib().werf_sync_lock_guard_release, ptr, lock_name=self.name)

    def __enter__(self) -> "LockGuard":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self.held:  # the block may have released it itself
            self.release()

    def __repr__(self) -> str:
        mode = "shared" if self.shared else "exclusive"
        state = "held" if self.held else "released"
        return f"<LockGuard {self.name!r} {mode} {state}>"

    def __del__(self) -> None:
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr and self._pid == os.getpid():
            _abi.lib().werf_sync_lock_guard_free(ptr)  # first: the warning may be an error
            warnings.warn(
                f'lock "{self.name}" was never released; released it now', ResourceWarning, stacklevel=2
            )
