"""``Sync``: werf's ``:local`` synchronization of one werf home — named locks, werf's lock
manager operations and the stages storage cache."""

from __future__ import annotations

import ctypes
import os
import threading
from types import TracebackType
from typing import Any, Callable, Optional, Set, Type, TypeVar, Union

from . import _abi
from ._call import call, encode, take_string, timeout_ms
from .cache import StagesStorageCache
from .cancel import CancelToken
from .errors import Cancelled, Closed, WouldBlock
from .guard import LockGuard
from .manager import ManagerOps

T = TypeVar("T")
PathArg = Union[str, "os.PathLike[str]"]


def mode_code(shared: bool) -> int:
    """The C ABI's lock mode for ``shared``."""
    return _abi.MODE_SHARED if shared else _abi.MODE_EXCLUSIVE


class Sync(ManagerOps):
    """werf's ``:local`` synchronization of one werf home. Open it with
    :func:`werf_sync.open`; close it with :meth:`close` or a ``with`` block.

    Thread safety: every method may run concurrently from any number of threads.
    :meth:`close` cancels waits for locks in progress (they raise
    :class:`~werf_sync.Cancelled`) and waits for the other calls in progress to return.

    Fork: a forked child must open its own Sync. Closing an inherited one in the child
    frees nothing, because freeing would unlock the lock manager's locks, whose open file
    descriptions the child shares with the parent.
    """

    def __init__(
        self, home: Optional[PathArg] = None, address: Optional[str] = None, client_id: Optional[str] = None
    ) -> None:
        """Opens the synchronization of werf home ``home``; None (or "") resolves it as
        werf does: ``$WERF_HOME``, else ``~/.werf``. Nothing on disk is touched until the
        first lock.

        ``address`` is werf's ``--synchronization`` value: "" means ``$WERF_SYNCHRONIZATION``
        (``:local`` when unset), ``:local`` opens; ``http(s)://`` is werf's synchronization
        server (locks only, through the lock manager methods; watch them with :meth:`lost`);
        a valid ``kubernetes://`` address raises :class:`~werf_sync.Unsupported`, a malformed
        one :class:`~werf_sync.InvalidArgument`. None opens ``:local`` without looking at the
        environment.

        ``client_id`` is the lock namespace on an ``http(s)://`` server, shared with Go werf
        only under the same ID; None (or "") means ``$WERF_SYNC_CLIENT_ID``, else a fresh ID
        from the server (:meth:`client_id` tells it)."""
        self._ptr: Any = None
        self._pid = os.getpid()
        self._users = 0  # calls in progress; close() waits for 0
        self._closing = False
        self._waits: Set[CancelToken] = set()  # the tokens of waits in progress; close() cancels them
        self._idle = threading.Condition(threading.Lock())
        data = encode("" if home is None else home, "werf home")
        ptr = ctypes.POINTER(_abi.Sync)()
        if address is None:
            call(_abi.lib().werf_sync_open, data, len(data), ctypes.byref(ptr))
        else:
            text = encode(address, "synchronization address")
            client = encode(client_id or "", "client ID")
            call(
                _abi.lib().werf_sync_open_address_with_client_id,
                text,
                len(text),
                data,
                len(data),
                client,
                len(client),
                ctypes.byref(ptr),
            )
        self._ptr = ptr
        self.home: str = self._use(self._home)  #: The absolute path of the werf home.

    # -- lifetime -------------------------------------------------------------------------

    def _use(self, body: Callable[[Any], T]) -> T:
        """Runs ``body(ptr)`` while keeping the C handle open; raises Closed once close()
        has started, so calls arriving meanwhile cannot keep it waiting forever."""
        with self._idle:
            if not self._ptr or self._closing:
                raise Closed("this werf-sync Sync is closed")
            self._users += 1
            ptr = self._ptr
        try:
            return body(ptr)
        finally:
            with self._idle:
                self._users -= 1
                if self._users == 0:
                    self._idle.notify_all()

    def _wait(self, body: Callable[[Any, Any], T], cancel: Optional[CancelToken], lock_name: str) -> T:
        """Runs the waiting call ``body(ptr, token)`` with a cancel token of its own, which
        :meth:`close` cancels; the caller's ``cancel`` token, if any, cancels it too. (A C
        wait takes one token, and close() must not cancel the caller's, which may serve
        other waits.)

        A thread that waits without a timeout for a lock it holds itself waits until a token
        cancels it or the Sync is closed."""
        token = CancelToken()
        with self._idle:
            if not self._ptr or self._closing:
                raise Closed("this werf-sync Sync is closed")
            self._users += 1
            self._waits.add(token)
            ptr = self._ptr
        unlink = cancel._link(token) if cancel is not None else None
        try:
            return body(ptr, token._ptr)
        except Cancelled as err:
            if self._closing and not (cancel is not None and cancel.cancelled):
                raise Cancelled(
                    f"{err.message}: the Sync was closed", err.status, lock_name=lock_name
                ) from None
            raise
        finally:
            if unlink is not None:
                unlink()
            with self._idle:
                self._waits.discard(token)
                self._users -= 1
                if self._users == 0:
                    self._idle.notify_all()

    def close(self) -> None:
        """Releases the locks still held through the lock manager methods (``lock_stage``,
        ...) and frees the handle. Lock guards from :meth:`lock` / :meth:`try_lock` stay held
        until released. Waits for locks in progress end at once with
        :class:`~werf_sync.Cancelled`; close() waits for the other calls in progress to
        return. Closing twice is harmless."""
        with self._idle:
            self._closing = True
            for token in self._waits:
                token.cancel()
            while self._users:
                self._idle.wait()
            ptr, self._ptr = self._ptr, None
        if ptr and self._pid == os.getpid():
            _abi.lib().werf_sync_free(ptr)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return not self._ptr

    def __enter__(self) -> "Sync":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Safety net only: nobody can be using an unreachable Sync.
        ptr, self._ptr = getattr(self, "_ptr", None), None
        if ptr and getattr(self, "_pid", None) == os.getpid():
            _abi.lib().werf_sync_free(ptr)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<werf_sync.Sync home={getattr(self, 'home', None)!r} {state}>"

    @property
    def cache(self) -> StagesStorageCache:
        """werf's stages storage cache below this werf home."""
        return StagesStorageCache(self)

    # -- paths ----------------------------------------------------------------------------

    @staticmethod
    def _home(ptr: Any) -> str:
        out = ctypes.c_void_p()
        call(_abi.lib().werf_sync_home, ptr, ctypes.byref(out))
        return take_string(out)

    def client_id(self) -> Optional[str]:
        """The client ID of an ``http(s)://`` synchronization (asking the server for a fresh
        one if none was given and no lock was taken yet); None for other modes."""

        def body(ptr: Any) -> Optional[str]:
            out = ctypes.c_void_p()
            call(_abi.lib().werf_sync_client_id, ptr, ctypes.byref(out))
            return take_string(out) if out.value else None

        return self._use(body)

    def lock_file_path(self, name: str) -> str:
        """The lock file of lock ``name``: ``<home>/service/locks/<murmur3 hex>``, the file
        werf (lockgate's file locker with its legacy hash) uses for the same name. Nothing on
        disk is touched."""
        data = encode(name, "lock name")

        def body(ptr: Any) -> str:
            out = ctypes.c_void_p()
            call(_abi.lib().werf_sync_lock_file_path, ptr, data, len(data), ctypes.byref(out), lock_name=name)
            return take_string(out)

        return self._use(body)

    # -- locks ----------------------------------------------------------------------------

    def try_lock(self, name: str, shared: bool = False) -> Optional[LockGuard]:
        """One non-blocking attempt to acquire lock ``name`` (exclusive, or shared when
        ``shared``). Returns the guard, or None when the lock is held elsewhere — by another
        process or by another acquisition in this one (there is no re-entrancy)."""
        data = encode(name, "lock name")

        def body(ptr: Any) -> Optional[LockGuard]:
            guard = ctypes.POINTER(_abi.Guard)()
            try:
                call(
                    _abi.lib().werf_sync_try_lock,
                    ptr,
                    data,
                    len(data),
                    mode_code(shared),
                    ctypes.byref(guard),
                    lock_name=name,
                )
            except WouldBlock:
                return None
            return LockGuard(guard, name, shared)

        return self._use(body)

    def lock(
        self,
        name: str,
        timeout: Optional[float] = None,
        shared: bool = False,
        cancel: Optional[CancelToken] = None,
    ) -> LockGuard:
        """Acquires lock ``name``, waiting while it is held elsewhere; use the result in a
        ``with`` block or call its ``release()``. The kernel wakes the waiter when the lock is
        released (no polling).

        Args:
            name: the lock name (werf's look like ``PROJECT.DIGEST``).
            timeout: seconds to wait at most (0: one attempt), or None to wait as long as it
                takes.
            shared: take a shared lock (any number of shared holders) instead of an
                exclusive one.
            cancel: a :class:`CancelToken`; cancelling it from another thread ends the wait.

        Raises:
            Timeout: the timeout passed (``TimeoutError``; ``.lock_name`` names the lock).
            Cancelled: ``cancel`` was cancelled, or the Sync closed.

        The wait runs inside the library, so Python handles signals (Ctrl-C's
        KeyboardInterrupt) only once it returns: bound it with ``timeout``, or cancel it
        through ``cancel`` (or :meth:`close`) from another thread. Like lockgate, locks are
        not re-entrant: a thread that waits for a lock it holds itself waits until then.
        """
        ms = timeout_ms(timeout)
        if cancel is None or not cancel.cancelled:
            # The uncontended case: one call, no cancel token.
            guard = self.try_lock(name, shared)
            if guard is not None:
                return guard
        data = encode(name, "lock name")

        def body(ptr: Any, token: Any) -> LockGuard:
            guard = ctypes.POINTER(_abi.Guard)()
            call(
                _abi.lib().werf_sync_lock,
                ptr,
                data,
                len(data),
                mode_code(shared),
                ms,
                token,
                ctypes.byref(guard),
                lock_name=name,
            )
            return LockGuard(guard, name, shared)

        return self._wait(body, cancel, name)


def open(  # noqa: A001
    home: Optional[PathArg] = None, address: Optional[str] = None, client_id: Optional[str] = None
) -> Sync:
    """Opens werf's synchronization of werf home ``home`` (None: ``$WERF_HOME``, else
    ``~/.werf``), ``:local`` unless a ``--synchronization`` ``address`` says otherwise, with
    ``client_id`` for an ``http(s)://`` server. Same as ``Sync(home, address, client_id)``."""
    return Sync(home, address, client_id)
