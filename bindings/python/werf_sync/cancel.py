"""Cancelling a wait for a lock from another thread."""

from __future__ import annotations

import threading
from typing import Callable, Set

from . import _abi
from ._call import call
from .errors import InternalError


class CancelToken:
    """Ends waits for locks early: pass it as ``cancel=`` to :meth:`Sync.lock` (or a lock
    manager method) and call :meth:`cancel` from any thread; the waits raise
    :class:`~werf_sync.Cancelled` at once, and later waits with the token fail immediately.
    Cancellation is permanent: use a new token for the next wait.

    The C token is freed when this object is garbage-collected; a wait using it keeps it
    alive through its argument, so it is never freed under a running wait.
    """

    __slots__ = ("_ptr", "_linked", "_mutex", "__weakref__")

    def __init__(self) -> None:
        # Tokens of waits in progress that this one also cancels (see _link). An RLock: a
        # signal handler calling cancel() may interrupt this thread inside _link.
        self._linked: Set[CancelToken] = set()
        self._mutex = threading.RLock()
        self._ptr = _abi.lib().werf_sync_cancel_token_new()
        if not self._ptr:
            raise InternalError("werf_sync_cancel_token_new failed (a bug; please report it)")

    def cancel(self) -> None:
        """Cancels every wait using this token, now and later. Safe from any thread, any
        number of times (including from a ``threading.Timer`` or a signal handler)."""
        call(_abi.lib().werf_sync_cancel_token_cancel, self._ptr)
        with self._mutex:
            linked = list(self._linked)
        for token in linked:
            token.cancel()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return bool(_abi.lib().werf_sync_cancel_token_is_cancelled(self._ptr))

    def _link(self, other: "CancelToken") -> Callable[[], None]:
        """Makes cancelling this token cancel ``other`` too, until the returned function is
        called. A C wait takes one token: a :class:`~werf_sync.Sync` gives each wait its
        own (which ``close()`` cancels) and links the caller's token to it."""
        with self._mutex:
            self._linked.add(other)
        # After adding: a cancel() that ran before the add is seen here, one that runs
        # after it sees ``other`` in the set.
        if self.cancelled:
            other.cancel()

        def unlink() -> None:
            with self._mutex:
                self._linked.discard(other)

        return unlink

    def __repr__(self) -> str:
        return f"<CancelToken cancelled={self.cancelled}>"

    def __del__(self) -> None:
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr:
            _abi.lib().werf_sync_cancel_token_free(ptr)
